/**
 * The in-memory form of OTLP trace data after decoding, shared by the protobuf and JSON decoders.
 * Ids are lower-case hex; times are Unix nanoseconds as JS numbers (precise to ~256 ns at today's
 * epoch, which is finer than anything the detectors need, and far cheaper than bigint).
 */

import { Buffer } from 'node:buffer';
import { OTEL } from '../../semconv/attributes.js';

/**
 * A long string attribute value left in the request body undecoded: tool arguments and results, which
 * the pipeline only measures and fingerprints unless content capture is on. Decoding several kilobytes of
 * UTF-8 into a string that is then only hashed (after being encoded back to UTF-8) was a fifth of the
 * protobuf decoder's time on realistic spans; the normalizer hashes these bytes as they are instead.
 * `text()` gives the string the decoder would have produced (invalid UTF-8 replaced by U+FFFD).
 *
 * Only the protobuf decoder makes these, only for the attributes in `DEFERRED_TEXT_KEYS`, and only above
 * `DEFERRED_TEXT_MIN_BYTES`. The body is never written to after decoding, so the view stays valid.
 */
export class WireText {
  constructor(
    readonly body: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {}

  get byteLength(): number {
    return this.end - this.start;
  }

  /** The UTF-8 bytes (a view into the body, not a copy). */
  bytes(): Buffer {
    return Buffer.from(this.body.buffer, this.body.byteOffset + this.start, this.end - this.start);
  }

  text(): string {
    return this.bytes().toString('utf8');
  }

  /** Serialisers (the admin API, logs) see the string it stands for. */
  toJSON(): string {
    return this.text();
  }
}

/** Attributes whose long string values the protobuf decoder leaves as `WireText` (OTel GenAI semconv). */
export const DEFERRED_TEXT_KEYS: ReadonlySet<string> = new Set([OTEL.genAiToolCallArguments, OTEL.genAiToolCallResult]);

/**
 * Shorter values are decoded as usual: the normalizer parses payloads up to 2048 characters to fingerprint
 * them over canonical JSON, for which it needs the string anyway.
 */
export const DEFERRED_TEXT_MIN_BYTES = 2049;

/** Replaces every `WireText` value in `attrs` with its string (where the text itself is kept). */
export function materializeDeferredText(attrs: Attributes): void {
  for (const key of DEFERRED_TEXT_KEYS) {
    const v = attrs[key];
    if (v instanceof WireText) attrs[key] = v.text();
  }
}

/**
 * An OTLP `AnyValue`, decoded. `bytesValue` becomes a Uint8Array; int64 becomes a number; a long
 * tool-argument or -result string may be a `WireText` (see above).
 */
export type AttributeValue =
  | WireText
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | AttributeValue[]
  | { [key: string]: AttributeValue };

export type Attributes = Record<string, AttributeValue>;

export interface SpanEvent {
  name: string;
  timeUnixNano: number;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState?: string;
  attributes: Attributes;
}

export interface InstrumentationScope {
  name: string;
  version?: string;
}

/** One decoded span with its resource and scope attached (shared objects, not copies). */
export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  /** OTLP `SpanKind` number (see `SpanKind` in src/semconv). */
  kind: number;
  startTimeUnixNano: number;
  endTimeUnixNano: number;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  status: { code: number; message?: string };
  resource: Attributes;
  scope: InstrumentationScope;
  /**
   * Protobuf only: where this span's own `Span` message lies in the request body. The recent store keeps
   * a copy of those bytes instead of the decoded object graph (see src/store/span-bytes.ts).
   */
  wire?: SpanWire;
}

/** A span's encoded message: `body[start, end)`. The body is never written to after decoding. */
export interface SpanWire {
  body: Uint8Array;
  start: number;
  end: number;
}

/** What a decoder returns: the usable spans and, for partial success, what it had to reject. */
export interface DecodedTraces {
  spans: DecodedSpan[];
  /** Spans present in the request that could not be used (bad ids, for instance). */
  rejectedSpans: number;
  /** First reason a span was rejected, for the partial-success `errorMessage`. */
  rejectReason?: string;
}

/** Thrown by decoders for a request that cannot be decoded at all (answered 400). */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
}
