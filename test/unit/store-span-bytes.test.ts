import { afterEach, describe, expect, it } from 'vitest';
import { storeSchema } from '../../src/config/schema.js';
import { decodeProtobufTraces, decodeSpanMessage } from '../../src/receiver/otlp/decode-protobuf.js';
import type { DecodedSpan } from '../../src/receiver/otlp/span.js';
import { OMITTED_CONTENT, RecentStore } from '../../src/store/recent-store.js';
import { SpanSlabs, contentKeys } from '../../src/store/span-bytes.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { type Bytes, kv, len, request, span, str, tag, uint, varint } from './helpers/proto-writer.js';

/**
 * The span copy reads the common encoding (one-byte tags and lengths, the key first in a KeyValue) on a
 * fast path; these spans are valid protobuf the SDKs do not write, and must come out the same as the
 * common encoding does: content replaced, everything else kept.
 */

const SECRET = 'sk-live-0123456789abcdefSECRET';
const PLACEHOLDER = '[omitted]';

function slabs(): SpanSlabs {
  return new SpanSlabs(contentKeys(['gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'], ['mcp.request.argument.']), PLACEHOLDER);
}

/** A string attribute as `Span.attributes` (field 9). */
function attribute(key: string, value: string): Bytes {
  return len(9, kv(key, str(1, value)));
}

/** Copies the one span of a request through `slabs` and decodes the copy. */
function copied(...fields: Bytes[]): { attributes: Record<string, unknown>; kept: Buffer } {
  const [decoded] = decodeProtobufTraces(request([span(...fields)])).spans;
  const kept = slabs().add(decoded!.wire!)!;
  const bytes = kept.slab.subarray(kept.offset, kept.offset + kept.length);
  const back = decodeSpanMessage(bytes, decoded!.resource, decoded!.scope)!;
  return { attributes: back.attributes, kept: Buffer.from(bytes) };
}

describe('SpanSlabs', () => {
  it('replaces exact and prefixed content keys and keeps keys that only share their length or start', () => {
    const { attributes, kept } = copied(
      str(5, 'tools/call'),
      attribute('gen_ai.tool.call.arguments', SECRET),
      // Same length as the arguments key, not content.
      attribute('gen_ai.tool.call.argumentz', 'kept'),
      attribute('mcp.request.argument.token', SECRET),
      attribute('mcp.request.argumentless', 'kept too'),
      attribute('gen_ai.tool.call.result', SECRET),
    );
    expect(kept.includes(SECRET)).toBe(false);
    expect(attributes).toEqual({
      'gen_ai.tool.call.arguments': PLACEHOLDER,
      'gen_ai.tool.call.argumentz': 'kept',
      'mcp.request.argument.token': PLACEHOLDER,
      'mcp.request.argumentless': 'kept too',
      'gen_ai.tool.call.result': PLACEHOLDER,
    });
  });

  it('finds the key of a KeyValue that puts its value first', () => {
    const valueFirst = len(9, [...len(2, str(1, SECRET)), ...str(1, 'gen_ai.tool.call.arguments')]);
    const { attributes, kept } = copied(valueFirst, attribute('network.transport', 'pipe'));
    expect(kept.includes(SECRET)).toBe(false);
    expect(attributes).toEqual({ 'gen_ai.tool.call.arguments': PLACEHOLDER, 'network.transport': 'pipe' });
  });

  it('reads tags and lengths written in more bytes than they need, and keys longer than 127 bytes', () => {
    const longKey = `mcp.request.argument.${'k'.repeat(200)}`;
    // Tag 9/length-delimited as a two-byte varint (0xca 0x00), and a length padded the same way.
    const paddedTag = [0xca, 0x00];
    const payload = kv('gen_ai.tool.call.result', str(1, SECRET));
    expect(varint(payload.length)).toHaveLength(1);
    const padded = [...paddedTag, (payload.length & 0x7f) | 0x80, payload.length >> 7, ...payload];
    const { attributes, kept } = copied(padded, attribute(longKey, SECRET), uint(6, 2), [...tag(16, 5), 1, 0, 0, 0]);
    expect(kept.includes(SECRET)).toBe(false);
    expect(attributes).toEqual({ 'gen_ai.tool.call.result': PLACEHOLDER, [longKey]: PLACEHOLDER });
  });
});

