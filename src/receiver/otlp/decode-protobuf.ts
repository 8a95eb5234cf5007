/**
 * Hand-written decoder for OTLP/HTTP binary protobuf trace requests
 * (`opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`).
 *
 * Why not a generated decoder: this is the daemon's hottest path, and the generic decoders build an
 * intermediate message tree (plus Long objects for every 64-bit field) that we would then copy into
 * `DecodedSpan`s. Decoding straight from the wire into the final shape is several times faster and
 * lets us apply OTLP's partial-success rules (bad ids reject one span, not the request) as we go.
 *
 * Field numbers and types below are those of opentelemetry-proto's `trace/v1/trace.proto`,
 * `common/v1/common.proto`, `resource/v1/resource.proto` and `collector/trace/v1/trace_service.proto`.
 * Wire format rules are those of the Protocol Buffers encoding guide.
 *
 * Choices where the wire allows more than one reading:
 * - Unknown fields are skipped by wire type, as proto3 requires (newer senders add fields, e.g.
 *   `Resource.entity_refs`). Groups (wire types 3 and 4, deprecated since proto2 and never used by
 *   OTLP) and wire types 6 and 7 (undefined) make the request malformed.
 * - A known field with the wrong wire type makes the request malformed: the message names the field.
 * - Strings that are not valid UTF-8 (the spec requires valid UTF-8) are decoded with U+FFFD
 *   replacement characters instead of failing the whole batch: one bad byte in a tool argument should
 *   not cost the sender every other span, and the detectors still see the rest of the text.
 * - A singular field that appears twice: scalars keep the last value; `resource`, `scope` and `status`
 *   merge (proto3 merge semantics), which falls out of decoding into the same object.
 * - int64 values become JS numbers (exact up to 2^53); fixed64 times become `lo + hi * 2^32`.
 * - Spans with unusable ids (and spans whose links have unusable ids) are left out of `spans` and
 *   counted in `rejectedSpans`, per OTLP partial success; everything else malformed throws
 *   `OtlpDecodeError` (answered 400).
 */

import { Buffer } from 'node:buffer';
import {
  MAX_ANY_VALUE_DEPTH,
  SPAN_ID_BYTES,
  TRACE_ID_BYTES,
  allZeroIdProblem,
  idLengthProblem,
  setAttribute,
} from './decode-limits.js';
import { SHORT_STRING_MAX_BYTES, rememberShortString, shortString } from './short-strings.js';
import {
  DEFERRED_TEXT_KEYS,
  DEFERRED_TEXT_MIN_BYTES,
  OtlpDecodeError,
  WireText,
  type AttributeValue,
  type Attributes,
  type DecodedSpan,
  type DecodedTraces,
  type InstrumentationScope,
  type SpanEvent,
  type SpanLink,
} from './span.js';

// Protobuf wire types (encoding guide, "Message Structure").
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_SGROUP = 3;
const WIRE_EGROUP = 4;
const WIRE_I32 = 5;

const WIRE_TYPE_NAMES = ['VARINT', 'I64', 'LEN', 'SGROUP', 'EGROUP', 'I32', '6', '7'];

const TWO_POW_32 = 4294967296;

/** Two lower-case hex digits for every byte value: ids are converted with one lookup per byte. */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/**
 * Node's `Buffer#utf8Slice(start, end)` decodes straight from the backing store without creating a
 * subarray view first; measured ~1.7x faster than `TextDecoder#decode(subarray)` on the short keys
 * that dominate attribute-heavy spans (protobufjs uses it for the same reason). It replaces invalid
 * UTF-8 with U+FFFD like a non-fatal TextDecoder. Not in the typings, hence the feature test.
 */
interface Utf8Slicer {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
}
const HAS_UTF8_SLICE =
  typeof (Buffer.prototype as Partial<Utf8Slicer>).utf8Slice === 'function' &&
  typeof (Buffer.prototype as Partial<Utf8Slicer>).hexSlice === 'function';
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Decode state for one request body: the bytes and the read position. */
class WireReader {
  readonly buf: Uint8Array;
  readonly slicer: Utf8Slicer | undefined;
  pos = 0;
  /** High and low 32 bits of the last varint read by `readVarintWide`. */
  hi = 0;
  lo = 0;
  private view: DataView | undefined;

