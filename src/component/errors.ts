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
