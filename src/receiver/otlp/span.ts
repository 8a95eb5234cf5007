/**
 * The in-memory form of OTLP trace data after decoding, shared by the protobuf and JSON decoders.
 * Ids are lower-case hex; times are Unix nanoseconds as JS numbers (precise to ~256 ns at today's
 * epoch, which is finer than anything the detectors need, and far cheaper than bigint).
 */

import { Buffer } from 'node:buffer';
import { OTEL, SHINZO, TRACELOOP } from '../../semconv/attributes.js';

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
  /**
   * JSON only (the byte decoder, not its JSON.parse fallback): where this span's own JSON object lies in
   * the request body, and where the values of its content attributes lie in it. The recent store keeps a
   * copy of that text with the content left out instead of the decoded object graph (see
   * src/store/json-span-bytes.ts).
   */
  jsonWire?: JsonSpanWire;
}

/** A span's encoded message: `body[start, end)`. The body is never written to after decoding. */
export interface SpanWire {
  body: Uint8Array;
  start: number;
  end: number;
}

/**
 * A span's JSON object: `body[start, end)`, from its `{` to its `}`. `content` holds, in pairs and in body
 * order, `[start, end)` of the value (`AnyValue` object or `null`) of each span attribute whose key is a
 * content attribute (`isContentAttributeKey`). The body is never written to while the span is decoded.
 */
export interface JsonSpanWire {
  body: Uint8Array;
  start: number;
  end: number;
  content: number[] | undefined;
}

/**
 * Span attributes that carry tool arguments or results: opt-in content, which the recent store keeps
 * only with `store.captureContent` (OTel GenAI semconv and OpenLLMetry keys; Shinzo's per-argument keys
 * are matched by `CONTENT_ATTRIBUTE_PREFIX`). Here rather than in the store because the JSON decoder
 * marks where their values lie while it reads them (`JsonSpanWire.content`).
 */
export const CONTENT_ATTRIBUTE_KEYS: ReadonlySet<string> = new Set([
  OTEL.genAiToolCallArguments,
  OTEL.genAiToolCallResult,
  TRACELOOP.entityInput,
  TRACELOOP.entityOutput,
]);

/** Prefix of Shinzo's one-attribute-per-tool-argument keys, content as well. */
export const CONTENT_ATTRIBUTE_PREFIX: string = SHINZO.requestArgumentPrefix;

/** True for the key of a content attribute (see `CONTENT_ATTRIBUTE_KEYS`). */
export function isContentAttributeKey(key: string): boolean {
  return CONTENT_ATTRIBUTE_KEYS.has(key) || key.startsWith(CONTENT_ATTRIBUTE_PREFIX);
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