  constructor(body: Uint8Array) {
    this.buf = body;
    this.slicer = HAS_UTF8_SLICE
      ? (Buffer.from(body.buffer, body.byteOffset, body.byteLength) as unknown as Utf8Slicer)
      : undefined;
  }

  /** A little-endian IEEE 754 double at `pos` (fixed64 `double_value`). */
  readDouble(pos: number): number {
    return this.words().getFloat64(pos, true);
  }

  string(start: number, end: number): string {
    const len = end - start;
    if (len === 0) return '';
    if (len > SHORT_STRING_MAX_BYTES) return this.decodeUtf8(start, end);
    const cached = shortString(this.buf, this.words(), start, end);
    if (cached !== undefined) return cached;
    const decoded = this.decodeUtf8(start, end);
    rememberShortString(this.buf, start, end, decoded);
    return decoded;
  }

  /** The body as a DataView, for reading four bytes at a time and for doubles. */
  words(): DataView {
    return (this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  private decodeUtf8(start: number, end: number): string {
    if (this.slicer !== undefined) return this.slicer.utf8Slice(start, end);
    return utf8Decoder.decode(this.buf.subarray(start, end));
  }
}

/** Where we are in the request, for rejection reasons. */
interface DecodeContext {
  spans: DecodedSpan[];
  spanIndex: number;
  rejectedSpans: number;
  rejectReason: string | undefined;
}

function malformed(message: string): OtlpDecodeError {
  return new OtlpDecodeError(`malformed OTLP protobuf: ${message}`);
}

function truncated(what: string): OtlpDecodeError {
  return malformed(`${what} runs past the end of its enclosing message (truncated body?)`);
}

function wrongWireType(message: string, field: number, name: string, expected: number, got: number): OtlpDecodeError {
  return malformed(
    `${message}.${name} (field ${field}) must have wire type ${WIRE_TYPE_NAMES[expected] ?? expected}, ` +
      `got ${WIRE_TYPE_NAMES[got] ?? got}`,
  );
}

/**
 * Any varint (up to the 10 bytes a 64-bit value needs), leaving its two halves in `r.hi`/`r.lo` and
 * returning it unsigned. Longer encodings are malformed: the encoding guide caps varints at 10 bytes.
 */
function readVarintWide(r: WireReader, end: number): number {
  const buf = r.buf;
  let pos = r.pos;
  let lo = 0;
  let b: number;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw truncated('a varint');
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      r.lo = lo;
      r.hi = 0;
      return lo;
    }
  }
  // Byte 5 straddles the halves: its low 4 bits are bits 28..31, the next 3 are bits 32..34.
  if (pos >= end) throw truncated('a varint');
  b = buf[pos++]!;
  lo = (lo | ((b & 0x0f) << 28)) >>> 0;
  let hi = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (shift > 31) throw malformed('varint longer than 10 bytes');
      if (pos >= end) throw truncated('a varint');
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  r.pos = pos;
  r.lo = lo;
  r.hi = hi >>> 0;
  return r.hi * TWO_POW_32 + lo;
}

/** An unsigned varint as a number; fast path for the 1- and 2-byte tags and lengths that dominate. */
function readVarint(r: WireReader, end: number): number {
  const pos = r.pos;
  if (pos + 1 < end) {
    const buf = r.buf;
    const b0 = buf[pos]!;
    if (b0 < 0x80) {
      r.pos = pos + 1;
      return b0;
    }
    const b1 = buf[pos + 1]!;
    if (b1 < 0x80) {
      r.pos = pos + 2;
      return (b0 & 0x7f) | (b1 << 7);
    }
  }
  return readVarintWide(r, end);
}

/** int64 (two's complement in 10 bytes when negative) as a number. */
function readInt64(r: WireReader, end: number): number {
  readVarintWide(r, end);
  return (r.hi | 0) * TWO_POW_32 + r.lo;
}

/** int32 / enum: proto sign-extends negatives to 64 bits on the wire; the low half is the value. */
function readInt32(r: WireReader, end: number): number {
  readVarintWide(r, end);
  return r.lo | 0;
}

