import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJsonTraces } from '../../src/receiver/otlp/decode-json.js';
import { decodeJsonTraceBytes, decodeJsonTraceBytesDirect } from '../../src/receiver/otlp/decode-json-bytes.js';
import { MAX_ANY_VALUE_DEPTH } from '../../src/receiver/otlp/decode-limits.js';
import {
  DEFERRED_TEXT_KEYS,
  DEFERRED_TEXT_MIN_BYTES,
  OtlpDecodeError,
  WireText,
  materializeDeferredText,
  type DecodedTraces,
} from '../../src/receiver/otlp/span.js';
import { makeMcpSpans, toJson as toMcpJson } from '../helpers/mcp-spans.js';
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

/** WireText values as the strings they stand for (only where the decoder may leave them). */
function materialized(decoded: DecodedTraces): DecodedTraces {
  return {
    ...decoded,
    spans: decoded.spans.map((span) => {
      const attributes = { ...span.attributes };
      materializeDeferredText(attributes);
      return { ...span, attributes };
    }),
  };
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
  expectDeepStrictEqual(materialized(actual.ok), expected.ok);
  expect(sharing(actual.ok)).toBe(sharing(expected.ok));
  return 'decoded';
}

// ---------------------------------------------------------------------------------------------------
// A generator of OTLP/JSON requests: a logical request drawn by fast-check, written out as JSON text by
// a writer whose choices (member order, names, whitespace, escapes, number spellings, unknown members,
// duplicates) come from a seeded generator drawn with it.

type Any =
  | { s: string }
  | { i: bigint }
  | { b: boolean }
  | { d: number }
  | { arr: Any[] }
  | { kvs: Kv[] }
  | { bytes: Uint8Array }
  | { empty: true };
interface Kv {
  key: string;
  value: Any | null | undefined;
}
type Id = { hex: string } | { raw: string } | { none: true };
interface SpanModel {
  traceId: Id;
  spanId: Id;
  parent: Id;
  traceState: string | undefined;
  name: string | undefined;
  kind: number | undefined;
  start: bigint | undefined;
  end: bigint | undefined;
  attributes: Kv[] | undefined;
  events: { name: string | undefined; time: bigint | undefined; attributes: Kv[] | undefined }[] | undefined;
  links: { traceId: Id; spanId: Id; traceState: string | undefined; attributes: Kv[] | undefined }[] | undefined;
  status: { code: number | undefined; message: string | undefined } | undefined;
}
interface RequestModel {
  resourceSpans: {
    resource: Kv[] | undefined;
    scopeSpans: { scope: { name: string | undefined; version: string | undefined } | undefined; spans: SpanModel[] }[];
  }[];
}

const shortText = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', 'tools/call', 'é', '😀', '"quoted"', 'back\\slash', 'a/b', '\u2028', '\u0000\u001f'),
);
/** Long payloads either side of DEFERRED_TEXT_MIN_BYTES, with and without characters that need escapes. */
const longText = fc
  .record({
    length: fc.integer({ min: DEFERRED_TEXT_MIN_BYTES - 40, max: DEFERRED_TEXT_MIN_BYTES + 3000 }),
    filler: fc.constantFrom('x', 'word ', 'é', '😀', 'Ω≈'),
    inserts: fc.array(fc.tuple(fc.nat(), shortText), { maxLength: 3 }),
  })
  .map(({ length, filler, inserts }) => {
    let text = filler.repeat(Math.ceil(length / filler.length)).slice(0, length);
    for (const [at, piece] of inserts) text = text.slice(0, at % (text.length + 1)) + piece + text.slice(at % (text.length + 1));
    return text;
  });
