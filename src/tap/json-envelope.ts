import { createHash, type Hash } from 'node:crypto';
import { toMessage, type JsonRpcMessage } from './jsonrpc-message.js';

/**
 * Large JSON-RPC messages without a full parse.
 *
 * Why: a tap that `JSON.parse`s, re-serialises and hashes a 1 MB tool result on the relay thread spends
 * ~4 ms of CPU on it, and the rest of a large pipe write (pipes move ~64 KiB at a time) waits for that
 * work. Above `LARGE_MESSAGE_BYTES` the tap reads only the JSON-RPC envelope: the top-level members at the
 * head and the tail of the message (`jsonrpc`, `id`, `method`, `error.code`, `params.name`, `_meta`, and
 * `result.isError` when it is the first or last member of the result: the SDKs write it last), with a
 * bounded structural scan of `ENVELOPE_WINDOW_BYTES` at each end. The one member too large to see past
 * (the result, the error, or the tool arguments) is fingerprinted over its bytes as sent, hashed while
 * the message streams through (`PayloadHasher`), so the relay only ever waits for one window of hashing.
 *
 * Trade-off, kept on purpose: below the threshold, spans are exactly what a full parse gives (canonical
 * JSON fingerprints, every attribute). Above it, the payload fingerprint is over the JSON text as sent
 * (the same rule the normalizer applies to payloads over `CANONICAL_FINGERPRINT_MAX_CHARS`): identical
 * bytes give identical fingerprints, a re-ordered but equal object does not; `result.isError` is seen
 * only at the ends of the result; a second member as large as the payload is hashed with it. Whatever the
 * scan cannot read confidently (batches, other shapes, content capture on, `initialize` and catalog
 * results, which need their content) falls back to the full parse, bounded by the tap's parse cap.
 */

/** Messages above this size are read by their envelope, not parsed whole. */
export const LARGE_MESSAGE_BYTES = 64 * 1024;
/** Bytes scanned at each end of a large message; also how far the streaming hash lags behind. */
export const ENVELOPE_WINDOW_BYTES = 16 * 1024;

/** A payload's size in bytes as sent and its fingerprint (sha256, 32 hex). */
export interface PayloadDigest {
  size: number;
  fingerprint: string;
}

/** What the envelope scan of a large message found. */
export interface LargeMessage {
  /** The message, with `params` / `result` holding only the members the scan could read. */
  message: JsonRpcMessage;
  /** Digest of the payload the spans report (tool arguments, or the result). */
  payload?: PayloadDigest;
}

/** A value's byte range in a window; `end` is exclusive. */
interface Member {
  key: string;
  start: number;
  end: number;
}

/** Members read from one end of an object; `open` is the first one that runs past the window. */
interface ForwardScan {
  members: Member[];
  open?: { key: string; start: number };
}

interface BackwardScan {
  members: Member[];
  /** The value that runs past the window, seen from its end (its key is beyond the window). */
  open?: { end: number };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/** Past the window (the value continues beyond what the scan may read). */
const BEYOND = -1;
/** Not JSON the scan can follow. */
const INVALID = -2;

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isScalarByte(c: number): boolean {
  // Numbers, true, false, null.
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x45;
}

function skipSpaceForward(b: Buffer, i: number): number {
  while (i < b.length && isSpace(b[i])) i++;
  return i;
}

function skipSpaceBackward(b: Buffer, i: number): number {
  while (i >= 0 && isSpace(b[i])) i--;
  return i;
}

/** A quote at `i` is escaped when an odd number of backslashes precede it (JSON strings escape `"` only so). */
function escaped(b: Buffer, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && b[j] === BACKSLASH; j--) n++;
  return n % 2 === 1;
}

/** End (exclusive) of the string opening at `i`. */
function stringEnd(b: Buffer, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q < 0) return BEYOND;
    if (!escaped(b, q)) return q + 1;
    j = q + 1;
  }
}

/** Start of the string closing at `i`. */
function stringStart(b: Buffer, i: number): number {
  let j = i - 1;
  for (;;) {
    const q = j < 0 ? -1 : b.lastIndexOf(QUOTE, j);
    if (q < 0) return BEYOND;
    if (!escaped(b, q)) return q;
    j = q - 1;
  }
}

/** End (exclusive) of the value starting at `i`. */
function valueEnd(b: Buffer, i: number): number {
  const c = b[i];
  if (c === undefined) return BEYOND;
  if (c === QUOTE) return stringEnd(b, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let j = i; j < b.length; j++) {
      const d = b[j]!;
      if (d === QUOTE) {
        const e = stringEnd(b, j);
        if (e < 0) return e;
        j = e - 1;
      } else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return BEYOND;
  }
  if (!isScalarByte(c)) return INVALID;
  let j = i;
  while (j < b.length && isScalarByte(b[j]!)) j++;
  return j === b.length ? BEYOND : j;
}