/** fixed64 as an unsigned number (times in Unix nanoseconds). */
function readFixed64(r: WireReader, end: number): number {
  const pos = r.pos;
  if (pos + 8 > end) throw truncated('a fixed64 field');
  const b = r.buf;
  const lo = (b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16) | (b[pos + 3]! << 24)) >>> 0;
  const hi = (b[pos + 4]! | (b[pos + 5]! << 8) | (b[pos + 6]! << 16) | (b[pos + 7]! << 24)) >>> 0;
  r.pos = pos + 8;
  return hi * TWO_POW_32 + lo;
}

/**
 * Reads a LEN prefix and returns where the payload ends, checked against the enclosing message.
 * `message` and `field` only name the field in the error (kept apart so the hot path builds no string).
 */
function readLenEnd(r: WireReader, end: number, message: string, field: string): number {
  const len = readVarint(r, end);
  if (len > end - r.pos) throw truncated(`${message}.${field} (length ${len})`);
  return r.pos + len;
}

/**
 * Reads a tag. Returns it whole (`field << 3 | wireType`); callers split it with `>>> 3` and `& 7`,
 * which is safe because tags are bounded to 32 bits here.
 */
function readTag(r: WireReader, end: number): number {
  const tag = readVarint(r, end);
  // Field numbers are 1..2^29-1, so a valid tag fits in 32 bits and field 0 is invalid.
  if (tag > 0xffffffff || tag >>> 3 === 0) throw malformed(`invalid field tag ${tag} at byte ${r.pos}`);
  return tag;
}

/** Skips an unknown field's payload (proto3: unknown fields are ignored, by wire type). */
function skipField(r: WireReader, end: number, tag: number): void {
  const wireType = tag & 7;
  switch (wireType) {
    case WIRE_VARINT:
      readVarintWide(r, end);
      return;
    case WIRE_I64:
      if (r.pos + 8 > end) throw truncated('a fixed64 field');
      r.pos += 8;
      return;
    case WIRE_LEN:
      r.pos = readLenEnd(r, end, 'unknown field', String(tag >>> 3));
      return;
    case WIRE_I32:
      if (r.pos + 4 > end) throw truncated('a fixed32 field');
      r.pos += 4;
      return;
    case WIRE_SGROUP:
    case WIRE_EGROUP:
      throw malformed(`field ${tag >>> 3} uses a group wire type (${wireType}), which OTLP never uses`);
    default:
      throw malformed(`field ${tag >>> 3} has invalid wire type ${wireType}`);
  }
}

/** Checks a known field's wire type; on mismatch the error names the message and field. */
function expectWire(tag: number, expected: number, message: string, name: string): void {
  if ((tag & 7) !== expected) throw wrongWireType(message, tag >>> 3, name, expected, tag & 7);
}

function readStringField(r: WireReader, end: number, tag: number, message: string, name: string): string {
  expectWire(tag, WIRE_LEN, message, name);
  const fieldEnd = readLenEnd(r, end, message, name);
  const start = r.pos;
  r.pos = fieldEnd;
  return r.string(start, fieldEnd);
}

function skipKnownField(r: WireReader, end: number, tag: number, expected: number, message: string, name: string): void {
  expectWire(tag, expected, message, name);
  skipField(r, end, tag);
}

/**
 * Lower-case hex of an id. `hexSlice` returns one flat string; the fallback's `+=` builds a tree of 16
 * cons strings for a trace id, which every event and stored span then keeps alive (measured: holding
 * 100k events cost ~12% more of the ingest throughput with concatenated ids).
 */
function toHex(r: WireReader, start: number, end: number): string {
  if (r.slicer !== undefined) return r.slicer.hexSlice(start, end);
  const buf = r.buf;
  let hex = '';
  for (let i = start; i < end; i++) hex += HEX_BYTE[buf[i]!]!;
  return hex;
}

