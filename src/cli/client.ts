/** Talks to a running daemon's admin API for the query commands (`traces`, `servers`, `events`, ...). */

export interface ClientOptions {
  /** Admin endpoint, `HOST:PORT` or a full URL. */
  admin: string;
  token?: string;
  timeoutMs?: number;
}

export class AdminClientError extends Error {
  override readonly name = 'AdminClientError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function adminBaseUrl(admin: string): string {
  return /^https?:\/\//.test(admin) ? admin.replace(/\/$/, '') : `http://${admin}`;
}

export function adminGet<T>(opts: ClientOptions, path: string): Promise<T> {
  return adminRequest<T>(opts, path);
}

/** POSTs a JSON body to the admin API; errors as `AdminClientError`, like `adminGet`. */
export function adminPost<T>(opts: ClientOptions, path: string, body: unknown): Promise<T> {
  return adminRequest<T>(opts, path, body);
}

async function adminRequest<T>(opts: ClientOptions, path: string, body?: unknown): Promise<T> {
  const url = `${adminBaseUrl(opts.admin)}${path}`;
  const auth: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  let res: Response;
  try {
    res = await fetch(
      url,
      body === undefined
        ? { headers: auth, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) }
        : {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...auth },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
          },
    );
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new AdminClientError(`cannot reach the mcpwatch daemon at ${adminBaseUrl(opts.admin)} (${cause}); is it running? (--admin HOST:PORT)`);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON: keep the body text
    }
    throw new AdminClientError(`daemon answered ${res.status}: ${message}`, res.status);
  }
  return JSON.parse(text) as T;
}
