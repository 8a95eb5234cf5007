import { ENVELOPE_WINDOW_BYTES, LARGE_MESSAGE_BYTES, PayloadHasher, payloadStart, type MessageEnds } from './json-envelope.js';

/**
 * Newline-delimited framing of a copy of the stdio byte stream (MCP stdio transport: "messages are
 * delimited by newlines, and MUST NOT contain embedded newlines").
 *
 * The framer only ever sees bytes that were already relayed: it never alters, delays or holds back the
 * stream. Its memory is bounded by `maxFrameBytes`: a line longer than that is not kept for parsing; only
 * its first `prefixBytes` are kept (enough to find its `id` and `method`), and the rest is counted.
 *
 * A line over `largeFrameBytes` (but under the cap) is reported as `large`: it is kept for a fallback
 * parse, and its payload is either hashed here, chunk by chunk as it arrives (`PayloadHasher`), so that
 * the work left when its newline arrives is one window, not the whole message (see `json-envelope.ts`),
 * or, with `hashWhileStreaming: false`, left to the caller, who gets the line's pieces and hashes them
 * when it has time (the stdio tap: `observation-queue.ts`).
 */

export interface FramerOptions {
  /** Longest line kept whole for parsing. Longer lines are reported as oversize. */
  maxFrameBytes: number;
  /** How much of an oversize line is kept for a best-effort look at its `id` and `method`. */
  prefixBytes?: number;
  /** Lines longer than this are `large`: read by their envelope, payload hashed as it streams. */
  largeFrameBytes?: number;
  /**
   * The caller hands its chunks over and never writes to them again (true of a Node stream's `data`
   * chunks: every read gets a fresh buffer), so lines are kept by reference instead of copied. Copying
   * costs ~0.4 ms per MB here, as much as hashing it; memory stays bounded by the cap plus one chunk.
   */
  ownsChunks?: boolean;
  /** Hash a large line's payload while it streams (default true); false leaves it to the caller. */
  hashWhileStreaming?: boolean;
}

/** A complete line (without its `\n`; a trailing `\r` is kept, JSON.parse ignores it). */
export interface Frame {
  kind: 'frame';
  bytes: Buffer;
}

/** A line over the cap: its total size and its first bytes. */
export interface OversizeFrame {
  kind: 'oversize';
  size: number;
  prefix: Buffer;
  /** The last bytes of the line (JSON-RPC ids are often written last). */
  suffix: Buffer;
}

/** A line over `largeFrameBytes` and within the cap: its ends, the streamed payload hash, and all of it. */
export interface LargeFrame extends MessageEnds {
  kind: 'large';
  /** The payload hash started while the line streamed (when its head showed where the payload starts). */
  hasher?: PayloadHasher;
  /** The whole line (a copy, made on demand: only a fallback parse needs it). */
  bytes(): Buffer;
  /** The line's pieces in order, by reference (set when the framer did not hash while streaming). */
  pieces?: Buffer[];
}

export type FramerOutput = Frame | LargeFrame | OversizeFrame;