function isAllZero(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Why an id field is unusable, or undefined if it is fine. `len < 0` means the field was absent. */
function idProblem(buf: Uint8Array, start: number, len: number, bytes: number, field: string): string | undefined {
  const got = len < 0 ? 0 : len;
  if (got !== bytes) return idLengthProblem(field, bytes, got);
  if (isAllZero(buf, start, start + len)) return allZeroIdProblem(field);
  return undefined;
}

/** `AnyValue` (common.proto): oneof string=1, bool=2, int=3, double=4, array=5, kvlist=6, bytes=7. */
function decodeAnyValue(r: WireReader, end: number, depth: number): AttributeValue {
  if (depth > MAX_ANY_VALUE_DEPTH) {
    throw malformed(`AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
  }
  // An AnyValue with no oneof member set is an empty value; proto3 JSON maps it to null.
  let value: AttributeValue = null;
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1:
        value = readStringField(r, end, tag, 'AnyValue', 'string_value');
        break;
      case 2:
        expectWire(tag, WIRE_VARINT, 'AnyValue', 'bool_value');
        value = readVarintWide(r, end) !== 0;
        break;
      case 3:
        expectWire(tag, WIRE_VARINT, 'AnyValue', 'int_value');
        value = readInt64(r, end);
        break;
      case 4:
        expectWire(tag, WIRE_I64, 'AnyValue', 'double_value');
        if (r.pos + 8 > end) throw truncated('AnyValue.double_value');
        value = r.readDouble(r.pos);
        r.pos += 8;
        break;
      case 5: {
        expectWire(tag, WIRE_LEN, 'AnyValue', 'array_value');
        const arrayEnd = readLenEnd(r, end, 'AnyValue', 'array_value');
        value = decodeArrayValue(r, arrayEnd, depth);
        break;
      }
      case 6: {
        expectWire(tag, WIRE_LEN, 'AnyValue', 'kvlist_value');
        const listEnd = readLenEnd(r, end, 'AnyValue', 'kvlist_value');
        value = decodeKeyValueList(r, listEnd, depth);
        break;
      }
      case 7: {
        expectWire(tag, WIRE_LEN, 'AnyValue', 'bytes_value');
        const bytesEnd = readLenEnd(r, end, 'AnyValue', 'bytes_value');
        // Copy: a view would pin the whole request body in memory for as long as the attribute lives.
        // (`Buffer#slice` would return a view, so copy explicitly.)
        value = new Uint8Array(bytesEnd - r.pos);
        value.set(r.buf.subarray(r.pos, bytesEnd));
        r.pos = bytesEnd;
        break;
      }
      default:
        skipField(r, end, tag);
    }
  }
  return value;
}

/** `ArrayValue`: repeated AnyValue values = 1. */
function decodeArrayValue(r: WireReader, end: number, depth: number): AttributeValue[] {
  const values: AttributeValue[] = [];
  while (r.pos < end) {
    const tag = readTag(r, end);
    if (tag >>> 3 === 1) {
      expectWire(tag, WIRE_LEN, 'ArrayValue', 'values');
      const valueEnd = readLenEnd(r, end, 'ArrayValue', 'values');
      values.push(decodeAnyValue(r, valueEnd, depth + 1));
    } else {
      skipField(r, end, tag);
    }
  }
  return values;
}

/** `KeyValueList`: repeated KeyValue values = 1, decoded as a plain object. */
function decodeKeyValueList(r: WireReader, end: number, depth: number): { [key: string]: AttributeValue } {
  const values: Attributes = {};
  while (r.pos < end) {
    const tag = readTag(r, end);
    if (tag >>> 3 === 1) {
      expectWire(tag, WIRE_LEN, 'KeyValueList', 'values');
      const kvEnd = readLenEnd(r, end, 'KeyValueList', 'values');
      decodeKeyValue(r, kvEnd, values, depth + 1);
    } else {
      skipField(r, end, tag);
    }
  }
  return values;
}

/**
 * `KeyValue`: key = 1, value = 2 (AnyValue). Fields may come in either order. `defer`: a span's own
 * attribute, whose long tool-call payloads may stay on the wire (`deferredText`).
 */
