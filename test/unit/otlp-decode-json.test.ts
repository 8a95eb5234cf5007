import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeJsonTraces, decodeJsonTracesObject } from '../../src/receiver/otlp/decode-json.js';
import { MAX_ANY_VALUE_DEPTH } from '../../src/receiver/otlp/decode-limits.js';
import { decodeProtobufTraces } from '../../src/receiver/otlp/decode-protobuf.js';
import { OtlpDecodeError } from '../../src/receiver/otlp/span.js';
import { bySpanId, expectedSpan, realisticMcpSpans, toJson, toProtobuf, withoutWire } from './helpers/otlp-spans.js';

const TRACE = '0AF7651916CD43DD8448EB211C80319C';
const SPAN = 'B7AD6B7169203331';

function request(spans: unknown[], resource: unknown = { attributes: [] }): string {
  return JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 's', version: '1' }, spans }] }] });
}

function decodeError(text: string): string {
  try {
    decodeJsonTraces(text);
  } catch (error) {
    expect(error).toBeInstanceOf(OtlpDecodeError);
    return (error as Error).message;
  }
  throw new Error('expected an OtlpDecodeError');
}

describe('decodeJsonTraces on bodies from the official serializer', () => {
  it('decodes realistic MCP spans exactly as they were recorded, and as the protobuf decoder does', () => {
    const spans = realisticMcpSpans(30);
    const fromJson = decodeJsonTraces(toJson(spans));
    expect(fromJson.rejectedSpans).toBe(0);
    expect(bySpanId(fromJson.spans)).toEqual(bySpanId(spans.map(expectedSpan)));
    expect(bySpanId(fromJson.spans)).toEqual(bySpanId(decodeProtobufTraces(toProtobuf(spans)).spans.map(withoutWire)));
  });
});

