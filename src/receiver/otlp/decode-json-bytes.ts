/**
 * Decoder for OTLP/HTTP JSON trace requests that reads the body's bytes straight into `DecodedSpan`s,
 * with the same result as `decodeJsonTraces(body.toString('utf8'))` (decode-json.ts) for every input.
 *
 * Why: turning a request body into one string and then into a tree of JSON objects costs about five
 * times what walking its bytes does, and most of a body is a few long tool arguments that the pipeline
 * never needs as parsed JSON. This decoder validates the whole body as RFC 8259 JSON (exactly what
 * `JSON.parse` accepts), decodes only the members an `ExportTraceServiceRequest` uses, and skips the
 * rest without building it.
 *
 * How it stays equal to decode-json.ts:
 * - Strings are decoded from their raw bytes with Node's UTF-8 decoder, which replaces invalid UTF-8
 *   with U+FFFD exactly as `toString('utf8')` does over the whole body: every string starts and ends
 *   at an ASCII quote, where that decoder is back in its initial state.
 * - A byte-level syntax check equals the character-level one: quotes, backslashes, control characters
 *   and JSON's structural characters are ASCII, and no UTF-8 decoding (valid or replaced) turns other
 *   bytes into them.
 * - Field order is free, as in decode-json.ts: the shared `resource` and `scope` objects are created
 *   first and filled in place (as decode-protobuf.ts does), everything else waits for its object's
 *   closing brace.
 * - Inputs whose meaning depends on more than one member of an object (a repeated member name, where
 *   `JSON.parse` keeps the last; a field given in both lowerCamelCase and snake_case; two `AnyValue`
 *   members) and inputs with a shape error (where decode-json's error names a path, and where a later
 *   duplicate could have made the error moot) are decoded again by decode-json.ts itself. No sender we
 *   know of produces either, and the retry costs what every request cost before this decoder.
 * - Syntax errors are reported here, with the byte offset.
 *
 * Where the time goes (measured on bench bodies of 100 MCP spans, 520 KB): attributes as the
 * serializers write them are matched byte for byte before the general member-by-member path, string
 * content is scanned four bytes at a time (native `indexOf` and a word-wise control-character check for
 * long runs), and short strings come from a cache compared on their bytes. Compiled, in-process:
 * ~87k spans per CPU second for decode-json.ts with `toString`, ~165k for this decoder.
 */

import { Buffer } from 'node:buffer';
import {
  JsonShapeError,
  SPAN_KIND_NAMES,
  STATUS_CODE_NAMES,
  bytesValue,
  decodeJsonTraces,
  doubleValue,
  enumValue,
  hexId,
  int64Value,
  nonEmpty,
} from './decode-json.js';
import { MAX_ANY_VALUE_DEPTH, SPAN_ID_BYTES, TRACE_ID_BYTES, setAttribute } from './decode-limits.js';
import { SHORT_STRING_MAX_BYTES, rememberShortString, shortString } from './short-strings.js';
import {
  DEFERRED_TEXT_KEYS,
  DEFERRED_TEXT_MIN_BYTES,
  OtlpDecodeError,
  WireText,
  isContentAttributeKey,
  type AttributeValue,
  type Attributes,
  type DecodedSpan,
  type DecodedTraces,
  type InstrumentationScope,
  type SpanEvent,
  type SpanLink,
} from './span.js';

// Bytes of the JSON grammar (RFC 8259).
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const END = -1;

/**
 * Thrown (one shared instance: it is control flow, not a report) when the input must be decoded by
 * decode-json.ts to get its exact meaning or its exact error.
 */
const NEEDS_REFERENCE_DECODE = new Error('needs the reference JSON decoder');

/** `Buffer#utf8Slice` and `#latin1Slice`: see decode-protobuf.ts for why (not in the typings). */
interface NodeSlicer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  indexOf(value: number, byteOffset: number): number;
}
const HAS_SLICERS =
  typeof (Buffer.prototype as Partial<NodeSlicer>).utf8Slice === 'function' &&
  typeof (Buffer.prototype as Partial<NodeSlicer>).latin1Slice === 'function';
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Unescaped string bytes are gathered here and decoded once: one flat string from one native call,
 * instead of a chain of slices and escape characters (a tool argument that is itself JSON has a dozen
 * `\"`). Grown on demand; kept up to `SCRATCH_KEEP_BYTES`, so that one huge string does not hold its
 * size for the life of the process.
 */
const SCRATCH_INITIAL_BYTES = 4096;
const SCRATCH_KEEP_BYTES = 1024 * 1024;
let scratch = Buffer.allocUnsafeSlow(SCRATCH_INITIAL_BYTES);

/** Decode state for one request body: the bytes and the read position. */
class JsonByteReader {
  readonly buf: Uint8Array;
  readonly len: number;
  readonly nodeBuf: Buffer & NodeSlicer;
  /**
   * The body as 32-bit words from its first 4-byte-aligned byte (`wordBase`), to test four bytes at a
   * time for control characters inside long strings.
   */
  readonly words: Int32Array;
  readonly wordBase: number;
  readonly view: DataView;
  pos = 0;
  /**
   * The first backslash at or after `backslashFrom` (or `len`): a search from any position in between
   * gives the same answer, so a string full of text is searched once, not once per escape. The lower
   * bound keeps the answer right should a reader ever step back.
   */
  backslashFrom = 0;
  nextBackslash = -1;
  /**
   * True while a span's own `attributes` are read: the values of content attributes at depth 1 are then
   * noted in `content` (see `JsonSpanWire`).
   */
  markContent = false;
  content: number[] | undefined = undefined;

  constructor(
    body: Uint8Array,
    /**
     * Spans may refer to the body (`JsonTraceBytesOptions.wireText`): tool-call payloads may stay in it,
     * and each span notes where its JSON object lies (`DecodedSpan.jsonWire`).
     */
    readonly wireText: boolean,
  ) {
    this.buf = body;
    this.len = body.length;
    this.nodeBuf = Buffer.from(body.buffer, body.byteOffset, body.byteLength) as Buffer & NodeSlicer;
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.wordBase = (4 - (body.byteOffset & 3)) & 3;
    const wordCount = body.length > this.wordBase ? (body.length - this.wordBase) >>> 2 : 0;
    this.words = wordCount === 0 ? new Int32Array(0) : new Int32Array(body.buffer, body.byteOffset + this.wordBase, wordCount);
  }

  decode(start: number, end: number): string {
    if (HAS_SLICERS) return this.nodeBuf.utf8Slice(start, end);
    return utf8Decoder.decode(this.buf.subarray(start, end));
  }