function decodeKeyValue(r: WireReader, end: number, target: Attributes, depth: number, defer = false): void {
  let key = '';
  let value: AttributeValue = null;
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1:
        key = readStringField(r, end, tag, 'KeyValue', 'key');
        break;
      case 2: {
        expectWire(tag, WIRE_LEN, 'KeyValue', 'value');
        const valueEnd = readLenEnd(r, end, 'KeyValue', 'value');
        value = (defer && valueEnd - r.pos > DEFERRED_TEXT_MIN_BYTES && DEFERRED_TEXT_KEYS.has(key) && deferredText(r, valueEnd)) || decodeAnyValue(r, valueEnd, depth);
        break;
      }
      default:
        skipField(r, end, tag);
    }
  }
  setAttribute(target, key, value);
}

/**
 * A span attribute's `AnyValue` that is one long `string_value` and nothing else, left undecoded (see
 * `WireText`); undefined, with the reader not moved, for any other shape. Keys come before values in
 * every encoder we know of; a value that arrives before its key is decoded as usual.
 */
function deferredText(r: WireReader, end: number): WireText | undefined {
  const start = r.pos;
  if (r.buf[start] !== ((1 << 3) | WIRE_LEN)) return undefined;
  r.pos = start + 1;
  const len = readVarint(r, end);
  if (len !== end - r.pos) {
    r.pos = start;
    return undefined;
  }
  const text = new WireText(r.buf, r.pos, end);
  r.pos = end;
  return text;
}

/** Reads a `repeated KeyValue attributes` entry into `target` (attributes are depth 1). */
function readAttributeField(r: WireReader, end: number, tag: number, target: Attributes, message: string, defer = false): void {
  expectWire(tag, WIRE_LEN, message, 'attributes');
  const kvEnd = readLenEnd(r, end, message, 'attributes');
  decodeKeyValue(r, kvEnd, target, 1, defer);
}

/** `Resource` (resource.proto): attributes = 1, dropped_attributes_count = 2. */
function decodeResource(r: WireReader, end: number, attributes: Attributes): void {
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1:
        readAttributeField(r, end, tag, attributes, 'Resource');
        break;
      case 2:
        skipKnownField(r, end, tag, WIRE_VARINT, 'Resource', 'dropped_attributes_count');
        break;
      default:
        skipField(r, end, tag);
    }
  }
}

/**
 * `InstrumentationScope` (common.proto): name = 1, version = 2, attributes = 3, dropped = 4.
 * Scope attributes are not part of the decoded model, so they are skipped (after the wire-type check).
 */
function decodeScope(r: WireReader, end: number, scope: InstrumentationScope): void {
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1:
        scope.name = readStringField(r, end, tag, 'InstrumentationScope', 'name');
        break;
      case 2: {
        // proto3 strings have no presence: empty means "not set".
        const version = readStringField(r, end, tag, 'InstrumentationScope', 'version');
        scope.version = version === '' ? undefined : version;
        break;
      }
      case 3:
        skipKnownField(r, end, tag, WIRE_LEN, 'InstrumentationScope', 'attributes');
        break;
      case 4:
        skipKnownField(r, end, tag, WIRE_VARINT, 'InstrumentationScope', 'dropped_attributes_count');
        break;
      default:
        skipField(r, end, tag);
    }
  }
}

/** `Span.Status`: message = 2, code = 3 (enum). Field 1 is reserved (old deprecated_code). */
function decodeStatus(r: WireReader, end: number, status: { code: number; message?: string }): void {
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 2: {
        const message = readStringField(r, end, tag, 'Status', 'message');
        status.message = message === '' ? undefined : message;
        break;
      }
      case 3:
        expectWire(tag, WIRE_VARINT, 'Status', 'code');
        status.code = readInt32(r, end);
        break;
      default:
        skipField(r, end, tag);
    }
  }
}

/** `Span.Event`: time_unix_nano = 1 (fixed64), name = 2, attributes = 3, dropped = 4. */
function decodeEvent(r: WireReader, end: number): SpanEvent {
  const event: SpanEvent = { name: '', timeUnixNano: 0, attributes: {} };
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1:
        expectWire(tag, WIRE_I64, 'Span.Event', 'time_unix_nano');
        event.timeUnixNano = readFixed64(r, end);
        break;
      case 2:
        event.name = readStringField(r, end, tag, 'Span.Event', 'name');
        break;
      case 3:
        readAttributeField(r, end, tag, event.attributes, 'Span.Event');
        break;
      case 4:
        skipKnownField(r, end, tag, WIRE_VARINT, 'Span.Event', 'dropped_attributes_count');
        break;
      default:
        skipField(r, end, tag);
    }
  }
  return event;
}

