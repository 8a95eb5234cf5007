import { SpanKind, SpanStatusCode, context, trace, type AttributeValue as ApiAttributeValue } from '@opentelemetry/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJsonTraces, decodeJsonTracesObject } from '../../src/receiver/otlp/decode-json.js';
import { decodeProtobufTraces } from '../../src/receiver/otlp/decode-protobuf.js';
import { OtlpDecodeError } from '../../src/receiver/otlp/span.js';
import { bySpanId, expectedSpan, realisticMcpSpans, recordSpans, toJson, toProtobuf, withoutWire } from './helpers/otlp-spans.js';

/** The decoders' contract on hostile input: a result, or an OtlpDecodeError; never anything else. */
function decodesOrRejects(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof OtlpDecodeError)) throw error;
  }
}

const validBody = toProtobuf(realisticMcpSpans(6));
const validJson = toJson(realisticMcpSpans(3));

describe('decoders never fail with anything but OtlpDecodeError', () => {
  it('protobuf: arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => decodesOrRejects(() => decodeProtobufTraces(bytes))), {
      numRuns: 2000,
    });
  });

  it('protobuf: valid bodies with bit flips, truncation and spliced garbage', () => {
    const mutation = fc.record({
      flips: fc.array(fc.record({ at: fc.nat(validBody.length - 1), bit: fc.integer({ min: 0, max: 7 }) }), { maxLength: 8 }),
      cut: fc.option(fc.nat(validBody.length), { nil: undefined }),
      splice: fc.option(fc.record({ at: fc.nat(validBody.length), bytes: fc.uint8Array({ maxLength: 16 }) }), { nil: undefined }),
    });
    fc.assert(
      fc.property(mutation, ({ flips, cut, splice }) => {
        let bytes = Uint8Array.from(validBody);
        for (const { at, bit } of flips) bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
        if (splice !== undefined) {
          bytes = Uint8Array.from([...bytes.subarray(0, splice.at), ...splice.bytes, ...bytes.subarray(splice.at)]);
        }
        if (cut !== undefined) bytes = bytes.subarray(0, cut);
        decodesOrRejects(() => decodeProtobufTraces(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('JSON: arbitrary JSON values, as text and as parsed objects', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        decodesOrRejects(() => decodeJsonTracesObject(value));
        decodesOrRejects(() => decodeJsonTraces(JSON.stringify(value) ?? ''));
        decodesOrRejects(() => decodeJsonTracesObject({ resourceSpans: [{ scopeSpans: [{ spans: [value] }] }] }));
      }),
      { numRuns: 1000 },
    );
  });

  it('JSON: valid bodies with characters flipped or cut', () => {
    fc.assert(
      fc.property(fc.nat(validJson.length - 1), fc.string({ maxLength: 3 }), fc.nat(validJson.length), (at, text, cut) => {
        decodesOrRejects(() => decodeJsonTraces(`${validJson.slice(0, at)}${text}${validJson.slice(at + 1)}`));
        decodesOrRejects(() => decodeJsonTraces(validJson.slice(0, cut)));
      }),
      { numRuns: 500 },
    );
  });
});

// Round trip: random spans through the official serializers and back.
const attributeKey = fc.string({ minLength: 1, maxLength: 20 }).filter((k) => k !== '__proto__');
// The JS SDK sends integral numbers as intValue (int64), so integral doubles beyond the int64 range
// would be mangled by the serializer before reaching us: keep doubles within ±1e15.
const finiteDouble = fc.double({ noNaN: true, min: -1e15, max: 1e15 }).map((d) => (Object.is(d, -0) ? 0 : d));
const safeInt = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const text = fc.string({ unit: 'grapheme', maxLength: 200 });
const attributeValue: fc.Arbitrary<ApiAttributeValue> = fc.oneof(
  text,
  safeInt,
  finiteDouble,
  fc.boolean(),
  fc.array(text, { maxLength: 4 }),
  fc.array(safeInt, { maxLength: 4 }),
  fc.array(fc.boolean(), { maxLength: 4 }),
);
const attributes = fc.dictionary(attributeKey, attributeValue, { maxKeys: 8 });
const hexId = (bytes: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).filter((b) => b.some((x) => x !== 0)).map((b) => Buffer.from(b).toString('hex'));
const spanSpec = fc.record({
  name: text,
  kind: fc.constantFrom(SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER),
  start: fc.tuple(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 0, max: 999_999_999 })),
  attributes,
  events: fc.array(fc.record({ name: text, attributes }), { maxLength: 3 }),
  links: fc.array(fc.record({ traceId: hexId(16), spanId: hexId(8), attributes }), { maxLength: 2 }),
  status: fc.constantFrom(SpanStatusCode.UNSET, SpanStatusCode.OK, SpanStatusCode.ERROR),
  message: text,
  child: fc.boolean(),
});

describe('round trip through the official OpenTelemetry JS serializers', () => {
  it('decodes what the serializers encode, in both encodings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(spanSpec, { minLength: 1, maxLength: 5 }), attributes, async (specs, resourceAttributes) => {
        const recorder = recordSpans({ 'service.name': 'prop', ...resourceAttributes });
        for (const spec of specs) {
          const parent = spec.child ? recorder.tracer.startSpan('parent') : undefined;
          const ctx = parent === undefined ? context.active() : trace.setSpan(context.active(), parent);
          const span = recorder.tracer.startSpan(
            spec.name,
            {
              kind: spec.kind,
              startTime: spec.start,
              attributes: spec.attributes,
              links: spec.links.map((l) => ({ context: { traceId: l.traceId, spanId: l.spanId, traceFlags: 1 }, attributes: l.attributes })),
            },
            ctx,
          );
          spec.events.forEach((e, i) => span.addEvent(e.name, e.attributes, [spec.start[0], i]));
          span.setStatus(spec.status === SpanStatusCode.ERROR ? { code: spec.status, message: spec.message } : { code: spec.status });
          span.end([spec.start[0] + 1, 0]);
          parent?.end();
        }
        const spans = recorder.finished();
        await recorder.shutdown();
        const expected = bySpanId(spans.map(expectedSpan));
        expect(bySpanId(decodeProtobufTraces(toProtobuf(spans)).spans.map(withoutWire))).toEqual(expected);
        expect(bySpanId(decodeJsonTraces(toJson(spans)).spans)).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});