  /** The string of `buf[start, end)` (no escapes inside), shared with earlier equal short strings. */
  text(start: number, end: number): string {
    const len = end - start;
    if (len === 0) return '';
    if (len > SHORT_STRING_MAX_BYTES) return this.decode(start, end);
    const cached = shortString(this.buf, this.view, start, end);
    if (cached !== undefined) return cached;
    const decoded = this.decode(start, end);
    rememberShortString(this.buf, start, end, decoded);
    return decoded;
  }
}

function syntaxError(r: JsonByteReader, at: number, what: string): OtlpDecodeError {
  if (at >= r.len) return new OtlpDecodeError(`invalid JSON: unexpected end of the body (${r.len} bytes) ${what}`);
  const b = r.buf[at]!;
  const shown = b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `byte 0x${b.toString(16).padStart(2, '0')}`;
  return new OtlpDecodeError(`invalid JSON: unexpected ${shown} at byte ${at} ${what}`);
}

/** Skips JSON whitespace (space, tab, line feed, carriage return) and returns the next byte or END. */
function skipWs(r: JsonByteReader): number {
  const buf = r.buf;
  let pos = r.pos;
  while (pos < r.len) {
    const b = buf[pos]!;
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) {
      r.pos = pos;
      return b;
    }
    pos++;
  }
  r.pos = pos;
  return END;
}

/** True if no byte of `buf[from, to)` is a control character (U+0000..U+001F may not appear raw in a string). */
function controlFree(r: JsonByteReader, from: number, to: number): boolean {
  const buf = r.buf;
  let i = from;
  const base = r.wordBase;
  while (i < to && ((i - base) & 3) !== 0) {
    if (buf[i]! < 0x20) return false;
    i++;
  }
  const words = r.words;
  let w = (i - base) >> 2;
  const wordEnd = Math.min((to - base) >> 2, words.length);
  // Any byte below 0x20 sets its high bit in (x - 0x20202020) & ~x ("hasless" from Bit Twiddling Hacks).
  let acc = 0;
  for (; w + 4 <= wordEnd; w += 4) {
    const x0 = words[w]!;
    const x1 = words[w + 1]!;
    const x2 = words[w + 2]!;
    const x3 = words[w + 3]!;
    acc |= (((x0 - 0x20202020) | 0) & ~x0) | (((x1 - 0x20202020) | 0) & ~x1) | (((x2 - 0x20202020) | 0) & ~x2) | (((x3 - 0x20202020) | 0) & ~x3);
  }
  for (; w < wordEnd; w++) {
    const x = words[w]!;
    acc |= ((x - 0x20202020) | 0) & ~x;
  }
  if ((acc & 0x80808080) !== 0) return false;
  if (w > (i - base) >> 2) i = base + (w << 2);
  for (; i < to; i++) if (buf[i]! < 0x20) return false;
  return true;
}

function firstControl(r: JsonByteReader, from: number, to: number): number {
  for (let i = from; i < to; i++) if (r.buf[i]! < 0x20) return i;
  return to;
}

/** 1 for the bytes that end a run of plain string content: quote, backslash, control characters. */
const STRING_STOP = new Uint8Array(256);
STRING_STOP.fill(1, 0, 0x20);
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;

/**
 * From `i` inside a string, the index of the next quote or backslash. Throws for a raw control
 * character or the end of the body first.
 */