/**
 * `Span.Link`: trace_id = 1, span_id = 2, trace_state = 3, attributes = 4, dropped = 5,
 * flags = 6 (fixed32). Returns the reason instead of a link when its ids are unusable.
 */
function decodeLink(r: WireReader, end: number): SpanLink | string {
  let traceStart = 0;
  let traceLen = -1;
  let spanStart = 0;
  let spanLen = -1;
  let traceState: string | undefined;
  const attributes: Attributes = {};
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1: {
        expectWire(tag, WIRE_LEN, 'Span.Link', 'trace_id');
        const idEnd = readLenEnd(r, end, 'Span.Link', 'trace_id');
        traceStart = r.pos;
        traceLen = idEnd - r.pos;
        r.pos = idEnd;
        break;
      }
      case 2: {
        expectWire(tag, WIRE_LEN, 'Span.Link', 'span_id');
        const idEnd = readLenEnd(r, end, 'Span.Link', 'span_id');
        spanStart = r.pos;
        spanLen = idEnd - r.pos;
        r.pos = idEnd;
        break;
      }
      case 3: {
        const state = readStringField(r, end, tag, 'Span.Link', 'trace_state');
        traceState = state === '' ? undefined : state;
        break;
      }
      case 4:
        readAttributeField(r, end, tag, attributes, 'Span.Link');
        break;
      case 5:
        skipKnownField(r, end, tag, WIRE_VARINT, 'Span.Link', 'dropped_attributes_count');
        break;
      case 6:
        skipKnownField(r, end, tag, WIRE_I32, 'Span.Link', 'flags');
        break;
      default:
        skipField(r, end, tag);
    }
  }
  const buf = r.buf;
  const problem =
    idProblem(buf, traceStart, traceLen, TRACE_ID_BYTES, 'trace_id') ??
    idProblem(buf, spanStart, spanLen, SPAN_ID_BYTES, 'span_id');
  if (problem !== undefined) return problem;
  return {
    traceId: toHex(r, traceStart, traceStart + traceLen),
    spanId: toHex(r, spanStart, spanStart + spanLen),
    traceState,
    attributes,
  };
}

/**
 * `Span` (trace.proto). Decodes the whole message (so the reader moves past it) and then either adds
 * it to `ctx.spans` or counts it as rejected, per OTLP partial success.
 */
