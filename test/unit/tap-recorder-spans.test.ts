import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/pipeline/normalize.js';
import type { ParentRef } from '../../src/tap/message-tracker.js';
import type { TapSpan } from '../../src/tap/span-emitter.js';
import { TapRecorder, type MessageContext, type ParentResolver } from '../../src/tap/tap-recorder.js';
import { silentLogger } from '../../src/telemetry/logger.js';

/**
 * A small tools/call as the stdio tap records it: fingerprints are sha256 over the canonical JSON of the
 * payload (what the daemon computes for spans it did not see the bytes of), and the span is recorded as
 * soon as the response is seen unless a parent look-up is still pending.
 */

const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);
const ARGS = { z: [1, 2.5, null], a: { y: 'é😀', b: true }, '10': 'integer-like key' };
const RESULT = { content: [{ type: 'text', text: 'x'.repeat(1024) }], isError: false };

function recorder() {
  const spans: TapSpan[] = [];
  const rec = new TapRecorder({ sink: { record: (s) => spans.push(s) }, logger: silentLogger(), tapKind: 'stdio', transport: 'pipe', serverId: 'srv', captureContent: false });
  return { rec, spans };
}

function call(rec: TapRecorder, extra: Partial<MessageContext> = {}): void {
  const line = (v: unknown) => Buffer.from(JSON.stringify(v));
  rec.onFrame(line({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: ARGS } }), { direction: 'client_to_server', scope: 'stdio', atMs: 1000, ...extra });
  rec.onFrame(line({ jsonrpc: '2.0', id: 7, result: RESULT }), { direction: 'server_to_client', scope: 'stdio', atMs: 1005 });
}

describe('TapRecorder spans of small messages', () => {
  it('fingerprints arguments and result as sha256 over their canonical JSON', () => {
    const { rec, spans } = recorder();
    call(rec);
    expect(spans).toHaveLength(1);
    const a = spans[0]!.attributes;
    expect(a['mcpwatch.arguments.fingerprint']).toBe(sha(canonicalJson(ARGS)));
    expect(a['mcpwatch.arguments.size']).toBe(Buffer.byteLength(canonicalJson(ARGS)));
    expect(a['mcpwatch.result.fingerprint']).toBe(sha(canonicalJson(RESULT)));
    expect(spans[0]!.name).toBe('tools/call echo');
  });

  it('records the span at once when the resolver knows there is no upstream tap', () => {
    const { rec, spans } = recorder();
    const none: ParentResolver = () => undefined;
    call(rec, { resolveParent: none });
    expect(spans).toHaveLength(1);
    expect(spans[0]!.parentSpanId).toBeUndefined();
    expect(spans[0]!.traceId).toMatch(/^[\da-f]{32}$/);
  });

  it('waits for a pending parent look-up, then parents the span on its answer', async () => {
    const { rec, spans } = recorder();
    const parent: ParentRef = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), source: 'process_tree' };
    call(rec, { resolveParent: () => Promise.resolve(parent) });
    expect(spans).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    expect(spans).toHaveLength(1);
    expect(spans[0]!.traceId).toBe(parent.traceId);
    expect(spans[0]!.parentSpanId).toBe(parent.spanId);
    expect(spans[0]!.attributes['mcpwatch.parent.source']).toBe('process_tree');
  });

  it('gives a fresh trace when the look-up fails, thrown or rejected', async () => {
    for (const resolveParent of [() => Promise.reject(new Error('gone')), () => { throw new Error('gone'); }] as ParentResolver[]) {
      const { rec, spans } = recorder();
      call(rec, { resolveParent });
      await new Promise((r) => setImmediate(r));
      expect(spans).toHaveLength(1);
      expect(spans[0]!.parentSpanId).toBeUndefined();
    }
  });
});