const text = fc.oneof({ weight: 4, arbitrary: shortText }, { weight: 1, arbitrary: longText });
const attributeKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('gen_ai.tool.call.arguments', 'gen_ai.tool.call.result', 'mcp.method.name', '__proto__', 'constructor', 'toString', '') },
  { weight: 2, arbitrary: shortText },
);
const int64 = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.constantFrom(0n, 1790000000123456789n, 9007199254740993n),
);
const double = fc.oneof(fc.double(), fc.constantFrom(0, -0, 1.5, 1e300, 5e-324, Number.NaN, Number.POSITIVE_INFINITY));

const anyValue: fc.Arbitrary<Any> = fc.letrec<{ any: Any; kv: Kv }>((tie) => ({
  any: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ s: text }),
    fc.record({ i: int64 }),
    fc.record({ b: fc.boolean() }),
    fc.record({ d: double }),
    fc.record({ bytes: fc.uint8Array({ maxLength: 12 }) }),
    fc.constant({ empty: true as const }),
    fc.record({ arr: fc.array(tie('any'), { maxLength: 3 }) }),
    fc.record({ kvs: fc.array(tie('kv'), { maxLength: 3 }) }),
  ),
  kv: fc.record({ key: attributeKey, value: fc.option(tie('any'), { nil: undefined }) }),
})).any;
const kv: fc.Arbitrary<Kv> = fc.record({
  key: attributeKey,
  value: fc.oneof({ weight: 8, arbitrary: anyValue }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constant(undefined) }),
});
const attributes = fc.option(fc.array(kv, { maxLength: 5 }), { nil: undefined, freq: 5 });

const hexDigits = (bytes: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const id = (bytes: number): fc.Arbitrary<Id> =>
  fc.oneof(
    { weight: 12, arbitrary: hexDigits(bytes).map((hex) => ({ hex })) },
    fc.constantFrom<Id>({ none: true }, { raw: '' }, { raw: '0'.repeat(bytes * 2) }, { raw: 'CvdlGRbNQ92ESOshHIAxnA==' }, { raw: 'zz'.repeat(bytes) }),
    shortText.map((raw) => ({ raw })),
  );
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 4 });
/** Span attributes, often with a tool-call payload (the attributes that may stay on the wire). */
const spanAttributes = fc
  .tuple(attributes, fc.option(fc.record({ key: fc.constantFrom('gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'), value: fc.record({ s: text }) })), fc.nat())
  .map(([list, toolCall, at]): Kv[] | undefined => {
    if (toolCall === null) return list;
    const all = [...(list ?? [])];
    all.splice(at % (all.length + 1), 0, toolCall);
    return all;
  });
