/**
 * JSON-RPC 2.0 message shapes as MCP uses them, read from untrusted text. Nothing here throws: text that
 * is not JSON-RPC is reported as such so the tap can count it.
 */

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  type: 'request';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  type: 'notification';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcResponse {
  type: 'response';
  id: JsonRpcId | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** One parsed frame: its messages (a JSON-RPC batch gives several), or why it is not JSON-RPC. */
export type ParsedFrame = { ok: true; messages: JsonRpcMessage[] } | { ok: false; reason: 'not_json' | 'not_jsonrpc' };

/** Most messages taken from one batch; the rest are counted as not JSON-RPC. */
const MAX_BATCH = 1000;

export function parseFrame(text: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  if (Array.isArray(value)) {
    const messages: JsonRpcMessage[] = [];
    for (const item of value.slice(0, MAX_BATCH)) {
      const m = toMessage(item);
      if (m) messages.push(m);
    }
    return messages.length > 0 ? { ok: true, messages } : { ok: false, reason: 'not_jsonrpc' };
  }
  const m = toMessage(value);
  return m ? { ok: true, messages: [m] } : { ok: false, reason: 'not_jsonrpc' };
}

export function toMessage(v: unknown): JsonRpcMessage | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (o['jsonrpc'] !== '2.0') return undefined;
  const id = o['id'];
  const validId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  const params = record(o['params']);
  if (typeof o['method'] === 'string') {
    if (validId) return params ? { type: 'request', id, method: o['method'], params } : { type: 'request', id, method: o['method'] };
    if (id === undefined) return params ? { type: 'notification', method: o['method'], params } : { type: 'notification', method: o['method'] };
    return undefined;
  }
  if (!validId && id !== null) return undefined;
  if ('result' in o) return { type: 'response', id: validId ? id : null, result: o['result'] };
  const err = record(o['error']);
  if (err && typeof err['code'] === 'number') {
    const error: NonNullable<JsonRpcResponse['error']> = { code: err['code'], message: typeof err['message'] === 'string' ? err['message'] : '' };
    if ('data' in err) error.data = err['data'];
    return { type: 'response', id: validId ? id : null, error };
  }
  return undefined;
}

/**
 * Best-effort `id` and `method` of an oversize message from its first and last bytes (the whole message
 * was too big to parse). Only top-level members are matched: those at the very start of the object or
 * the very end (SDKs write `method` first and `jsonrpc`/`id` last), never anything nested.
 */
export function peekOversize(head: string, tail: string): { id?: JsonRpcId; method?: string } {
  const out: { id?: JsonRpcId; method?: string } = {};
  const idAtEnd = /"id"\s*:\s*(?:"((?:[^"\\]|\\.){0,256})"|(-?\d{1,16}))\s*\}\s*$/.exec(tail);
  const idAtStart = idAtEnd ? null : /^\s*\{(?:\s*"jsonrpc"\s*:\s*"2\.0"\s*,)?\s*"id"\s*:\s*(?:"((?:[^"\\]|\\.){0,256})"|(-?\d{1,16}))/.exec(head);
  const id = idAtEnd ?? idAtStart;
  if (id) out.id = id[1] !== undefined ? id[1] : Number(id[2]);
  const method =
    /^\s*\{(?:\s*"(?:jsonrpc|id)"\s*:\s*(?:"[^"]{0,256}"|-?\d{1,16})\s*,){0,2}\s*"method"\s*:\s*"([^"\\]{1,128})"/.exec(head) ??
    /"method"\s*:\s*"([^"\\]{1,128})"\s*,\s*"jsonrpc"\s*:\s*"2\.0"\s*(?:,\s*"id"[^,}]{0,280})?\}\s*$/.exec(tail);
  if (method) out.method = method[1]!;
  return out;
}

export function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
