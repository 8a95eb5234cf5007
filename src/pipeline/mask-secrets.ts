import { createHash } from 'node:crypto';

/**
 * Masks secrets in captured MCP payloads before they are stored or sent anywhere (DESIGN.md, "secrets are
 * hashed or masked"). A masked value keeps a short hash so two events can still be seen to carry the same
 * secret without revealing it: `[masked:sha256:<first 12 hex>]`.
 *
 * Two rules:
 * - the value of a key that looks secret (`token`, `password`, `api_key`, `authorization`, ...) is masked
 *   whole, whatever its type;
 * - inside any string, well-known secret shapes are masked in place (AWS access key ids, GitHub, Slack and
 *   OpenAI tokens, PEM private keys, bearer tokens, JWTs).
 *
 * The walk is bounded (depth and node count) because payloads are attacker-controlled: past the bounds the
 * rest is replaced by a marker instead of being copied unmasked.
 */

const MAX_DEPTH = 32;
const MAX_NODES = 20_000;
/** Strings longer than this are not scanned piecemeal; the whole string is masked (cheap and safe). */
const MAX_SCAN_CHARS = 256 * 1024;

export const TRUNCATED_MARKER = '[truncated]';

/** `[masked:sha256:<12 hex>]` for a secret value. */
export function maskedValue(secret: string): string {
  return `[masked:sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 12)}]`;
}

// Key fragments after lower-casing and dropping `-`, `_`, `.` and spaces.
const SECRET_KEY_FRAGMENTS = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'authorization',
  'credential',
  'privatekey',
  'accesskey',
  'cookie',
  'bearer',
  'sessionkey',
  'signature',
];

// Counts and limits that merely mention tokens (`max_tokens`, `tokenizer`) are not secrets.
const NOT_SECRET_KEY = /tokens$|tokenizer|tokencount|tokenlimit/;

/** Whether a property name looks like it holds a secret. */
export function isSecretKey(key: string): boolean {
  if (key.length > 200) return false;
  const k = key.toLowerCase().replace(/[-_. ]/g, '');
  if (k === 'pwd' || k === 'auth' || k === 'pin') return true;
  if (NOT_SECRET_KEY.test(k)) return false;
  for (const fragment of SECRET_KEY_FRAGMENTS) if (k.includes(fragment)) return true;
  return false;
}

// One alternation so a string is scanned once. Quantifiers are bounded so a hostile string cannot make the
// scan super-linear (the PEM body is capped; everything else is a run of one character class).
const SECRET_PATTERN = new RegExp(
  [
    '-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----[\\s\\S]{0,16384}?-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----',
    '\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b',
    '\\bgh[pousr]_[A-Za-z0-9]{36,255}\\b',
    '\\bgithub_pat_[A-Za-z0-9_]{22,255}',
    '\\bxox[abposr]-[A-Za-z0-9-]{10,255}',
    '\\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,255}',
    '\\beyJ[A-Za-z0-9_-]{5,4096}\\.eyJ[A-Za-z0-9_-]{5,8192}\\.[A-Za-z0-9_-]{5,4096}',
    '\\b[Bb]earer[ \\t]+[A-Za-z0-9\\-._~+/]{8,4096}=*',
  ].join('|'),
  'g',
);

const BEARER_PREFIX = /^[Bb]earer[ \t]+/;

/** Masks well-known secret shapes inside one string. */
export function maskSecretsInString(s: string): string {
  if (s.length > MAX_SCAN_CHARS) return maskedValue(s);
  // Cheap pre-check: every pattern contains one of these; most strings contain none.
  if (!/-----BEGIN|AKIA|ASIA|gh[pousr]_|github_pat_|xox|sk-|eyJ|[Bb]earer/.test(s)) return s;
  return s.replace(SECRET_PATTERN, (match) => {
    const bearer = BEARER_PREFIX.exec(match);
    if (bearer) return `${bearer[0]}${maskedValue(match.slice(bearer[0].length))}`;
    return maskedValue(match);
  });
}

/**
 * Returns a copy of `value` with secrets masked. Plain JSON-like data in, plain JSON-like data out;
 * `Uint8Array`s are masked whole (opaque bytes may be anything). Never throws.
 */
export function maskSecrets(value: unknown): unknown {
  const budget = { nodes: 0 };
  try {
    return walk(value, 0, budget);
  } catch {
    return TRUNCATED_MARKER;
  }
}

function walk(value: unknown, depth: number, budget: { nodes: number }): unknown {
  if (++budget.nodes > MAX_NODES || depth > MAX_DEPTH) return TRUNCATED_MARKER;
  if (typeof value === 'string') return maskSecretsInString(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return maskedValue(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) out.push(walk(item, depth + 1, budget));
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    const masked = isSecretKey(key) && v !== null && v !== undefined && v !== '' ? maskWhole(v) : walk(v, depth + 1, budget);
    // `JSON.parse` makes `__proto__` an own key; plain assignment would set the copy's prototype instead.
    if (key === '__proto__') Object.defineProperty(out, key, { value: masked, enumerable: true, writable: true, configurable: true });
    else out[key] = masked;
  }
  return out;
}

function maskWhole(v: unknown): string {
  if (typeof v === 'string') return maskedValue(v);
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return maskedValue(text);
}
