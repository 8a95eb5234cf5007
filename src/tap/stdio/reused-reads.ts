import { fstatSync, mkdtempSync, rmSync } from 'node:fs';
import { Socket, connect, createServer, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/**
 * Reading the relayed streams into reused buffers.
 *
 * Why: a Node stream gives every read a fresh 64 KiB buffer outside the JavaScript heap. At 1 MB per
 * message that is 16 allocations and 1 MB of external memory per message, and V8 answers external
 * memory growth with garbage collections: in about half of the benchmark runs the tap fell into a mode of
 * one full mark-compact every ~15 messages (50-80 per 1,000 round trips instead of 2), which doubled its
 * CPU (1.4 instead of 0.7 s per 1,000 messages) and put a 13-19 ms p99 on every 1 MB round trip
 * (BENCHMARKS.md "Tap overhead"). A socket created with `onread` reads into a buffer we hand it; the relay
 * writes each read on and the framer copies what it keeps (`jsonrpc-framer.ts`, line store), so the same
 * 64 KiB buffer serves every read.
 *
 * A read buffer may be reused only once nothing refers to it: the framer copies synchronously, and a
 * write into a socket, a pipe or a file copies into the kernel before `write()` returns unless the
 * destination is full; then the stream holds the buffer until the write completes: it is lent
 * (`lendLast()`), the next read takes another one, and lent buffers come back once the destination has
 * nothing buffered (`reclaim()`). Destinations that may keep chunks (any other `Writable`, e.g. a
 * `PassThrough` in tests) get each buffer for good (`giveLast()`).
 *
 * The server's stdout is a connected Unix socket pair made through a listener in a private temporary
 * directory (Node has no `socketpair()`; libuv gives a child's 'pipe' stdio a socket pair too, so the
 * server sees the same kind of file). When that cannot be set up, the tap falls back to a plain 'pipe'.
 */

/** What one read brings at most (libuv's read size for streams). */
export const READ_BUFFER_BYTES = 64 * 1024;
/** Setting up the server's output socket is local and immediate; past this, the plain pipe is used. */
const PAIR_TIMEOUT_MS = 2000;

/** One side of the relay: where chunks come from, and how the relay learns of them. */
export interface ByteSource {
  readonly stream: Readable;
  /** Registers the one chunk handler. A chunk is valid only until the handler returns, unless kept. */
  onChunk(handler: (chunk: Buffer) => void): void;
  /** The last chunk is held by a write that has not completed: the next read gets other memory. */
  lendLast(): void;
  /** Every write has completed: buffers lent to writes may take reads again. */
  reclaim(): void;
  /** The last chunk may be kept by its destination for good: its memory is left to it. */
  giveLast(): void;
}

/** A Readable's `data` chunks: fresh buffers, nothing to keep. */
export function streamSource(stream: Readable): ByteSource {
  return {
    stream,
    onChunk: (handler) => stream.on('data', handler),
    lendLast: () => undefined,
    reclaim: () => undefined,
    giveLast: () => undefined,
  };
}

/** Read buffers kept for reuse once their writes completed (a full destination pauses the relay first). */
const MAX_FREE_READ_BUFFERS = 8;

/**
 * A socket read with `onread` into one buffer, replaced only when a write still holds it. The socket is
 * created paused (`pause()` right after it): reading starts when the relay registers its handler, so no
 * chunk arrives with nobody to take it.
 */
export class ReusedReadSource implements ByteSource {
  private buffer: Buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  private readonly lent: Buffer[] = [];
  private readonly free: Buffer[] = [];
  private handler: ((chunk: Buffer) => void) | undefined;
  stream!: Socket;

  readonly onread = {
    buffer: (): Buffer => this.buffer,
    callback: (n: number, buf: Uint8Array): boolean => {
      this.handler?.((buf as Buffer).subarray(0, n));
      return true;
    },
  };

  onChunk(handler: (chunk: Buffer) => void): void {
    this.handler = handler;
    this.stream.resume();
  }

  lendLast(): void {
    this.lent.push(this.buffer);
    this.buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  }

  reclaim(): void {
    if (this.lent.length === 0) return;
    for (const b of this.lent) if (this.free.length < MAX_FREE_READ_BUFFERS) this.free.push(b);
    this.lent.length = 0;
  }

  giveLast(): void {
    this.buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  }
}

/**
 * Whether `write()` into `to` has copied a chunk once it returned with nothing left buffered: sockets,
 * pipes and TTYs (`net.Socket`) and the process's own stdout and stderr (files are written synchronously).
 */
export function writeCopies(to: Writable): boolean {
  return to instanceof Socket || to === process.stdout || to === process.stderr;
}

/**
 * After `to.write(chunk)` of a chunk from `source`: whose is the chunk's memory now. `copies` is
 * `writeCopies(to)`. Anything still buffered by `to` includes this chunk (writes complete in order).
 */
export function settleChunk(source: ByteSource, to: Writable, copies: boolean): void {
  if (!copies) source.giveLast();
  else if (to.writableLength > 0) source.lendLast();
  else source.reclaim();
}

/** The tap's stdin read into a reused buffer when it is a pipe or a socket; undefined otherwise (file, TTY). */
export function stdinSource(): ByteSource | undefined {
  try {
    const st = fstatSync(0);
    if (!st.isFIFO() && !st.isSocket()) return undefined;
    const source = new ReusedReadSource();
    // `onread` is honoured by the constructor (Node >= 12; documented there since 22), typed only for connect().
    const options: SocketConstructorOpts & { onread: OnReadOpts } = { fd: 0, readable: true, writable: false, onread: source.onread };
    source.stream = new Socket(options).pause();
    return source;
  } catch {
    return undefined;
  }
}

/** The server's stdout: `theirs` goes to the child (then is closed here), `source` reads the other end. */
export interface OutputPair {
  theirs: Socket;
  source: ByteSource;
}

/** A connected socket pair for the server's stdout, or undefined (the caller then uses a plain pipe). */
export async function openOutputPair(): Promise<OutputPair | undefined> {
  let dir: string | undefined;
  const server = createServer();
  let timer: NodeJS.Timeout | undefined;
  let ours: Socket | undefined;
  try {
    // A directory only this user can enter: no other user's process can connect in our place.
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-wrap-'));
    const path = join(dir, 'stdout.sock');
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), PAIR_TIMEOUT_MS);
    });
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, resolve);
      }),
      timeout,
    ]);
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const source = new ReusedReadSource();
    const socket = connect({ path, onread: source.onread }).pause();
    ours = socket;
    source.stream = socket;
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const [theirs] = await Promise.race([Promise.all([accepted, connected]), timeout]);
    return { theirs, source };
  } catch {
    ours?.destroy();
    return undefined;
  } finally {
    clearTimeout(timer);
    server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
