/**
 * The in-memory form of OTLP trace data after decoding, shared by the protobuf and JSON decoders.
 * Ids are lower-case hex; times are Unix nanoseconds as JS numbers (precise to ~256 ns at today's
 * epoch, which is finer than anything the detectors need, and far cheaper than bigint).
 */

/** An OTLP `AnyValue`, decoded. `bytesValue` becomes a Uint8Array; int64 becomes a number. */
export type AttributeValue =
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