function plainRunEnd(r: JsonByteReader, i: number): number {
  const buf = r.buf;
  const len = r.len;
  // Short runs (member names, most values) are cheaper to scan here than to hand to a native search.
  const fastEnd = i + 48 < len ? i + 48 : len;
  // Four bytes at a time while they fit: a byte below 0x20 or equal to '"' or '\\' sets its high bit in
  // one of the three terms (the zero-byte and "hasless" tests of Bit Twiddling Hacks).
  const view = r.view;
  for (; i + 4 <= fastEnd; i += 4) {
    const x = view.getInt32(i, true);
    const q = x ^ 0x22222222;
    const b = x ^ 0x5c5c5c5c;
    if (((((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b) | ((x - 0x20202020) & ~x)) & 0x80808080) !== 0) break;
  }
  for (; i < fastEnd; i++) {
    const b = buf[i]!;
    if (STRING_STOP[b] !== 0) {
      if (b === QUOTE || b === BACKSLASH) return i;
      throw syntaxError(r, i, '(a control character must be escaped inside a string)');
    }
  }
  if (i >= len) throw syntaxError(r, len, 'inside a string');
  let quote = r.nodeBuf.indexOf(QUOTE, i);
  if (quote < 0) quote = len;
  let backslash = r.nextBackslash;
  if (backslash < i || i < r.backslashFrom) {
    backslash = r.nodeBuf.indexOf(BACKSLASH, i);
    if (backslash < 0) backslash = len;
    r.nextBackslash = backslash;
    r.backslashFrom = i;
  }
  const stop = quote < backslash ? quote : backslash;
  if (!controlFree(r, i, stop)) {
    throw syntaxError(r, firstControl(r, i, stop), '(a control character must be escaped inside a string)');
  }
  if (stop >= len) throw syntaxError(r, len, 'inside a string');
  return stop;
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const lower = b | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** The code unit of the `\uXXXX` escape whose backslash is at `at`, or a syntax error. */
function unicodeEscape(r: JsonByteReader, at: number): number {
  let unit = 0;
  for (let k = 2; k < 6; k++) {
    const d = at + k < r.len ? hexDigit(r.buf[at + k]!) : -1;
    if (d < 0) throw syntaxError(r, at + k, '(\\u needs four hex digits)');
    unit = (unit << 4) | d;
  }
  return unit;
}

function ensureScratch(size: number, keep: number): void {
  if (size <= scratch.length) return;
  const grown = Buffer.allocUnsafeSlow(Math.max(size, scratch.length * 2));
  scratch.copy(grown, 0, 0, keep);
  scratch = grown;
}

/**
 * Decodes the rest of a string whose first escape is at `backslash` (its content starts at `start`);
 * leaves `r.pos` after the closing quote.
 *
 * The raw bytes between escapes are copied unchanged and each escape is written as its UTF-8, which
 * starts with a byte that is not a continuation byte: an invalid sequence before an escape therefore ends
 * there and is replaced exactly as it is when the whole body is decoded (where it ends at the backslash).
 */
function unescapeString(r: JsonByteReader, start: number, backslash: number): string {
  const buf = r.buf;
  // Code units that UTF-8 cannot carry (lone surrogates) end a piece; the rest is decoded from `scratch`.
  let pieces = '';
  let n = 0;
  let from = start;
  let stop = backslash;
  for (;;) {
    const run = stop - from;
    ensureScratch(n + run + 8, n);
    if (run > 16) {
      scratch.set(buf.subarray(from, stop), n);
      n += run;
    } else {
      for (let k = from; k < stop; k++) scratch[n++] = buf[k]!;
    }
    if (buf[stop] === QUOTE) {
      r.pos = stop + 1;
      break;
    }
    const c = stop + 1 < r.len ? buf[stop + 1]! : END;
    let next = stop + 2;
    switch (c) {
      case 0x22: // "
      case 0x5c: // \
      case 0x2f: // /
        scratch[n++] = c;
        break;
      case 0x62: // b
        scratch[n++] = 0x08;
        break;
      case 0x66: // f
        scratch[n++] = 0x0c;
        break;
      case 0x6e: // n
        scratch[n++] = 0x0a;
        break;
      case 0x72: // r
        scratch[n++] = 0x0d;
        break;
      case 0x74: // t
        scratch[n++] = 0x09;
        break;
      case 0x75: {
        // u
        let unit = unicodeEscape(r, stop);
        next = stop + 6;
        if (unit >= 0xd800 && unit <= 0xdbff && buf[next] === BACKSLASH && buf[next + 1] === 0x75) {
          const low = unicodeEscape(r, next);
          if (low >= 0xdc00 && low <= 0xdfff) {
            unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            next += 6;
          }
        }
        if (unit < 0x80) {
          scratch[n++] = unit;
        } else if (unit < 0x800) {
          scratch[n++] = 0xc0 | (unit >> 6);
          scratch[n++] = 0x80 | (unit & 0x3f);
        } else if (unit >= 0xd800 && unit <= 0xdfff) {
          // A lone surrogate, which JSON.parse keeps as it is: the decoded text so far, then the unit.
          pieces += scratch.toString('utf8', 0, n) + String.fromCharCode(unit);
          n = 0;
        } else if (unit < 0x10000) {
          scratch[n++] = 0xe0 | (unit >> 12);
          scratch[n++] = 0x80 | ((unit >> 6) & 0x3f);
          scratch[n++] = 0x80 | (unit & 0x3f);
        } else {
          scratch[n++] = 0xf0 | (unit >> 18);
          scratch[n++] = 0x80 | ((unit >> 12) & 0x3f);
          scratch[n++] = 0x80 | ((unit >> 6) & 0x3f);
          scratch[n++] = 0x80 | (unit & 0x3f);
        }
        break;
      }
      default:
        throw syntaxError(r, stop + 1, '(not a JSON escape)');
    }
    from = next;
    stop = plainRunEnd(r, from);
  }
  const last = n === 0 ? '' : HAS_SLICERS ? (scratch as Buffer & NodeSlicer).utf8Slice(0, n) : scratch.toString('utf8', 0, n);
  if (scratch.length > SCRATCH_KEEP_BYTES) scratch = Buffer.allocUnsafeSlow(SCRATCH_INITIAL_BYTES);
  return pieces === '' ? last : pieces + last;
}

/** Reads the string whose opening quote is at `r.pos`. `share`: look it up among earlier short strings. */
function readString(r: JsonByteReader, share: boolean): string {
  const start = r.pos + 1;
  const stop = plainRunEnd(r, start);
  if (r.buf[stop] === QUOTE) {
    r.pos = stop + 1;
    return share ? r.text(start, stop) : r.decode(start, stop);
  }
  return unescapeString(r, start, stop);
}

/** A member name: the string at `r.pos` and the colon after it; returns the field id in `fields` or 0. */
function readMemberName(r: JsonByteReader, fields: FieldNames): number {
  const buf = r.buf;
  const start = r.pos + 1;
  const i = plainRunEnd(r, start);
  let id: number;
  if (buf[i] === QUOTE) {
    // Names are matched on their bytes: no string for the dozens of names in every span.
    id = fields.match(buf, start, i);
    r.pos = i + 1;
  } else {
    id = fields.byName.get(readString(r, true)) ?? 0;
  }
  if (skipWs(r) !== COLON) throw syntaxError(r, r.pos, "(expected ':' after a member name)");
  r.pos++;
  skipWs(r);
  return id;
}

/**
 * At `{`: consumes it and returns true if a member follows (with `r.pos` at its name), false for `{}`.
 * The caller loops with `nextMember`.
 */
function openObject(r: JsonByteReader): boolean {
  r.pos++;
  const b = skipWs(r);
  if (b === CLOSE_OBJECT) {
    r.pos++;
    return false;
  }
  if (b !== QUOTE) throw syntaxError(r, r.pos, "(expected a member name or '}')");
  return true;
}

function nextMember(r: JsonByteReader): boolean {
  const b = skipWs(r);
  if (b === COMMA) {
    r.pos++;
    if (skipWs(r) !== QUOTE) throw syntaxError(r, r.pos, '(expected a member name)');
    return true;
  }
  if (b === CLOSE_OBJECT) {
    r.pos++;
    return false;
  }
  throw syntaxError(r, r.pos, "(expected ',' or '}' in an object)");
}

/** At `[`: consumes it and returns true if an element follows (with `r.pos` at it), false for `[]`. */
function openArray(r: JsonByteReader): boolean {
  r.pos++;
  if (skipWs(r) === CLOSE_ARRAY) {
    r.pos++;
    return false;
  }
  return true;
}

function nextElement(r: JsonByteReader): boolean {
  const b = skipWs(r);
  if (b === COMMA) {
    r.pos++;
    skipWs(r);
    return true;
  }
  if (b === CLOSE_ARRAY) {
    r.pos++;
    return false;
  }
  throw syntaxError(r, r.pos, "(expected ',' or ']' in an array)");
}

function expectLiteral(r: JsonByteReader, literal: string): void {
  const buf = r.buf;
  for (let k = 0; k < literal.length; k++) {
    if (buf[r.pos + k] !== literal.charCodeAt(k)) throw syntaxError(r, r.pos + k, `(in '${literal}')`);
  }
  r.pos += literal.length;
}

/** Consumes `null` if it is the value at `r.pos` (null means "not set" in proto3 JSON). */
function isNull(r: JsonByteReader): boolean {
  if (r.buf[r.pos] !== 0x6e) return false;
  expectLiteral(r, 'null');
  return true;
}

/** Reads a JSON number at `r.pos` (the grammar of RFC 8259 section 6) with JSON.parse's value. */
function readNumber(r: JsonByteReader): number {
  const buf = r.buf;
  const start = r.pos;
  let i = start;
  const negative = buf[i] === MINUS;
  if (negative) i++;
  let b = i < r.len ? buf[i]! : END;
  let value = 0;
  if (b === 0x30) {
    i++;
  } else if (b >= 0x31 && b <= 0x39) {
    do {
      value = value * 10 + (b - 0x30);
      i++;
      b = i < r.len ? buf[i]! : END;
    } while (b >= 0x30 && b <= 0x39);
  } else {
    throw syntaxError(r, i, '(expected a digit)');
  }
  let plain = i - start - (negative ? 1 : 0) <= 15;
  if (buf[i] === 0x2e) {
    plain = false;
    i++;
    if (!(buf[i]! >= 0x30 && buf[i]! <= 0x39)) throw syntaxError(r, i, '(expected a digit after the decimal point)');
    while (buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
  }
  if (buf[i] === 0x65 || buf[i] === 0x45) {
    plain = false;
    i++;
    if (buf[i] === 0x2b || buf[i] === MINUS) i++;
    if (!(buf[i]! >= 0x30 && buf[i]! <= 0x39)) throw syntaxError(r, i, '(expected a digit in the exponent)');
    while (buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
  }
  r.pos = i;
  // Up to 15 digits the integer is exact in a double; anything else gets the runtime's correctly
  // rounded conversion, which is the one JSON.parse uses.
  if (plain) return negative ? -value : value;
  return Number(HAS_SLICERS ? r.nodeBuf.latin1Slice(start, i) : r.nodeBuf.toString('latin1', start, i));
}

/** Skips one JSON value of any kind, checking its syntax, without building it. Iterative: any depth. */
function skipValue(r: JsonByteReader): void {
  // Open containers, innermost last: true for an object.
  const open: boolean[] = [];
  for (;;) {
    const b = skipWs(r);
    switch (b) {
      case QUOTE:
        readStringForSkip(r);
        break;
      case OPEN_OBJECT:
        if (openObject(r)) {
          open.push(true);
          readMemberName(r, NO_FIELDS);
          continue;
        }
        break;
      case OPEN_ARRAY:
        if (openArray(r)) {
          open.push(false);
          continue;
        }
        break;
      case 0x74:
        expectLiteral(r, 'true');
        break;
      case 0x66:
        expectLiteral(r, 'false');
        break;
      case 0x6e:
        expectLiteral(r, 'null');
        break;
      default:
        if (b === MINUS || (b >= 0x30 && b <= 0x39)) readNumber(r);
        else throw syntaxError(r, r.pos, '(expected a JSON value)');
    }
    // After a complete value: close containers until one continues with another member or element.
    for (;;) {
      if (open.length === 0) return;
      const inObject = open[open.length - 1]!;
      if (inObject ? nextMember(r) : nextElement(r)) {
        if (inObject) readMemberName(r, NO_FIELDS);
        break;
      }
      open.pop();
    }
  }
}

function readStringForSkip(r: JsonByteReader): void {
  const start = r.pos + 1;
  const stop = plainRunEnd(r, start);
  if (r.buf[stop] === QUOTE) r.pos = stop + 1;
  else unescapeString(r, start, stop);
}

/** The member names of one message: both JSON names of a field map to one id, a bit in the object's `seen` mask. */
class FieldNames {
  readonly byName: ReadonlyMap<string, number>;
  /** Per byte length, the names' bytes and ids. */
  private readonly byLength: { bytes: Uint8Array; id: number }[][] = [];

  constructor(entries: readonly (readonly [string, number])[]) {
    this.byName = new Map(entries);
    for (const [name, id] of entries) {
      const bytes = Buffer.from(name, 'latin1');
      (this.byLength[bytes.length] ??= []).push({ bytes, id });
    }
  }

  /** The id of the name in `buf[start, end)` (no escapes), or 0. */
  match(buf: Uint8Array, start: number, end: number): number {
    const candidates = this.byLength[end - start];
    if (candidates === undefined) return 0;
    for (const { bytes, id } of candidates) {
      let k = 0;
      while (k < bytes.length && buf[start + k] === bytes[k]) k++;
      if (k === bytes.length) return id;
    }
    return 0;
  }
}

const NO_FIELDS = new FieldNames([]);

function fieldIds(entries: readonly (readonly [string, number])[]): FieldNames {
  return new FieldNames(entries);
}

const REQUEST_RESOURCE_SPANS = 1;
const REQUEST_FIELDS = fieldIds([
  ['resourceSpans', REQUEST_RESOURCE_SPANS],
  ['resource_spans', REQUEST_RESOURCE_SPANS],
]);

const RS_RESOURCE = 1;
const RS_SCOPE_SPANS = 2;
const RESOURCE_SPANS_FIELDS = fieldIds([
  ['resource', RS_RESOURCE],
  ['scopeSpans', RS_SCOPE_SPANS],
  ['scope_spans', RS_SCOPE_SPANS],
]);

const ATTRIBUTES = 1;
const RESOURCE_FIELDS = fieldIds([['attributes', ATTRIBUTES]]);

const SS_SCOPE = 1;
const SS_SPANS = 2;
const SCOPE_SPANS_FIELDS = fieldIds([
  ['scope', SS_SCOPE],
  ['spans', SS_SPANS],
]);

const SCOPE_NAME = 1;
const SCOPE_VERSION = 2;
const SCOPE_FIELDS = fieldIds([
  ['name', SCOPE_NAME],
  ['version', SCOPE_VERSION],
]);

const SPAN_TRACE_ID = 1;
const SPAN_SPAN_ID = 2;
const SPAN_PARENT_SPAN_ID = 3;
const SPAN_TRACE_STATE = 4;
const SPAN_NAME = 5;
const SPAN_KIND = 6;
const SPAN_START = 7;
const SPAN_END = 8;
const SPAN_ATTRIBUTES = 9;
const SPAN_EVENTS = 10;
const SPAN_LINKS = 11;
const SPAN_STATUS = 12;
const SPAN_FIELDS = fieldIds([
  ['traceId', SPAN_TRACE_ID],
  ['trace_id', SPAN_TRACE_ID],
  ['spanId', SPAN_SPAN_ID],
  ['span_id', SPAN_SPAN_ID],
  ['parentSpanId', SPAN_PARENT_SPAN_ID],
  ['parent_span_id', SPAN_PARENT_SPAN_ID],
  ['traceState', SPAN_TRACE_STATE],
  ['trace_state', SPAN_TRACE_STATE],
  ['name', SPAN_NAME],
  // decode-json reads enums by their JSON name only.
  ['kind', SPAN_KIND],
  ['startTimeUnixNano', SPAN_START],
  ['start_time_unix_nano', SPAN_START],
  ['endTimeUnixNano', SPAN_END],
  ['end_time_unix_nano', SPAN_END],
  ['attributes', SPAN_ATTRIBUTES],
  ['events', SPAN_EVENTS],
  ['links', SPAN_LINKS],
  ['status', SPAN_STATUS],
]);

const EVENT_NAME = 1;
const EVENT_TIME = 2;
const EVENT_ATTRIBUTES = 3;
const EVENT_FIELDS = fieldIds([
  ['name', EVENT_NAME],
  ['timeUnixNano', EVENT_TIME],
  ['time_unix_nano', EVENT_TIME],
  ['attributes', EVENT_ATTRIBUTES],
]);

const LINK_TRACE_ID = 1;
const LINK_SPAN_ID = 2;
const LINK_TRACE_STATE = 3;
const LINK_ATTRIBUTES = 4;
const LINK_FIELDS = fieldIds([
  ['traceId', LINK_TRACE_ID],
  ['trace_id', LINK_TRACE_ID],
  ['spanId', LINK_SPAN_ID],
  ['span_id', LINK_SPAN_ID],
  ['traceState', LINK_TRACE_STATE],
  ['trace_state', LINK_TRACE_STATE],
  ['attributes', LINK_ATTRIBUTES],
]);

const STATUS_CODE = 1;
const STATUS_MESSAGE = 2;
const STATUS_FIELDS = fieldIds([
  ['code', STATUS_CODE],
  ['message', STATUS_MESSAGE],
]);

const KV_KEY = 1;
const KV_VALUE = 2;
const KEY_VALUE_FIELDS = fieldIds([
  ['key', KV_KEY],
  ['value', KV_VALUE],
]);

const VALUES = 1;
const VALUES_FIELDS = fieldIds([['values', VALUES]]);

// AnyValue members in decode-json's order of precedence; all of them are one oneof, one bit.
const ANY_STRING = 1;
const ANY_INT = 2;
const ANY_BOOL = 3;
const ANY_DOUBLE = 4;
const ANY_ARRAY = 5;
const ANY_KVLIST = 6;
const ANY_BYTES = 7;
const ANY_VALUE_FIELDS = fieldIds([
  ['stringValue', ANY_STRING],
  ['string_value', ANY_STRING],
  ['intValue', ANY_INT],
  ['int_value', ANY_INT],
  ['boolValue', ANY_BOOL],
  ['bool_value', ANY_BOOL],
  ['doubleValue', ANY_DOUBLE],
  ['double_value', ANY_DOUBLE],
  ['arrayValue', ANY_ARRAY],
  ['array_value', ANY_ARRAY],
  ['kvlistValue', ANY_KVLIST],
  ['kvlist_value', ANY_KVLIST],
  ['bytesValue', ANY_BYTES],
  ['bytes_value', ANY_BYTES],
]);

/**
 * For a member whose JSON type is not the one its field needs: a shape error (which decode-json words)
 * if a JSON value starts here, else the syntax error it is.
 */
function wrongType(r: JsonByteReader): Error {
  const b = r.pos < r.len ? r.buf[r.pos]! : END;
  const startsValue =
    b === QUOTE || b === OPEN_OBJECT || b === OPEN_ARRAY || b === 0x74 || b === 0x66 || b === 0x6e || b === MINUS || (b >= 0x30 && b <= 0x39);
  return startsValue ? NEEDS_REFERENCE_DECODE : syntaxError(r, r.pos, '(expected a JSON value)');
}

/**
 * Attributes as the OpenTelemetry serializers write them (compact JSON, `key` before `value`, one
 * `AnyValue` member): most of a request, matched byte for byte before falling back to member-by-member
 * decoding.
 */
class ByteLiteral {
  readonly bytes: Buffer;
  /** The bytes four at a time, as little-endian int32s (`DataView#getInt32(at, true)`). */
  readonly words: Int32Array;
  constructor(text: string) {
    this.bytes = Buffer.from(text, 'latin1');
    this.words = Int32Array.from({ length: this.bytes.length >> 2 }, (_, k) => this.bytes.readInt32LE(4 * k));
  }
  get length(): number {
    return this.bytes.length;
  }
}
const COMPACT_KEY = new ByteLiteral('{"key":"');
const COMPACT_VALUE = new ByteLiteral(',"value":{');
const COMPACT_STRING_VALUE = new ByteLiteral('{"stringValue":"');
const COMPACT_INT_VALUE = new ByteLiteral('{"intValue":');

/** True if `bytes` occur in the body at `at`. */
function bytesAt(r: JsonByteReader, at: number, literal: ByteLiteral): boolean {
  if (at + literal.length > r.len) return false;
  // Four bytes per compare: these run for every attribute.
  const view = r.view;
  const words = literal.words;
  for (let k = 0; k < words.length; k++) if (view.getInt32(at + 4 * k, true) !== words[k]) return false;
  const buf = r.buf;
  const bytes = literal.bytes;
  for (let k = words.length * 4; k < bytes.length; k++) if (buf[at + k] !== bytes[k]) return false;
  return true;
}

/** Marks field `id` as seen in an object; a second occurrence (by either name) needs decode-json. */
function markSeen(seen: number, id: number): number {
  const bit = 1 << id;
  if ((seen & bit) !== 0) throw NEEDS_REFERENCE_DECODE;
  return seen | bit;
}

/** A string member, or undefined for null; any other JSON type is a shape error. */
function optionalString(r: JsonByteReader): string | undefined {
  if (r.buf[r.pos] === QUOTE) return readString(r, true);
  if (isNull(r)) return undefined;
  throw wrongType(r);
}

/** A number or string member for decode-json's int64, double and enum helpers; undefined for null. */
function numberOrString(r: JsonByteReader): number | string | undefined {
  const b = r.buf[r.pos]!;
  // Not shared: int64 strings (times above all) are rarely seen twice.
  if (b === QUOTE) return readString(r, false);
  if (b === MINUS || (b >= 0x30 && b <= 0x39)) return readNumber(r);
  if (isNull(r)) return undefined;
  throw wrongType(r);
}

function enumMember(r: JsonByteReader, name: string, names: Readonly<Record<string, number>>): number {
  const value = numberOrString(r);
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  return enumValue({ [name]: value }, name, names);
}

/**
 * An id member as decode-json's `hexId` sees it: the string, undefined for null, or `NOT_A_STRING`
 * (any other JSON value; `hexId` only asks whether it is a string).
 */
const NOT_A_STRING = 0;
function idMember(r: JsonByteReader): string | typeof NOT_A_STRING | undefined {
  if (r.buf[r.pos] === QUOTE) return readString(r, false);
  if (isNull(r)) return undefined;
  skipValue(r);
  return NOT_A_STRING;
}

/** `AnyValue` at `r.pos`. `wire`: a long escape-free `stringValue` may stay in the body as `WireText`. */
function decodeAnyValue(r: JsonByteReader, depth: number, wire: boolean): AttributeValue {
  if (depth > MAX_ANY_VALUE_DEPTH) throw NEEDS_REFERENCE_DECODE;
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  // The compact forms go on member by member from where they stop matching, never from the start again:
  // with values nested in values, starting again would cost twice per level.
  const start = r.pos;
  let value: AttributeValue;
  if (bytesAt(r, start, COMPACT_STRING_VALUE)) {
    r.pos = start + COMPACT_STRING_VALUE.length - 1;
    value = wire ? stringOrWireText(r) : readString(r, true);
  } else if (bytesAt(r, start, COMPACT_INT_VALUE)) {
    r.pos = start + COMPACT_INT_VALUE.length;
    skipWs(r);
    value = int64Value(numberOrString(r), 'intValue', false);
  } else {
    return decodeAnyValueMembers(r, depth, wire, null, false, openObject(r));
  }
  if (r.buf[r.pos] === CLOSE_OBJECT) {
    r.pos++;
    return value;
  }
  return decodeAnyValueMembers(r, depth, wire, value, true, nextMember(r));
}

/**
 * The rest of an `AnyValue` in any form (members in any order, whitespace, unknown members): `value` and
 * `seen` are what its members so far gave, `more` whether another member follows.
 */
function decodeAnyValueMembers(r: JsonByteReader, depth: number, wire: boolean, value: AttributeValue, seen: boolean, more: boolean): AttributeValue {
  while (more) {
    const id = readMemberName(r, ANY_VALUE_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      // decode-json picks among several members by precedence, and ignores the others' errors.
      if (seen) throw NEEDS_REFERENCE_DECODE;
      seen = true;
      if (isNull(r)) {
        value = null;
      } else {
        switch (id) {
          case ANY_STRING:
            if (r.buf[r.pos] !== QUOTE) throw wrongType(r);
            value = wire ? stringOrWireText(r) : readString(r, true);
            break;
          case ANY_INT:
            value = int64Value(numberOrString(r), 'intValue', false);
            break;
          case ANY_BOOL: {
            const b = r.buf[r.pos];
            if (b === 0x74) {
              expectLiteral(r, 'true');
              value = true;
            } else if (b === 0x66) {
              expectLiteral(r, 'false');
              value = false;
            } else {
              throw wrongType(r);
            }
            break;
          }
          case ANY_DOUBLE:
            value = doubleValue(numberOrString(r));
            break;
          case ANY_ARRAY:
            value = decodeArrayValue(r, depth);
            break;
          case ANY_KVLIST:
            value = decodeKeyValueList(r, depth);
            break;
          default:
            if (r.buf[r.pos] !== QUOTE) throw wrongType(r);
            value = bytesValue(readString(r, false));
        }
      }
    }
    more = nextMember(r);
  }
  return value;
}

function stringOrWireText(r: JsonByteReader): string | WireText {
  const start = r.pos + 1;
  const stop = plainRunEnd(r, start);
  if (r.buf[stop] === QUOTE) {
    r.pos = stop + 1;
    if (stop - start > DEFERRED_TEXT_MIN_BYTES) return new WireText(r.buf, start, stop);
    return r.text(start, stop);
  }
  return unescapeString(r, start, stop);
}

/** `ArrayValue` at `r.pos` (an object; null was handled by the caller). */
function decodeArrayValue(r: JsonByteReader, depth: number): AttributeValue[] {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  const values: AttributeValue[] = [];
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, VALUES_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      if (!isNull(r)) {
        if (r.buf[r.pos] !== OPEN_ARRAY) throw wrongType(r);
        let element = openArray(r);
        while (element) {
          values.push(decodeAnyValue(r, depth + 1, false));
          element = nextElement(r);
        }
      }
    }
    more = nextMember(r);
  }
  return values;
}

/** `KeyValueList` at `r.pos`: its `values` are attributes one level deeper. */
function decodeKeyValueList(r: JsonByteReader, depth: number): Attributes {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  const list: Attributes = {};
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, VALUES_FIELDS);
    if (id === 0) skipValue(r);
    else {
      seen = markSeen(seen, id);
      decodeAttributes(r, list, depth + 1, false);
    }
    more = nextMember(r);
  }
  return list;
}

