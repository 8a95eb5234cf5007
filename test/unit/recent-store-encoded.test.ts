import { SpanKind } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProtobufTraces, decodeSpanMessage } from '../../src/receiver/otlp/decode-protobuf.js';
import type { McpEvent, McpTrafficEvent } from '../../src/pipeline/events.js';
import { normalizeSpan } from '../../src/pipeline/normalize.js';
import type { DecodedSpan } from '../../src/receiver/otlp/span.js';
import { OMITTED_CONTENT } from '../../src/store/recent-store.js';
import { SpanSlabs, contentKeys } from '../../src/store/span-bytes.js';
import { hexId, mcpEvent, span } from '../helpers/store-items.js';
import { closeStores, flatten, makeStore } from './helpers/recent-stores.js';
import { realisticMcpSpans, recordSpans, toProtobuf, withoutWire } from './helpers/otlp-spans.js';

/**
 * Spans that arrive as protobuf are stored as a copy of their own message with content attributes
 * rewritten (src/store/span-bytes.ts); these tests check that a trace read back from those bytes is the
 * span that was received, minus its content, and that the content really is gone from the kept bytes.
 */

const SECRET = 'sk-live-0123456789abcdefSECRET';
afterEach(closeStores);

/** What the store is expected to return for a decoded span: content replaced, resource and scope kept. */
function expectedStored(d: DecodedSpan): Record<string, unknown> {
  const attributes = { ...d.attributes };
  for (const key of Object.keys(attributes)) {
    if (key === 'gen_ai.tool.call.arguments' || key === 'gen_ai.tool.call.result' || key.startsWith('mcp.request.argument.')) {
      attributes[key] = OMITTED_CONTENT;
    }
  }
  const { traceState: _traceState, ...rest } = withoutWire(d);
  return { ...rest, attributes };
}

async function contentSpans(): Promise<Uint8Array> {
  const recorder = recordSpans({ 'service.name': 'fs', 'process.pid': 77 });
  const root = recorder.tracer.startSpan('tools/call write_file', {
    kind: SpanKind.SERVER,
    attributes: {
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'write_file',
      // A short value: its placeholder is longer than the value it replaces.
      'gen_ai.tool.call.result': '{}',
      'gen_ai.tool.call.arguments': JSON.stringify({ path: '/tmp/x', token: SECRET }),
      'mcp.request.argument.token': SECRET,
      'mcp.request.argumentless': 'kept: not the argument prefix',
      'network.transport': 'pipe',
    },
  });
  root.addEvent('progress', { 'mcp.progress': 1 });
  root.end();
  const spans = recorder.finished();
  await recorder.shutdown();
  return toProtobuf(spans);
}

