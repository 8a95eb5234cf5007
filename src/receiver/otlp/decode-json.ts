/**
 * Decoder for OTLP/HTTP JSON trace requests (`ExportTraceServiceRequest` in the OTLP "JSON Protobuf
 * Encoding"), producing the same `DecodedTraces` as the protobuf decoder.
 *
 * The OTLP spec departs from the generic proto3 JSON mapping in a few places, and we follow it:
 * - `traceId`, `spanId`, `parentSpanId` (and link ids) are hex strings, not base64. We accept either
 *   letter case and normalize to lower case. A base64 id (what a generic protobuf JSON marshaller
 *   produces) is rejected for that span (partial success) with a reason that says so.
 * - Enums are integers. We also accept the enum value names (`"SPAN_KIND_SERVER"`), as proto3 JSON
 *   parsers do, since hand-written senders use them.
 * - Field names are lowerCamelCase; proto3 JSON parsers must also accept the original snake_case
 *   names, so we do. Unknown fields are ignored (the spec requires it for forward compatibility).
 * - 64-bit integers (`intValue`, times) may be JSON strings or numbers. `bytesValue` is base64.
 * - `null` for a field means "not set", as in proto3 JSON.
 *
 * Shape errors (a field of the wrong JSON type) fail the whole request with an `OtlpDecodeError` whose
 * message names the path, e.g. `resourceSpans[0].scopeSpans[1].spans[4].attributes: expected an array`.
 */

import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  MAX_ANY_VALUE_DEPTH,
  SPAN_ID_BYTES,
  TRACE_ID_BYTES,
  allZeroIdProblem,
  idLengthProblem,
  setAttribute,
} from './decode-limits.js';
import {
  OtlpDecodeError,
  type AttributeValue,
  type Attributes,
  type DecodedSpan,
  type DecodedTraces,
  type InstrumentationScope,
  type SpanEvent,
  type SpanLink,
} from './span.js';

type JsonObject = Record<string, unknown>;
type PathSegment = string | number;

/**
 * A shape problem found somewhere below the request root. Each level that iterates an array adds its
 * own segments on the way out, so the hot path never builds path strings for input that is fine.
 */
export class JsonShapeError extends Error {
  readonly segments: PathSegment[];
  constructor(segment: PathSegment, readonly problem: string) {
    super(problem);
    this.segments = [segment];
  }
}

function formatPath(segments: readonly PathSegment[]): string {
  let path = '';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else path += path === '' ? segment : `.${segment}`;
  }
  return path === '' ? 'request' : path;
}

/** Adds `field[index]` in front of the path of a shape error thrown while decoding an element. */
function within(error: unknown, field: string, index: number): unknown {
  if (error instanceof JsonShapeError) error.segments.unshift(field, index);
  return error;
}

/** Adds `field` in front of the path of a shape error thrown while decoding a nested message. */
function withinField(error: unknown, field: string): unknown {
  if (error instanceof JsonShapeError) error.segments.unshift(field);
  return error;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A field by its lowerCamelCase JSON name, read by the caller (`orSnake(obj.traceId, obj, 'trace_id')`),
 * else by its proto (snake_case) name; null means unset. Members are read by fixed names because V8 caches
 * such a load for each object shape, where `obj[camel]` with a variable name was a generic look-up every
 * time (that helper was ~13% of the walk over the parsed tree, the walk ~11% of the daemon's CPU at JSON
 * saturation).
 */
function orSnake(camelValue: unknown, obj: JsonObject, snake: string): unknown {
  if (camelValue !== undefined && camelValue !== null) return camelValue;
  const fallback = obj[snake];
  return fallback === null ? undefined : fallback;
}

/** A member whose proto name is also its JSON name (`name`, `attributes`): null means unset. */
function present(value: unknown): unknown {
  return value === null ? undefined : value;
}

function arrayOf(value: unknown, name: string): readonly unknown[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new JsonShapeError(name, 'expected an array');
  return value;
}

function objectOf(value: unknown, name: string): JsonObject | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new JsonShapeError(name, 'expected an object');
  return value;
}

function stringOf(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new JsonShapeError(name, 'expected a string');
  return value;
}

