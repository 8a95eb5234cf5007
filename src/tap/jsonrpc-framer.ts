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
 *
 * Unless the caller hands its chunks over (`ownsChunks`), a line is copied into a line store: one buffer,
 * grown to the longest line seen, that the next line reuses once the frame made of it was released
 * (`release()`). The stdio tap reads into reused buffers, so every byte kept must be copied; one growing
 * store per direction, instead of a buffer per piece, is what keeps a 1 MB message from costing 1 MB of
 * fresh allocation (and garbage collector work) per message.
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
   * chunks: every read gets a fresh buffer), so lines are kept by reference instead of copied into the
   * line store; memory stays bounded by the cap plus one chunk.
   */
  ownsChunks?: boolean;
  /** Hash a large line's payload while it streams (default true); false leaves it to the caller. */
  hashWhileStreaming?: boolean;
}

/** A complete line (without its `\n`; a trailing `\r` is kept, JSON.parse ignores it). */
export interface Frame {
  kind: 'frame';
  bytes: Buffer;
  /**
   * The caller is done with `bytes` (and everything else read from this frame): the framer may reuse their
   * memory for a later line. Never calling it is safe (the store is then not reused).
   */
  release?: () => void;
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
  /** As `Frame.release`: `head`, `tail`, `pieces` and `bytes()` must not be used afterwards. */
  release?: () => void;
}

export type FramerOutput = Frame | LargeFrame | OversizeFrame;

/** Default parse cap of the taps: messages up to 8 MiB are parsed, larger ones relayed and counted. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

const NEWLINE = 0x0a;
const DEFAULT_PREFIX_BYTES = 4096;
/** First size of a line store; it doubles as longer lines arrive. */
const MIN_STORE_BYTES = 16 * 1024;
/** A released store larger than this is left to the garbage collector rather than kept for reuse. */
const MAX_RETAINED_STORE_BYTES = 4 * 1024 * 1024;
/**
 * Released stores kept. Two: a large frame waits for its hash while the next line may already stream in
 * (back-to-back large messages), and a third store is needed only when two frames wait at once.
 */
const MAX_SPARE_STORES = 2;

export class JsonRpcFramer {
  private readonly maxFrameBytes: number;
  private readonly prefixBytes: number;
  /** Pieces of the current line while it is under the cap (one, the filled part of `store`, when copying). */
  private pieces: Buffer[] = [];
  /** The line store the current line is copied into (unless `ownsChunks`). */
  private store: Buffer | undefined;
  /** Released stores, for the next lines. */
  private readonly spares: Buffer[] = [];
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
    if (this.ownsChunks) this.pieces.push(chunk.subarray(start, end));
    else this.copyToStore(chunk, start, end);
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

  /** Appends to the line store, growing it (by doubling, up to the cap) when the line outgrows it. */
  private copyToStore(chunk: Buffer, start: number, end: number): void {
    const need = this.pending + end - start;
    let store = this.store;
    if (!store || store.length < need) {
      const at = this.spares.findIndex((b) => b.length >= need);
      let grown: Buffer;
      if (at >= 0) {
        grown = this.spares[at]!;
        this.spares.splice(at, 1);
      } else {
        grown = Buffer.allocUnsafe(Math.min(this.maxFrameBytes, Math.max(need, MIN_STORE_BYTES, 2 * (store?.length ?? 0))));
      }
      if (store && this.pending > 0) store.copy(grown, 0, 0, this.pending);
      store = grown;
      this.store = store;
    }
    chunk.copy(store, this.pending, start, end);
    this.pieces[0] = store.subarray(0, need);
  }

  /** A store whose frame was released: kept for a later line (the largest few, within the bound). */
  private recycle(store: Buffer): void {
    if (store === this.store || store.length > MAX_RETAINED_STORE_BYTES) return;
    this.spares.push(store);
    if (this.spares.length > MAX_SPARE_STORES) {
      this.spares.sort((a, b) => b.length - a.length);
      this.spares.length = MAX_SPARE_STORES;
    }
  }

  /** The current line's store leaves with its frame; `release` hands it back. */
  private detachStore(): (() => void) | undefined {
    const store = this.store;
    if (!store) return undefined;
    this.store = undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.recycle(store);
    };
  }

  private firstBytes(n: number): Buffer {
    if (!this.ownsChunks) return this.pieces[0]?.subarray(0, Math.min(n, this.pending)) ?? Buffer.alloc(0);
    const out = Buffer.allocUnsafe(Math.min(n, this.pending));
    let at = 0;
    for (const p of this.pieces) {
      if (at >= out.length) break;
      at += p.copy(out, at, 0, Math.min(p.length, out.length - at));
    }
    return out;
  }

  private lastBytes(n: number): Buffer {
    if (!this.ownsChunks) return this.pieces[0]?.subarray(Math.max(0, this.pending - n), this.pending) ?? Buffer.alloc(0);
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
        bytes: () => (pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size)),
      };
      if (this.hasher) large.hasher = this.hasher;
      if (!this.hashWhileStreaming) large.pieces = pieces;
      const release = this.detachStore();
      if (release) large.release = release;
      result = large;
    } else {
      const bytes = this.pieces.length === 1 ? this.pieces[0]! : this.pending === 0 ? Buffer.alloc(0) : Buffer.concat(this.pieces, this.pending);
      const frame: Frame = { kind: 'frame', bytes };
      const release = this.pending > 0 ? this.detachStore() : undefined;
      if (release) frame.release = release;
      result = frame;
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
