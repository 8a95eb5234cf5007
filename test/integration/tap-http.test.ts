import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpProxy } from '../../src/tap/http/proxy.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { startDaemon } from '../helpers/daemon.js';
import { EVERYTHING, countBy, waitForEvents } from '../helpers/tap-clients.js';

/**
 * server-everything over Streamable HTTP and over the legacy HTTP+SSE transport, driven by the SDK client
 * directly and through `McpProxy`: identical results, and the daemon's view matches the client's.
 */

type Daemon = Awaited<ReturnType<typeof startDaemon>>;
let daemon: Daemon;
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startEverything(mode: 'streamableHttp' | 'sse'): Promise<number> {
  const port = await freePort();
  const child = spawn(process.execPath, [EVERYTHING, mode], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on port|running on port/i.test(err)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server-everything ${mode} exited ${code}: ${err}`)));
  });
  return port;
}

beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await daemon.daemon.shutdown();
});

async function script(client: Client) {
  const tools = await client.listTools();
  const echo = await client.callTool({ name: 'echo', arguments: { message: 'over http' } });
  let progress = 0;
  const long = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } }, undefined, {
    onprogress: () => progress++,
  });
  const prompts = await client.listPrompts();
  return { results: [tools.tools.map((t) => t.name), echo, long, prompts.prompts.map((p) => p.name)], progress };
}

describe('mcpwatch proxy with server-everything', () => {
  it('Streamable HTTP: identical results; session id, progress over SSE responses, no Authorization recorded', async () => {
    const port = await startEverything('streamableHttp');
    const upstream = new URL(`http://127.0.0.1:${port}/mcp`);
    const proxy = new McpProxy({ upstream, host: '127.0.0.1', port: 0, name: 'everything-http', endpoint: daemon.otlpUrl, captureContent: false, logger: silentLogger() });
    const address = await proxy.start();
    try {
      const direct = new Client({ name: 'direct', version: '1' });
      await direct.connect(new StreamableHTTPClientTransport(upstream));
      const d = await script(direct);
      await direct.close();

      const viaTap = new Client({ name: 'via-tap', version: '1' });
      const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${address.port}/mcp`), {
        requestInit: { headers: { Authorization: 'Bearer do-not-record-me' } },
      });
      await viaTap.connect(transport);
      const sessionId = transport.sessionId;
      const t = await script(viaTap);
      await transport.terminateSession();
      await viaTap.close();
      expect(t.results).toEqual(d.results);
      expect(t.progress).toBe(d.progress);
      expect(sessionId).toEqual(expect.any(String));

      const events = await waitForEvents(daemon.adminUrl, (ev) => ev.some((e) => e.server.name === 'everything-http' && e.method === 'prompts/list'));
      const mine = events.filter((e) => e.server.name === 'everything-http');
      const requests = mine.filter((e) => e.messageType === 'request');
      expect(countBy(requests, (e) => e.method)).toEqual({ initialize: 1, 'tools/list': 1, 'tools/call': 2, 'prompts/list': 1 });
      expect(countBy(requests, (e) => e.tool)).toEqual({ echo: 1, 'trigger-long-running-operation': 1 });
      expect(mine.filter((e) => e.method === 'notifications/progress')).toHaveLength(2);
      const echo = requests.find((e) => e.tool === 'echo')!;
      expect(echo).toMatchObject({ sessionId, transport: 'tcp', outcome: 'ok', side: 'server' });

      const trace = (await (await fetch(`${daemon.adminUrl}/api/traces/${echo.traceId}`)).json()) as { roots: Array<{ span: { attributes: Record<string, unknown> } }> };
      const attrs = trace.roots[0]!.span.attributes;
      expect(attrs['mcpwatch.http.authorization_present']).toBe(true);
      expect(JSON.stringify(trace)).not.toContain('do-not-record-me');
    } finally {
      await proxy.shutdown();
    }
  }, 60_000);

  it('legacy HTTP+SSE: messages on the /sse stream and POST /messages are all seen', async () => {
    const port = await startEverything('sse');
    const upstream = new URL(`http://127.0.0.1:${port}/sse`);
    const proxy = new McpProxy({ upstream, host: '127.0.0.1', port: 0, name: 'everything-sse', endpoint: daemon.otlpUrl, captureContent: false, logger: silentLogger() });
    const address = await proxy.start();
    try {
      const direct = new Client({ name: 'direct', version: '1' });
      await direct.connect(new SSEClientTransport(upstream));
      const d = await script(direct);
      await direct.close();

      const viaTap = new Client({ name: 'via-tap', version: '1' });
      await viaTap.connect(new SSEClientTransport(new URL(`http://127.0.0.1:${address.port}/sse`)));
      const t = await script(viaTap);
      await viaTap.close();
      expect(t.results).toEqual(d.results);

      const events = await waitForEvents(daemon.adminUrl, (ev) => ev.some((e) => e.server.name === 'everything-sse' && e.method === 'prompts/list'));
      const requests = events.filter((e) => e.server.name === 'everything-sse' && e.messageType === 'request');
      expect(countBy(requests, (e) => e.method)).toEqual({ initialize: 1, 'tools/list': 1, 'tools/call': 2, 'prompts/list': 1 });
      // Responses travel on the SSE stream: a measured duration means request and response were paired.
      expect(requests.every((e) => typeof e.durationMs === 'number' && e.durationMs > 0)).toBe(true);
      expect(requests.every((e) => typeof e.sessionId === 'string')).toBe(true);
    } finally {
      await proxy.shutdown();
    }
  }, 60_000);
});