function decodeSpan(
  r: WireReader,
  end: number,
  resource: Attributes,
  scope: InstrumentationScope,
  ctx: DecodeContext,
  scopePath: string,
  spanNo: number,
): void {
  let traceStart = 0;
  let traceLen = -1;
  let spanStart = 0;
  let spanLen = -1;
  let parentStart = 0;
  let parentLen = -1;
  let linkProblem: string | undefined;
  const messageStart = r.pos;
  // Every key is present from the start so all spans share one hidden class (faster downstream).
  const span: DecodedSpan = {
    traceId: '',
    spanId: '',
    parentSpanId: undefined,
    traceState: undefined,
    name: '',
    kind: 0,
    startTimeUnixNano: 0,
    endTimeUnixNano: 0,
    attributes: {},
    events: [],
    links: [],
    status: { code: 0, message: undefined },
    resource,
    scope,
    wire: undefined,
  };
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1: {
        expectWire(tag, WIRE_LEN, 'Span', 'trace_id');
        const idEnd = readLenEnd(r, end, 'Span', 'trace_id');
        traceStart = r.pos;
        traceLen = idEnd - r.pos;
        r.pos = idEnd;
        break;
      }
      case 2: {
        expectWire(tag, WIRE_LEN, 'Span', 'span_id');
        const idEnd = readLenEnd(r, end, 'Span', 'span_id');
        spanStart = r.pos;
        spanLen = idEnd - r.pos;
        r.pos = idEnd;
        break;
      }
      case 3: {
        const state = readStringField(r, end, tag, 'Span', 'trace_state');
        span.traceState = state === '' ? undefined : state;
        break;
      }
      case 4: {
        expectWire(tag, WIRE_LEN, 'Span', 'parent_span_id');
        const idEnd = readLenEnd(r, end, 'Span', 'parent_span_id');
        parentStart = r.pos;
        parentLen = idEnd - r.pos;
        r.pos = idEnd;
        break;
      }
      case 5:
        span.name = readStringField(r, end, tag, 'Span', 'name');
        break;
      case 6:
        expectWire(tag, WIRE_VARINT, 'Span', 'kind');
        span.kind = readInt32(r, end);
        break;
      case 7:
        expectWire(tag, WIRE_I64, 'Span', 'start_time_unix_nano');
        span.startTimeUnixNano = readFixed64(r, end);
        break;
      case 8:
        expectWire(tag, WIRE_I64, 'Span', 'end_time_unix_nano');
        span.endTimeUnixNano = readFixed64(r, end);
        break;
      case 9:
        readAttributeField(r, end, tag, span.attributes, 'Span', true);
        break;
      case 11: {
        expectWire(tag, WIRE_LEN, 'Span', 'events');
        const eventEnd = readLenEnd(r, end, 'Span', 'events');
        span.events.push(decodeEvent(r, eventEnd));
        break;
      }
      case 13: {
        expectWire(tag, WIRE_LEN, 'Span', 'links');
        const linkEnd = readLenEnd(r, end, 'Span', 'links');
        const link = decodeLink(r, linkEnd);
        if (typeof link === 'string') linkProblem ??= `link ${span.links.length}: ${link}`;
        else span.links.push(link);
        break;
      }
      case 15: {
        expectWire(tag, WIRE_LEN, 'Span', 'status');
        const statusEnd = readLenEnd(r, end, 'Span', 'status');
        decodeStatus(r, statusEnd, span.status);
        break;
      }
      case 10:
        skipKnownField(r, end, tag, WIRE_VARINT, 'Span', 'dropped_attributes_count');
        break;
      case 12:
        skipKnownField(r, end, tag, WIRE_VARINT, 'Span', 'dropped_events_count');
        break;
      case 14:
        skipKnownField(r, end, tag, WIRE_VARINT, 'Span', 'dropped_links_count');
        break;
      case 16:
        skipKnownField(r, end, tag, WIRE_I32, 'Span', 'flags');
        break;
      default:
        skipField(r, end, tag);
    }
  }

  const index = ctx.spanIndex++;
  const buf = r.buf;
  // An empty parent_span_id means a root span; any other length than 8 is unusable.
  const problem =
    idProblem(buf, traceStart, traceLen, TRACE_ID_BYTES, 'trace_id') ??
    idProblem(buf, spanStart, spanLen, SPAN_ID_BYTES, 'span_id') ??
    (parentLen > 0 ? idProblem(buf, parentStart, parentLen, SPAN_ID_BYTES, 'parent_span_id') : undefined) ??
    linkProblem;
  if (problem !== undefined) {
    ctx.rejectedSpans++;
    ctx.rejectReason ??= `span ${index} (${scopePath}.spans[${spanNo}]): ${problem}`;
    return;
  }
  span.traceId = toHex(r, traceStart, traceStart + traceLen);
  span.spanId = toHex(r, spanStart, spanStart + spanLen);
  if (parentLen > 0) span.parentSpanId = toHex(r, parentStart, parentStart + parentLen);
  span.wire = { body: buf, start: messageStart, end };
  ctx.spans.push(span);
}