/**
 * A `repeated KeyValue` member at `r.pos` (null: none), stored into `target`. `defer`: span attributes,
 * whose long tool-call payloads may stay in the body.
 */
function decodeAttributes(r: JsonByteReader, target: Attributes, depth: number, defer: boolean): void {
  if (isNull(r)) return;
  if (r.buf[r.pos] !== OPEN_ARRAY) throw wrongType(r);
  let element = openArray(r);
  while (element) {
    if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
    decodeKeyValue(r, target, depth, defer);
    element = nextElement(r);
  }
}

const KEY_SEEN = 1 << KV_KEY;
const VALUE_SEEN = 1 << KV_VALUE;

/**
 * A `KeyValue` at `r.pos`. Matched on its bytes as far as it has the serializers' compact form
 * (`{"key":"…","value":{…}}`), then member by member from there (see `decodeAnyValue` for why not again
 * from the start).
 */
function decodeKeyValue(r: JsonByteReader, target: Attributes, depth: number, defer: boolean): void {
  if (!bytesAt(r, r.pos, COMPACT_KEY)) {
    decodeKeyValueMembers(r, target, depth, defer, undefined, null, 0, openObject(r), -1, -1);
    return;
  }
  r.pos += COMPACT_KEY.length - 1;
  const key = readString(r, true);
  if (!bytesAt(r, r.pos, COMPACT_VALUE)) {
    decodeKeyValueMembers(r, target, depth, defer, key, null, KEY_SEEN, nextMember(r), -1, -1);
    return;
  }
  r.pos += COMPACT_VALUE.length - 1;
  const valueStart = r.pos;
  const value = decodeAnyValue(r, depth, defer && DEFERRED_TEXT_KEYS.has(key));
  const valueEnd = r.pos;
  if (r.buf[r.pos] === CLOSE_OBJECT) {
    r.pos++;
    if (depth === 1 && r.markContent && isContentAttributeKey(key)) noteContent(r, valueStart, valueEnd);
    setAttribute(target, key, value);
    return;
  }
  decodeKeyValueMembers(r, target, depth, defer, key, value, KEY_SEEN | VALUE_SEEN, nextMember(r), valueStart, valueEnd);
}

