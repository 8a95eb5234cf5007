import { createHash } from 'node:crypto';

/**
 * `mcpwatch.server.id` of a tapped server: stable across restarts of the same server, so baselines and
 * alerts follow it. For stdio, the command and its arguments; for HTTP, the upstream URL (without
 * credentials, query or fragment).
 */
export function stdioServerId(command: string, args: readonly string[]): string {
  return shortHash('stdio', command, ...args);
}

export function httpServerId(upstream: URL): string {
  return shortHash('http', `${upstream.protocol}//${upstream.host}${upstream.pathname}`);
}

/** A readable command line (arguments with spaces or quotes are JSON-quoted). */
export function commandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}
