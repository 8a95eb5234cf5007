import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceNode } from '../../src/store/types.js';
import { REPO_ROOT, startDaemon } from '../helpers/daemon.js';
import { stdioClient, waitForEvents, wrapArgs } from '../helpers/tap-clients.js';

/**
 * A real two-hop chain: client -> wrap(A) -> A (chain-server fixture) -> wrap(B) -> server-everything.
 * Nothing sends `_meta.traceparent`, so B's tap must find A's tap among its process ancestors and parent
 * its `tools/call echo` span on A's in-flight `tools/call relay_echo`.
 */

type Daemon = Awaited<ReturnType<typeof startDaemon>>;
let daemon: Daemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon.daemon.shutdown();
});

function find(nodes: TraceNode[], pred: (n: TraceNode) => boolean): TraceNode | undefined {
  for (const n of nodes) {
    if (pred(n)) return n;
    const inner = find(n.children, pred);
    if (inner) return inner;
  }
  return undefined;
}

describe('composability chains through two taps', () => {
  it("B's tools/call span is a child of A's in-flight tools/call in the same trace (process tree)", async () => {
    const serverA = ['--import', 'tsx', join(REPO_ROOT, 'test', 'fixtures', 'servers', 'chain-server.ts'), daemon.otlpUrl];
    const { client } = await stdioClient(process.execPath, wrapArgs('chain-a', daemon.otlpUrl, serverA));
    const result = await client.callTool({ name: 'relay_echo', arguments: { message: 'two hops' } });
    await client.close();
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: two hops' }]);

    const events = await waitForEvents(
      daemon.adminUrl,
      (ev) => ev.some((e) => e.server.name === 'chain-a' && e.tool === 'relay_echo') && ev.some((e) => e.server.name === 'chain-b' && e.tool === 'echo'),
    );
    const a = events.find((e) => e.server.name === 'chain-a' && e.tool === 'relay_echo')!;
    const b = events.find((e) => e.server.name === 'chain-b' && e.tool === 'echo')!;
    expect(b.traceId).toBe(a.traceId);
    expect(b.parentSpanId).toBe(a.spanId);

    const res = await fetch(`${daemon.adminUrl}/api/traces/${a.traceId}`);
    expect(res.status).toBe(200);
    const trace = (await res.json()) as { roots: TraceNode[] };
    const aNode = find(trace.roots, (n) => n.span.spanId === a.spanId)!;
    expect(aNode.span.name).toBe('tools/call relay_echo');
    const bNode = aNode.children.find((n) => n.span.name === 'tools/call echo');
    expect(bNode?.span.attributes['mcpwatch.parent.source']).toBe('process_tree');
    // Time containment: B's call happened inside A's.
    expect(bNode!.span.startTimeUnixNano).toBeGreaterThanOrEqual(aNode.span.startTimeUnixNano);
    expect(bNode!.span.endTimeUnixNano).toBeLessThanOrEqual(aNode.span.endTimeUnixNano);
  }, 60_000);
});