/** Notes a content attribute's value at `[start, end)` of the span being read (see `JsonSpanWire`). */
function noteContent(r: JsonByteReader, start: number, end: number): void {
  if (r.content === undefined) r.content = [start, end];
  else r.content.push(start, end);
}

/**
 * The rest of a `KeyValue` in any form: `key`, `value` and `seen` are what its members so far gave, and
 * `[valueStart, valueEnd)` where the value lies (-1: no value member yet).
 */
function decodeKeyValueMembers(
  r: JsonByteReader,
  target: Attributes,
  depth: number,
  defer: boolean,
  key: string | undefined,
  value: AttributeValue,
  seen: number,
  more: boolean,
  valueStart: number,
  valueEnd: number,
): void {
  while (more) {
    const id = readMemberName(r, KEY_VALUE_FIELDS);
    if (id === KV_KEY) {
      seen = markSeen(seen, id);
      if (r.buf[r.pos] !== QUOTE) throw wrongType(r);
      key = readString(r, true);
    } else if (id === KV_VALUE) {
      seen = markSeen(seen, id);
      valueStart = r.pos;
      if (!isNull(r)) value = decodeAnyValue(r, depth, defer && (key === undefined || DEFERRED_TEXT_KEYS.has(key)));
      valueEnd = r.pos;
    } else {
      skipValue(r);
    }
    more = nextMember(r);
  }
  if (key === undefined) throw NEEDS_REFERENCE_DECODE;
  // The value came before its key: only now is it known whether it may stay in the body.
  if (value instanceof WireText && !DEFERRED_TEXT_KEYS.has(key)) value = value.text();
  // A content key without a value member has nothing to leave out (its null is replaced when read back).
  if (depth === 1 && r.markContent && valueStart >= 0 && isContentAttributeKey(key)) noteContent(r, valueStart, valueEnd);
  setAttribute(target, key, value);
}

