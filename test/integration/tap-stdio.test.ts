import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { McpTrafficEvent } from '../../src/pipeline/events.js';
import { startDaemon } from '../helpers/daemon.js';
import { EVERYTHING, FILESYSTEM, MEMORY, countBy, stdioClient, waitForEvents, wrapArgs } from '../helpers/tap-clients.js';

/**
 * Each real server is driven twice by the SDK client with the same script: directly, and through
 * `mcpwatch wrap`. Results must be identical, and the daemon's view of the tapped run (per-method
 * counts, tool names, notifications) must match what the client did and saw.
 */

type Daemon = Awaited<ReturnType<typeof startDaemon>>;
let daemon: Daemon;
let workDir: string;

beforeAll(async () => {
  daemon = await startDaemon();
  workDir = mkdtempSync(join(tmpdir(), 'mcpwatch-tap-'));
});
afterAll(async () => {
  await daemon.daemon.shutdown();
  rmSync(workDir, { recursive: true, force: true });
});

interface Script {
  /** Calls the client makes, in order; returns the results to compare and the client-side counts. */
  run(client: Client, progress: () => void): Promise<unknown[]>;
  /** Requests the script sends, by method (initialize included), and tools called. */
  methods: Record<string, number>;
  tools: Record<string, number>;
}

async function runBoth(name: string, server: string[], script: Script, env: Record<string, string> = {}) {
  const direct = await stdioClient(process.execPath, server, env);
  const directResults = await script.run(direct.client, () => undefined);
  await direct.client.close();

  const tapped = await stdioClient(process.execPath, wrapArgs(name, daemon.otlpUrl, server), env);
  let progress = 0;
  const tappedResults = await script.run(tapped.client, () => progress++);
  const notifications = [...tapped.notifications];
  await tapped.client.close();
  return { directResults, tappedResults, notifications, progress };
}

function ofServer(events: McpTrafficEvent[], name: string): McpTrafficEvent[] {
  return events.filter((e) => e.server.name === name);
}

