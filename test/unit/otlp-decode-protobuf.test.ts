import { readFileSync } from 'node:fs';
import { SpanKind, SpanStatusCode, context, createTraceState, trace } from '@opentelemetry/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeProtobufTraces, decodeSpanMessage } from '../../src/receiver/otlp/decode-protobuf.js';
import { MAX_ANY_VALUE_DEPTH } from '../../src/receiver/otlp/decode-limits.js';
import { OtlpDecodeError } from '../../src/receiver/otlp/span.js';
import { bySpanId, expectedSpan, realisticMcpSpans, recordSpans, toProtobuf, withoutWire } from './helpers/otlp-spans.js';
import {
  SPAN_ID,
  SPAN_ID_HEX,
  TRACE_ID,
  TRACE_ID_HEX,
  body,
  bytes,
  double,
  fixed32,
  fixed64,
  kv,
  len,
  request,
  span,
  str,
  tag,
  uint,
  varint,
} from './helpers/proto-writer.js';

function decodeError(input: Uint8Array): string {
  try {
    decodeProtobufTraces(input);
  } catch (error) {
    expect(error).toBeInstanceOf(OtlpDecodeError);
    return (error as Error).message;
  }
  throw new Error('expected an OtlpDecodeError');
}

describe('decodeProtobufTraces on bodies from the official serializer', () => {
  it('decodes realistic MCP spans exactly as they were recorded', () => {
    const spans = realisticMcpSpans(50);
    const decoded = decodeProtobufTraces(toProtobuf(spans));
    expect(decoded.rejectedSpans).toBe(0);
    expect(decoded.rejectReason).toBeUndefined();
    expect(bySpanId(decoded.spans.map(withoutWire))).toEqual(bySpanId(spans.map(expectedSpan)));
  });

  it("marks where each span's own message lies, and those bytes decode alone to the same span", () => {
    const body = toProtobuf(realisticMcpSpans(20));
    const decoded = decodeProtobufTraces(body);
    expect(decoded.spans).toHaveLength(20);
    for (const span of decoded.spans) {
      expect(span.wire?.body).toBe(body);
      const alone = decodeSpanMessage(body.subarray(span.wire!.start, span.wire!.end), span.resource, span.scope);
      expect(withoutWire(alone!)).toEqual(withoutWire(span));
    }
  });

  it('decodes every attribute type, events, links, trace state, parent and error status', async () => {
    const recorder = recordSpans({ 'service.name': 'svc', 'process.pid': 7 });
    const remote = trace.setSpanContext(context.active(), {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
      traceState: createTraceState('vendor=abc'),
    });
    const linked = { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1, traceState: createTraceState('x=y') };
    const s = recorder.tracer.startSpan(
      'tools/call',
      {
        kind: SpanKind.CLIENT,
        startTime: [1_700_000_000, 123_456_789],
        attributes: { str: 'é ✓ 😀', int: -42, big: 2 ** 40, dbl: 1.5, yes: true, no: false, arr: ['a', 'b'], nums: [1, 2.5], empty: '' },
        links: [{ context: linked, attributes: { 'link.kind': 'follows' } }],
      },
      remote,
    );
    s.addEvent('progress', { done: 3 }, [1_700_000_000, 500]);
    s.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    s.end([1_700_000_001, 0]);
    const spans = recorder.finished();
    await recorder.shutdown();

    const [decoded] = decodeProtobufTraces(toProtobuf(spans)).spans;
    expect(withoutWire(decoded!)).toEqual(expectedSpan(spans[0]!));
    expect(decoded?.parentSpanId).toBe('b7ad6b7169203331');
    expect(decoded?.traceState).toBe('vendor=abc');
    expect(decoded?.kind).toBe(3);
    expect(decoded?.startTimeUnixNano).toBe(1_700_000_000_123_456_789);
    expect(decoded?.links[0]?.traceState).toBe('x=y');
    expect(decoded?.status).toEqual({ code: 2, message: 'boom' });
  });

  it('shares one resource and one scope object among the spans that carry them', () => {
    const decoded = decodeProtobufTraces(toProtobuf(realisticMcpSpans(5)));
    const [first, ...rest] = decoded.spans;
    for (const other of rest) {
      expect(other.resource).toBe(first?.resource);
      expect(other.scope).toBe(first?.scope);
    }
  });
});