/** Start of the value ending at `i` (inclusive). */
function valueStart(b: Buffer, i: number): number {
  const c = b[i];
  if (c === undefined) return BEYOND;
  if (c === QUOTE) return stringStart(b, i);
  if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
    let depth = 0;
    for (let j = i; j >= 0; j--) {
      const d = b[j]!;
      if (d === QUOTE) {
        const s = stringStart(b, j);
        if (s < 0) return s;
        j = s;
      } else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) depth++;
      else if (d === OPEN_BRACE || d === OPEN_BRACKET) {
        if (--depth === 0) return j;
      }
    }
    return BEYOND;
  }
  if (!isScalarByte(c)) return INVALID;
  let j = i;
  while (j >= 0 && isScalarByte(b[j]!)) j--;
  return j < 0 ? BEYOND : j + 1;
}

function readKey(b: Buffer, start: number, end: number): string | undefined {
  if (end - start > 1024) return undefined;
  try {
    const k: unknown = JSON.parse(b.toString('utf8', start, end));
    return typeof k === 'string' ? k : undefined;
  } catch {
    return undefined;
  }
}

/** Members of the object whose `{` is at `open`, from its start, until one runs past the window. */
function scanForward(b: Buffer, open: number): ForwardScan | undefined {
  if (b[open] !== OPEN_BRACE) return undefined;
  const members: Member[] = [];
  let i = skipSpaceForward(b, open + 1);
  if (b[i] === CLOSE_BRACE) return { members };
  for (;;) {
    if (b[i] !== QUOTE) return undefined;
    const keyEnd = stringEnd(b, i);
    if (keyEnd < 0) return undefined;
    const key = readKey(b, i, keyEnd);
    if (key === undefined) return undefined;
    i = skipSpaceForward(b, keyEnd);
    if (b[i] !== COLON) return undefined;
    const start = skipSpaceForward(b, i + 1);
    if (start >= b.length) return undefined;
    const end = valueEnd(b, start);
    if (end === INVALID) return undefined;
    if (end === BEYOND) return { members, open: { key, start } };
    members.push({ key, start, end });
    i = skipSpaceForward(b, end);
    if (b[i] === CLOSE_BRACE) return { members };
    if (b[i] !== COMMA) return undefined;
    i = skipSpaceForward(b, i + 1);
  }
}

/** Members of the object whose `}` is at `close`, from its end, until one runs past the window. */
function scanBackward(b: Buffer, close: number): BackwardScan | undefined {
  if (b[close] !== CLOSE_BRACE) return undefined;
  const members: Member[] = [];
  let i = skipSpaceBackward(b, close - 1);
  if (b[i] === OPEN_BRACE) return { members };
  for (;;) {
    if (i < 0) return undefined;
    const start = valueStart(b, i);
    if (start === INVALID) return undefined;
    if (start === BEYOND) return { members, open: { end: i + 1 } };
    const end = i + 1;
    i = skipSpaceBackward(b, start - 1);
    if (b[i] !== COLON) return undefined;
    i = skipSpaceBackward(b, i - 1);
    if (b[i] !== QUOTE) return undefined;
    const keyStart = stringStart(b, i);
    if (keyStart < 0) return keyStart === BEYOND ? { members, open: { end } } : undefined;
    const key = readKey(b, keyStart, i + 1);
    if (key === undefined) return undefined;
    members.push({ key, start, end });
    i = skipSpaceBackward(b, keyStart - 1);
    if (b[i] === OPEN_BRACE) return { members };
    if (b[i] !== COMMA) return undefined;
    i = skipSpaceBackward(b, i - 1);
  }
}

/** The member values both ends could read, parsed (each is at most a window long). */
function readMembers(b: Buffer, members: Member[], into: Record<string, unknown>): boolean {
  for (const m of members) {
    try {
      into[m.key] = JSON.parse(b.toString('utf8', m.start, m.end));
    } catch {
      return false;
    }
  }
  return true;
}

/** The head and tail windows of a message `size` bytes long. */
export interface MessageEnds {
  size: number;
  /** The first `ENVELOPE_WINDOW_BYTES` (or fewer). */
  head: Buffer;
  /** The last `ENVELOPE_WINDOW_BYTES` (or fewer). */
  tail: Buffer;
}

