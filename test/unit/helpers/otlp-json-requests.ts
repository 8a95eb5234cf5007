/**
 * A generator of OTLP/JSON requests for differential tests of the JSON decoders (and of what the store
 * keeps of their spans): a logical request drawn by fast-check, written out as JSON text by a writer whose
 * choices (member order, names, whitespace, escapes, number spellings, unknown members, duplicates) come
 * from a seeded generator drawn with it; and mutations of such bodies.
 */

import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { DEFERRED_TEXT_MIN_BYTES } from '../../../src/receiver/otlp/span.js';
import { realisticMcpSpans, toJson } from './otlp-spans.js';


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
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'gen_ai.tool.call.arguments',
      'gen_ai.tool.call.result',
      // The other content attributes the store leaves out (by key, and by Shinzo's prefix).
      'traceloop.entity.input',
      'traceloop.entity.output',
      'mcp.request.argument.path',
      'mcp.request.argument',
      'mcp.method.name',
      '__proto__',
      'constructor',
      'toString',
      '',
    ),
  },
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

export interface WriterOptions {
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

export const generatedRequest = (options: WriterOptions): fc.Arbitrary<string> =>
  fc
    .tuple(requestModel, fc.integer(), unknownValues)
    .map(([model, seed, unknowns]) => new RequestWriter(seed, unknowns, options).request(model));

/** A few valid bodies to mutate: small generated ones (mutations land on structure) and the serializer's. */
export const mutationBases = fc.oneof(
  { weight: 3, arbitrary: generatedRequest({ irregular: false }) },
  { weight: 1, arbitrary: fc.constant(toJson(realisticMcpSpans(2))) },
);
const INVALID_UTF8: readonly number[][] = [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xc0, 0x80], [0x80], [0xef, 0xbb, 0xbf]];
export const mutation = fc.oneof(
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
export type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

export function mutate(body: Buffer, m: Mutation): Buffer {
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