describe('mcpwatch wrap with real stdio servers', () => {
  it('server-everything: identical results; daemon counts methods, tools, progress and server notifications', async () => {
    const script: Script = {
      methods: { initialize: 1, 'tools/list': 1, 'tools/call': 3, 'prompts/list': 1, 'resources/list': 1 },
      tools: { echo: 1, 'get-sum': 1, 'trigger-long-running-operation': 1 },
      async run(client, progress) {
        const tools = await client.listTools();
        const echo = await client.callTool({ name: 'echo', arguments: { message: 'through the tap' } });
        const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
        const long = await client.callTool(
          { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
          undefined,
          { onprogress: progress },
        );
        const prompts = await client.listPrompts();
        const resources = await client.listResources();
        return [tools.tools.map((t) => t.name), echo, sum, long, prompts.prompts.map((p) => p.name), resources.resources.length];
      },
    };
    const r = await runBoth('everything-stdio', [EVERYTHING, 'stdio'], script);
    expect(r.tappedResults).toEqual(r.directResults);
    expect(r.progress).toBeGreaterThan(0);

    const events = await waitForEvents(daemon.adminUrl, (ev) => ofServer(ev, 'everything-stdio').filter((e) => e.method === 'resources/list').length === 1);
    const mine = ofServer(events, 'everything-stdio');
    const requests = mine.filter((e) => e.messageType === 'request');
    expect(countBy(requests, (e) => e.method)).toEqual(script.methods);
    expect(countBy(requests, (e) => e.tool)).toEqual(script.tools);
    const notes = mine.filter((e) => e.messageType === 'notification');
    // The server sent one progress notification per step; the tap saw each on the wire.
    expect(notes.filter((e) => e.method === 'notifications/progress').map((e) => e.notification?.progress).sort()).toEqual([1, 2, 3]);
    expect(notes.filter((e) => e.method === 'notifications/progress').every((e) => e.notification?.total === 3)).toBe(true);
    expect(notes.filter((e) => e.method === 'notifications/initialized' && e.direction === 'client_to_server')).toHaveLength(1);
    // Every notification the client's transport received is a span too, and nothing else is.
    const serverNotes = countBy(notes.filter((e) => e.direction === 'server_to_client'), (e) => e.method);
    expect(serverNotes).toEqual(countBy(r.notifications, (m) => m));
    expect(r.notifications.filter((m) => m === 'notifications/progress')).toHaveLength(3);

    const echo = requests.find((e) => e.tool === 'echo')!;
    expect(echo).toMatchObject({ side: 'server', direction: 'client_to_server', outcome: 'ok', transport: 'pipe', era: 'session' });
    expect(echo.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(echo.arguments?.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(echo.result?.size).toBeGreaterThan(0);
    expect(echo.arguments?.content).toBeUndefined();
    expect(echo.server.pid).toBeGreaterThan(0);
    expect(echo.server.commandLine).toContain('server-everything');

    const list = requests.find((e) => e.method === 'tools/list')!;
    expect(list.catalog?.kind).toBe('tools');
    const names = (r.tappedResults[0] as string[]).slice().sort();
    expect(list.catalog?.items.map((i) => i['name']).sort()).toEqual(names);
    const echoItem = list.catalog?.items.find((i) => i['name'] === 'echo');
    expect(echoItem?.['description']).toEqual(expect.any(String));
    expect(echoItem?.['inputSchema']).toMatchObject({ type: 'object' });
    expect(requests.find((e) => e.method === 'prompts/list')?.catalog?.kind).toBe('prompts');
    expect(requests.find((e) => e.method === 'resources/list')?.catalog?.kind).toBe('resources');
  }, 60_000);

  it('server-filesystem: identical results and a tool_error for a path outside the allowed directory', async () => {
    writeFileSync(join(workDir, 'hello.txt'), 'hello from the tap test\n');
    const script: Script = {
      methods: { initialize: 1, 'tools/list': 1, 'tools/call': 3 },
      tools: { list_directory: 1, read_text_file: 2 },
      async run(client) {
        const tools = await client.listTools();
        const dir = await client.callTool({ name: 'list_directory', arguments: { path: workDir } });
        const file = await client.callTool({ name: 'read_text_file', arguments: { path: join(workDir, 'hello.txt') } });
        const denied = await client.callTool({ name: 'read_text_file', arguments: { path: '/etc/hostname' } });
        return [tools.tools.map((t) => t.name), dir, file, denied];
      },
    };
    const r = await runBoth('fs', [FILESYSTEM, workDir], script);
    expect(r.tappedResults).toEqual(r.directResults);
    expect((r.tappedResults[3] as { isError?: boolean }).isError).toBe(true);

    const events = await waitForEvents(daemon.adminUrl, (ev) => ofServer(ev, 'fs').filter((e) => e.method === 'tools/call').length === 3);
    const requests = ofServer(events, 'fs').filter((e) => e.messageType === 'request');
    expect(countBy(requests, (e) => e.method)).toEqual(script.methods);
    expect(countBy(requests, (e) => e.tool)).toEqual(script.tools);
    expect(requests.filter((e) => e.outcome === 'tool_error')).toHaveLength(1);
    expect(requests.find((e) => e.outcome === 'tool_error')?.errorType).toBe('tool_error');
  }, 60_000);

  it('server-memory: identical results, and a JSON-RPC error is recorded with its code', async () => {
    const env = { MEMORY_FILE_PATH: join(workDir, 'memory.jsonl') };
    const script: Script = {
      methods: { initialize: 1, 'tools/list': 1, 'tools/call': 2, 'prompts/get': 1 },
      tools: { create_entities: 1, read_graph: 1 },
      async run(client) {
        rmSync(env.MEMORY_FILE_PATH, { force: true });
        const tools = await client.listTools();
        const created = await client.callTool({
          name: 'create_entities',
          arguments: { entities: [{ name: 'tap', entityType: 'component', observations: ['relays bytes'] }] },
        });
        const graph = await client.callTool({ name: 'read_graph', arguments: {} });
        // server-memory has no prompts: the SDK answers with a JSON-RPC error.
        const missing = await client.getPrompt({ name: 'none' }).then(
          () => 'no error',
          (err: Error) => err.message,
        );
        return [tools.tools.map((t) => t.name), created, graph, missing];
      },
    };
    const r = await runBoth('memory', [MEMORY], script, env);
    expect(r.tappedResults).toEqual(r.directResults);

    const events = await waitForEvents(daemon.adminUrl, (ev) => ofServer(ev, 'memory').some((e) => e.method === 'prompts/get'));
    const requests = ofServer(events, 'memory').filter((e) => e.messageType === 'request');
    expect(countBy(requests, (e) => e.method)).toEqual(script.methods);
    expect(countBy(requests, (e) => e.tool)).toEqual(script.tools);
    const failed = requests.find((e) => e.method === 'prompts/get')!;
    expect(failed.outcome).toBe('error');
    expect(failed.jsonRpcErrorCode).toBeLessThan(0);
  }, 60_000);
});
