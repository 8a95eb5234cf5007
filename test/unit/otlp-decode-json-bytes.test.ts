import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJsonTraces } from '../../src/receiver/otlp/decode-json.js';
import { decodeJsonSpanBytes, decodeJsonTraceBytes, decodeJsonTraceBytesDirect } from '../../src/receiver/otlp/decode-json-bytes.js';
import { MAX_ANY_VALUE_DEPTH } from '../../src/receiver/otlp/decode-limits.js';
import {
  DEFERRED_TEXT_KEYS,
  DEFERRED_TEXT_MIN_BYTES,
  OtlpDecodeError,
  WireText,
  isContentAttributeKey,
  materializeDeferredText,
  type DecodedSpan,
  type DecodedTraces,
} from '../../src/receiver/otlp/span.js';
import { makeMcpSpans, toJson as toMcpJson } from '../helpers/mcp-spans.js';
import { generatedRequest, mutate, mutation, mutationBases } from './helpers/otlp-json-requests.js';
import { realisticMcpSpans, toJson } from './helpers/otlp-spans.js';

/**
 * decodeJsonTraceBytes must behave exactly as decodeJsonTraces(Buffer.from(body).toString('utf8')) for
 * every body: the same result (long tool-call text may be a WireText standing for the same string), or
 * an OtlpDecodeError whenever the reference throws, and only then.
 */

/** Long tool-call payloads may stay in the body (the option the receiver can use without pooled buffers). */
const WIRE_TEXT = { wireText: true };

type Outcome = { ok: DecodedTraces } | { error: string };

function outcome(decode: () => DecodedTraces): Outcome {
  try {
    return { ok: decode() };
  } catch (error) {
    if (!(error instanceof OtlpDecodeError)) throw error;
    return { error: error.message };
  }
}

const reference = (body: Uint8Array): Outcome => outcome(() => decodeJsonTraces(Buffer.from(body).toString('utf8')));

/** A span without what refers to the body: WireText values as the strings they stand for, no `jsonWire`. */
function materializedSpan(span: DecodedSpan): DecodedSpan {
  const { jsonWire: _jsonWire, ...rest } = span;
  const attributes = { ...span.attributes };
  materializeDeferredText(attributes);
  return { ...rest, attributes };
}

/** The result as it would be without wireText (only where the decoder may refer to the body). */
function materialized(decoded: DecodedTraces): DecodedTraces {
  return { ...decoded, spans: decoded.spans.map(materializedSpan) };
}

/**
 * With wireText, every span the decoder made itself notes its JSON object, and that text alone decodes to
 * the same span (`decodeJsonSpanBytes`, what the recent store reads its copies with); the values it notes
 * as content are those of the span's content attributes, in order.
 */
function expectSpanObjectsReadBack(body: Uint8Array, decoded: DecodedTraces, direct: boolean): void {
  for (const span of decoded.spans) {
    const wire = span.jsonWire;
    if (!direct) {
      expect(wire).toBeUndefined();
      continue;
    }
    expect(wire?.body).toBe(body);
    const text = body.subarray(wire!.start, wire!.end);
    expect(text[0]).toBe(0x7b);
    expect(text[text.length - 1]).toBe(0x7d);
    const alone = decodeJsonSpanBytes(Buffer.from(text), span.resource, span.scope);
    expect(alone).toBeDefined();
    expect(alone!.resource).toBe(span.resource);
    expect(alone!.scope).toBe(span.scope);
    expectDeepStrictEqual(alone, materializedSpan(span));
    // With every noted value replaced, the text decodes to the same span but for its content attributes,
    // which hold the replacement, or null where the value member was missing (as it was then).
    const content = wire!.content ?? [];
    expect(content.length === 0).toBe(wire!.content === undefined);
    const pieces: Uint8Array[] = [];
    let from = wire!.start;
    for (let i = 0; i < content.length; i += 2) {
      expect(content[i]!).toBeGreaterThanOrEqual(from);
      expect(content[i + 1]!).toBeGreaterThan(content[i]!);
      pieces.push(body.subarray(from, content[i]!), Buffer.from('{"stringValue":"X"}'));
      from = content[i + 1]!;
    }
    expect(from).toBeLessThanOrEqual(wire!.end);
    pieces.push(body.subarray(from, wire!.end));
    const replaced = decodeJsonSpanBytes(Buffer.concat(pieces), span.resource, span.scope);
    const original = materializedSpan(span);
    const expectedAttributes = { ...original.attributes };
    for (const key of Object.keys(expectedAttributes)) {
      if (!isContentAttributeKey(key)) continue;
      // null stays null only where there was no value member, which the decoder cannot note.
      if (expectedAttributes[key] !== null || replaced?.attributes[key] !== null) expectedAttributes[key] = 'X';
    }
    expectDeepStrictEqual(replaced, { ...original, attributes: expectedAttributes });
  }
}

