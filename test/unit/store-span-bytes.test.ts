import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { storeSchema } from '../../src/config/schema.js';
import { decodeProtobufTraces, decodeSpanMessage } from '../../src/receiver/otlp/decode-protobuf.js';
import type { DecodedSpan } from '../../src/receiver/otlp/span.js';
import { OMITTED_CONTENT, RecentStore } from '../../src/store/recent-store.js';
import { HAS_PARENT_ID, HAS_SPAN_ID, HAS_TRACE_ID, NO_PARENT_ID, SpanSlabs, contentKeys, leadingTraceId } from '../../src/store/span-bytes.js';
import { hexToWords } from '../../src/store/hex-words.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { type Bytes, SPAN_ID, SPAN_ID_HEX, TRACE_ID, TRACE_ID_HEX, bytes, kv, len, request, span, str, tag, uint, varint } from './helpers/proto-writer.js';

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

  it('reads a KeyValue with two keys by its last key, as the decoder does', () => {
    // The decoder reads this as the arguments: the value must not stay in the slab.
    const argumentsLast = len(9, [...str(1, 'note'), ...str(1, 'gen_ai.tool.call.arguments'), ...len(2, str(1, SECRET))]);
    const first = copied(argumentsLast, attribute('network.transport', 'pipe'));
    expect(first.kept.includes(SECRET)).toBe(false);
    expect(first.attributes).toEqual({ 'gen_ai.tool.call.arguments': PLACEHOLDER, 'network.transport': 'pipe' });
    // And this as a plain `note`: kept as it was decoded, not masked under the key it lost.
    const noteLast = len(9, [...str(1, 'gen_ai.tool.call.arguments'), ...str(1, 'note'), ...len(2, str(1, 'visible'))]);
    const second = copied(noteLast);
    expect(second.attributes).toEqual({ note: 'visible' });
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

describe('SpanSlabs id words', () => {
  /** Words `hexToWords` makes of a decoded hex id, the reference the copy's words must equal. */
  function wordsOf(hex: string, words: number): number[] {
    const out = new Uint32Array(words);
    expect(hexToWords(hex, words, out, 0)).toBe(true);
    return [...out];
  }

  it('reads trace, span and parent span id words equal to hexToWords of the decoded hex ids', () => {
    const id = (length: number) => fc.uint8Array({ minLength: length, maxLength: length }).filter((b) => b.some((x) => x !== 0));
    fc.assert(
      fc.property(id(16), id(8), fc.option(id(8)), fc.boolean(), (trace, spanId, parent, parentFirst) => {
        const parentField = parent === null ? [] : bytes(4, parent);
        const fields = [str(5, 'tools/call'), attribute('gen_ai.tool.call.arguments', SECRET)];
        const payload = parentFirst
          ? [...parentField, ...bytes(2, spanId), ...bytes(1, trace), ...fields.flat()]
          : [...bytes(1, trace), ...bytes(2, spanId), ...fields.flat(), ...parentField];
        const [decoded] = decodeProtobufTraces(request([payload])).spans;
        const s = slabs();
        expect(s.add(decoded!.wire!)).toBeDefined();
        const want = HAS_TRACE_ID | HAS_SPAN_ID | (parent === null ? NO_PARENT_ID : HAS_PARENT_ID);
        expect(s.idFlags).toBe(want);
        expect([...s.ids.subarray(0, 4)]).toEqual(wordsOf(decoded!.traceId, 4));
        expect([...s.ids.subarray(4, 6)]).toEqual(wordsOf(decoded!.spanId, 2));
        if (parent !== null) expect([...s.ids.subarray(6, 8)]).toEqual(wordsOf(decoded!.parentSpanId!, 2));
        // The look-ahead reads the same trace id words, from a message that starts with them only.
        const lead = new Uint32Array(5);
        expect(leadingTraceId(decoded!.wire!, lead, 1)).toBe(!parentFirst);
        if (!parentFirst) expect([...lead.subarray(1)]).toEqual(wordsOf(decoded!.traceId, 4));
      }),
    );
  });

  it('takes the last occurrence of a repeated id field, as the decoder does, and reads padded tags', () => {
    const other = Array.from({ length: 16 }, (_, i) => 0xf0 - i);
    // trace_id first with a bad length, then twice more; span_id's tag written in two bytes (0x92 0x00).
    const payload = [...bytes(1, [1, 2, 3]), ...bytes(1, other), ...bytes(1, TRACE_ID), 0x92, 0x00, 8, ...SPAN_ID, ...bytes(4, [])];
    const [decoded] = decodeProtobufTraces(request([payload])).spans;
    expect(decoded!.traceId).toBe(TRACE_ID_HEX);
    expect(decoded!.spanId).toBe(SPAN_ID_HEX);
    expect(decoded!.parentSpanId).toBeUndefined();
    const s = slabs();
    s.add(decoded!.wire!);
    expect(s.idFlags).toBe(HAS_TRACE_ID | HAS_SPAN_ID | NO_PARENT_ID);
    expect([...s.ids.subarray(0, 6)]).toEqual([...wordsOf(TRACE_ID_HEX, 4), ...wordsOf(SPAN_ID_HEX, 2)]);
  });

  it('names no id the message does not hold with the length the store keys on', () => {
    // Not what the decoder accepts: a store handed such a span must key it on its strings instead.
    const s = slabs();
    const message = Uint8Array.from([...bytes(1, [1, 2, 3, 4]), ...bytes(2, SPAN_ID), ...bytes(4, [9, 9, 9])]);
    expect(s.add({ body: message, start: 0, end: message.length })).toBeDefined();
    expect(s.idFlags).toBe(HAS_SPAN_ID);
    const noIds = Uint8Array.from(str(5, 'x'));
    s.add({ body: noIds, start: 0, end: noIds.length });
    expect(s.idFlags).toBe(NO_PARENT_ID);
  });

  it('gives the room of a discarded copy back to the next one', () => {
    const s = slabs();
    const [decoded] = decodeProtobufTraces(request([span(str(5, 'x'))])).spans;
    const first = s.add(decoded!.wire!)!;
    const second = s.add(decoded!.wire!)!;
    expect(second.offset).toBe(first.offset + first.length);
    s.discard(second);
    expect(s.add(decoded!.wire!)!.offset).toBe(second.offset);
  });
});
