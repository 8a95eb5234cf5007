import { Buffer } from 'node:buffer';
import type { JsonSpanWire } from '../receiver/otlp/span.js';
import { copyRun, type SpanSlabs, type StoredSpanBytes } from './span-bytes.js';

/**
 * Stored spans as JSON text.
 *
 * A span received as OTLP/JSON is kept like a protobuf one (see span-bytes.ts): as bytes in the shared
 * slabs, decoded again only when a trace is read (`decodeJsonSpanBytes`), instead of as a dozen
 * long-lived objects. The bytes are the span's own JSON object, copied from the request body as the byte
 * decoder found it (`DecodedSpan.jsonWire`), not re-encoded as protobuf: an encoder cost about what the
 * objects it spared cost the collector, while the copy is a few native `set`s.
 *
 * Captured content does not survive the copy: the value of every content attribute (the ranges the decoder
 * noted) is written as an `AnyValue` holding the store's placeholder, so the bytes hold no more than the
 * decoded form would have held. Swapping one JSON value for another keeps the object valid and every
 * other member where it was.
 *
 * Only the store tells stored JSON from stored protobuf, by the first byte (`isJsonSpanBytes`).
 */
export class JsonSpanCopier {
  /** `{"stringValue":"<placeholder, JSON-escaped>"}`. */
  private readonly replacement: Uint8Array;

  /** @param placeholder the string value written in place of content attributes */
  constructor(placeholder: string) {
    this.replacement = new Uint8Array(Buffer.from(`{"stringValue":${JSON.stringify(placeholder)}}`, 'utf8'));
  }

  /**
   * Copies the span's JSON object into `slabs` with the values of its content attributes replaced. The
   * copy is exactly as long as computed up front, so it always fits the room reserved for it.
   */
  copy(slabs: SpanSlabs, wire: JsonSpanWire): StoredSpanBytes {
    const content = wire.content;
    const replacement = this.replacement;
    let length = wire.end - wire.start;
    if (content !== undefined) {
      for (let i = 0; i < content.length; i += 2) length += replacement.length - (content[i + 1]! - content[i]!);
    }
    const kept = slabs.reserve(length);
    const out = kept.slab;
    const src = wire.body;
    let w = kept.offset;
    let from = wire.start;
    if (content !== undefined) {
      for (let i = 0; i < content.length; i += 2) {
        const start = content[i]!;
        copyRun(src, from, start, out, w);
        w += start - from;
        out.set(replacement, w);
        w += replacement.length;
        from = content[i + 1]!;
      }
    }
    copyRun(src, from, wire.end, out, w);
    return kept;
  }
}

/**
 * True for stored bytes written by `JsonSpanCopier`: a JSON object starts with `{` (0x7b). A protobuf span
 * the store keeps never does: as a tag, 0x7b is field 15 with wire type 3 (a group), which decode-protobuf
 * rejects in any message, and the protobuf copy keeps its message's first field or writes an attribute.
 */
export function isJsonSpanBytes(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === OPEN_OBJECT;
}

const OPEN_OBJECT = 0x7b;