interface DecodeContext {
  spans: DecodedSpan[];
  spanIndex: number;
  rejectedSpans: number;
  rejectReason: string | undefined;
}

function decodeEvent(r: JsonByteReader): SpanEvent {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  let name = '';
  let time = 0;
  const attributes: Attributes = {};
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, EVENT_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      if (id === EVENT_NAME) name = optionalString(r) ?? '';
      else if (id === EVENT_TIME) time = timeMember(r, 'timeUnixNano');
      else decodeAttributes(r, attributes, 1, false);
    }
    more = nextMember(r);
  }
  return { name, timeUnixNano: time, attributes };
}

function timeMember(r: JsonByteReader, name: string): number {
  const value = numberOrString(r);
  return value === undefined ? 0 : int64Value(value, name, true);
}

/** A link, or why its ids are unusable (which rejects its span, as in decode-json). */
function decodeLink(r: JsonByteReader): SpanLink | string {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  let traceIdValue: string | typeof NOT_A_STRING | undefined;
  let spanIdValue: string | typeof NOT_A_STRING | undefined;
  let traceState: string | undefined;
  const attributes: Attributes = {};
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, LINK_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      if (id === LINK_TRACE_ID) traceIdValue = idMember(r);
      else if (id === LINK_SPAN_ID) spanIdValue = idMember(r);
      else if (id === LINK_TRACE_STATE) traceState = nonEmpty(optionalString(r));
      else decodeAttributes(r, attributes, 1, false);
    }
    more = nextMember(r);
  }
  const traceId = hexId(traceIdValue, TRACE_ID_BYTES, 'trace_id');
  if ('problem' in traceId) return traceId.problem;
  const spanId = hexId(spanIdValue, SPAN_ID_BYTES, 'span_id');
  if ('problem' in spanId) return spanId.problem;
  return { traceId: traceId.id, spanId: spanId.id, traceState, attributes };
}

