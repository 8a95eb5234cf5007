import { SinkError, sinkErrorCodeForStatus } from '../../component/errors.js';

export interface PostResult {
  status: number;
  body: string;
}

/** Longest response body read back (error messages only). */
const MAX_RESPONSE_CHARS = 2048;
/** Longest `Retry-After` honoured; a destination asking for more is retried after this instead. */
export const MAX_RETRY_AFTER_MS = 15 * 60 * 1000;

/**
 * POSTs one JSON body and classifies the outcome with the one sink-error table: 2xx resolves; 429 throws a
 * rate-limited `SinkError` carrying `Retry-After` (seconds or an HTTP date, RFC 9110 section 10.2.3; 1 s
 * when absent or unreadable); other failures throw retryable or permanent `SinkError`s.
 */
export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<PostResult> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'mcpwatch', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError') throw new SinkError('MCPW_SINK_TIMEOUT', `no answer within ${timeoutMs} ms`);
    throw new SinkError('MCPW_SINK_NETWORK', `request failed: ${e.cause?.code ?? e.message}`);
  }
  const text = (await res.text().catch(() => '')).slice(0, MAX_RESPONSE_CHARS);
  if (res.status >= 200 && res.status < 300) return { status: res.status, body: text };
  const code = sinkErrorCodeForStatus(res.status);
  const message = `answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  if (code === 'MCPW_SINK_RATE_LIMITED') throw new SinkError(code, message, parseRetryAfter(res.headers.get('retry-after')));
  throw new SinkError(code, message);
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; 1 s when missing or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number {
  if (value === null) return 1000;
  const v = value.trim();
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    ms = Number.isFinite(at) ? at - now : 1000;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}