/** The payload value the spans fingerprint, located from the message head: its offset, or undefined. */
export function payloadStart(head: Buffer): number | undefined {
  const root = scanForward(head, skipSpaceForward(head, 0));
  if (!root?.open) return undefined;
  if (root.open.key === 'result') return root.open.start;
  if (root.open.key !== 'params') return undefined;
  const params = scanForward(head, root.open.start);
  return params?.open?.key === 'arguments' ? params.open.start : undefined;
}

/**
 * Hashes a message's payload while the message streams through, lagging `ENVELOPE_WINDOW_BYTES` behind
 * the newest byte so the payload's end (known only from the tail) can still be cut exactly.
 */
export class PayloadHasher {
  private readonly hash: Hash = createHash('sha256');
  /** Message offset hashed up to (exclusive). */
  hashedTo: number;

  constructor(readonly start: number) {
    this.hashedTo = start;
  }

  /** Feeds message bytes `[from, from + bytes.length)`, up to `limit` (exclusive). */
  feed(bytes: Buffer, from: number, limit: number): void {
    const lo = Math.max(this.hashedTo, from);
    const hi = Math.min(limit, from + bytes.length);
    if (hi <= lo) return;
    this.hash.update(bytes.subarray(lo - from, hi - from));
    this.hashedTo = hi;
  }

  /** The digest of `[start, end)`, with the rest taken from the tail; undefined if it already went past `end`. */
  finish(ends: MessageEnds, end: number): PayloadDigest | undefined {
    if (end < this.hashedTo) return undefined;
    const tailFrom = ends.size - ends.tail.length;
    if (this.hashedTo < tailFrom && end > this.hashedTo) return undefined;
    this.feed(ends.tail, tailFrom, end);
    return { size: end - this.start, fingerprint: this.hash.digest('hex').slice(0, 32) };
  }
}

/**
 * Reads a large message by its envelope. `hasher` is the streaming hash of the payload, when the framer
 * ran one; without it the payload is hashed here from `whole`. Undefined when the shape is not one the
 * scan reads confidently: the caller then parses the message whole.
 */
export function readLargeMessage(ends: MessageEnds, whole: () => Buffer, hasher?: PayloadHasher): LargeMessage | undefined {
  const { head, tail, size } = ends;
  const tailFrom = size - tail.length;
  if (tailFrom < head.length) return undefined;
  const rootOpen = skipSpaceForward(head, 0);
  const fwd = scanForward(head, rootOpen);
  const back = scanBackward(tail, skipSpaceBackward(tail, tail.length - 1));
  if (!fwd?.open || !back?.open) return undefined;
  const envelope: Record<string, unknown> = {};
  if (!readMembers(head, fwd.members, envelope) || !readMembers(tail, back.members, envelope)) return undefined;
  const big = fwd.open;
  // The big member's value, in message offsets: from its start at the head to its end at the tail.
  const bigEnd = tailFrom + back.open.end;
  const digestOf = (start: number, end: number): PayloadDigest | undefined => {
    if (hasher) return hasher.start === start ? hasher.finish(ends, end) : undefined;
    const h = new PayloadHasher(start);
    h.feed(whole(), 0, end);
    return h.finish(ends, end);
  };

  if (big.key === 'result') {
    const result: Record<string, unknown> = {};
    // `isError` and other small members at either end of the result (its middle is the large content).
    const inner = scanForward(head, big.start);
    const innerBack = scanBackward(tail, back.open.end - 1);
    if (inner && innerBack) {
      readMembers(head, inner.members, result);
      readMembers(tail, innerBack.members, result);
    }
    const message = toMessage({ ...envelope, result });
    const payload = digestOf(big.start, bigEnd);
    if (message?.type !== 'response' || !payload) return undefined;
    return { message, payload };
  }
  if (big.key === 'error') {
    const error: Record<string, unknown> = {};
    const inner = scanForward(head, big.start);
    if (!inner || !readMembers(head, inner.members, error)) return undefined;
    if (typeof error['message'] !== 'string') error['message'] = '';
    const message = toMessage({ ...envelope, error });
    return message?.type === 'response' ? { message } : undefined;
  }
  if (big.key === 'params') {
    const params: Record<string, unknown> = {};
    const inner = scanForward(head, big.start);
    const innerBack = scanBackward(tail, back.open.end - 1);
    if (!inner || !innerBack || !readMembers(head, inner.members, params) || !readMembers(tail, innerBack.members, params)) return undefined;
    const message = toMessage({ ...envelope, params });
    if (message?.type !== 'request' && message?.type !== 'notification') return undefined;
    if (inner.open?.key !== 'arguments' || !innerBack.open) return { message };
    const payload = digestOf(inner.open.start, tailFrom + innerBack.open.end);
    return payload ? { message, payload } : undefined;
  }
  return undefined;
}