const span: fc.Arbitrary<SpanModel> = fc.record({
  traceId: id(16),
  spanId: id(8),
  parent: fc.oneof(fc.constant<Id>({ none: true }), id(8)),
  traceState: maybe(shortText),
  name: maybe(text),
  kind: maybe(fc.integer({ min: -1, max: 6 })),
  start: maybe(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  end: maybe(fc.bigInt({ min: 0n, max: 2n ** 63n })),
  attributes: spanAttributes,
  events: maybe(fc.array(fc.record({ name: maybe(shortText), time: maybe(fc.bigInt({ min: 0n, max: 2n ** 62n })), attributes }), { maxLength: 2 })),
  links: maybe(fc.array(fc.record({ traceId: id(16), spanId: id(8), traceState: maybe(shortText), attributes }), { maxLength: 2 })),
  status: maybe(fc.record({ code: maybe(fc.integer({ min: 0, max: 3 })), message: maybe(shortText) })),
});
const requestModel: fc.Arbitrary<RequestModel> = fc.record({
  resourceSpans: fc.array(
    fc.record({
      resource: maybe(fc.array(kv, { maxLength: 3 })),
      scopeSpans: fc.array(
        fc.record({ scope: maybe(fc.record({ name: maybe(shortText), version: maybe(shortText) })), spans: fc.array(span, { maxLength: 3 }) }),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 2 },
  ),
});

interface WriterOptions {
  /** Repeat members, give fields under both names, set two AnyValue members, give wrong JSON types. */
  irregular: boolean;
}

/** Writes a RequestModel as OTLP/JSON text, with every liberty the format allows. */
class RequestWriter {
  private state: number;
  constructor(
    seed: number,
    private readonly unknownValues: readonly string[],
    private readonly options: WriterOptions,
  ) {
    this.state = seed >>> 0 || 1;
  }

  private next(): number {
    let s = this.state;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.state = s >>> 0;
    return this.state / 4294967296;
  }

  private chance(p: number): boolean {
    return this.next() < p;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  private ws(): string {
    return this.chance(0.8) ? '' : this.pick([' ', '\n', '\t', '\r\n  ', '  ']);
  }

  /** A JSON string literal, some characters escaped (\uXXXX either case, \/), the rest raw. */
  str(value: string): string {
    const escapeEvery = this.chance(0.7) ? 0 : 1 + Math.floor(this.next() * 4);
    const upper = this.chance(0.5);
    if (escapeEvery === 0 && this.chance(0.7)) return JSON.stringify(value);
    let out = '"';
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (escapeEvery > 0 && i % escapeEvery === 0) {
        const hex = c.toString(16).padStart(4, '0');
        out += c === 0x2f ? '\\/' : `\\u${upper ? hex.toUpperCase() : hex}`;
      } else if (c === 0x22 || c === 0x5c || c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) {
        // JSON.stringify escapes what must be escaped, and lone surrogates.
        out += c >= 0xd800 && c <= 0xdfff ? value[i]! : JSON.stringify(value[i]!).slice(1, -1);
      } else {
        out += value[i]!;
      }
    }
    return `${out}"`;
  }

  private int(value: bigint): string {
    const digits = value.toString();
    const safe = value >= -(2n ** 53n) && value <= 2n ** 53n;
    if (this.chance(0.5) || !safe) return this.chance(0.8) || !safe ? `"${digits}"` : digits;
    return this.pick([digits, `${digits}.0`, `${digits}e0`, `${digits}E+00`]);
  }

  private double(value: number): string {
    if (!Number.isFinite(value)) return `"${String(value)}"`;
    if (this.chance(0.2)) return `"${String(value)}"`;
    if (Object.is(value, -0)) return this.pick(['-0', '-0.0', '-0e5']);
    return this.chance(0.5) ? JSON.stringify(value) : value.toExponential();
  }

  private enumValue(value: number, names: readonly string[]): string {
    const name = names[value];
    if (name !== undefined && this.chance(0.4)) return `"${name}"`;
    return this.chance(0.2) ? `"${value}"` : String(value);
  }

  private name(camel: string, snake: string): string {
    return this.chance(0.7) ? camel : snake;
  }

  /** An object from members (name, value text); adds unknown members and shuffles. */
  private object(members: [string, string][]): string {
    const all = [...members];
    if (this.chance(0.3)) {
      const unknownName = this.pick(['droppedAttributesCount', 'flags', 'schemaUrl', 'entityRefs', '__proto__', 'constructor', '', 'x']);
      all.push([unknownName, this.pick(this.unknownValues)]);
    }
    if (this.options.irregular && members.length > 0 && this.chance(0.15)) {
      const [name, value] = this.pick(members);
      all.push([name, this.chance(0.5) ? 'null' : this.chance(0.5) ? value : this.pick(this.unknownValues)]);
    }
    if (this.options.irregular && members.length > 0 && this.chance(0.05)) {
      const index = Math.floor(this.next() * members.length);
      all[index] = [members[index]![0], this.pick(this.unknownValues)];
    }
    for (let i = all.length - 1; i > 0 && this.chance(0.5); i--) {
      const j = Math.floor(this.next() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return `{${this.ws()}${all.map(([k, v]) => `${this.str(k)}${this.ws()}:${this.ws()}${v}`).join(`${this.ws()},${this.ws()}`)}${this.ws()}}`;
  }

  private array(items: string[]): string {
    return `[${this.ws()}${items.join(`${this.ws()},${this.ws()}`)}${this.ws()}]`;
  }

  private optional(members: [string, string][], name: string, value: string | undefined): void {
    if (value !== undefined) members.push([name, value]);
    else if (this.chance(0.1)) members.push([name, 'null']);
  }

  any(value: Any): string {
    const members: [string, string][] = [];
    if ('s' in value) members.push([this.name('stringValue', 'string_value'), this.str(value.s)]);
    else if ('i' in value) members.push([this.name('intValue', 'int_value'), this.int(value.i)]);
    else if ('b' in value) members.push([this.name('boolValue', 'bool_value'), String(value.b)]);
    else if ('d' in value) members.push([this.name('doubleValue', 'double_value'), this.double(value.d)]);
    else if ('bytes' in value) {
      const base64 = Buffer.from(value.bytes).toString(this.chance(0.5) ? 'base64' : 'base64url');
      members.push([this.name('bytesValue', 'bytes_value'), this.str(base64)]);
    } else if ('arr' in value) {
      const inner: [string, string][] = [];
      this.optional(inner, 'values', value.arr.length === 0 && this.chance(0.5) ? undefined : this.array(value.arr.map((v) => this.any(v))));
      members.push([this.name('arrayValue', 'array_value'), this.object(inner)]);
    } else if ('kvs' in value) {
      const inner: [string, string][] = [];
      this.optional(inner, 'values', value.kvs.length === 0 && this.chance(0.5) ? undefined : this.keyValues(value.kvs));
      members.push([this.name('kvlistValue', 'kvlist_value'), this.object(inner)]);
    }
    if (this.options.irregular && this.chance(0.1)) members.push(['stringValue', this.str('second member')]);
    return this.object(members);
  }

  keyValues(list: Kv[]): string {
    return this.array(
      list.map((entry) => {
        const members: [string, string][] = [['key', this.str(entry.key)]];
        if (entry.value === null) members.push(['value', 'null']);
        else if (entry.value !== undefined) members.push(['value', this.any(entry.value)]);
        return this.object(members);
      }),
    );
  }

  private id(members: [string, string][], camel: string, snake: string, value: Id): void {
    const name = this.name(camel, snake);
    if ('hex' in value) members.push([name, this.str(this.chance(0.3) ? value.hex.toUpperCase() : value.hex)]);
    else if ('raw' in value) members.push([name, this.str(value.raw)]);
    else if (this.chance(0.1)) members.push([name, this.pick(['null', '12', '{}', '[]', 'true'])]);
  }

  private attributes(members: [string, string][], list: Kv[] | undefined): void {
    this.optional(members, 'attributes', list === undefined ? undefined : this.keyValues(list));
  }

  span(model: SpanModel): string {
    const m: [string, string][] = [];
    this.id(m, 'traceId', 'trace_id', model.traceId);
    this.id(m, 'spanId', 'span_id', model.spanId);
    this.id(m, 'parentSpanId', 'parent_span_id', model.parent);
    this.optional(m, this.name('traceState', 'trace_state'), model.traceState === undefined ? undefined : this.str(model.traceState));
    this.optional(m, 'name', model.name === undefined ? undefined : this.str(model.name));
    const kinds = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
    this.optional(m, 'kind', model.kind === undefined ? undefined : this.enumValue(model.kind, kinds));
    this.optional(m, this.name('startTimeUnixNano', 'start_time_unix_nano'), model.start === undefined ? undefined : this.int(model.start));
    this.optional(m, this.name('endTimeUnixNano', 'end_time_unix_nano'), model.end === undefined ? undefined : this.int(model.end));
    this.attributes(m, model.attributes);
    this.optional(
      m,
      'events',
      model.events?.length === undefined
        ? undefined
        : this.array(
            model.events.map((event) => {
              const e: [string, string][] = [];
              this.optional(e, 'name', event.name === undefined ? undefined : this.str(event.name));
              this.optional(e, this.name('timeUnixNano', 'time_unix_nano'), event.time === undefined ? undefined : this.int(event.time));
              this.attributes(e, event.attributes);
              return this.object(e);
            }),
          ),
    );
    this.optional(
      m,
      'links',
      model.links === undefined
        ? undefined
        : this.array(
            model.links.map((link) => {
              const l: [string, string][] = [];
              this.id(l, 'traceId', 'trace_id', link.traceId);
              this.id(l, 'spanId', 'span_id', link.spanId);
              this.optional(l, this.name('traceState', 'trace_state'), link.traceState === undefined ? undefined : this.str(link.traceState));
              this.attributes(l, link.attributes);
              return this.object(l);
            }),
          ),
    );
    if (model.status !== undefined) {
      const s: [string, string][] = [];
      const codes = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
      this.optional(s, 'code', model.status.code === undefined ? undefined : this.enumValue(model.status.code, codes));
      this.optional(s, 'message', model.status.message === undefined ? undefined : this.str(model.status.message));
      m.push(['status', this.object(s)]);
    }
    return this.object(m);
  }

  request(model: RequestModel): string {
    const resourceSpans = model.resourceSpans.map((rs) => {
      const members: [string, string][] = [];
      if (rs.resource !== undefined) {
        const r: [string, string][] = [];
        this.attributes(r, rs.resource);
        members.push(['resource', this.object(r)]);
      }
      const scopeSpans = rs.scopeSpans.map((ss) => {
        const s: [string, string][] = [];
        if (ss.scope !== undefined) {
          const scope: [string, string][] = [];
          this.optional(scope, 'name', ss.scope.name === undefined ? undefined : this.str(ss.scope.name));
          this.optional(scope, 'version', ss.scope.version === undefined ? undefined : this.str(ss.scope.version));
          s.push(['scope', this.object(scope)]);
        }
        s.push(['spans', this.array(ss.spans.map((sp) => this.span(sp)))]);
        return this.object(s);
      });
      members.push([this.name('scopeSpans', 'scope_spans'), this.array(scopeSpans)]);
      return this.object(members);
    });
    const body = this.object([[this.name('resourceSpans', 'resource_spans'), this.array(resourceSpans)]]);
    return `${this.ws()}${body}${this.ws()}`;
  }
}

const unknownValues = fc.array(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  { minLength: 1, maxLength: 4 },
);

const generatedRequest = (options: WriterOptions): fc.Arbitrary<string> =>
  fc
    .tuple(requestModel, fc.integer(), unknownValues)
    .map(([model, seed, unknowns]) => new RequestWriter(seed, unknowns, options).request(model));

/** A few valid bodies to mutate: small generated ones (mutations land on structure) and the serializer's. */
const mutationBases = fc.oneof(
  { weight: 3, arbitrary: generatedRequest({ irregular: false }) },
  { weight: 1, arbitrary: fc.constant(toJson(realisticMcpSpans(2))) },
);
const INVALID_UTF8: readonly number[][] = [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xc0, 0x80], [0x80], [0xef, 0xbb, 0xbf]];
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.constantFrom(...INVALID_UTF8).map((b) => Uint8Array.from(b)) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.integer({ min: 0, max: 0x1f }).map((b) => Uint8Array.of(b)) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', ':', 'null', '-', '0', 'e', '.', '\\u', '\\ud800').map((s) => Buffer.from(s)),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 3 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(body: Buffer, m: Mutation): Buffer {
  const at = body.length === 0 ? 0 : m.at % (body.length + 1);
  switch (m.kind) {
    case 'truncate':
      return body.subarray(0, at);
    case 'flip': {
      const copy = Buffer.from(body);
      if (at < copy.length) copy[at] = copy[at]! ^ (1 << m.bit);
      return copy;
    }
    case 'insert':
      return Buffer.concat([body.subarray(0, at), m.bytes, body.subarray(at)]);
    case 'delete':
      return Buffer.concat([body.subarray(0, at), body.subarray(at + m.count)]);
  }
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