describe('RecentStore with spans received as protobuf', () => {
  it('returns every span of a trace as decoded, with content attributes replaced by the placeholder', () => {
    const decoded = decodeProtobufTraces(toProtobuf(realisticMcpSpans(40))).spans;
    const store = makeStore();
    store.spanConsumer.consume(decoded);

    const traceId = decoded[0]!.traceId;
    const trace = store.getTrace(traceId);
    expect(trace?.spanCount).toBe(decoded.length);
    const got = new Map(flatten(trace!.roots).map((s) => [s.spanId, s]));
    for (const d of decoded) {
      const stored = got.get(d.spanId);
      expect(stored).toMatchObject(expectedStored(d));
      expect(stored?.durationMs).toBeCloseTo(Math.max(0, (d.endTimeUnixNano - d.startTimeUnixNano) / 1e6), 6);
    }
    // The session span stays open (not exported), so every call is a root that names the same parent.
    expect(new Set(trace!.roots.map((n) => n.span.parentSpanId)).size).toBe(1);
  });

  it('keeps none of the content bytes, even a placeholder longer than the value it replaces', async () => {
    const body = await contentSpans();
    expect(Buffer.from(body).includes(SECRET)).toBe(true);
    const [span] = decodeProtobufTraces(body).spans;
    const slabs = new SpanSlabs(contentKeys(['gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'], ['mcp.request.argument.']), OMITTED_CONTENT);
    const kept = slabs.add(span!.wire!)!;
    const bytes = kept.slab.subarray(kept.offset, kept.offset + kept.length);
    expect(Buffer.from(bytes).includes(SECRET)).toBe(false);

    const back = decodeSpanMessage(bytes, span!.resource, span!.scope)!;
    expect(back.attributes).toEqual({
      ...span!.attributes,
      'gen_ai.tool.call.result': OMITTED_CONTENT,
      'gen_ai.tool.call.arguments': OMITTED_CONTENT,
      'mcp.request.argument.token': OMITTED_CONTENT,
    });
    expect(back.attributes['mcp.request.argumentless']).toBe('kept: not the argument prefix');
    expect(back.events).toEqual(span!.events);
  });

  it('attributes stored spans to the server of their event, whichever arrives first', () => {
    const decoded = decodeProtobufTraces(toProtobuf(realisticMcpSpans(3))).spans;
    const [first, second] = decoded;
    const store = makeStore();
    // Event before its span (pending attribution), then span before its event.
    store.eventConsumer.consume([mcpEvent({ id: 'a', traceId: first!.traceId, spanId: first!.spanId, server: { id: 'early-id', name: 'early' } })]);
    store.spanConsumer.consume(decoded);
    store.eventConsumer.consume([mcpEvent({ id: 'b', traceId: second!.traceId, spanId: second!.spanId, server: { id: 'late-id', name: 'late' } })]);

    const spans = flatten(store.getTrace(first!.traceId)!.roots);
    expect(spans.find((s) => s.spanId === first!.spanId)?.server).toBe('early');
    expect(spans.find((s) => s.spanId === second!.spanId)?.server).toBe('late');
  });

  it('masks content instead when store.captureContent is on', async () => {
    const [span] = decodeProtobufTraces(await contentSpans()).spans;
    const store = makeStore({ captureContent: true });
    store.spanConsumer.consume([span!]);
    const stored = store.getTrace(span!.traceId)!.roots[0]!.span;
    expect(String(stored.attributes['gen_ai.tool.call.arguments'])).toContain('/tmp/x');
    expect(JSON.stringify(stored.attributes)).not.toContain(SECRET);
  });

  it('forgets traces of one span and of many alike when their spans are evicted', () => {
    const decoded = decodeProtobufTraces(toProtobuf(realisticMcpSpans(5))).spans;
    const lone = decodeProtobufTraces(toProtobuf(realisticMcpSpans(1))).spans;
    // realisticMcpSpans(n) ends n calls under a session span that stays open: n spans per trace.
    const store = makeStore({ maxSpans: 5 });
    store.spanConsumer.consume(lone.slice(0, 1));
    store.spanConsumer.consume(decoded);
    expect(store.getTrace(lone[0]!.traceId)).toBeUndefined();
    expect(store.getTrace(decoded[0]!.traceId)?.spanCount).toBe(5);
    store.spanConsumer.consume(decodeProtobufTraces(toProtobuf(realisticMcpSpans(5))).spans);
    expect(store.getTrace(decoded[0]!.traceId)).toBeUndefined();
    expect(store.stats().spans).toBe(5);
  });

  it('finds spans of small and large traces alike: repeats are dropped, events attribute the right span', () => {
    const store = makeStore();
    for (const size of [2, 31, 32, 200]) {
      const traceId = hexId(size, 32);
      const spans = Array.from({ length: size }, (_, i) => span({ traceId, spanId: hexId(i + 1, 16), name: `s${i}` }));
      store.spanConsumer.consume(spans);
      // An exporter retry sends the same spans again: they are already held.
      store.spanConsumer.consume(spans);
      const target = spans[size - 2]!;
      store.eventConsumer.consume([mcpEvent({ id: `e${size}`, traceId, spanId: target.spanId, server: { id: 'x', name: `srv-${size}` } })]);
      const got = flatten(store.getTrace(traceId)!.roots);
      expect(got).toHaveLength(size);
      expect(got.filter((s) => s.server !== undefined).map((s) => [s.spanId, s.server])).toEqual([[target.spanId, `srv-${size}`]]);
    }
    expect(store.stats().spans).toBe(2 + 31 + 32 + 200);
  });
  it('drops a retried protobuf export of small and big traces, giving back the room its copies took', () => {
    const store = makeStore();
    // 40 spans of one trace (past the 32 at which a trace gets a span-id map), then 3 of another.
    const big = decodeProtobufTraces(toProtobuf(realisticMcpSpans(40))).spans;
    const small = decodeProtobufTraces(toProtobuf(realisticMcpSpans(3))).spans;
    store.spanConsumer.consume(big);
    store.spanConsumer.consume(small);
    const before = store.stats();
    store.spanConsumer.consume(big);
    store.spanConsumer.consume(small);
    expect(store.stats()).toEqual(before);
    // Spans copied after the discarded ones read back intact.
    const more = decodeProtobufTraces(toProtobuf(realisticMcpSpans(5))).spans;
    store.spanConsumer.consume(more);
    for (const batch of [big, small, more]) {
      const got = new Map(flatten(store.getTrace(batch[0]!.traceId)!.roots).map((s) => [s.spanId, s]));
      expect(got.size).toBe(batch.length);
      for (const d of batch) expect(got.get(d.spanId)).toMatchObject(expectedStored(d));
    }
  });

  it('keys a span on its id strings when its message holds no ids of the lengths OTLP gives them', () => {
    // Never made by the decoder (it rejects such spans), but the store accepts any span it is handed.
    const message = Uint8Array.from([0x0a, 3, 1, 2, 3, 0x12, 2, 4, 5, 0x2a, 1, 0x78]);
    const odd = span({ traceId: 'odd-trace', spanId: 'odd-span', wire: { body: message, start: 0, end: message.length } });
    const store = makeStore();
    store.spanConsumer.consume([odd]);
    // The same strings in another message: the same span. Other strings in the same message: another.
    const other = Uint8Array.from([0x0a, 1, 7, 0x2a, 1, 0x79]);
    store.spanConsumer.consume([{ ...odd, wire: { body: other, start: 0, end: other.length } }]);
    expect(store.stats().spans).toBe(1);
    store.spanConsumer.consume([{ ...odd, spanId: 'odd-span-2' }]);
    expect(store.stats().spans).toBe(2);
  });

  it('stores the events of protobuf spans as it stores those of the same spans decoded without their messages', () => {
    const body = toProtobuf(realisticMcpSpans(60));
    const run = (spans: DecodedSpan[]) => {
      const store = makeStore();
      const events = spans.map((s) => normalizeSpan(s, { captureContent: false })).filter((e): e is McpTrafficEvent => e !== undefined);
      store.spanConsumer.consume(spans);
      store.eventConsumer.consume(events);
      const servers = flatten(store.getTrace(spans[0]!.traceId)!.roots).map((s) => [s.spanId, s.server]);
      return { events, stored: store.queryEvents({ limit: 1000 }), servers };
    };
    const wired = run(decodeProtobufTraces(body).spans);
    const plain = run(decodeProtobufTraces(body).spans.map(withoutWire));
    expect(wired.events.length).toBeGreaterThan(50);
    expect(wired.events.filter((e) => e.kind === 'mcp' && e.parentSpanId !== undefined).length).toBeGreaterThan(50);
    const byId = (events: McpEvent[]) => new Map(events.map((e) => [e.id, e]));
    expect(byId(wired.stored)).toEqual(byId(wired.events));
    expect(byId(wired.stored)).toEqual(byId(plain.stored));
    expect(wired.servers).toEqual(plain.servers);
    expect(wired.servers.filter(([, server]) => server !== undefined).length).toBe(wired.events.length);
  });

  it("keeps an event's own ids where they differ from its span's, parent included", () => {
    const spans = decodeProtobufTraces(toProtobuf(realisticMcpSpans(4))).spans;
    const [a, b, c, d] = spans.map((s) => normalizeSpan(s, { captureContent: false })!);
    expect(a!.parentSpanId).toBeDefined();
    const otherParent = { ...a!, parentSpanId: 'ffffffffffffffff' };
    const { parentSpanId: _parent, ...noParent } = b!;
    // Same letters, other case: not the span's ids, so kept as sent (and its span is not attributed).
    const upper = { ...c!, traceId: c!.traceId!.toUpperCase(), id: `${c!.traceId!.toUpperCase()}:${c!.spanId!}` };
    const badParent = { ...d!, parentSpanId: d!.parentSpanId!.toUpperCase() };
    const store = makeStore();
    store.spanConsumer.consume(spans);
    store.eventConsumer.consume([otherParent, noParent, upper, badParent]);
    const stored = new Map(store.queryEvents({ limit: 10 }).map((e) => [e.id, e]));
    expect(stored.get(a!.id)).toEqual(otherParent);
    expect(stored.get(b!.id)).toEqual(noParent);
    expect(stored.get(upper.id)).toEqual(upper);
    expect(stored.get(d!.id)).toEqual(badParent);
    const servers = new Map(flatten(store.getTrace(spans[0]!.traceId)!.roots).map((s) => [s.spanId, s.server]));
    expect([a, b, c, d].map((e) => servers.get(e!.spanId!) !== undefined)).toEqual([true, true, false, true]);
  });
});