function decodeStatus(r: JsonByteReader, status: { code: number; message?: string }): void {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, STATUS_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      if (id === STATUS_CODE) status.code = enumMember(r, 'code', STATUS_CODE_NAMES);
      else status.message = nonEmpty(optionalString(r));
    }
    more = nextMember(r);
  }
}

/** One span at `r.pos`: kept in `ctx.spans`, or counted as rejected (partial success). */
function decodeSpan(
  r: JsonByteReader,
  resource: Attributes,
  scope: InstrumentationScope,
  ctx: DecodeContext,
  ri: number,
  si: number,
  pi: number,
): void {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  const objectStart = r.pos;
  let content: number[] | undefined;
  let traceIdValue: string | typeof NOT_A_STRING | undefined;
  let spanIdValue: string | typeof NOT_A_STRING | undefined;
  let parentValue: string | typeof NOT_A_STRING | undefined;
  let traceState: string | undefined;
  let name = '';
  let kind = 0;
  let start = 0;
  let end = 0;
  const attributes: Attributes = {};
  const events: SpanEvent[] = [];
  const links: SpanLink[] = [];
  let linkProblem: string | undefined;
  const status: { code: number; message?: string } = { code: 0, message: undefined };
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, SPAN_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      switch (id) {
        case SPAN_TRACE_ID:
          traceIdValue = idMember(r);
          break;
        case SPAN_SPAN_ID:
          spanIdValue = idMember(r);
          break;
        case SPAN_PARENT_SPAN_ID:
          parentValue = idMember(r);
          break;
        case SPAN_TRACE_STATE:
          traceState = nonEmpty(optionalString(r));
          break;
        case SPAN_NAME:
          name = optionalString(r) ?? '';
          break;
        case SPAN_KIND:
          kind = enumMember(r, 'kind', SPAN_KIND_NAMES);
          break;
        case SPAN_START:
          start = timeMember(r, 'startTimeUnixNano');
          break;
        case SPAN_END:
          end = timeMember(r, 'endTimeUnixNano');
          break;
        case SPAN_ATTRIBUTES:
          // Only once per span (a second `attributes` member goes to decode-json), so `content` is all of them.
          r.markContent = r.wireText;
          r.content = undefined;
          decodeAttributes(r, attributes, 1, r.wireText);
          r.markContent = false;
          content = r.content;
          break;
        case SPAN_EVENTS:
          if (isNull(r)) break;
          if (r.buf[r.pos] !== OPEN_ARRAY) throw wrongType(r);
          for (let more = openArray(r); more; more = nextElement(r)) events.push(decodeEvent(r));
          break;
        case SPAN_LINKS: {
          if (isNull(r)) break;
          if (r.buf[r.pos] !== OPEN_ARRAY) throw wrongType(r);
          let i = 0;
          for (let more = openArray(r); more; more = nextElement(r), i++) {
            const link = decodeLink(r);
            if (typeof link === 'string') linkProblem ??= `link ${i}: ${link}`;
            else links.push(link);
          }
          break;
        }
        default:
          if (!isNull(r)) decodeStatus(r, status);
      }
    }
    more = nextMember(r);
  }

  const index = ctx.spanIndex++;
  const traceId = hexId(traceIdValue, TRACE_ID_BYTES, 'trace_id');
  const spanId = hexId(spanIdValue, SPAN_ID_BYTES, 'span_id');
  // An absent or empty parentSpanId means a root span.
  const parent = parentValue === undefined || parentValue === '' ? undefined : hexId(parentValue, SPAN_ID_BYTES, 'parent_span_id');
  const problem =
    ('problem' in traceId ? traceId.problem : undefined) ??
    ('problem' in spanId ? spanId.problem : undefined) ??
    (parent !== undefined && 'problem' in parent ? parent.problem : undefined) ??
    linkProblem;
  if (problem !== undefined || !('id' in traceId) || !('id' in spanId)) {
    ctx.rejectedSpans++;
    ctx.rejectReason ??= `span ${index} (resourceSpans[${ri}].scopeSpans[${si}].spans[${pi}]): ${problem ?? 'invalid id'}`;
    return;
  }
  const span: DecodedSpan = {
    traceId: traceId.id,
    spanId: spanId.id,
    parentSpanId: parent !== undefined && 'id' in parent ? parent.id : undefined,
    traceState,
    name,
    kind,
    startTimeUnixNano: start,
    endTimeUnixNano: end,
    attributes,
    events,
    links,
    status,
    resource,
    scope,
  };
  if (r.wireText) span.jsonWire = { body: r.buf, start: objectStart, end: r.pos, content };
  ctx.spans.push(span);
}

