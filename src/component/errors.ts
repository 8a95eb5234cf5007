/**
 * The one table that maps an error, classified where it happens, to what the sender is told. Receivers
 * throw or return a `PipelineError` with a code from here and never pick status codes themselves.
 *
 * OTLP/HTTP (specification, "Failures" and "Retryable Response Codes"): only 429, 502, 503 and 504 may be
 * retried, and a retryable answer may carry `Retry-After`; every other 4xx/5xx tells the client to drop the
 * data. So anything caused by the payload is permanent, and anything caused by our own load is retryable.
 */
export type ErrorClass = 'permanent' | 'retryable';

export const PIPELINE_ERRORS = {
  MCPW_ERR_MALFORMED: { status: 400, class: 'permanent' },
  MCPW_ERR_UNAUTHORIZED: { status: 401, class: 'permanent' },
  MCPW_ERR_NOT_FOUND: { status: 404, class: 'permanent' },
  MCPW_ERR_METHOD_NOT_ALLOWED: { status: 405, class: 'permanent' },
  MCPW_ERR_BODY_TIMEOUT: { status: 408, class: 'permanent' },
  MCPW_ERR_BODY_TOO_LARGE: { status: 413, class: 'permanent' },
  MCPW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, class: 'permanent' },
  MCPW_ERR_OVER_BUDGET: { status: 429, class: 'retryable' },
  MCPW_ERR_INTERNAL: { status: 500, class: 'permanent' },
  MCPW_ERR_PIPELINE_FULL: { status: 503, class: 'retryable' },
  MCPW_ERR_SHUTTING_DOWN: { status: 503, class: 'retryable' },
} as const satisfies Record<string, { status: number; class: ErrorClass }>;

export type PipelineErrorCode = keyof typeof PIPELINE_ERRORS;

/** An error with a code from the table; `message` is safe to send back to the sender. */
export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  readonly status: number;
  readonly errorClass: ErrorClass;
  constructor(
    readonly code: PipelineErrorCode,
    message: string,
  ) {
    super(message);
    this.status = PIPELINE_ERRORS[code].status;
    this.errorClass = PIPELINE_ERRORS[code].class;
  }

  get retryable(): boolean {
    return this.errorClass === 'retryable';
  }
}

/**
 * Outbound deliveries (alert sinks) use the same two classes. What a destination answered decides
 * whether a notification is retried (with backoff, or after its `Retry-After`) or dead-lettered:
 * RFC 9110 makes 408, 429 and 5xx conditions that may clear on their own; every other 4xx says the
 * request itself is wrong and sending it again cannot help.
 */
export const SINK_ERRORS = {
  /** 429: wait for `Retry-After` (does not count as an attempt). */
  MCPW_SINK_RATE_LIMITED: { class: 'retryable' },
  /** 408, 425, 5xx: the destination is unwell for now. */
  MCPW_SINK_UNAVAILABLE: { class: 'retryable' },
  /** Connection refused, reset, DNS failure. */
  MCPW_SINK_NETWORK: { class: 'retryable' },
  /** No answer within the sink's `timeoutSeconds`. */
  MCPW_SINK_TIMEOUT: { class: 'retryable' },
  /** Any other 4xx: the destination refuses this request (bad URL, revoked webhook, invalid payload). */
  MCPW_SINK_REJECTED: { class: 'permanent' },
  /** The notification cannot be turned into a request at all (corrupt job data). */
  MCPW_SINK_BAD_NOTIFICATION: { class: 'permanent' },
} as const satisfies Record<string, { class: ErrorClass }>;

export type SinkErrorCode = keyof typeof SINK_ERRORS;

/** A failed delivery, classified where it happened; `retryAfterMs` when the destination said when. */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  readonly errorClass: ErrorClass;
  constructor(
    readonly code: SinkErrorCode,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.errorClass = SINK_ERRORS[code].class;
  }

  get retryable(): boolean {
    return this.errorClass === 'retryable';
  }
}

/** The sink error for an HTTP status that is not 2xx. */
export function sinkErrorCodeForStatus(status: number): SinkErrorCode {
  if (status === 429) return 'MCPW_SINK_RATE_LIMITED';
  if (status === 408 || status === 425 || status >= 500) return 'MCPW_SINK_UNAVAILABLE';
  return 'MCPW_SINK_REJECTED';
}