describe('decodeJsonTraces mapping rules', () => {
  it('accepts {} and an empty resourceSpans as requests with no spans', () => {
    expect(decodeJsonTraces('{}')).toEqual({ spans: [], rejectedSpans: 0 });
    expect(decodeJsonTraces('{"resourceSpans":[]}')).toEqual({ spans: [], rejectedSpans: 0 });
  });

  it('normalizes upper-case hex ids, reads int64 as string or number, enums as numbers or names', () => {
    const decoded = decodeJsonTraces(
      request([
        {
          traceId: TRACE,
          spanId: SPAN,
          parentSpanId: '',
          name: 'tools/call',
          kind: 'SPAN_KIND_SERVER',
          startTimeUnixNano: '1700000000123456789',
          endTimeUnixNano: 1700000001000000000,
          attributes: [
            { key: 'a', value: { intValue: '42' } },
            { key: 'b', value: { intValue: -7 } },
            { key: 'c', value: { doubleValue: 'NaN' } },
            { key: 'd', value: { boolValue: true } },
            { key: 'e', value: { bytesValue: 'AP8H' } },
            { key: 'f', value: { arrayValue: { values: [{ stringValue: 'x' }, {}] } } },
            { key: 'g', value: { kvlistValue: { values: [{ key: 'h', value: { stringValue: 'i' } }] } } },
            { key: 'unset' },
          ],
          status: { code: 'STATUS_CODE_ERROR', message: 'boom' },
          unknownField: { ignored: true },
        },
      ]),
    );
    const [span] = decoded.spans;
    expect(span).toMatchObject({
      traceId: TRACE.toLowerCase(),
      spanId: SPAN.toLowerCase(),
      parentSpanId: undefined,
      kind: 2,
      startTimeUnixNano: 1_700_000_000_123_456_789,
      endTimeUnixNano: 1_700_000_001_000_000_000,
      status: { code: 2, message: 'boom' },
      scope: { name: 's', version: '1' },
    });
    expect(span?.attributes).toEqual({
      a: 42,
      b: -7,
      c: Number.NaN,
      d: true,
      e: new Uint8Array([0, 255, 7]),
      f: ['x', null],
      g: { h: 'i' },
      unset: null,
    });
  });

  it('accepts the proto field names (snake_case) as the proto3 JSON mapping allows', () => {
    const decoded = decodeJsonTraces(
      JSON.stringify({
        resource_spans: [
          {
            scope_spans: [
              {
                spans: [
                  {
                    trace_id: TRACE,
                    span_id: SPAN,
                    parent_span_id: '0102030405060708',
                    start_time_unix_nano: '5',
                    attributes: [{ key: 'k', value: { string_value: 'v' } }],
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(decoded.spans[0]).toMatchObject({ parentSpanId: '0102030405060708', startTimeUnixNano: 5, attributes: { k: 'v' } });
  });

  it('rejects base64 and other non-hex ids as partial success with a reason', () => {
    const decoded = decodeJsonTraces(
      request([
        { traceId: 'CvdlGRbNQ92ESOshHIAxnA==', spanId: SPAN, name: 'base64' },
        { traceId: TRACE, spanId: 'zzzzzzzzzzzzzzzz' },
        { traceId: TRACE, spanId: SPAN, parentSpanId: '00000000000000000' },
        { traceId: '00000000000000000000000000000000', spanId: SPAN },
        { spanId: SPAN },
        { traceId: TRACE, spanId: SPAN, links: [{ traceId: TRACE, spanId: 'abc' }] },
        { traceId: TRACE, spanId: SPAN, name: 'ok' },
      ]),
    );
    expect(decoded.spans.map((s) => s.name)).toEqual(['ok']);
    expect(decoded.rejectedSpans).toBe(6);
    expect(decoded.rejectReason).toBe(
      'span 0 (resourceSpans[0].scopeSpans[0].spans[0]): trace_id must be 32 hex digits (OTLP/JSON ids are hex, not base64), got 24 characters',
    );
  });

  it('names the path of a field with the wrong JSON type', () => {
    const bad = JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [] }, { spans: [{}, {}, {}, {}, { traceId: TRACE, attributes: {} }] }] }],
    });
    expect(decodeError(bad)).toBe('malformed OTLP JSON: resourceSpans[0].scopeSpans[1].spans[4].attributes: expected an array');
    expect(decodeError('{"resourceSpans":{}}')).toContain('resourceSpans: expected an array');
    expect(decodeError('[]')).toContain('expected a JSON object');
    expect(decodeError(request([{ name: 5 }]))).toContain('spans[0].name: expected a string');
    expect(decodeError(request([{ kind: 'SPAN_KIND_BOGUS' }]))).toContain('spans[0].kind');
    expect(decodeError(request([{ startTimeUnixNano: '1e3x' }]))).toContain('spans[0].startTimeUnixNano: expected an integer');
    expect(decodeError(request([{ attributes: [{ key: 'k', value: { intValue: 1.5 } }] }]))).toContain(
      'spans[0].attributes[0].value.intValue',
    );
    expect(decodeError(request([{ attributes: [{ key: 'k', value: { bytesValue: '!!' } }] }]))).toContain('bytesValue');
    expect(decodeError(request([], { attributes: [{ key: 3 }] }))).toContain('resourceSpans[0].resource.attributes[0].key');
  });

  it('turns malformed JSON into OtlpDecodeError', () => {
    expect(decodeError('{"resourceSpans": [')).toMatch(/^invalid JSON/);
    expect(decodeError('')).toMatch(/^invalid JSON/);
  });

  it(`rejects AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`, () => {
    const nest = (levels: number): unknown =>
      levels === 1 ? { stringValue: 'leaf' } : { arrayValue: { values: [nest(levels - 1)] } };
    const spanWith = (levels: number): unknown => ({ traceId: TRACE, spanId: SPAN, attributes: [{ key: 'd', value: nest(levels) }] });
    expect(decodeJsonTracesObject(JSON.parse(request([spanWith(MAX_ANY_VALUE_DEPTH)]))).spans).toHaveLength(1);
    expect(decodeError(request([spanWith(MAX_ANY_VALUE_DEPTH + 1)]))).toContain('nested deeper');
  });

  it('survives nesting deep enough to overflow JSON.parse', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(() => decodeJsonTraces(deep)).toThrow(OtlpDecodeError);
  });

  it('keeps a key named __proto__ as an ordinary attribute', () => {
    const [span] = decodeJsonTraces(request([{ traceId: TRACE, spanId: SPAN, attributes: [{ key: '__proto__', value: { stringValue: 'x' } }] }])).spans;
    expect(Object.getPrototypeOf(span?.attributes)).toBe(Object.prototype);
    expect(Object.keys(span?.attributes ?? {})).toEqual(['__proto__']);
  });
});

describe('decodeJsonTraces on the captured exporter fixture', () => {
  it('decodes test/fixtures/otlp/exporter-json-sample.json (real exporter-trace-otlp-http output)', () => {
    const fixture = readFileSync(new URL('../fixtures/otlp/exporter-json-sample.json', import.meta.url), 'utf8');
    const decoded = decodeJsonTraces(fixture);
    expect(decoded.rejectedSpans).toBe(0);
    expect(decoded.spans.map((s) => s.name).sort()).toEqual(['resources/read', 'tools/call read_file']);
    const server = decoded.spans.find((s) => s.name === 'tools/call read_file');
    const child = decoded.spans.find((s) => s.name === 'resources/read');
    expect(child?.parentSpanId).toBe(server?.spanId);
    expect(server).toMatchObject({
      kind: 2,
      startTimeUnixNano: 1_760_000_000_123_456_789,
      resource: { 'service.name': 'mcp-filesystem' },
      attributes: { 'mcpwatch.duration.ratio': 0.75, 'mcpwatch.tool.is_error': true },
      links: [{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736' }],
    });
  });
});

describe('decodeJsonTraces integer strings', () => {
  it('reads int64 strings of any length as Number() does, rounding long ones once', () => {
    const texts = ['0', '-0', '007', '9007199254740993', '4611686018999999999', '4611686019000000001', '1790000001005897308', '18446744073709551615', '-9223372036854775808', '99999999999999999999'];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      let t = '';
      const digits = 1 + (i % 20);
      for (let d = 0; d < digits; d++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        t += String(seed % 10);
      }
      texts.push(t);
    }
    const spans = texts.map((t, i) => ({
      traceId: TRACE,
      spanId: SPAN,
      name: String(i),
      startTimeUnixNano: t.startsWith('-') ? '0' : t,
      attributes: [{ key: 'n', value: { intValue: t } }],
    }));
    const decoded = decodeJsonTraces(request(spans)).spans;
    expect(decoded.map((s) => s.attributes.n)).toEqual(texts.map(Number));
    expect(decoded.map((s) => s.startTimeUnixNano)).toEqual(texts.map((t) => (t.startsWith('-') ? 0 : Number(t))));
    expect(Object.is(decoded[1]!.attributes.n, -0)).toBe(true);
  });

  it('rejects what is not a decimal integer, however it starts', () => {
    for (const t of ['', '-', '+1', '1e3', '0x10', '1.0', ' 1', '1 ', '١٢', '123456789012345678901']) {
      expect(decodeError(request([{ traceId: TRACE, spanId: SPAN, attributes: [{ key: 'n', value: { intValue: t } }] }]))).toMatch(/intValue: expected an integer/);
    }
  });
});
