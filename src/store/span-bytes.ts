import { Buffer } from 'node:buffer';
import type { SpanWire } from '../receiver/otlp/span.js';

/**
 * Stored spans as protobuf bytes.
 *
 * A decoded span is a dozen objects (the span, its attribute map and its backing store, events, links,
 * status); keeping 200k of them alive made the recent store the daemon's largest cost, because every one
 * survives two young-generation collections and is then marked by every full one. A span that arrived as
 * protobuf is kept instead as a copy of its own `Span` message in a shared slab, and decoded again only
 * when a trace is read (`decodeSpanMessage`), which is rare next to ingest.
 *
 * Captured content does not survive the copy: the `KeyValue` of every content attribute (tool arguments
 * and results) is re-encoded with the store's placeholder as its value, so the bytes hold no more than the
 * decoded form would have held. Dropping fields or rewriting one `KeyValue` keeps the message valid,
 * because a protobuf message is just its fields one after another.
 */

/** Bytes per slab. Spans larger than a quarter of it get a buffer of their own. */
const SLAB_BYTES = 1 << 20;
/** Extra room reserved per span for placeholders that are longer than the content they replace. */
const GROWTH_ALLOWANCE = 256;

/** `Span.attributes` is field 9, length-delimited: tag byte (9 << 3) | 2. */
const SPAN_ATTRIBUTES_FIELD = 9;

/** `Span.trace_id`, `span_id` and `parent_span_id` (fields 1, 2, 4, length-delimited) as tag values. */
const TRACE_ID_TAG = (1 << 3) | 2;
const SPAN_ID_TAG = (2 << 3) | 2;
const PARENT_SPAN_ID_TAG = (4 << 3) | 2;

/** Bits of `SpanSlabs.idFlags`: which of `SpanSlabs.ids` the last `add` read from the message. */
export const HAS_TRACE_ID = 1;
export const HAS_SPAN_ID = 2;
export const HAS_PARENT_ID = 4;
/** The message has no parent span id, or an empty one (a root span, as the decoder reads it). */
export const NO_PARENT_ID = 8;

/** Where a stored span's message lies. */
export interface StoredSpanBytes {
  slab: Buffer;
  offset: number;
  length: number;
}

/** Which attributes are content, by key bytes. */
export interface ContentKeys {
  exact: readonly Buffer[];
  prefixes: readonly Buffer[];
}

export function contentKeys(exact: Iterable<string>, prefixes: Iterable<string>): ContentKeys {
  return {
    exact: [...exact].map((k) => Buffer.from(k, 'utf8')),
    prefixes: [...prefixes].map((k) => Buffer.from(k, 'utf8')),
  };
}

/**
 * Appends span messages to 1 MiB slabs. A slab whose spans have all been evicted (the store says so with
 * `release`) is written again instead of allocating the next one: new slabs cost page faults and the full
 * collections that free them, ~0.3 us per stored span at 100k spans a second. Only the store reads a
 * slab, and only while it decodes a span (the decoded span owns copies), so nothing sees it rewritten.
 */
export class SpanSlabs {
  private slab: Buffer | undefined;
  private used = 0;
  /** Spans kept in the current slab, and in earlier slabs that still hold some. */
  private currentHeld = 0;
  private readonly held = new Map<Buffer, number>();
  /** A slab all of whose spans are gone, taken before allocating a new one. */
  private spare: Buffer | undefined;
  private readonly placeholder: Buffer;
  /**
   * Exact content keys by key length, each with its whole replacement field: the same bytes for every
   * span, so a match is one copy, and most keys are ruled out by their length alone.
   */
  private readonly exactByLength: (ExactContentKey[] | undefined)[] = [];
  private readonly prefixes: readonly Buffer[];
  private readonly shortestPrefix: number;

  /**
   * The ids of the span the last `add` copied, as 32-bit words (trace id 4, span id 2, parent span id 2),
   * big-endian per four bytes: what `hexToWords` makes of their lowercase hex. Read while the copy visits
   * every field anyway, so the store need not parse the decoded span's hex strings. As the decoder does, the
   * last occurrence of a field counts. Only the ids `idFlags` names were read.
   */
  readonly ids = new Uint32Array(8);
  /** `HAS_*` and `NO_PARENT_ID` bits for `ids` after the last `add` (0 when it failed). */
  idFlags = 0;

  /** @param placeholder the string value written in place of content attributes */
  constructor(keys: ContentKeys, placeholder: string) {
    this.placeholder = Buffer.from(placeholder, 'utf8');
    for (const key of keys.exact) {
      const field = Buffer.allocUnsafe(key.length + this.placeholder.length + 16);
      const length = writeKeyValue(field, 0, field.length, key, 0, key.length, this.placeholder);
      (this.exactByLength[key.length] ??= []).push({ key, field: new Uint8Array(field.subarray(0, length)) });
    }
    this.prefixes = keys.prefixes;
    this.shortestPrefix = Math.min(...keys.prefixes.map((k) => k.length));
  }