describe('decodeProtobufTraces short-string cache', () => {
  it('gives every short key and value its own text when thousands of distinct strings share cache slots', () => {
    // 4,096 slots picked by length and five sampled bytes: strings that differ only elsewhere share a slot,
    // and non-ASCII ones (cached by their bytes) must come back as decoded, not as a neighbour's text.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ unit: fc.constantFrom('a', 'b', 'é', '€', '😀', '-', '.'), minLength: 1, maxLength: 20 }), fc.string({ maxLength: 40 })), { minLength: 200, maxLength: 400 }),
        (pairs) => {
          const recorder = recordSpans();
          for (let i = 0; i < pairs.length; i += 20) {
            const attributes = Object.fromEntries(pairs.slice(i, i + 20).map(([k, v], j) => [`${k}.${i + j}`, v]));
            recorder.tracer.startSpan(`s${i}`, { attributes }).end();
          }
          const spans = recorder.finished();
          expect(bySpanId(decodeProtobufTraces(toProtobuf(spans)).spans.map(withoutWire))).toEqual(bySpanId(spans.map(expectedSpan)));
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('decodeProtobufTraces on crafted bodies', () => {
  it('accepts an empty body as a request with no spans', () => {
    expect(decodeProtobufTraces(new Uint8Array(0))).toEqual({ spans: [], rejectedSpans: 0 });
  });

  it('decodes every AnyValue member, including bytes, kvlist and nested arrays', () => {
    const input = request([
      span(
        len(9, kv('s', str(1, 'v'))),
        len(9, kv('b', uint(2, 1))),
        len(9, kv('i', uint(3, -5))),
        len(9, kv('d', double(4, -0.25))),
        len(9, kv('a', len(5, len(1, str(1, 'x')), len(1, len(5, len(1, uint(3, 9))))))),
        len(9, kv('k', len(6, len(1, kv('inner', uint(2, 0)))))),
        len(9, kv('y', bytes(7, [0, 255, 7]))),
        len(9, str(1, 'unset')),
        len(9, kv('empty', [])),
      ),
    ]);
    const [decoded] = decodeProtobufTraces(input).spans;
    expect(decoded?.attributes).toEqual({
      s: 'v',
      b: true,
      i: -5,
      d: -0.25,
      a: ['x', [9]],
      k: { inner: false },
      y: new Uint8Array([0, 255, 7]),
      unset: null,
      empty: null,
    });
  });

  it('converts int64 extremes and fixed64 times to numbers', () => {
    const input = request([
      span(
        fixed64(7, 1_700_000_000_000_000_123n),
        fixed64(8, 2n ** 64n - 1n),
        len(9, kv('max', uint(3, 2n ** 53n))),
        len(9, kv('min', uint(3, -(2n ** 63n)))),
      ),
    ]);
    const [decoded] = decodeProtobufTraces(input).spans;
    expect(decoded?.startTimeUnixNano).toBe(Number(1_700_000_000_000_000_123n));
    expect(decoded?.endTimeUnixNano).toBe(2 ** 64);
    expect(decoded?.attributes).toEqual({ max: 2 ** 53, min: -(2 ** 63) });
  });

  it('keeps a key named __proto__ as an ordinary attribute', () => {
    const [decoded] = decodeProtobufTraces(request([span(len(9, kv('__proto__', len(6, len(1, kv('polluted', uint(2, 1)))))))])).spans;
    expect(Object.getPrototypeOf(decoded?.attributes)).toBe(Object.prototype);
    expect(Object.keys(decoded?.attributes ?? {})).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('skips unknown fields of every non-group wire type', () => {
    const unknown = [...uint(99, 2n ** 63n), ...fixed64(98, 1n), ...str(97, 'future'), ...fixed32(96, 7)];
    const input = body(
      unknown,
      len(1, unknown, len(1, unknown, len(1, kv('service.name', str(1, 'svc'))), unknown), len(2, unknown, len(2, span(unknown, str(5, 'op'))))),
    );
    const decoded = decodeProtobufTraces(input);
    expect(decoded.spans.map((s) => [s.name, s.resource])).toEqual([['op', { 'service.name': 'svc' }]]);
  });

  it('decodes fields in any order and lets scope fields come after the spans', () => {
    const input = body(
      len(1, len(2, len(2, str(5, 'op'), bytes(2, SPAN_ID), bytes(1, TRACE_ID)), len(1, str(1, 'late-scope'), str(2, '9'))), len(1, len(1, kv('r', str(1, 'x'))))),
    );
    const [decoded] = decodeProtobufTraces(input).spans;
    expect(decoded).toMatchObject({ traceId: TRACE_ID_HEX, spanId: SPAN_ID_HEX, name: 'op', scope: { name: 'late-scope', version: '9' }, resource: { r: 'x' } });
  });

  it('replaces invalid UTF-8 with U+FFFD instead of failing the request', () => {
    const [decoded] = decodeProtobufTraces(request([span(len(5, [0x61, 0xff, 0x62]))])).spans;
    expect(decoded?.name).toBe('a\uFFFDb');
  });

  it('rejects only the spans with unusable ids and reports the first reason', () => {
    const input = request([
      span(str(5, 'good')),
      [...bytes(2, SPAN_ID), ...str(5, 'no trace id')],
      [...bytes(1, TRACE_ID), ...bytes(2, [0, 0, 0, 0, 0, 0, 0, 0])],
      span(bytes(4, [1, 2, 3])),
      span(len(13, bytes(1, TRACE_ID), bytes(2, [1]))),
      span(bytes(4, []), str(5, 'empty parent is a root')),
    ]);
    const decoded = decodeProtobufTraces(input);
    expect(decoded.spans.map((s) => s.name)).toEqual(['good', 'empty parent is a root']);
    expect(decoded.spans[1]?.parentSpanId).toBeUndefined();
    expect(decoded.rejectedSpans).toBe(4);
    expect(decoded.rejectReason).toBe('span 1 (resource_spans[0].scope_spans[0].spans[1]): trace_id must be 16 bytes, got 0');
  });

  it.each([
    ['an all-zero span id', [...bytes(1, TRACE_ID), ...bytes(2, [0, 0, 0, 0, 0, 0, 0, 0])], 'span_id must not be all zeros'],
    ['a short parent id', span(bytes(4, [1, 2, 3])), 'parent_span_id must be 8 bytes, got 3'],
    ['a bad link', span(len(13, bytes(1, TRACE_ID), bytes(2, [1]))), 'link 0: span_id must be 8 bytes, got 1'],
  ])('explains %s', (_name, payload, reason) => {
    expect(decodeProtobufTraces(request([payload])).rejectReason).toContain(reason);
  });

  it('names the field when a known field has the wrong wire type', () => {
    expect(decodeError(request([span(uint(5, 1))]))).toContain('Span.name (field 5) must have wire type LEN, got VARINT');
    expect(decodeError(request([span(str(7, 'x'))]))).toContain('Span.start_time_unix_nano (field 7)');
    expect(decodeError(body(uint(1, 3)))).toContain('ExportTraceServiceRequest.resource_spans');
    expect(decodeError(request([span(len(9, kv('k', str(4, 'x'))))]))).toContain('AnyValue.double_value');
    expect(decodeError(request([span(fixed64(16, 1n))]))).toContain('Span.flags (field 16) must have wire type I32');
  });

  it('rejects groups, invalid wire types and field number 0', () => {
    expect(decodeError(body(tag(5, 3), tag(5, 4)))).toContain('group');
    expect(decodeError(body(tag(5, 6)))).toContain('invalid wire type 6');
    expect(decodeError(body(tag(0, 0), [0]))).toContain('invalid field tag');
  });

  it('rejects truncated bodies, lengths past the end, and over-long varints', () => {
    const valid = request([span(str(5, 'op'))]);
    for (let cut = 1; cut < valid.length; cut++) {
      expect(() => decodeProtobufTraces(valid.subarray(0, cut))).toThrow(OtlpDecodeError);
    }
    expect(decodeError(body(tag(1, 2), varint(1000), [1, 2]))).toMatch(/length 1000.*past the end/);
    expect(decodeError(body(tag(9, 0), Array(10).fill(0xff), [1]))).toContain('varint longer than 10 bytes');
    // A nested length may not run past its parent even if the body has bytes left.
    expect(decodeError(body(len(1, tag(2, 2), varint(5)), [0, 0, 0, 0, 0]))).toContain('past the end');
  });

  it(`rejects AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`, () => {
    const nest = (levels: number): number[] => (levels === 1 ? str(1, 'leaf') : len(5, len(1, nest(levels - 1))));
    expect(decodeProtobufTraces(request([span(len(9, kv('deep', nest(MAX_ANY_VALUE_DEPTH))))])).spans).toHaveLength(1);
    expect(decodeError(request([span(len(9, kv('deep', nest(MAX_ANY_VALUE_DEPTH + 1))))]))).toContain('nested deeper');
    // Far deeper than the stack could take if the limit were missing.
    expect(decodeError(request([span(len(9, kv('deep', nest(300))))]))).toContain('nested deeper');
  });

  it('decodes a Buffer the same as a Uint8Array at a non-zero offset', () => {
    const input = request([span(str(5, 'op'))]);
    const padded = new Uint8Array(input.length + 10);
    padded.set(input, 7);
    const view = padded.subarray(7, 7 + input.length);
    const fromView = decodeProtobufTraces(view);
    const fromBuffer = decodeProtobufTraces(Buffer.from(input));
    expect({ ...fromView, spans: fromView.spans.map(withoutWire) }).toEqual({ ...fromBuffer, spans: fromBuffer.spans.map(withoutWire) });
    expect(decodeProtobufTraces(view).spans[0]?.name).toBe('op');
  });
});

describe('decodeProtobufTraces on the captured exporter fixture', () => {
  it('decodes test/fixtures/otlp/exporter-proto-sample.bin (real exporter-trace-otlp-proto output)', () => {
    const fixture = readFileSync(new URL('../fixtures/otlp/exporter-proto-sample.bin', import.meta.url));
    const decoded = decodeProtobufTraces(fixture);
    expect(decoded.rejectedSpans).toBe(0);
    expect(decoded.spans.map((s) => s.name).sort()).toEqual(['resources/read', 'tools/call read_file']);
    const server = decoded.spans.find((s) => s.name === 'tools/call read_file');
    expect(server).toMatchObject({
      kind: 2,
      startTimeUnixNano: 1_760_000_000_123_456_789,
      resource: { 'service.name': 'mcp-filesystem' },
      attributes: { 'mcp.method.name': 'tools/call', 'server.port': 3000, 'mcp.retry.delays': [10, 20, 40] },
      status: { code: 2 },
    });
  });
});
