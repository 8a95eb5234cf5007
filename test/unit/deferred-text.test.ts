import { SpanKind, context, type Attributes as OtelAttributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NormalizeProcessor } from '../../src/pipeline/normalize-processor.js';
import { normalizeSpan } from '../../src/pipeline/normalize.js';
import type { McpEvent } from '../../src/pipeline/events.js';
import { decodeProtobufTraces } from '../../src/receiver/otlp/decode-protobuf.js';
import { DEFERRED_TEXT_MIN_BYTES, WireText, materializeDeferredText, type DecodedSpan } from '../../src/receiver/otlp/span.js';
import { OTEL } from '../../src/semconv/attributes.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { toProtobuf } from '../helpers/mcp-spans.js';

/**
 * Long tool arguments and results stay in the request body as `WireText` (decode-protobuf.ts), and the
 * normalizer measures and fingerprints those bytes directly. Whatever the payload, the event must be the
 * one the decoded string would have given.
 */

function toolCallBody(attributes: OtelAttributes, eventAttributes: OtelAttributes = {}): Uint8Array {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'filesystem', 'process.pid': 4242 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const span = provider
    .getTracer('deferred-text-test')
    .startSpan('tools/call read_file', { kind: SpanKind.SERVER, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'read_file', ...attributes } }, context.active());
  span.addEvent('message', eventAttributes);
  span.end();
  return toProtobuf(exporter.getFinishedSpans());
}

