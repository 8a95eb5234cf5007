import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeJsonTraceBody, decodeJsonTraces } from '../../src/receiver/otlp/decode-json.js';
import { OtlpDecodeError, type DecodedTraces } from '../../src/receiver/otlp/span.js';
import { makeMcpSpans, toJson } from '../helpers/mcp-spans.js';

/** V8 allocates a string longer than this outside the young generation (the cost `decodeJsonTraceBody` avoids). */
const LARGE_STRING = 128 * 1024;

type Outcome = { result: DecodedTraces } | { error: string };

function outcome(decode: () => DecodedTraces): Outcome {
  try {
    return { result: decode() };
  } catch (error) {
    expect(error).toBeInstanceOf(OtlpDecodeError);
    return { error: (error as Error).message };
  }
}

/** The contract: whatever the bytes, the same spans or the same error as decoding the whole text. */
function expectSameAsWhole(body: Buffer): Outcome {
  const got = outcome(() => decodeJsonTraceBody(body));
  expect(got).toEqual(outcome(() => decodeJsonTraces(body.toString('utf8'))));
  return got;
}

/** A request as the OpenTelemetry JS exporter writes it, of roughly `kb` kilobytes. */
function bigRequest(seed: number, kb: number): string {
  const text = toJson(makeMcpSpans({ count: Math.ceil(kb / 5.5), seed, argBytes: [2000, 9000] }));
  expect(text.length).toBeGreaterThan(kb * 700);
  return text;
}

const REQUEST = bigRequest(41, 400);
const parsed = JSON.parse(REQUEST) as { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('decodeJsonTraceBody', () => {
  it('parses a large body in strings V8 keeps in the young generation, with the result of parsing it whole', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const got = expectSameAsWhole(Buffer.from(REQUEST));
    // The last call is the whole-text decode `expectSameAsWhole` compares with.
    const mine = parse.mock.calls.slice(0, -1).map(([text]) => (text as string).length);
    expect(mine.length).toBeGreaterThan(3);
    expect(Math.max(...mine)).toBeLessThan(LARGE_STRING);
    expect('result' in got && got.result.spans.length).toBe(parsed.resourceSpans[0]!.scopeSpans[0]!.spans.length);
  });

  it('decodes small bodies and bodies without span boundaries to cut at', () => {
    expectSameAsWhole(Buffer.from(toJson(makeMcpSpans({ count: 3, seed: 2 }))));
    expectSameAsWhole(Buffer.from(JSON.stringify(parsed, null, 1)));
    expectSameAsWhole(Buffer.from(''));
  });

  it('decodes several resources and scopes, whose pieces cross from one spans array to the next', () => {
    const a = JSON.parse(bigRequest(42, 250)) as typeof parsed;
    const b = JSON.parse(bigRequest(43, 250)) as typeof parsed;
    const merged = { resourceSpans: [...a.resourceSpans, ...b.resourceSpans, { scopeSpans: [...a.resourceSpans[0]!.scopeSpans, ...b.resourceSpans[0]!.scopeSpans] }] };
    expect('result' in expectSameAsWhole(Buffer.from(JSON.stringify(merged)))).toBe(true);
  });

  it('decodes a span longer than a piece and long link lists', () => {
    const spans = parsed.resourceSpans[0]!.scopeSpans[0]!.spans;
    const long = { ...spans[0], attributes: [{ key: 'gen_ai.tool.call.arguments', value: { stringValue: 'x'.repeat(300_000) } }] };
    const links = Array.from({ length: 3000 }, (_, i) => ({ traceId: spans[i % spans.length]!.traceId, spanId: spans[i % spans.length]!.spanId, attributes: [] }));
    const body = { resourceSpans: [{ scopeSpans: [{ spans: [spans[1], long, { ...spans[2], links }, ...spans.slice(3)] }] }] };
    expect('result' in expectSameAsWhole(Buffer.from(JSON.stringify(body)))).toBe(true);
  });

  it('ignores boundaries in unknown fields, and a string that only looks like a piece marker', () => {
    const spans = parsed.resourceSpans[0]!.scopeSpans[0]!.spans;
    const marker = '\u0000mcpwatch-json-piece-000000000000000000000000-0';
    const body = {
      resourceSpans: [{ scopeSpans: [{ spans: spans.slice(0, 20), futureField: spans.slice(20, 60) }] }],
      spans: [marker, ...spans.slice(0, 30)],
    };
    expectSameAsWhole(Buffer.from(JSON.stringify(body)));
    // As an element of spans the look-alike is what it is: not a Span object.
    const forged = { resourceSpans: [{ scopeSpans: [{ spans: [...spans.slice(0, 30), marker, ...spans.slice(30)] }] }] };
    expect(expectSameAsWhole(Buffer.from(JSON.stringify(forged)))).toEqual({ error: expect.stringContaining('expected a Span object') });
  });

  it('keeps the last of duplicate members as JSON.parse does, when the first one was cut into pieces', () => {
    const spans = parsed.resourceSpans[0]!.scopeSpans[0]!.spans;
    const first = JSON.stringify(spans);
    const second = JSON.stringify(spans.slice(0, 2));
    const got = expectSameAsWhole(Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":${first},"spans":${second}}]}]}`));
    expect('result' in got && got.result.spans.length).toBe(2);
  });

  it('gives the same U+FFFD for invalid UTF-8 next to the cuts', () => {
    // Each span's name last, just before the boundary, as a lone continuation byte and a truncated 4-byte sequence.
    const spans = parsed.resourceSpans[0]!.scopeSpans[0]!.spans.map(({ name: _name, ...span }) => ({ ...span, name: 'name-XYYY' }));
    const bytes = Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }));
    for (let at = bytes.indexOf('XYYY"}'); at >= 0; at = bytes.indexOf('XYYY"}', at + 1)) bytes.set([0x80, 0xf0, 0x9f, 0x98], at);
    const got = expectSameAsWhole(bytes);
    expect('result' in got && got.result.spans.every((s) => s.name === 'name-\ufffd\ufffd')).toBe(true);
  });

  it('fails as the whole text does: syntax errors anywhere, a boundary that is not one, trailing bytes', () => {
    expectSameAsWhole(Buffer.from(`${REQUEST}x`));
    expectSameAsWhole(Buffer.from(`${REQUEST.slice(0, -1)}`));
    expectSameAsWhole(Buffer.from(`\ufeff${REQUEST}`));
    // A string value that ends in the boundary's first bytes: invalid, as `"traceId` cannot follow a closing quote.
    const at = REQUEST.indexOf('"stringValue":"', REQUEST.length >> 1) + 15;
    expectSameAsWhole(Buffer.from(`${REQUEST.slice(0, at)}},{"traceId":"${REQUEST.slice(at)}`));
  });

  it('equals decoding the whole text for bodies with characters flipped, inserted or cut', () => {
    const bytes = Buffer.from(REQUEST);
    const structural = [...'{}[],:"\\ 0aZ'].map((c) => c.charCodeAt(0));
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(bytes.length - 1), byte: fc.oneof(fc.constantFrom(...structural), fc.integer({ min: 0, max: 255 })) }), { minLength: 1, maxLength: 3 }),
        fc.option(fc.nat(bytes.length), { nil: undefined }),
        (flips, cut) => {
          const body = Buffer.from(bytes);
          for (const { at, byte } of flips) body[at] = byte;
          expectSameAsWhole(cut === undefined ? body : body.subarray(0, cut));
        },
      ),
      { numRuns: 150 },
    );
  });
});
