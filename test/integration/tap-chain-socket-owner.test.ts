import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TraceNode } from '../../src/store/types.js';
import { REPO_ROOT, killSpawnedClis, spawnCli, startDaemon } from '../helpers/daemon.js';
import { EVERYTHING, stdioClient, waitForEvents, wrapArgs } from '../helpers/tap-clients.js';

/**
 * A real two-hop chain over HTTP: client -> wrap(A) -> A (chain-http-server fixture) -> `mcpwatch proxy`
 * -> server-everything (Streamable HTTP). The proxy is not a descendant of A and nothing sends
 * `_meta.traceparent`, so the only way to link B's call to A's is the socket owner: the proxy finds the
 * process holding the client end of the connection (A), walks up to A's tap and parents B's
 * `tools/call echo` on A's in-flight `tools/call relay_echo`.
 */

type Daemon = Awaited<ReturnType<typeof startDaemon>>;
let daemon: Daemon;
let everything: ChildProcess | undefined;
let clientA: Client | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when the process writes a line matching `pattern` on stderr; rejects if it exits first. */
function stderrLine(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}: ${text}`)));
  });
}

function find(nodes: TraceNode[], pred: (n: TraceNode) => boolean): TraceNode | undefined {
  for (const n of nodes) {
    if (pred(n)) return n;
    const inner = find(n.children, pred);
    if (inner) return inner;
  }
  return undefined;
}

beforeAll(async () => {
  daemon = await startDaemon();
});
afterEach(async () => {
  await clientA?.close().catch(() => undefined);
  clientA = undefined;
  everything?.kill('SIGKILL');
  everything = undefined;
  killSpawnedClis();
});
afterAll(async () => {
  await daemon.daemon.shutdown();
});

describe('composability chains through wrap and proxy', () => {
  it.runIf(process.platform === 'linux')(
    "B's tools/call span behind mcpwatch proxy is a child of A's in-flight call, found by socket owner",
    async () => {
      const upstreamPort = await freePort();
      everything = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(upstreamPort) }, stdio: ['ignore', 'ignore', 'pipe'] });
      await stderrLine(everything, /listening on port|running on port/i, 'server-everything');

      const proxyPort = await freePort();
      const proxy: ChildProcessWithoutNullStreams = spawnCli([
        'proxy',
        '--upstream',
        `http://127.0.0.1:${upstreamPort}/mcp`,
        '--listen',
        `127.0.0.1:${proxyPort}`,
        '--name',
        'chain-http-b',
        '--endpoint',
        daemon.otlpUrl,
      ]);
      proxy.stdout.resume();
      await stderrLine(proxy, /proxy listening/, 'mcpwatch proxy');

      const serverA = ['--import', 'tsx', join(REPO_ROOT, 'test', 'fixtures', 'servers', 'chain-http-server.ts'), `http://127.0.0.1:${proxyPort}/mcp`];
      const { client } = await stdioClient(process.execPath, wrapArgs('chain-http-a', daemon.otlpUrl, serverA));
      clientA = client;
      const result = await client.callTool({ name: 'relay_echo', arguments: { message: 'over http' } });
      expect(result.content).toEqual([{ type: 'text', text: 'Echo: over http' }]);

      const events = await waitForEvents(
        daemon.adminUrl,
        (ev) => ev.some((e) => e.server.name === 'chain-http-a' && e.tool === 'relay_echo') && ev.some((e) => e.server.name === 'chain-http-b' && e.tool === 'echo'),
      );
      const a = events.find((e) => e.server.name === 'chain-http-a' && e.tool === 'relay_echo')!;
      const b = events.find((e) => e.server.name === 'chain-http-b' && e.tool === 'echo')!;
      expect(b.transport).toBe('tcp');
      expect(b.traceId).toBe(a.traceId);
      expect(b.parentSpanId).toBe(a.spanId);

      const res = await fetch(`${daemon.adminUrl}/api/traces/${a.traceId}`);
      expect(res.status).toBe(200);
      const trace = (await res.json()) as { roots: TraceNode[] };
      const aNode = find(trace.roots, (n) => n.span.spanId === a.spanId)!;
      expect(aNode.span.name).toBe('tools/call relay_echo');
      const bNode = aNode.children.find((n) => n.span.name === 'tools/call echo');
      expect(bNode?.span.attributes['mcpwatch.parent.source']).toBe('socket_owner');
      // Time containment: B's call happened inside A's.
      expect(bNode!.span.startTimeUnixNano).toBeGreaterThanOrEqual(aNode.span.startTimeUnixNano);
      expect(bNode!.span.endTimeUnixNano).toBeLessThanOrEqual(aNode.span.endTimeUnixNano);
    },
    60_000,
  );
});