/** Which spans share a resource object and which share a scope object, as index pairs. */
function sharing(decoded: DecodedTraces): string {
  const firstWith = (pick: (i: number) => unknown): number[] =>
    decoded.spans.map((_, i) => decoded.spans.findIndex((_s, j) => pick(j) === pick(i)));
  return JSON.stringify([firstWith((i) => decoded.spans[i]?.resource), firstWith((i) => decoded.spans[i]?.scope)]);
}

/**
 * node:util's deep strict equality (prototypes, own keys, -0 against 0, NaN equal to NaN). vitest's
 * toStrictEqual also compares `a.constructor` by identity, which fails for two equal attribute maps with
 * a key named "constructor"; it is only used here to show the difference.
 */
function expectDeepStrictEqual(actual: unknown, expected: unknown): void {
  if (isDeepStrictEqual(actual, expected)) return;
  expect(actual).toStrictEqual(expected);
  throw new Error('not deep-strict-equal (node:util)');
}

/** A WireText only where the contract allows one: a span's tool-call attribute, long, without escapes. */
function expectWireTextOnlyWhereAllowed(decoded: DecodedTraces): void {
  for (const span of decoded.spans) {
    for (const [key, value] of Object.entries(span.attributes)) {
      if (!(value instanceof WireText)) continue;
      expect(DEFERRED_TEXT_KEYS.has(key)).toBe(true);
      expect(value.byteLength).toBeGreaterThan(DEFERRED_TEXT_MIN_BYTES);
      expect(value.bytes().includes(0x5c)).toBe(false);
    }
  }
}

/** How the bodies checked so far were handled: a property that only ever exercised the fallback would prove little. */
interface Paths {
  /** Decoded without the fallback to decode-json. */
  direct: number;
  /** Rejected as not JSON by this decoder itself. */
  syntaxError: number;
  /** Handed to decode-json (repeated members, shape errors). */
  fallback: number;
}
const newPaths = (): Paths => ({ direct: 0, syntaxError: 0, fallback: 0 });

/** Asserts the two decoders agree on `body`; returns what happened, for the properties' statistics. */
function expectSameAsReference(body: Uint8Array, paths: Paths = newPaths()): 'decoded' | 'rejected' {
  const expected = reference(body);
  const direct = outcome(() => decodeJsonTraceBytesDirect(body, WIRE_TEXT) ?? { spans: [], rejectedSpans: -1 });
  if ('error' in direct) paths.syntaxError++;
  else if (direct.ok.rejectedSpans === -1) paths.fallback++;
  else paths.direct++;
  // Without wireText nothing may refer to the body: the result equals the reference as it is.
  const plain = outcome(() => decodeJsonTraceBytes(body));
  if ('ok' in plain && 'ok' in expected) expectDeepStrictEqual(plain.ok, expected.ok);
  else expect('error' in plain).toBe('error' in expected);
  const actual = outcome(() => decodeJsonTraceBytes(body, WIRE_TEXT));
  if ('error' in expected) {
    expect('error' in actual ? 'error' : 'decoded').toBe('error');
    return 'rejected';
  }
  if ('error' in actual) throw new Error(`decodeJsonTraceBytes threw where decodeJsonTraces did not: ${actual.error}`);
  expectWireTextOnlyWhereAllowed(actual.ok);
  expectSpanObjectsReadBack(body, actual.ok, 'ok' in direct && direct.ok.rejectedSpans !== -1);
  expectDeepStrictEqual(materialized(actual.ok), expected.ok);
  expect(sharing(actual.ok)).toBe(sharing(expected.ok));
  return 'decoded';
}