/** `ScopeSpans`: scope = 1, spans = 2, schema_url = 3. */
function decodeScopeSpans(r: WireReader, end: number, resource: Attributes, ctx: DecodeContext, path: string): void {
  // Created before the loop and filled in place: `scope` may follow `spans` on the wire, and every
  // span must share this one object.
  const scope: InstrumentationScope = { name: '', version: undefined };
  let spanNo = 0;
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1: {
        expectWire(tag, WIRE_LEN, 'ScopeSpans', 'scope');
        const scopeEnd = readLenEnd(r, end, 'ScopeSpans', 'scope');
        decodeScope(r, scopeEnd, scope);
        break;
      }
      case 2: {
        expectWire(tag, WIRE_LEN, 'ScopeSpans', 'spans');
        const spanEnd = readLenEnd(r, end, 'ScopeSpans', 'spans');
        decodeSpan(r, spanEnd, resource, scope, ctx, path, spanNo++);
        break;
      }
      case 3:
        skipKnownField(r, end, tag, WIRE_LEN, 'ScopeSpans', 'schema_url');
        break;
      default:
        skipField(r, end, tag);
    }
  }
}

/** `ResourceSpans`: resource = 1, scope_spans = 2, schema_url = 3. */
function decodeResourceSpans(r: WireReader, end: number, ctx: DecodeContext, path: string): void {
  const resource: Attributes = {};
  let scopeNo = 0;
  while (r.pos < end) {
    const tag = readTag(r, end);
    switch (tag >>> 3) {
      case 1: {
        expectWire(tag, WIRE_LEN, 'ResourceSpans', 'resource');
        const resourceEnd = readLenEnd(r, end, 'ResourceSpans', 'resource');
        decodeResource(r, resourceEnd, resource);
        break;
      }
      case 2: {
        expectWire(tag, WIRE_LEN, 'ResourceSpans', 'scope_spans');
        const scopeEnd = readLenEnd(r, end, 'ResourceSpans', 'scope_spans');
        decodeScopeSpans(r, scopeEnd, resource, ctx, `${path}.scope_spans[${scopeNo++}]`);
        break;
      }
      case 3:
        skipKnownField(r, end, tag, WIRE_LEN, 'ResourceSpans', 'schema_url');
        break;
      default:
        skipField(r, end, tag);
    }
  }
}

/**
 * Decodes an OTLP/HTTP protobuf trace export body (`ExportTraceServiceRequest`, whose only field is
 * `repeated ResourceSpans resource_spans = 1`).
 *
 * Spans with unusable ids are counted in `rejectedSpans` (with the first reason in `rejectReason`)
 * rather than failing the request, so the receiver can answer with OTLP partial success.
 *
 * @param body the request body after any `Content-Encoding` has been removed; an empty body is a
 *   valid request with no spans.
 * @throws OtlpDecodeError when the body is not a well-formed `ExportTraceServiceRequest`.
 */
export function decodeProtobufTraces(body: Uint8Array): DecodedTraces {
  const r = new WireReader(body);
  const ctx: DecodeContext = { spans: [], spanIndex: 0, rejectedSpans: 0, rejectReason: undefined };
  const end = body.length;
  let resourceNo = 0;
  while (r.pos < end) {
    const tag = readTag(r, end);
    if (tag >>> 3 === 1) {
      expectWire(tag, WIRE_LEN, 'ExportTraceServiceRequest', 'resource_spans');
      const rsEnd = readLenEnd(r, end, 'ExportTraceServiceRequest', 'resource_spans');
      decodeResourceSpans(r, rsEnd, ctx, `resource_spans[${resourceNo++}]`);
    } else {
      skipField(r, end, tag);
    }
  }
  const result: DecodedTraces = { spans: ctx.spans, rejectedSpans: ctx.rejectedSpans };
  if (ctx.rejectReason !== undefined) result.rejectReason = ctx.rejectReason;
  return result;
}

/**
 * Decodes one `Span` message on its own (the bytes the recent store keeps for a span), under the resource
 * and scope it arrived with. Undefined when the bytes do not make a usable span.
 */
export function decodeSpanMessage(bytes: Uint8Array, resource: Attributes, scope: InstrumentationScope): DecodedSpan | undefined {
  const r = new WireReader(bytes);
  const ctx: DecodeContext = { spans: [], spanIndex: 0, rejectedSpans: 0, rejectReason: undefined };
  try {
    decodeSpan(r, bytes.length, resource, scope, ctx, 'stored', 0);
  } catch {
    return undefined;
  }
  return ctx.spans[0];
}
