import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { McpEvent, McpTrafficEvent } from '../../src/pipeline/events.js';
import { REPO_ROOT } from './daemon.js';

export const EVERYTHING = join(REPO_ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const FILESYSTEM = join(REPO_ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
export const MEMORY = join(REPO_ROOT, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
export const CLI = join(REPO_ROOT, 'src', 'cli', 'bin.ts');

/** The argv that runs `mcpwatch wrap` around a server, as an MCP client config would. */
export function wrapArgs(name: string, endpoint: string, server: string[], extra: string[] = []): string[] {
  return ['--import', 'tsx', CLI, 'wrap', '--name', name, '--endpoint', endpoint, ...extra, '--', process.execPath, ...server];
}

/** An SDK client connected over stdio to `command args`; every notification its transport receives is collected. */
export async function stdioClient(command: string, args: string[], env: Record<string, string> = {}) {
  const transport = new StdioClientTransport({ command, args, cwd: REPO_ROOT, stderr: 'ignore', env: { ...(process.env as Record<string, string>), ...env } });
  const client = new Client({ name: 'tap-test-client', version: '1.0.0' }, { capabilities: {} });
  const notifications: string[] = [];
  await client.connect(transport);
  // Counted at the transport, before the SDK dispatches: the SDK may drop a progress notification that
  // arrives after its request settled, but the client did receive it.
  const deliver = transport.onmessage;
  transport.onmessage = (message) => {
    if ('method' in message && !('id' in message)) notifications.push(message.method);
    deliver?.(message);
  };
  return { client, transport, notifications };
}

/** Polls the daemon until `predicate` holds for its MCP events (newest first), or fails after `timeoutMs`. */
export async function waitForEvents(adminUrl: string, predicate: (events: McpTrafficEvent[]) => boolean, timeoutMs = 15_000): Promise<McpTrafficEvent[]> {
  const deadline = Date.now() + timeoutMs;
  let last: McpTrafficEvent[] = [];
  while (Date.now() < deadline) {
    const res = await fetch(`${adminUrl}/api/events?limit=1000&kind=mcp`);
    const body = (await res.json()) as { events: McpEvent[] };
    last = body.events.filter((e): e is McpTrafficEvent => e.kind === 'mcp');
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon events did not match within ${timeoutMs} ms; saw ${JSON.stringify(last.map((e) => e.method))}`);
}

export function countBy<T>(items: T[], key: (t: T) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) {
    const k = key(i);
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