/** A length-delimited field built from Buffers (the number arrays of proto-writer are slow at 100 KB). */
function field(n: number, ...parts: Uint8Array[]): Buffer {
  const payload = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(tag(n, 2)), Buffer.from(varint(payload.length)), payload]);
}

/** A span of its own trace (`n` in both ids) with a kept attribute of `size` bytes spelling `n`. */
function numberedSpan(n: number, size: number): Buffer {
  const id = (length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i === 0 ? 1 : (n >> (8 * (i - 1))) & 0xff)));
  const note = field(9, field(1, Buffer.from('note')), field(2, field(1, Buffer.from(String(n).padEnd(size, '.')))));
  return Buffer.concat([field(1, id(16)), field(2, id(8)), note, Buffer.from(attribute('gen_ai.tool.call.arguments', SECRET))]);
}

/** An ExportTraceServiceRequest with one resource and one scope around the given spans. */
function requestOf(spans: Buffer[]): Uint8Array {
  return field(1, field(1), field(2, field(1), ...spans.map((s) => field(2, s))));
}

describe('SpanSlabs reuse', () => {
  const metricsToClose: Metrics[] = [];
  afterEach(() => {
    for (const m of metricsToClose.splice(0)) m.close();
  });

  it('writes a slab again once every span kept in it is released, and not before', () => {
    const s = slabs();
    const spans = decodeProtobufTraces(requestOf(Array.from({ length: 30 }, (_, n) => numberedSpan(n, 100_000)))).spans;
    const kept = spans.map((d) => s.add(d.wire!)!);
    const first = kept[0]!.slab;
    const inFirst = kept.filter((k) => k.slab === first);
    expect(inFirst.length).toBeGreaterThan(1);
    expect(inFirst.length).toBeLessThan(kept.length);
    // All but one released: the next slab is a new one.
    for (const k of inFirst.slice(1)) s.release(k.slab);
    const more = decodeProtobufTraces(requestOf(Array.from({ length: 12 }, (_, n) => numberedSpan(100 + n, 100_000)))).spans;
    expect(more.map((d) => s.add(d.wire!)!.slab === first)).not.toContain(true);
    s.release(first);
    const after = decodeProtobufTraces(requestOf(Array.from({ length: 12 }, (_, n) => numberedSpan(200 + n, 100_000)))).spans;
    expect(after.map((d) => s.add(d.wire!)!.slab === first)).toContain(true);
  });

  it('reads back every held span intact while the slabs of evicted spans are written again', () => {
    const metrics = new Metrics();
    metricsToClose.push(metrics);
    // Small spans fill a first slab and part of a second; the first starts losing spans to eviction while
    // the second is written, then large spans fill the second and start a third, over spans still held.
    const store = new RecentStore(storeSchema.parse({ maxSpans: 150 }), metrics);
    const sent: DecodedSpan[] = [];
    const sizes = [10_000, 10_000, 200_000, 200_000, 200_000, 200_000];
    sizes.forEach((size, batch) => {
      const count = size === 10_000 ? 80 : 3;
      const decoded = decodeProtobufTraces(requestOf(Array.from({ length: count }, (_, i) => numberedSpan(batch * 100 + i, size)))).spans;
      store.addSpans(decoded);
      sent.push(...decoded);
      for (const d of sent.slice(-150)) {
        const trace = store.getTrace(d.traceId);
        expect(trace?.roots[0]?.span.attributes).toEqual({ note: d.attributes['note'], 'gen_ai.tool.call.arguments': OMITTED_CONTENT });
      }
    });
    expect(store.stats().spans).toBe(150);
  });
});