function timeOf(value: unknown, name: string): number {
  return value === undefined ? 0 : int64Value(value, name, true);
}


/** proto3 strings have no presence: an empty string means "not set". */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

export function isIntegerString(text: string): boolean {
  const start = text.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  if (text.length === start || text.length - start > 20) return false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * `Number(text)` for a text that `isIntegerString` accepts, else NaN; in one pass, without the string to
 * number conversion, which for the 19-digit times of every span and event took its slow path.
 *
 * Exact: the digits before the last nine (`high`) times 10^9 is a double without rounding while
 * `high * 5^9 < 2^53` (the 2^9 of 10^9 only moves the exponent), the last nine digits are exact, and one
 * addition of the two rounds the exact value once, to nearest, as `Number` does. Larger texts go to `Number`.
 */
function integerStringValue(text: string): number {
  const negative = text.charCodeAt(0) === 45; /* - */
  const start = negative ? 1 : 0;
  const length = text.length;
  if (length === start || length - start > 20) return Number.NaN;
  const split = Math.max(start, length - 9);
  let high = 0;
  for (let i = start; i < split; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    high = high * 10 + d;
  }
  let low = 0;
  for (let i = split; i < length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    low = low * 10 + d;
  }
  if (high > MAX_EXACT_HIGH_DIGITS) return Number(text);
  const magnitude = high * 1e9 + low;
  return negative ? -magnitude : magnitude;
}

/** Largest `high` in `integerStringValue` with `high * 10^9` exact: floor(2^53 / 5^9). */
const MAX_EXACT_HIGH_DIGITS = Math.floor(2 ** 53 / 5 ** 9);

/** int64 / uint64 / fixed64 in proto3 JSON: a decimal string or a JSON number holding an integer. */
export function int64Value(value: unknown, name: string, unsigned: boolean): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string') n = integerStringValue(value);
  else throw new JsonShapeError(name, 'expected an integer (a JSON number or a decimal string)');
  if (!Number.isInteger(n)) throw new JsonShapeError(name, 'expected an integer (a JSON number or a decimal string)');
  if (unsigned && n < 0) throw new JsonShapeError(name, 'expected a non-negative integer');
  return n;
}

/** double in proto3 JSON: a number, or a string holding a number, "NaN", "Infinity" or "-Infinity". */
export function doubleValue(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (value === 'NaN') return Number.NaN;
    if (value === 'Infinity') return Number.POSITIVE_INFINITY;
    if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isNaN(n)) return n;
  }
  throw new JsonShapeError('doubleValue', 'expected a number');
}

export const SPAN_KIND_NAMES: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

export const STATUS_CODE_NAMES: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

/** An enum: an integer per the OTLP spec, or (leniently) the value's name or a decimal string. */
export function enumValue(obj: JsonObject, name: string, names: Readonly<Record<string, number>>): number {
  return enumOf(obj[name], name, names);
}

function enumOf(value: unknown, name: string, names: Readonly<Record<string, number>>): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string') {
    const named = Object.hasOwn(names, value) ? names[value] : undefined;
    if (named !== undefined) return named;
    if (isIntegerString(value)) return Number(value);
  }
  throw new JsonShapeError(name, 'expected an enum number or name');
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** bytes in proto3 JSON: standard or URL-safe base64, padded or not. */
export function bytesValue(value: unknown): Uint8Array {
  if (typeof value !== 'string' || !BASE64.test(value)) throw new JsonShapeError('bytesValue', 'expected a base64 string');
  const decoded = Buffer.from(value, 'base64');
  // A plain Uint8Array, as the protobuf decoder returns, not a Buffer.
  const bytes = new Uint8Array(decoded.length);
  bytes.set(decoded);
  return bytes;
}

