import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/** Splits `HOST:PORT` or `[v6]:PORT` (the schema has already checked the shape). */
export function parseEndpoint(endpoint: string): HostPort {
  const idx = endpoint.lastIndexOf(':');
  let host = endpoint.slice(0, idx);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(endpoint.slice(idx + 1)) };
}

/** True only for addresses that cannot be reached from another machine. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/**
 * The rule every listener shares: a bind that other machines can reach needs a bearer token. Returns the
 * problem as a sentence naming the config path, or nothing.
 */
export function checkExposedListener(path: string, endpoint: string, token: string | undefined): string[] {
  const { host, port } = parseEndpoint(endpoint);
  const problems: string[] = [];
  if (port > 65535) problems.push(`${path}.endpoint: port ${port} is out of range (0-65535)`);
  if (!isLoopbackHost(host) && !token) {
    problems.push(
      `${path}.endpoint: binding ${endpoint} exposes the listener beyond this machine; set ${path}.auth.bearerToken ` +
        `(or ${path}.auth.bearerToken_file) or bind to 127.0.0.1`,
    );
  }
  return problems;
}