  /**
   * Copies the span's message with content attributes replaced. Undefined when the bytes are not what the
   * decoder accepted (which it guarantees they are) or the placeholders need more room than reserved; the
   * caller then keeps the decoded span instead.
   */
  add(wire: SpanWire): StoredSpanBytes | undefined {
    const inLength = wire.end - wire.start;
    const room = inLength + GROWTH_ALLOWANCE;
    let slab: Buffer;
    let offset: number;
    if (room > SLAB_BYTES / 4) {
      slab = Buffer.allocUnsafeSlow(room);
      offset = 0;
    } else {
      slab = this.slab === undefined || this.used + room > SLAB_BYTES ? this.nextSlab() : this.slab;
      offset = this.used;
    }
    const length = this.copyWithoutContent(wire, slab, offset, offset + room);
    if (length < 0) {
      this.idFlags = 0;
      return undefined;
    }
    if (slab === this.slab) {
      this.used += length;
      this.currentHeld++;
    }
    return { slab, offset, length };
  }

  /**
   * Room for a span of exactly `length` bytes that the caller writes itself (a JSON span, see
   * json-span-bytes.ts); held, discarded and released like a span from `add`. Reads no ids (`idFlags` 0).
   */
  reserve(length: number): StoredSpanBytes {
    this.idFlags = 0;
    if (length > SLAB_BYTES / 4) return { slab: Buffer.allocUnsafeSlow(length), offset: 0, length };
    const slab = this.slab === undefined || this.used + length > SLAB_BYTES ? this.nextSlab() : this.slab;
    const offset = this.used;
    this.used += length;
    this.currentHeld++;
    return { slab, offset, length };
  }

  /**
   * Takes back the span the last `add` kept (the store found it already held): its room is reused when it
   * is still the newest in the current slab.
   */
  discard(kept: StoredSpanBytes): void {
    if (kept.slab === this.slab && kept.offset + kept.length === this.used) this.used = kept.offset;
    this.release(kept.slab);
  }

  /** Notes that a span kept by `add` in `slab` is no longer held (evicted, or never stored). */
  release(slab: Buffer): void {
    if (slab === this.slab) {
      this.currentHeld--;
      return;
    }
    const left = this.held.get(slab);
    if (left === undefined) return;
    if (left > 1) {
      this.held.set(slab, left - 1);
      return;
    }
    this.held.delete(slab);
    this.spare ??= slab;
  }

  /** Starts a slab (the spare one if there is one); the one it replaces keeps a count of its spans. */
  private nextSlab(): Buffer {
    const full = this.slab;
    if (full !== undefined && this.currentHeld > 0) this.held.set(full, this.currentHeld);
    else if (full !== undefined) this.spare ??= full;
    const slab = this.spare ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
    this.slab = slab;
    this.spare = undefined;
    this.used = 0;
    this.currentHeld = 0;
    return slab;
  }