/** Why a hex id is unusable, or its lower-case form. `bytes` is the id's binary length. */
export function hexId(value: unknown, bytes: number, name: string): { id: string } | { problem: string } {
  if (value === undefined) return { problem: idLengthProblem(name, bytes, 0) };
  if (typeof value !== 'string') return { problem: `${name} must be a hex string` };
  if (value.length !== bytes * 2) {
    if (value.length === 0) return { problem: idLengthProblem(name, bytes, 0) };
    return {
      problem: `${name} must be ${bytes * 2} hex digits (OTLP/JSON ids are hex, not base64), got ${value.length} characters`,
    };
  }
  const id = lowerHexId(value, bytes);
  if (id !== undefined) return { id };
  // Of the right length but not a usable id: either not hex, or all zeros.
  if (!/^[0-9a-fA-F]*$/.test(value)) return { problem: `${name} must be hex (OTLP/JSON ids are hex, not base64), got "${value.slice(0, 40)}"` };
  return { problem: allZeroIdProblem(name) };
}

/**
 * `hexId` for ids that are fine, without a result object: the lower-case id, or undefined when `hexId`
 * would give a problem (ask it for the words).
 */
function lowerHexId(value: unknown, bytes: number): string | undefined {
  if (typeof value !== 'string' || value.length !== bytes * 2) return undefined;
  let upper = false;
  let nonZero = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (c !== 48) nonZero = true;
    } else if (c >= 97 && c <= 102) {
      nonZero = true;
    } else if (c >= 65 && c <= 70) {
      nonZero = true;
      upper = true;
    } else {
      return undefined;
    }
  }
  if (!nonZero) return undefined;
  return upper ? value.toLowerCase() : value;
}

function idProblem(value: unknown, bytes: number, name: string): string | undefined {
  const id = hexId(value, bytes, name);
  return 'problem' in id ? id.problem : undefined;
}

