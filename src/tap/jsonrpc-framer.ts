/**
 * Newline-delimited framing of a copy of the stdio byte stream (MCP stdio transport: "messages are
 * delimited by newlines, and MUST NOT contain embedded newlines").
 *
 * The framer only ever sees bytes that were already relayed: it never alters, delays or holds back the
 * stream. Its memory is bounded by `maxFrameBytes`: a line longer than that is not kept for parsing; only
 * its first `prefixBytes` are kept (enough to find its `id` and `method`), and the rest is counted.
 */

export interface FramerOptions {
  /** Longest line kept whole for parsing. Longer lines are reported as oversize. */
  maxFrameBytes: number;
  /** How much of an oversize line is kept for a best-effort look at its `id` and `method`. */
  prefixBytes?: number;
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

export type FramerOutput = Frame | OversizeFrame;

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

  constructor(opts: FramerOptions) {
    this.maxFrameBytes = opts.maxFrameBytes;
    this.prefixBytes = Math.min(opts.prefixBytes ?? DEFAULT_PREFIX_BYTES, opts.maxFrameBytes);
  }

  /** Bytes currently held for parsing (always <= maxFrameBytes). */
  get bufferedBytes(): number {
    return this.oversizePrefix ? this.oversizePrefix.length : this.pending;
  }

  /**
   * Feeds a chunk (already relayed) and returns the lines it completed. The chunk may be reused by the
   * caller afterwards: every byte kept is copied.
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
      return;
    }
    this.pieces.push(Buffer.from(chunk.subarray(start, end)));
    this.pending += len;
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
    } else {
      const bytes = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pending);
      result = { kind: 'frame', bytes };
    }
    this.pieces = [];
    this.pending = 0;
    this.oversizePrefix = undefined;
    this.oversizeSuffix = Buffer.alloc(0);
    return result;
  }
}