/** Default parse cap of the taps: messages up to 8 MiB are parsed, larger ones relayed and counted. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

const NEWLINE = 0x0a;
const DEFAULT_PREFIX_BYTES = 4096;

export class JsonRpcFramer {
  private readonly maxFrameBytes: number;
  private readonly prefixBytes: number;
  /** Pieces of the current line while it is under the cap. */
  private pieces: Buffer[] = [];
  private pending = 0;
  /** Set once the current line went over the cap; then only its size is counted. */
  private oversizePrefix: Buffer | undefined;
  private oversizeSuffix: Buffer = Buffer.alloc(0);
  private readonly largeFrameBytes: number;
  private readonly ownsChunks: boolean;
  private readonly hashWhileStreaming: boolean;
  /** Set once the current line went over `largeFrameBytes`. */
  private large = false;
  private hasher: PayloadHasher | undefined;
  /** The first piece not yet fully fed to the hasher, and its offset in the line. */
  private hashPiece = 0;
  private hashPieceOffset = 0;

  constructor(opts: FramerOptions) {
    this.maxFrameBytes = opts.maxFrameBytes;
    this.prefixBytes = Math.min(opts.prefixBytes ?? DEFAULT_PREFIX_BYTES, opts.maxFrameBytes);
    this.ownsChunks = opts.ownsChunks === true;
    this.hashWhileStreaming = opts.hashWhileStreaming !== false;
    this.largeFrameBytes = Math.max(opts.largeFrameBytes ?? LARGE_MESSAGE_BYTES, 2 * ENVELOPE_WINDOW_BYTES);
  }

  /** Bytes currently held for parsing (always <= maxFrameBytes). */
  get bufferedBytes(): number {
    return this.oversizePrefix ? this.oversizePrefix.length : this.pending;
  }

  /**
   * Feeds a chunk (already relayed) and returns the lines it completed. Unless `ownsChunks`, the chunk may
   * be reused by the caller afterwards: every byte kept is copied.
   */
  push(chunk: Buffer): FramerOutput[] {
    const out: FramerOutput[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl < 0 ? chunk.length : nl;
      this.append(chunk, start, end);
      if (nl < 0) break;
      out.push(this.take());
      start = nl + 1;
    }
    return out;
  }

  /** The unterminated rest at end of stream, if any (a peer that sent half a frame and left). */
  end(): FramerOutput | undefined {
    if (this.pending === 0 && !this.oversizePrefix) return undefined;
    return this.take();
  }

  private append(chunk: Buffer, start: number, end: number): void {
    const len = end - start;
    if (len === 0) return;
    if (this.oversizePrefix) {
      this.pending += len;
      this.keepSuffix(chunk, start, end);
      return;
    }
    if (this.pending + len > this.maxFrameBytes) {
      // Over the cap: keep the prefix only, drop what was held, count the rest.
      const held = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pending);
      const prefix = Buffer.allocUnsafe(Math.min(this.prefixBytes, this.pending + len));
      const fromHeld = held.copy(prefix, 0, 0, Math.min(held.length, prefix.length));
      if (fromHeld < prefix.length) chunk.copy(prefix, fromHeld, start, start + (prefix.length - fromHeld));
      this.oversizePrefix = prefix;
      this.oversizeSuffix = held.subarray(Math.max(0, held.length - this.prefixBytes));
      this.keepSuffix(chunk, start, end);
      this.pieces = [];
      this.pending += len;
      this.large = false;
      this.hasher = undefined;
      return;
    }
    const piece = chunk.subarray(start, end);
    this.pieces.push(this.ownsChunks ? piece : Buffer.from(piece));
    this.pending += len;
    if (!this.large && this.pending > this.largeFrameBytes) {
      this.large = true;
      if (!this.hashWhileStreaming) return;
      const head = this.firstBytes(ENVELOPE_WINDOW_BYTES);
      const at = payloadStart(head);
      if (at !== undefined) {
        this.hasher = new PayloadHasher(at);
        this.hashPiece = 0;
        this.hashPieceOffset = 0;
      }
    }
    if (this.hasher) this.feedHasher();
  }

  /** Hashes held bytes up to one window behind the newest, so the payload's end can still be cut. */
  private feedHasher(): void {
    const hasher = this.hasher!;
    const limit = this.pending - ENVELOPE_WINDOW_BYTES;
    while (this.hashPiece < this.pieces.length && hasher.hashedTo < limit) {
      const piece = this.pieces[this.hashPiece]!;
      hasher.feed(piece, this.hashPieceOffset, limit);
      if (this.hashPieceOffset + piece.length > limit) break;
      this.hashPieceOffset += piece.length;
      this.hashPiece++;
    }
  }

  private firstBytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(Math.min(n, this.pending));
    let at = 0;
    for (const p of this.pieces) {
      if (at >= out.length) break;
      at += p.copy(out, at, 0, Math.min(p.length, out.length - at));
    }
    return out;
  }

  private lastBytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(Math.min(n, this.pending));
    let at = out.length;
    for (let i = this.pieces.length - 1; i >= 0 && at > 0; i--) {
      const p = this.pieces[i]!;
      const take = Math.min(p.length, at);
      p.copy(out, at - take, p.length - take);
      at -= take;
    }
    return out;
  }

  private keepSuffix(chunk: Buffer, start: number, end: number): void {
    const n = this.prefixBytes;
    if (end - start >= n) {
      this.oversizeSuffix = Buffer.from(chunk.subarray(end - n, end));
      return;
    }
    const joined = Buffer.concat([this.oversizeSuffix, chunk.subarray(start, end)]);
    this.oversizeSuffix = joined.length > n ? Buffer.from(joined.subarray(joined.length - n)) : joined;
  }

  private take(): FramerOutput {
    let result: FramerOutput;
    if (this.oversizePrefix) {
      result = { kind: 'oversize', size: this.pending, prefix: this.oversizePrefix, suffix: this.oversizeSuffix };
    } else if (this.large) {
      const pieces = this.pieces;
      const size = this.pending;
      const large: LargeFrame = {
        kind: 'large',
        size,
        head: this.firstBytes(ENVELOPE_WINDOW_BYTES),
        tail: this.lastBytes(ENVELOPE_WINDOW_BYTES),
        bytes: () => Buffer.concat(pieces, size),
      };
      if (this.hasher) large.hasher = this.hasher;
      if (!this.hashWhileStreaming) large.pieces = pieces;
      result = large;
    } else {
      const bytes = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pending);
      result = { kind: 'frame', bytes };
    }
    this.pieces = [];
    this.pending = 0;
    this.oversizePrefix = undefined;
    this.oversizeSuffix = Buffer.alloc(0);
    this.large = false;
    this.hasher = undefined;
    return result;
  }
}