describe('decodeJsonTraceBytes against decodeJsonTraces (differential properties)', () => {
  it('decodes generated requests exactly as decode-json does, without falling back to it', () => {
    let decoded = 0;
    let wireTexts = 0;
    fc.assert(
      fc.property(generatedRequest({ irregular: false }), (text) => {
        const body = Buffer.from(text, 'utf8');
        // Regular requests (no repeated members, no wrong types) never need the reference decoder.
        const direct = decodeJsonTraceBytesDirect(body, WIRE_TEXT);
        expect(direct).toBeDefined();
        // The reference sees the body's text, not `text`: lone surrogates in `text` became U+FFFD in UTF-8.
        const expected = decodeJsonTraces(body.toString('utf8'));
        expectWireTextOnlyWhereAllowed(direct!);
        expectDeepStrictEqual(materialized(direct!), expected);
        expectDeepStrictEqual(decodeJsonTraceBytesDirect(body), expected);
        expect(sharing(direct!)).toBe(sharing(expected));
        decoded += direct!.spans.length;
        for (const s of direct!.spans) for (const v of Object.values(s.attributes)) if (v instanceof WireText) wireTexts++;
      }),
      { numRuns: 1500 },
    );
    // The generator must reach both the spans and the deferred-text path, or the property proves little.
    expect(decoded).toBeGreaterThan(1000);
    expect(wireTexts).toBeGreaterThan(20);
  });

  it('agrees on irregular requests: repeated members, both field names, several AnyValue members, wrong types', () => {
    const seen = { decoded: 0, rejected: 0 };
    const paths = newPaths();
    fc.assert(
      fc.property(generatedRequest({ irregular: true }), (text) => {
        seen[expectSameAsReference(Buffer.from(text, 'utf8'), paths)]++;
      }),
      { numRuns: 1500 },
    );
    expect(seen.decoded).toBeGreaterThan(100);
    expect(seen.rejected).toBeGreaterThan(100);
    expect(paths.direct).toBeGreaterThan(100);
    expect(paths.fallback).toBeGreaterThan(100);
  });

  it('agrees on mutated bodies: truncated, bits flipped, bytes inserted or deleted, invalid UTF-8, control characters', () => {
    const seen = { decoded: 0, rejected: 0 };
    const paths = newPaths();
    fc.assert(
      fc.property(mutationBases, fc.array(mutation, { minLength: 1, maxLength: 3 }), (text, mutations) => {
        let body: Buffer = Buffer.from(text, 'utf8');
        for (const m of mutations) body = mutate(body, m);
        seen[expectSameAsReference(body, paths)]++;
      }),
      { numRuns: 4000 },
    );
    expect(seen.decoded).toBeGreaterThan(400);
    expect(seen.rejected).toBeGreaterThan(400);
    expect(paths.direct).toBeGreaterThan(400);
    expect(paths.syntaxError).toBeGreaterThan(400);
  });

  it('agrees on arbitrary JSON values and on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        expectSameAsReference(Buffer.from(JSON.stringify(value) ?? '', 'utf8'));
        expectSameAsReference(Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [value] }] }] }), 'utf8'));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expectSameAsReference(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decodeJsonTraceBytes on bodies from the official serializer', () => {
  it('decodes makeMcpSpans bodies (the bench bodies) as decode-json does, without falling back', () => {
    for (let i = 0; i < 5; i++) {
      const text = toMcpJson(makeMcpSpans({ count: 100, seed: 1000 + i, argBytes: [100, 10_000] }));
      const direct = decodeJsonTraceBytesDirect(Buffer.from(text, 'utf8'));
      expect(direct).toBeDefined();
      expectDeepStrictEqual(materialized(direct!), decodeJsonTraces(text));
      expect(sharing(direct!)).toBe(sharing(decodeJsonTraces(text)));
    }
  });

  it('decodes realistic MCP spans, and leaves escape-free long tool arguments on the wire', () => {
    const text = toJson(realisticMcpSpans(30));
    const body = Buffer.from(text, 'utf8');
    expectSameAsReference(body);
    // realisticMcpSpans' arguments are JSON with quotes: escaped, so they must be decoded strings.
    const decoded = decodeJsonTraceBytes(body, WIRE_TEXT);
    expect(decoded.spans.some((s) => s.attributes['gen_ai.tool.call.arguments'] instanceof WireText)).toBe(false);
    const plain = 'p'.repeat(DEFERRED_TEXT_MIN_BYTES + 1);
    const withPlain = Buffer.from(text.replace(/"gen_ai\.tool\.call\.arguments","value":\{"stringValue":"(?:[^"\\]|\\.)*"/g, `"gen_ai.tool.call.arguments","value":{"stringValue":"${plain}"`), 'utf8');
    expect(decodeJsonTraceBytes(withPlain).spans.map((s) => typeof s.attributes['gen_ai.tool.call.arguments'])).toEqual(new Array(30).fill('string'));
    const deferred = decodeJsonTraceBytes(withPlain, WIRE_TEXT).spans.map((s) => s.attributes['gen_ai.tool.call.arguments']);
    expect(deferred.length).toBe(30);
    for (const value of deferred) {
      expect(value).toBeInstanceOf(WireText);
      expect((value as WireText).text()).toBe(plain);
    }
    expectSameAsReference(withPlain);
  });

  it('decodes the captured exporter fixtures under test/fixtures/otlp', () => {
    const root = new URL('../fixtures/otlp/', import.meta.url);
    const files: URL[] = [];
    const walk = (dir: URL): void => {
      for (const entry of readdirSync(dir)) {
        const url = new URL(entry, dir);
        if (statSync(url).isDirectory()) walk(new URL(`${entry}/`, dir));
        else if (entry.endsWith('.json')) files.push(url);
      }
    };
    walk(root);
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) expect(expectSameAsReference(readFileSync(file)), file.pathname).toBe('decoded');
  });
});

