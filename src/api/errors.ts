/**
 * Every error the admin API answers with, in one registry (after fastify's `FST_ERR_*`): a stable code
 * that scripts may key on, its HTTP status, and a default message. Bodies are always
 * `{ "error": <code>, "message": <sentence> }`.
 */
export const ADMIN_ERRORS = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  unauthorized: { status: 401, message: 'A valid bearer token is required: send "Authorization: Bearer <token>".' },
  not_found: { status: 404, message: 'No such route.' },
  trace_not_found: { status: 404, message: 'No span of this trace is held (never received, or already evicted).' },
  method_not_allowed: { status: 405, message: 'This route only answers GET and HEAD.' },
  payload_too_large: { status: 413, message: 'The request body is larger than the admin API accepts (64 KiB).' },
  unsupported_media_type: { status: 415, message: 'Send the request body as application/json.' },
  alert_not_found: { status: 404, message: 'No alert with this id is held (never raised here, or already evicted).' },
  silence_not_found: { status: 404, message: 'No silence with this id.' },
  alert_not_recorded: { status: 503, message: 'The alert could not be recorded durably (queue and outbox failed); retry.' },
  internal_error: { status: 500, message: 'Internal error; the daemon log has the details.' },
  shutting_down: { status: 503, message: 'mcpwatch is shutting down; retry against another instance or later.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** JSON body of an admin API error. */
export interface AdminErrorBody {
  error: AdminErrorCode;
  message: string;
}

/** Thrown by route handlers; the server turns it into the registered status and body. */
export class AdminApiError extends Error {
  override readonly name = 'AdminApiError';
  readonly status: number;

  constructor(
    readonly code: AdminErrorCode,
    message: string = ADMIN_ERRORS[code].message,
  ) {
    super(message);
    this.status = ADMIN_ERRORS[code].status;
  }

  toBody(): AdminErrorBody {
    return { error: this.code, message: this.message };
  }
}