  /**
   * Writes `wire`'s message to `out[offset..)` with each content `KeyValue` replaced by one around the
   * placeholder. Returns the bytes written, or -1 if the message does not parse or `limit` is reached.
   */
  private copyWithoutContent(wire: SpanWire, out: Buffer, offset: number, limit: number): number {
    const src = wire.body;
    const end = wire.end;
    let p = wire.start;
    let w = offset;
    // Unchanged fields are copied in runs: one copy per stretch between content attributes.
    let runStart = p;
    // Where the last trace, span and parent span id fields lie (length -1: absent).
    let traceAt = 0;
    let traceLen = -1;
    let spanAt = 0;
    let spanLen = -1;
    let parentAt = 0;
    let parentLen = -1;
    while (p < end) {
      const fieldStart = p;
      // Tags and lengths below 128 are one byte: every field of a span the SDKs write, bar long values.
      let tag = src[p]!;
      if (tag < 0x80) p++;
      else if ((tag = readVarint(src, p, end)) < 0) return -1;
      else p = varintEnd;
      let valueStart = p;
      switch (tag & 7) {
        case 0:
          while (p < end && src[p]! >= 0x80) p++;
          p++;
          break;
        case 1:
          p += 8;
          break;
        case 2: {
          let len = p < end ? src[p]! : 0x80;
          if (len < 0x80) valueStart = p + 1;
          else if ((len = readVarint(src, p, end)) < 0) return -1;
          else valueStart = varintEnd;
          p = valueStart + len;
          if (tag < ATTRIBUTE_TAG) {
            if (tag === TRACE_ID_TAG) {
              traceAt = valueStart;
              traceLen = len;
            } else if (tag === SPAN_ID_TAG) {
              spanAt = valueStart;
              spanLen = len;
            } else if (tag === PARENT_SPAN_ID_TAG) {
              parentAt = valueStart;
              parentLen = len;
            }
          }
          break;
        }
        case 5:
          p += 4;
          break;
        default:
          return -1;
      }
      if (p > end) return -1;
      if (tag !== ATTRIBUTE_TAG || !keyOf(src, valueStart, p)) continue;
      const field = this.replacementOf(src, keyStart, keyEnd);
      if (field === undefined) continue;
      // Copy the run before this attribute, then its replacement.
      const run = fieldStart - runStart;
      let written: number;
      if (field === AROUND_KEY) {
        written = writeKeyValue(out, w + run, limit, src, keyStart, keyEnd, this.placeholder);
        if (written < 0) return -1;
      } else {
        written = field.length;
        if (w + run + written > limit) return -1;
        out.set(field, w + run);
      }
      copyRun(src, runStart, fieldStart, out, w);
      w += run + written;
      runStart = p;
    }
    if (w + (end - runStart) > limit) return -1;
    copyRun(src, runStart, end, out, w);
    w += end - runStart;
    const ids = this.ids;
    let flags = 0;
    if (traceLen === 16) {
      ids[0] = wordAt(src, traceAt);
      ids[1] = wordAt(src, traceAt + 4);
      ids[2] = wordAt(src, traceAt + 8);
      ids[3] = wordAt(src, traceAt + 12);
      flags |= HAS_TRACE_ID;
    }
    if (spanLen === 8) {
      ids[4] = wordAt(src, spanAt);
      ids[5] = wordAt(src, spanAt + 4);
      flags |= HAS_SPAN_ID;
    }
    if (parentLen === 8) {
      ids[6] = wordAt(src, parentAt);
      ids[7] = wordAt(src, parentAt + 4);
      flags |= HAS_PARENT_ID;
    } else if (parentLen <= 0) {
      flags |= NO_PARENT_ID;
    }
    this.idFlags = flags;
    return w - offset;
  }

  /**
   * The replacement field for a content key: an exact key's precomputed field, `AROUND_KEY` for a prefix
   * match (the field is then written around the key), undefined for any other key.
   */
  private replacementOf(src: Uint8Array, start: number, end: number): Uint8Array | undefined {
    const len = end - start;
    const exact = this.exactByLength[len];
    if (exact !== undefined) {
      for (let i = 0; i < exact.length; i++) if (bytesEqual(src, start, exact[i]!.key, len)) return exact[i]!.field;
    }
    if (len < this.shortestPrefix) return undefined;
    for (const k of this.prefixes) if (k.length <= len && bytesEqual(src, start, k, k.length)) return AROUND_KEY;
    return undefined;
  }
}

interface ExactContentKey {
  key: Uint8Array;
  /** The whole `Span.attributes` field that replaces the attribute. */
  field: Uint8Array;
}

/** What `replacementOf` answers for a prefix match, whose field depends on the whole key. */
const AROUND_KEY = new Uint8Array(0);

/** `Span.attributes` as a one-byte tag: field 9, length-delimited. */
const ATTRIBUTE_TAG = (SPAN_ATTRIBUTES_FIELD << 3) | 2;

/** Set by `readVarint`: the position after the varint it read. */
let varintEnd = 0;
/** True when a length at `p` is followed by exactly that many bytes up to `end`. */
function valueRunsTo(buf: Uint8Array, p: number, end: number): boolean {
  const len = readVarint(buf, p, end);
  return len >= 0 && varintEnd + len === end;
}

/** Set by `keyOf`: where the key it found lies. */
let keyStart = 0;
let keyEnd = 0;

/**
 * The varint at `p` as a number (up to 2^53), or -1 if it runs past `end`; a varint longer than 10 bytes
 * is -2. Only lengths and tags are read through this, which the decoder has already bounded.
 */
function readVarint(buf: Uint8Array, p: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (p >= end) return -1;
    const b = buf[p++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEnd = p;
      return value;
    }
    scale *= 128;
  }
  return -2;
}

/**
 * Finds the key bytes of a `KeyValue` message (key = field 1) into `keyStart` and `keyEnd`; false if none.
 * A repeated key field is read as the decoder reads it: the last one counts. Taking the first instead let
 * `{key: "note", key: "gen_ai.tool.call.arguments", value: ...}`, which the decoder reads as arguments,
 * keep its value in the slab (read-back masked it again, but the bytes were held).
 */