const TRACE = '0AF7651916CD43DD8448EB211C80319C';
const SPAN = 'B7AD6B7169203331';
const requestText = (spans: unknown[], resource: unknown = { attributes: [] }): string =>
  JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 's', version: '1' }, spans }] }] });

function bytesError(text: string | Uint8Array): string {
  try {
    decodeJsonTraceBytes(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  } catch (error) {
    expect(error).toBeInstanceOf(OtlpDecodeError);
    return (error as Error).message;
  }
  throw new Error('expected an OtlpDecodeError');
}

describe('decodeJsonTraceBytes on the cases of otlp-decode-json.test.ts', () => {
  const nest = (levels: number): unknown => (levels === 1 ? { stringValue: 'leaf' } : { arrayValue: { values: [nest(levels - 1)] } });
  const cases: Record<string, string> = {
    'empty object': '{}',
    'empty resourceSpans': '{"resourceSpans":[]}',
    'upper-case ids, int64 as string or number, enums by name, every AnyValue kind': requestText([
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
    'snake_case names': JSON.stringify({
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
    'base64 and other unusable ids': requestText([
      { traceId: 'CvdlGRbNQ92ESOshHIAxnA==', spanId: SPAN, name: 'base64' },
      { traceId: TRACE, spanId: 'zzzzzzzzzzzzzzzz' },
      { traceId: TRACE, spanId: SPAN, parentSpanId: '00000000000000000' },
      { traceId: '00000000000000000000000000000000', spanId: SPAN },
      { spanId: SPAN },
      { traceId: TRACE, spanId: SPAN, links: [{ traceId: TRACE, spanId: 'abc' }] },
      { traceId: TRACE, spanId: SPAN, name: 'ok' },
    ]),
    'AnyValue at the depth limit': requestText([{ traceId: TRACE, spanId: SPAN, attributes: [{ key: 'd', value: nest(MAX_ANY_VALUE_DEPTH) }] }]),
    'AnyValue past the depth limit': requestText([{ traceId: TRACE, spanId: SPAN, attributes: [{ key: 'd', value: nest(MAX_ANY_VALUE_DEPTH + 1) }] }]),
    'an attribute named __proto__': requestText([{ traceId: TRACE, spanId: SPAN, attributes: [{ key: '__proto__', value: { stringValue: 'x' } }] }]),
    'nesting deeper than any stack': `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
    'deep nesting in an unknown member': `{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    'truncated JSON': '{"resourceSpans": [',
    'empty body': '',
  };
  for (const [name, text] of Object.entries(cases)) {
    it(name, () => {
      expectSameAsReference(Buffer.from(text, 'utf8'));
    });
  }

  it('decodes nested values in a time linear in their size, whatever their form', () => {
    // A value that starts in the compact form and then leaves it (an extra member) at every level. A
    // decoder that started such a value again from its brace took 2^levels steps: over a second for these 20.
    let value = '{"stringValue":"leaf","x":0}';
    for (let level = 1; level < 20; level++) value = `{"kvlistValue":{"values":[{"key":"k","value":${value},"x":0}]},"x":0}`;
    const body = Buffer.from(requestText([{ traceId: TRACE, spanId: SPAN, attributes: [{ key: 'a', value: '<value>' }] }]).replace('"<value>"', value), 'utf8');
    const started = performance.now();
    expect(expectSameAsReference(body)).toBe('decoded');
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('keeps __proto__ as an own attribute, with the plain prototype', () => {
    const [span] = decodeJsonTraceBytes(Buffer.from(cases['an attribute named __proto__']!, 'utf8')).spans;
    expect(Object.getPrototypeOf(span?.attributes)).toBe(Object.prototype);
    expect(Object.keys(span?.attributes ?? {})).toEqual(['__proto__']);
  });

  it("names the path of a shape error as decode-json does", () => {
    const bad = JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [] }, { spans: [{}, {}, {}, {}, { traceId: TRACE, attributes: {} }] }] }],
    });
    expect(bytesError(bad)).toBe('malformed OTLP JSON: resourceSpans[0].scopeSpans[1].spans[4].attributes: expected an array');
    expect(bytesError('[]')).toContain('expected a JSON object');
    expect(bytesError(requestText([{ kind: 'SPAN_KIND_BOGUS' }]))).toContain('spans[0].kind');
    expect(bytesError(requestText([], { attributes: [{ key: 3 }] }))).toContain('resourceSpans[0].resource.attributes[0].key');
  });

  it('names the byte offset of a syntax error', () => {
    expect(bytesError('{"resourceSpans":[}')).toBe("invalid JSON: unexpected '}' at byte 18 (expected a JSON value)");
    expect(bytesError('{"a":"x\u0001"}')).toBe('invalid JSON: unexpected byte 0x01 at byte 7 (a control character must be escaped inside a string)');
    expect(bytesError('{"a":"\\x"}')).toBe("invalid JSON: unexpected 'x' at byte 7 (not a JSON escape)");
    expect(bytesError('\ufeff{}')).toBe('invalid JSON: unexpected byte 0xef at byte 0 (expected a JSON value)');
    expect(bytesError('{} x')).toBe("invalid JSON: unexpected 'x' at byte 3 after the JSON value");
    expect(bytesError('{"a":')).toMatch(/^invalid JSON: unexpected end of the body \(5 bytes\)/);
  });
});

describe('decodeJsonTraceBytes on strings', () => {
  const withArgument = (raw: string): Buffer =>
    Buffer.concat([
      Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${TRACE}","spanId":"${SPAN}","attributes":[{"key":"gen_ai.tool.call.arguments","value":{"stringValue":"`),
      Buffer.from(raw, 'latin1'),
      Buffer.from('"}}]}]}]}]}'),
    ]);
  const long = 'a'.repeat(DEFERRED_TEXT_MIN_BYTES + 5);

  it('replaces invalid UTF-8 as toString does, at the start, middle and end of short and long strings', () => {
    for (const bad of ['\xff', '\xc3', '\xe2\x82', '\xed\xa0\x80', '\xf0\x9f\x98', '\xc0\x80', '\x80']) {
      for (const raw of [`${bad}x`, `x${bad}`, `x${bad}y`, `${bad}${long}`, `${long}${bad}`, `${long}${bad}\\"`, `\\"${bad}`, `${bad}\\u00e9`, `${bad}\\ud83d\\ude00`]) {
        expect(expectSameAsReference(withArgument(raw)), JSON.stringify(raw)).toBe('decoded');
      }
    }
  });

  it('decodes every escape, surrogate pairs, lone surrogates and escapes in either case', () => {
    for (const raw of ['\\"\\\\\\/\\b\\f\\n\\r\\t', '\\u00E9\\u00e9\\u20AC', '\\ud83d\\ude00', '\\uD83D\\uDE00', '\\ud800', '\\udc00x', '\\ud800\\u0041', '\\ud800\\ud800\\udc00', `${long}\\n${long}`]) {
      expect(expectSameAsReference(withArgument(raw)), raw).toBe('decoded');
    }
    for (const raw of ['\\u12', '\\u12g4', '\\', '\\a', '\\ud800\\u12']) expect(expectSameAsReference(withArgument(raw)), raw).toBe('rejected');
  });

  it('rejects a raw control character anywhere in a long string (checked four bytes at a time)', () => {
    for (let at = 0; at < 12; at++) {
      for (const control of [0x00, 0x09, 0x0a, 0x1f]) {
        const raw = long.slice(0, 1000 + at) + String.fromCharCode(control) + long.slice(1000 + at);
        expect(expectSameAsReference(withArgument(raw))).toBe('rejected');
        expect(expectSameAsReference(withArgument(`${long}${String.fromCharCode(control)}`))).toBe('rejected');
      }
    }
  });

  it(`leaves a payload on the wire only above ${DEFERRED_TEXT_MIN_BYTES} bytes and only without escapes`, () => {
    const argument = (raw: string): unknown => decodeJsonTraceBytes(withArgument(raw), WIRE_TEXT).spans[0]?.attributes['gen_ai.tool.call.arguments'];
    expect(typeof argument('a'.repeat(DEFERRED_TEXT_MIN_BYTES))).toBe('string');
    expect(argument('a'.repeat(DEFERRED_TEXT_MIN_BYTES + 1))).toBeInstanceOf(WireText);
    expect(typeof argument(`${'a'.repeat(DEFERRED_TEXT_MIN_BYTES)}\\n`)).toBe('string');
    // withArgument takes bytes as latin1 characters: these are the UTF-8 bytes of 'é'.
    expect(argument('\xc3\xa9'.repeat(Math.ceil(DEFERRED_TEXT_MIN_BYTES / 2) + 1))).toBeInstanceOf(WireText);
  });

  it('decodes escaped strings larger than the scratch buffer it keeps, one after another', () => {
    const big = `${'\\"'.repeat(300_000)}${'b'.repeat(900_000)}\\n`;
    expect(expectSameAsReference(withArgument(big))).toBe('decoded');
    expect(expectSameAsReference(withArgument(`x\\ty${big}`))).toBe('decoded');
    expect(expectSameAsReference(withArgument('small\\n'))).toBe('decoded');
  });

  it('decodes bodies at any alignment in their ArrayBuffer', () => {
    const body = withArgument(`${long}é`);
    for (let offset = 0; offset < 8; offset++) {
      const backing = new Uint8Array(body.length + 8);
      backing.set(body, offset);
      expectSameAsReference(backing.subarray(offset, offset + body.length));
      const broken = Uint8Array.from(backing);
      broken[offset + body.length - 30] = 0x01;
      expect(expectSameAsReference(broken.subarray(offset, offset + body.length))).toBe('rejected');
    }
  });
});