/** `AnyValue`: exactly one of the `*Value` members; none set means an empty value (null). */
function decodeAnyValue(value: unknown, depth: number): AttributeValue {
  if (depth > MAX_ANY_VALUE_DEPTH) {
    throw new JsonShapeError('', `AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
  }
  if (!isObject(value)) throw new JsonShapeError('', 'expected an AnyValue object');
  let v = orSnake(value.stringValue, value, 'string_value');
  if (v !== undefined) {
    if (typeof v !== 'string') throw new JsonShapeError('stringValue', 'expected a string');
    return v;
  }
  v = orSnake(value.intValue, value, 'int_value');
  if (v !== undefined) return int64Value(v, 'intValue', false);
  v = orSnake(value.boolValue, value, 'bool_value');
  if (v !== undefined) {
    if (typeof v !== 'boolean') throw new JsonShapeError('boolValue', 'expected a boolean');
    return v;
  }
  v = orSnake(value.doubleValue, value, 'double_value');
  if (v !== undefined) return doubleValue(v);
  v = orSnake(value.arrayValue, value, 'array_value');
  if (v !== undefined) {
    if (!isObject(v)) throw new JsonShapeError('arrayValue', 'expected an object');
    return decodeArrayValue(v, depth);
  }
  v = orSnake(value.kvlistValue, value, 'kvlist_value');
  if (v !== undefined) {
    if (!isObject(v)) throw new JsonShapeError('kvlistValue', 'expected an object');
    const list: Attributes = {};
    try {
      decodeAttributes(present(v.values), 'values', list, depth + 1);
    } catch (error) {
      throw withinField(error, 'kvlistValue');
    }
    return list;
  }
  v = orSnake(value.bytesValue, value, 'bytes_value');
  if (v !== undefined) return bytesValue(v);
  return null;
}

function decodeArrayValue(array: JsonObject, depth: number): AttributeValue[] {
  const values = arrayOf(present(array.values), 'values');
  if (values === undefined) return [];
  const out: AttributeValue[] = new Array<AttributeValue>(values.length);
  for (let i = 0; i < values.length; i++) {
    try {
      out[i] = decodeAnyValue(values[i], depth + 1);
    } catch (error) {
      throw withinField(within(error, 'values', i), 'arrayValue');
    }
  }
  return out;
}

/** A `repeated KeyValue` member (`value`, named `name`), stored into `target`. */
function decodeAttributes(value: unknown, name: string, target: Attributes, depth: number): void {
  const list = arrayOf(value, name);
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) {
    const kv = list[i];
    try {
      if (!isObject(kv)) throw new JsonShapeError('key', 'expected a KeyValue object');
      const key = kv.key;
      if (typeof key !== 'string') throw new JsonShapeError('key', 'expected a string');
      const value = kv.value;
      let decoded: AttributeValue = null;
      if (value !== undefined && value !== null) {
        try {
          decoded = decodeAnyValue(value, depth);
        } catch (error) {
          throw withinField(error, 'value');
        }
      }
      setAttribute(target, key, decoded);
    } catch (error) {
      throw within(error, name, i);
    }
  }
}

function decodeEvent(obj: unknown): SpanEvent {
  if (!isObject(obj)) throw new JsonShapeError('name', 'expected an Event object');
  const event: SpanEvent = {
    name: stringOf(present(obj.name), 'name') ?? '',
    timeUnixNano: timeOf(orSnake(obj.timeUnixNano, obj, 'time_unix_nano'), 'timeUnixNano'),
    attributes: {},
  };
  decodeAttributes(present(obj.attributes), 'attributes', event.attributes, 1);
  return event;
}

function decodeLink(obj: unknown): SpanLink | string {
  if (!isObject(obj)) throw new JsonShapeError('traceId', 'expected a Link object');
  const attributes: Attributes = {};
  decodeAttributes(present(obj.attributes), 'attributes', attributes, 1);
  const traceState = nonEmpty(stringOf(orSnake(obj.traceState, obj, 'trace_state'), 'traceState'));
  const traceId = hexId(orSnake(obj.traceId, obj, 'trace_id'), TRACE_ID_BYTES, 'trace_id');
  if ('problem' in traceId) return traceId.problem;
  const spanId = hexId(orSnake(obj.spanId, obj, 'span_id'), SPAN_ID_BYTES, 'span_id');
  if ('problem' in spanId) return spanId.problem;
  return { traceId: traceId.id, spanId: spanId.id, traceState, attributes };
}

interface DecodeContext {
  spans: DecodedSpan[];
  spanIndex: number;
  rejectedSpans: number;
  rejectReason: string | undefined;
}

/** Decodes one span and either keeps it or counts it as rejected (partial success). */
function decodeSpan(
  obj: unknown,
  resource: Attributes,
  scope: InstrumentationScope,
  ctx: DecodeContext,
  ri: number,
  si: number,
  pi: number,
): void {
  if (!isObject(obj)) throw new JsonShapeError('name', 'expected a Span object');
  const span: DecodedSpan = {
    traceId: '',
    spanId: '',
    parentSpanId: undefined,
    traceState: nonEmpty(stringOf(orSnake(obj.traceState, obj, 'trace_state'), 'traceState')),
    name: stringOf(present(obj.name), 'name') ?? '',
    kind: enumOf(obj.kind, 'kind', SPAN_KIND_NAMES),
    startTimeUnixNano: timeOf(orSnake(obj.startTimeUnixNano, obj, 'start_time_unix_nano'), 'startTimeUnixNano'),
    endTimeUnixNano: timeOf(orSnake(obj.endTimeUnixNano, obj, 'end_time_unix_nano'), 'endTimeUnixNano'),
    attributes: {},
    events: [],
    links: [],
    status: { code: 0, message: undefined },
    resource,
    scope,
  };
  decodeAttributes(present(obj.attributes), 'attributes', span.attributes, 1);
  const events = arrayOf(present(obj.events), 'events');
  if (events !== undefined) {
    for (let i = 0; i < events.length; i++) {
      try {
        span.events.push(decodeEvent(events[i]));
      } catch (error) {
        throw within(error, 'events', i);
      }
    }
  }
  let linkProblem: string | undefined;
  const links = arrayOf(present(obj.links), 'links');
  if (links !== undefined) {
    for (let i = 0; i < links.length; i++) {
      let link: SpanLink | string;
      try {
        link = decodeLink(links[i]);
      } catch (error) {
        throw within(error, 'links', i);
      }
      if (typeof link === 'string') linkProblem ??= `link ${i}: ${link}`;
      else span.links.push(link);
    }
  }
  const status = objectOf(present(obj.status), 'status');
  if (status !== undefined) {
    try {
      span.status.code = enumOf(status.code, 'code', STATUS_CODE_NAMES);
      span.status.message = nonEmpty(stringOf(present(status.message), 'message'));
    } catch (error) {
      throw withinField(error, 'status');
    }
  }

  const index = ctx.spanIndex++;
  const traceIdValue = orSnake(obj.traceId, obj, 'trace_id');
  const spanIdValue = orSnake(obj.spanId, obj, 'span_id');
  const parentValue = orSnake(obj.parentSpanId, obj, 'parent_span_id');
  // An absent or empty parentSpanId means a root span.
  const root = parentValue === undefined || parentValue === '';
  const traceId = lowerHexId(traceIdValue, TRACE_ID_BYTES);
  const spanId = lowerHexId(spanIdValue, SPAN_ID_BYTES);
  const parentSpanId = root ? undefined : lowerHexId(parentValue, SPAN_ID_BYTES);
  if (traceId === undefined || spanId === undefined || (!root && parentSpanId === undefined) || linkProblem !== undefined) {
    const problem =
      idProblem(traceIdValue, TRACE_ID_BYTES, 'trace_id') ??
      idProblem(spanIdValue, SPAN_ID_BYTES, 'span_id') ??
      (root ? undefined : idProblem(parentValue, SPAN_ID_BYTES, 'parent_span_id')) ??
      linkProblem;
    ctx.rejectedSpans++;
    ctx.rejectReason ??= `span ${index} (resourceSpans[${ri}].scopeSpans[${si}].spans[${pi}]): ${problem ?? 'invalid id'}`;
    return;
  }
  span.traceId = traceId;
  span.spanId = spanId;
  if (parentSpanId !== undefined) span.parentSpanId = parentSpanId;
  ctx.spans.push(span);
}

function decodeScope(obj: JsonObject): InstrumentationScope {
  const scopeObj = objectOf(present(obj.scope), 'scope');
  if (scopeObj === undefined) return { name: '', version: undefined };
  try {
    return {
      name: stringOf(present(scopeObj.name), 'name') ?? '',
      version: nonEmpty(stringOf(present(scopeObj.version), 'version')),
    };
  } catch (error) {
    throw withinField(error, 'scope');
  }
}

function decodeScopeSpans(obj: unknown, resource: Attributes, ctx: DecodeContext, ri: number, si: number): void {
  if (!isObject(obj)) throw new JsonShapeError('scope', 'expected a ScopeSpans object');
  const scope = decodeScope(obj);
  const spans = arrayOf(present(obj.spans), 'spans');
  if (spans === undefined) return;
  for (let i = 0; i < spans.length; i++) {
    try {
      decodeSpan(spans[i], resource, scope, ctx, ri, si, i);
    } catch (error) {
      throw within(error, 'spans', i);
    }
  }
}

function decodeResourceSpans(obj: unknown, ctx: DecodeContext, ri: number): void {
  if (!isObject(obj)) throw new JsonShapeError('resource', 'expected a ResourceSpans object');
  const resource: Attributes = {};
  const resourceObj = objectOf(present(obj.resource), 'resource');
  if (resourceObj !== undefined) {
    try {
      decodeAttributes(present(resourceObj.attributes), 'attributes', resource, 1);
    } catch (error) {
      throw withinField(error, 'resource');
    }
  }
  const scopeSpans = arrayOf(orSnake(obj.scopeSpans, obj, 'scope_spans'), 'scopeSpans');
  if (scopeSpans === undefined) return;
  for (let si = 0; si < scopeSpans.length; si++) {
    try {
      decodeScopeSpans(scopeSpans[si], resource, ctx, ri, si);
    } catch (error) {
      throw within(error, 'scopeSpans', si);
    }
  }
}

/**
 * Decodes an already-parsed OTLP/JSON trace export request (for callers that parsed the body
 * themselves, e.g. a framework's JSON body parser).
 *
 * @throws OtlpDecodeError when the value does not have the shape of an `ExportTraceServiceRequest`.
 */
export function decodeJsonTracesObject(obj: unknown): DecodedTraces {
  const ctx: DecodeContext = { spans: [], spanIndex: 0, rejectedSpans: 0, rejectReason: undefined };
  try {
    if (!isObject(obj)) throw new JsonShapeError('', 'expected a JSON object (ExportTraceServiceRequest)');
    const resourceSpans = arrayOf(orSnake(obj.resourceSpans, obj, 'resource_spans'), 'resourceSpans');
    if (resourceSpans !== undefined) {
      for (let ri = 0; ri < resourceSpans.length; ri++) {
        try {
          decodeResourceSpans(resourceSpans[ri], ctx, ri);
        } catch (error) {
          throw within(error, 'resourceSpans', ri);
        }
      }
    }
  } catch (error) {
    if (error instanceof OtlpDecodeError) throw error;
    if (error instanceof JsonShapeError) {
      const segments = error.segments.filter((s) => s !== '');
      throw new OtlpDecodeError(`malformed OTLP JSON: ${formatPath(segments)}: ${error.problem}`);
    }
    // Anything else (a RangeError from a pathological input, say) is still the sender's bad input.
    throw new OtlpDecodeError(`malformed OTLP JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const result: DecodedTraces = { spans: ctx.spans, rejectedSpans: ctx.rejectedSpans };
  if (ctx.rejectReason !== undefined) result.rejectReason = ctx.rejectReason;
  return result;
}

/**
 * Decodes an OTLP/HTTP JSON trace export body. An empty object (`{}`) is a valid request with no
 * spans.
 *
 * @param text the request body as text (after any `Content-Encoding` has been removed).
 * @throws OtlpDecodeError when the text is not JSON or not shaped like an `ExportTraceServiceRequest`.
 */
export function decodeJsonTraces(text: string): DecodedTraces {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // SyntaxError for bad JSON; RangeError when nesting exhausts the parser's stack.
    throw new OtlpDecodeError(`invalid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return decodeJsonTracesObject(parsed);
}

/**
 * Decodes an OTLP/HTTP JSON trace export body from its bytes: the same result, and the same errors, as
 * `decodeJsonTraces(body.toString('utf8'))`, without ever holding the whole body as one string.
 *
 * Why: V8 puts a string over 128 KiB in a space of its own, mapped from the OS for each string and
 * unmapped when it dies, and every page of it is faulted in as the text is written. For a 520 KB body that
 * was ~450 us on its own, mostly in the kernel (12% of the daemon's CPU at JSON saturation), against ~70 us
 * for the same bytes as strings below that size, which are allocated like any other young object. See
 * `parseInPieces` for how the pieces are found and why the result is exact.
 *
 * @param body the request body (after any `Content-Encoding` has been removed). Nothing in the result
 *   refers to it.
 * @throws OtlpDecodeError when the body is not JSON or not shaped like an `ExportTraceServiceRequest`.
 */
export function decodeJsonTraceBody(body: Uint8Array): DecodedTraces {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const parsed = parseInPieces(bytes);
  return parsed === undefined ? decodeJsonTraces(bytes.toString('utf8')) : decodeJsonTracesObject(parsed);
}

/** Longest text parsed as one string: below V8's 128 KiB for an ordinary heap object, with room for `[`, `]`. */
const MAX_PIECE_BYTES = 96 * 1024;

/**
 * Where one span ends and the next begins as the OpenTelemetry serializers write them (the SDKs' JSON
 * serializer and protobuf's JSON mapping both put `traceId` first). It can only occur in valid JSON between
 * two elements of an array: inside a string its quote before `traceId` would have to be the closing one,
 * and a closing quote cannot be followed by a letter. Other spellings (whitespace, `trace_id`, another
 * field first) are parsed whole.
 */
const SPAN_BOUNDARY = Buffer.from('},{"traceId":"');

/**
 * Stands for a piece in the skeleton. The random part (per process) keeps a sender from forging one: a
 * string in the body that merely looks like it is left as it is.
 */
const PIECE_MARKER = `\u0000mcpwatch-json-piece-${randomBytes(12).toString('hex')}-`;
const PIECE_MARKER_JSON = JSON.stringify(PIECE_MARKER);

/**
 * Parses `body` as `JSON.parse(body.toString('utf8'))` would, in pieces of at most `MAX_PIECE_BYTES`;
 * undefined when it is small, has no span boundaries to cut at, or is not valid JSON (the caller then
 * parses it whole, which also gives `JSON.parse`'s own error message).
 *
 * The body is cut at the commas of `SPAN_BOUNDARY`s, so that each piece between two cuts is a run of array
 * elements. Each piece is parsed as `[piece]`; the skeleton (the body with every parsed piece replaced by a
 * marker string) is parsed last, and each marker, an array element there, is replaced by its piece's
 * elements. This equals parsing the whole body because:
 * - a cut comma is outside any string in the skeleton (inside one, the marker's quote would close that
 *   string and its backslash would be a syntax error), so the marker is a whole value, and one in an array
 *   (in an object it would have to be followed by `:`); a piece that parses as `[piece]` is a non-empty
 *   list of values that starts and ends outside strings, so putting it back where the marker was gives
 *   a valid text, with those values there and everything else as in the skeleton;
 * - a piece that does not parse (it spans the end of one array and the start of another) stays in the
 *   skeleton as text, and an invalid body fails the skeleton or a piece;
 * - UTF-8 is decoded piece by piece from ASCII boundaries, where the decoder is in its initial state, so
 *   invalid sequences become the same U+FFFD characters as in the whole text.
 */
function parseInPieces(body: Buffer): unknown {
  if (body.length <= MAX_PIECE_BYTES) return undefined;
  const first = body.indexOf(SPAN_BOUNDARY);
  if (first < 0) return undefined;
  // Positions of the commas to cut at: the first boundary (so the skeleton's head is small), then the last
  // boundary that keeps each piece within the limit, until what is left fits in the skeleton's tail.
  const cuts = [first + 1];
  for (let last = first + 1; body.length - last > MAX_PIECE_BYTES; ) {
    let next = body.lastIndexOf(SPAN_BOUNDARY, last + MAX_PIECE_BYTES - 1) + 1;
    // One element longer than a piece: it makes a longer piece.
    if (next <= last) next = body.indexOf(SPAN_BOUNDARY, last + 1) + 1;
    if (next <= 0) break;
    cuts.push(next);
    last = next;
  }
  const pieces: unknown[][] = [];
  const skeleton: string[] = [body.toString('utf8', 0, cuts[0])];
  for (let i = 1; i < cuts.length; i++) {
    const text = body.toString('utf8', cuts[i - 1]! + 1, cuts[i]);
    let elements: unknown;
    try {
      elements = JSON.parse(`[${text}]`);
    } catch {
      skeleton.push(text);
      continue;
    }
    skeleton.push(`${PIECE_MARKER_JSON.slice(0, -1)}${pieces.length}"`);
    pieces.push(elements as unknown[]);
  }
  skeleton.push(body.toString('utf8', cuts[cuts.length - 1]! + 1));
  let root: unknown;
  try {
    root = JSON.parse(skeleton.join(','));
  } catch {
    return undefined;
  }
  if (pieces.length > 0) putPiecesBack(root, pieces);
  return root;
}

/**
 * Replaces each marker in the parsed skeleton with the elements of its piece. Breadth first, stopping once
 * all are found: the markers sit a few levels down (in `spans` arrays), so most of the tree is not visited.
 * A marker that is not found was in a member that a later duplicate name replaced, as its piece would have
 * been in the whole text.
 */
function putPiecesBack(root: unknown, pieces: readonly unknown[][]): void {
  let missing = pieces.length;
  const queue: unknown[] = [root];
  for (let head = 0; head < queue.length && missing > 0; head++) {
    const node = queue[head];
    if (Array.isArray(node)) {
      let marked = false;
      for (const element of node) {
        if (typeof element === 'string') marked ||= element.startsWith(PIECE_MARKER);
        else if (typeof element === 'object' && element !== null) queue.push(element);
      }
      if (!marked) continue;
      const elements = node.splice(0);
      for (const element of elements) {
        const piece = typeof element === 'string' && element.startsWith(PIECE_MARKER) ? pieces[Number(element.slice(PIECE_MARKER.length))] : undefined;
        if (piece === undefined) {
          node.push(element);
          continue;
        }
        for (const value of piece) node.push(value);
        missing--;
      }
    } else if (typeof node === 'object' && node !== null) {
      for (const key in node) {
        const value = (node as JsonObject)[key];
        if (typeof value === 'object' && value !== null) queue.push(value);
      }
    }
  }
}