function keyOf(buf: Uint8Array, start: number, end: number): boolean {
  // The SDKs write the key first, and keys are short: tag 0x0a and a one-byte length. When the value (tag
  // 0x12) follows and runs to the end, or nothing does, that key is the only one.
  if (start + 1 < end && buf[start] === 0x0a && buf[start + 1]! < 0x80) {
    const afterKey = start + 2 + buf[start + 1]!;
    const onlyKey = afterKey === end || (afterKey < end && buf[afterKey] === 0x12 && valueRunsTo(buf, afterKey + 1, end));
    if (onlyKey) {
      keyStart = start + 2;
      keyEnd = afterKey;
      return true;
    }
  }
  let found = false;
  let p = start;
  while (p < end) {
    const tag = readVarint(buf, p, end);
    if (tag < 0) return false;
    p = varintEnd;
    if ((tag & 7) !== 2) {
      // KeyValue has only length-delimited fields; anything else is skipped by its wire type.
      if ((tag & 7) === 0) {
        if (readVarint(buf, p, end) < 0) return false;
        p = varintEnd;
      } else if ((tag & 7) === 1) p += 8;
      else if ((tag & 7) === 5) p += 4;
      else return false;
      continue;
    }
    const len = readVarint(buf, p, end);
    if (len < 0 || varintEnd + len > end) return false;
    p = varintEnd + len;
    if (tag >>> 3 === 1) {
      keyStart = varintEnd;
      keyEnd = p;
      found = true;
    }
  }
  return found;
}

/**
 * Writes the trace id words of a span message that starts with its trace id (as the SDKs write it: tag
 * 0x0a, length 16) to `out[at..at+4)`, as `add` would read them; false for any other message. A hint for
 * look-ups ahead of the copy (a later trace_id field would win), not a substitute for `add`'s `ids`.
 */
export function leadingTraceId(wire: SpanWire, out: Uint32Array, at: number): boolean {
  const src = wire.body;
  const p = wire.start;
  if (p + 18 > wire.end || src[p] !== TRACE_ID_TAG || src[p + 1] !== 16) return false;
  out[at] = wordAt(src, p + 2);
  out[at + 1] = wordAt(src, p + 6);
  out[at + 2] = wordAt(src, p + 10);
  out[at + 3] = wordAt(src, p + 14);
  return true;
}

/** The big-endian 32-bit word at `buf[at..at+4)` (the Uint32Array it is stored in makes it unsigned). */
function wordAt(buf: Uint8Array, at: number): number {
  return (buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
}

function bytesEqual(buf: Uint8Array, start: number, k: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[start + i] !== k[i]) return false;
  return true;
}

/** Writes `Span.attributes` = KeyValue{key, value: AnyValue{string_value: placeholder}} at `w`. */
function writeKeyValue(out: Buffer, w: number, limit: number, src: Uint8Array, keyStart: number, keyEnd: number, placeholder: Buffer): number {
  const keyLen = keyEnd - keyStart;
  const anyLen = 1 + varintSize(placeholder.length) + placeholder.length;
  const kvLen = 1 + varintSize(keyLen) + keyLen + 1 + varintSize(anyLen) + anyLen;
  const total = 1 + varintSize(kvLen) + kvLen;
  if (w + total > limit) return -1;
  let p = w;
  out[p++] = ATTRIBUTE_TAG;
  p = writeVarint(out, p, kvLen);
  out[p++] = (1 << 3) | 2; // KeyValue.key
  p = writeVarint(out, p, keyLen);
  copyBytes(src, keyStart, keyEnd, out, p);
  p += keyLen;
  out[p++] = (2 << 3) | 2; // KeyValue.value
  p = writeVarint(out, p, anyLen);
  out[p++] = (1 << 3) | 2; // AnyValue.string_value
  p = writeVarint(out, p, placeholder.length);
  placeholder.copy(out, p);
  p += placeholder.length;
  return p - w;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, p: number, n: number): number {
  while (n >= 0x80) {
    out[p++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[p++] = n;
  return p;
}

/** Below this, a loop is cheaper than creating the view that `set` needs (keys, short runs). */
const SMALL_COPY_BYTES = 40;

/**
 * Copies `src[start, end)` to `out[at..)`. The view is a plain Uint8Array: a Buffer's `subarray` makes a
 * Buffer, which costs more to construct.
 */
export function copyRun(src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): void {
  const n = end - start;
  if (n >= SMALL_COPY_BYTES) out.set(new Uint8Array(src.buffer, src.byteOffset + start, n), at);
  else copyBytes(src, start, end, out, at);
}

function copyBytes(src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): void {
  for (let i = 0, n = end - start; i < n; i++) out[at + i] = src[start + i]!;
}