function decodeOne(body: Uint8Array): DecodedSpan {
  const spans = decodeProtobufTraces(body).spans;
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

/** The same span with every deferred value turned into the string the decoder used to make. */
function materialized(span: DecodedSpan): DecodedSpan {
  const copy = { ...span, attributes: { ...span.attributes } };
  materializeDeferredText(copy.attributes);
  return copy;
}

const LONG = DEFERRED_TEXT_MIN_BYTES + 10;

/** A decoded span to put attributes on (resource and times as the decoder makes them). */
const decodedTemplate: DecodedSpan = {
  traceId: 'ab'.repeat(16),
  spanId: 'cd'.repeat(8),
  name: 'tools/call read_file',
  kind: 2,
  startTimeUnixNano: 1_790_000_000e9,
  endTimeUnixNano: 1_790_000_000e9 + 5e6,
  attributes: {},
  events: [],
  links: [],
  status: { code: 0 },
  resource: { 'service.name': 'filesystem', 'process.pid': 4242 },
  scope: { name: 'deferred-text-test' },
};

describe('deferred tool-call text (protobuf)', () => {
  it('leaves long semconv arguments and results on the wire, and their text() is the decoded string', () => {
    const args = JSON.stringify({ path: '/srv/data/report.txt', query: 'q'.repeat(LONG) });
    const result = JSON.stringify({ content: [{ type: 'text', text: 'é'.repeat(LONG) }] });
    const span = decodeOne(toolCallBody({ [OTEL.genAiToolCallArguments]: args, [OTEL.genAiToolCallResult]: result }));
    const a = span.attributes[OTEL.genAiToolCallArguments];
    const r = span.attributes[OTEL.genAiToolCallResult];
    expect(a).toBeInstanceOf(WireText);
    expect(r).toBeInstanceOf(WireText);
    expect((a as WireText).text()).toBe(args);
    expect((r as WireText).text()).toBe(result);
    expect(JSON.stringify({ a })).toBe(JSON.stringify({ a: args }));
  });

  it('decodes short payloads, other attributes and span-event attributes as strings', () => {
    const short = JSON.stringify({ path: '/a' });
    const long = 'x'.repeat(LONG);
    const span = decodeOne(toolCallBody({ [OTEL.genAiToolCallArguments]: short, 'mcpwatch.note': long }, { [OTEL.genAiToolCallArguments]: long }));
    expect(span.attributes[OTEL.genAiToolCallArguments]).toBe(short);
    expect(span.attributes['mcpwatch.note']).toBe(long);
    expect(span.events[0]!.attributes[OTEL.genAiToolCallArguments]).toBe(long);
  });

  it('gives the event the string would have given, for ASCII, non-ASCII, invalid UTF-8 and isError payloads', () => {
    const payload = fc.oneof(
      fc.string({ minLength: LONG, maxLength: LONG + 3000 }),
      fc.string({ unit: 'grapheme', minLength: Math.ceil(LONG / 2), maxLength: LONG }),
      fc.tuple(fc.boolean(), fc.string({ minLength: LONG, maxLength: LONG + 100 })).map(([isError, text]) => JSON.stringify({ isError, content: [{ type: 'text', text }] })),
      fc.string({ minLength: LONG, maxLength: LONG + 100 }).map((text) => `{"isError" :  true, "t": ${JSON.stringify(text)}}`),
    );
    fc.assert(
      fc.property(payload, payload, fc.boolean(), (args, result, invalidUtf8) => {
        const body = toolCallBody({ [OTEL.genAiToolCallArguments]: args, [OTEL.genAiToolCallResult]: result });
        if (invalidUtf8) {
          // A lone continuation byte inside the arguments' string value: decoded as U+FFFD.
          const at = Buffer.from(body).indexOf(Buffer.from(args.slice(0, 64)));
          if (at >= 0) body[at + 1] = 0x80;
        }
        const span = decodeOne(body);
        const opts = { captureContent: false };
        expect(normalizeSpan(span, opts)).toEqual(normalizeSpan(materialized(span), opts));
      }),
      { numRuns: 150 },
    );
  });

  it('gives the event of the string around the length limits, for 1- to 4-byte characters and invalid bytes', () => {
    // Characters of each UTF-8 length, so a payload of 2-8 KB can be longer or shorter than the 2048 UTF-16
    // units up to which the normalizer fingerprints canonical JSON instead of the text as sent.
    const unit = fc.constantFrom('a', '"', 'é', 'ж', '值', '\uffff', '\u{1f600}', '\u{10ffff}');
    const invalid = fc.oneof(
      { arbitrary: fc.constant([]), weight: 4 },
      { arbitrary: fc.constantFrom([0x80], [0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0x80]), weight: 3 },
    );
    const sizes = fc.integer({ min: 2000, max: 8200 });
    fc.assert(
      fc.property(unit, unit, sizes, invalid, fc.nat(), fc.constantFrom(undefined, 3000, 6000), fc.boolean(), (u1, u2, size, bad, at, maxPayloadBytes, asResult) => {
        const pattern = u2 + u1.repeat(6);
        const text = pattern.repeat(Math.ceil(size / Buffer.byteLength(pattern)));
        // Members out of order, so the canonical-JSON fingerprint differs from the one over the text as sent.
        const utf8 = Buffer.from(JSON.stringify({ t: text, isError: true }));
        const cut = at % utf8.length;
        const bytes = Buffer.concat([Buffer.from('xyz'), utf8.subarray(0, cut), Buffer.from(bad), utf8.subarray(cut), Buffer.from('xyz')]);
        const wire = new WireText(bytes, 3, bytes.length - 3);
        if (wire.byteLength < DEFERRED_TEXT_MIN_BYTES) return;
        const key = asResult ? OTEL.genAiToolCallResult : OTEL.genAiToolCallArguments;
        const attrs = { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'read_file' };
        const base: DecodedSpan = { ...decodedTemplate, attributes: { ...attrs, [key]: wire } };
        const opts = maxPayloadBytes === undefined ? { captureContent: false } : { captureContent: false, maxPayloadBytes };
        const fromWire = normalizeSpan(base, opts);
        const fromString = normalizeSpan({ ...base, attributes: { ...attrs, [key]: wire.text() } }, opts);
        expect(fromWire).toEqual(fromString);
        expect(fromWire?.arguments ?? fromWire?.result).toBeDefined();
      }),
      { numRuns: 400, endOnFailure: true },
    );
  });

  it('with content capture on, hands the store strings and keeps the content in the event', () => {
    const args = JSON.stringify({ path: '/srv/data/report.txt', query: 'q'.repeat(LONG) });
    const stored: DecodedSpan[] = [];
    const events: McpEvent[] = [];
    const metrics = new Metrics();
    const processor = new NormalizeProcessor(
      { captureContent: true, metrics, logger: createLogger({ level: 'silent' }) },
      { spans: { consume: (b) => (stored.push(...b), true) }, events: { consume: (b) => (events.push(...b), true) } },
    );
    processor.consume(decodeProtobufTraces(toolCallBody({ [OTEL.genAiToolCallArguments]: args })).spans);
    metrics.close();
    expect(stored[0]!.attributes[OTEL.genAiToolCallArguments]).toBe(args);
    const event = events[0]!;
    expect(event.kind === 'mcp' && event.arguments?.content).toEqual(JSON.parse(args));
  });
});