function decodeScope(r: JsonByteReader, scope: InstrumentationScope): void {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, SCOPE_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      if (id === SCOPE_NAME) scope.name = optionalString(r) ?? '';
      else scope.version = nonEmpty(optionalString(r));
    }
    more = nextMember(r);
  }
}

function decodeScopeSpans(r: JsonByteReader, resource: Attributes, ctx: DecodeContext, ri: number, si: number): void {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  // Shared by the object's spans, which may come before the scope itself.
  const scope: InstrumentationScope = { name: '', version: undefined };
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, SCOPE_SPANS_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      if (id === SS_SCOPE) {
        if (!isNull(r)) decodeScope(r, scope);
      } else if (!isNull(r)) {
        if (r.buf[r.pos] !== OPEN_ARRAY) throw wrongType(r);
        let pi = 0;
        for (let element = openArray(r); element; element = nextElement(r), pi++) decodeSpan(r, resource, scope, ctx, ri, si, pi);
      }
    }
    more = nextMember(r);
  }
}

function decodeResource(r: JsonByteReader, resource: Attributes): void {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, RESOURCE_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      decodeAttributes(r, resource, 1, false);
    }
    more = nextMember(r);
  }
}

function decodeResourceSpans(r: JsonByteReader, ctx: DecodeContext, ri: number): void {
  if (r.buf[r.pos] !== OPEN_OBJECT) throw wrongType(r);
  // Shared by every span below, which may come before the resource itself.
  const resource: Attributes = {};
  let seen = 0;
  let more = openObject(r);
  while (more) {
    const id = readMemberName(r, RESOURCE_SPANS_FIELDS);
    if (id === 0) {
      skipValue(r);
    } else {
      seen = markSeen(seen, id);
      if (id === RS_RESOURCE) {
        if (!isNull(r)) decodeResource(r, resource);
      } else if (!isNull(r)) {
        if (r.buf[r.pos] !== OPEN_ARRAY) throw wrongType(r);
        let si = 0;
        for (let element = openArray(r); element; element = nextElement(r), si++) decodeScopeSpans(r, resource, ctx, ri, si);
      }
    }
    more = nextMember(r);
  }
}

/** Options of `decodeJsonTraceBytes`. */
export interface JsonTraceBytesOptions {
  /**
   * Let spans refer to the body, as the protobuf decoder's do: long escape-free `gen_ai.tool.call.arguments`
   * / `.result` span attributes stay in it as `WireText` views instead of strings, and each span notes where
   * its JSON object lies (`DecodedSpan.jsonWire`, which the recent store copies). Only when the body is not
   * reused or written to while the spans live: the receiver's pooled read buffers go back to the pool only
   * when the pipeline releases the batch. Default false: then nothing in the result refers to the body.
   */
  wireText?: boolean;
}

/**
 * Decodes the body without falling back: undefined when only decode-json.ts can give the exact result
 * (see the file comment). Exported for tests, which check that ordinary requests never need the fallback.
 *
 * @throws OtlpDecodeError when the body is not JSON.
 */
export function decodeJsonTraceBytesDirect(body: Uint8Array, options: JsonTraceBytesOptions = {}): DecodedTraces | undefined {
  const r = new JsonByteReader(body, options.wireText === true);
  const ctx: DecodeContext = { spans: [], spanIndex: 0, rejectedSpans: 0, rejectReason: undefined };
  try {
    const b = skipWs(r);
    if (b !== OPEN_OBJECT) {
      // Any other JSON value is a shape error, which decode-json words; first check it is JSON at all.
      skipValue(r);
      if (skipWs(r) !== END) throw syntaxError(r, r.pos, 'after the JSON value');
      return undefined;
    }
    let seen = 0;
    let more = openObject(r);
    while (more) {
      const id = readMemberName(r, REQUEST_FIELDS);
      if (id === 0) {
        skipValue(r);
      } else {
        seen = markSeen(seen, id);
        if (!isNull(r)) {
          if (r.buf[r.pos] !== OPEN_ARRAY) throw wrongType(r);
          let ri = 0;
          for (let element = openArray(r); element; element = nextElement(r), ri++) decodeResourceSpans(r, ctx, ri);
        }
      }
      more = nextMember(r);
    }
    if (skipWs(r) !== END) throw syntaxError(r, r.pos, 'after the JSON value');
  } catch (error) {
    if (error === NEEDS_REFERENCE_DECODE || error instanceof JsonShapeError) return undefined;
    throw error;
  }
  const result: DecodedTraces = { spans: ctx.spans, rejectedSpans: ctx.rejectedSpans };
  if (ctx.rejectReason !== undefined) result.rejectReason = ctx.rejectReason;
  return result;
}

/**
 * Decodes an OTLP/HTTP JSON trace export body from its bytes: the same `DecodedTraces` as
 * `decodeJsonTraces(Buffer.from(body).toString('utf8'))`, and an `OtlpDecodeError` exactly when that
 * throws. With `wireText`, long escape-free tool-call payloads of spans may be `WireText` views into
 * `body` standing for the same strings (see `JsonTraceBytesOptions`).
 *
 * @param body the request body (after any `Content-Encoding` has been removed).
 * @throws OtlpDecodeError when the body is not JSON or not shaped like an `ExportTraceServiceRequest`.
 */
export function decodeJsonTraceBytes(body: Uint8Array, options: JsonTraceBytesOptions = {}): DecodedTraces {
  return (
    decodeJsonTraceBytesDirect(body, options) ??
    decodeJsonTraces(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  );
}

/**
 * Decodes one span from the text of its JSON object alone (as kept by the recent store from
 * `DecodedSpan.jsonWire`), with the resource and scope it was received with: the span the request's decode
 * gave, as `decodeSpanMessage` does for protobuf. Nothing in the result refers to `bytes`.
 *
 * @returns undefined when the bytes are not one span object this decoder reads without decode-json, or
 *   the span is rejected (neither happens to text copied from a span it decoded).
 */
export function decodeJsonSpanBytes(bytes: Uint8Array, resource: Attributes, scope: InstrumentationScope): DecodedSpan | undefined {
  const r = new JsonByteReader(bytes, false);
  const ctx: DecodeContext = { spans: [], spanIndex: 0, rejectedSpans: 0, rejectReason: undefined };
  try {
    if (skipWs(r) !== OPEN_OBJECT) return undefined;
    decodeSpan(r, resource, scope, ctx, 0, 0, 0);
    if (skipWs(r) !== END) return undefined;
  } catch {
    return undefined;
  }
  return ctx.spans[0];
}
