import type { IncomingMessage } from 'node:http';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { PipelineError } from '../../component/errors.js';

const gunzipAsync = promisify(gunzip);

export type ContentEncoding = 'identity' | 'gzip';

/** Smallest buffer a body without a usable `Content-Length` starts in (it doubles from there as needed). */
const FIRST_GROWABLE_BYTES = 64 * 1024;

/**
 * Buffers that request bodies are read into, taken back once their body has been decoded and handed out
 * again to later requests.
 *
 * Why: an accepted body waits for its processing slice (see `TimeSlicedRunner`) with up to 63 others. A
 * Buffer of its own, as each body used to get, lives outside the V8 heap and is freed only when its small JS
 * object is collected; while waiting it survives two young-generation collections, is promoted, and from
 * then on only a full mark-compact frees it. V8 starts a mark-compact of the whole heap (recent store
 * included) for every 64 MiB of such memory ("external memory pressure" in `--trace-incremental-marking`):
 * at JSON saturation that was a full collection every ~2 s, with concurrent marking and sweeping taking ~12%
 * of the daemon's CPU. Buffers that are reused were allocated once and are never counted again.
 *
 * Capacities are powers of two from 64 KiB, so one buffer serves bodies of up to twice the size it was made
 * for; at most `maxFreeBytes` of them wait here unused, the rest are left to the garbage collector.
 *
 * Only a body that nothing refers to any more may be given back: the JSON decoder copies every value out of
 * the text, so a JSON body goes back right after decoding; decoded protobuf spans are views of their body
 * (`SpanWire`, long payloads), so a protobuf body goes back when the pipeline queue releases their batch
 * (`BatchMeta.release`).
 */
export class BodyBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  /** What is out on loan; anything else handed to `give` (an inflated body, a copy) is not ours to keep. */
  private readonly lent = new WeakSet<ArrayBuffer>();

  /** @param maxFreeBytes most bytes of unused buffers kept for reuse. */
  constructor(private readonly maxFreeBytes: number) {}

  /** Bytes held by unused buffers. */
  get idleBytes(): number {
    return this.freeBytes;
  }

  /** A buffer of exactly `length` bytes (uninitialised) over a pooled allocation. */
  take(length: number): Buffer {
    const capacity = capacityFor(length);
    let memory = this.free.get(capacity)?.pop();
    if (memory) this.freeBytes -= capacity;
    else memory = new ArrayBuffer(capacity);
    this.lent.add(memory);
    return Buffer.from(memory, 0, length);
  }

  /** Takes `body` back for reuse if it was lent by this pool; the caller must not touch it afterwards. */
  give(body: Buffer): void {
    const memory = body.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.lent.has(memory)) return;
    this.lent.delete(memory);
    if (this.freeBytes + memory.byteLength > this.maxFreeBytes) return;
    let list = this.free.get(memory.byteLength);
    if (!list) this.free.set(memory.byteLength, (list = []));
    list.push(memory);
    this.freeBytes += memory.byteLength;
  }
}

function capacityFor(length: number): number {
  let capacity = FIRST_GROWABLE_BYTES;
  while (capacity < length) capacity *= 2;
  return capacity;
}

/** Where a body's bytes go: pooled buffers when a pool is given, else a Buffer of the body's own. */
interface BodyMemory {
  take(length: number): Buffer;
  give(buffer: Buffer): void;
}

const OWN_BUFFERS: BodyMemory = {
  take: (length) => Buffer.allocUnsafe(length),
  give: () => undefined,
};

export interface ReadBodyOptions {
  /** The request's `Content-Length` (0 when absent): the body is read into one buffer of that size. */
  declaredLength: number;
  /**
   * Read the body into buffers from this pool; the caller gives the returned body back once it is decoded.
   * A gzip body's compressed bytes are given back here, and what it inflates to is not pooled.
   */
  pool?: BodyBufferPool;
}

/**
 * Reads a request body, refusing it once it passes `limit` bytes AFTER decompression.
 *
 * The compressed bytes are capped at `limit` as they arrive, then inflated by zlib with `maxOutputLength`
 * = `limit`: zlib stops and fails as soon as its output would pass the limit, so a 1 KB gzip bomb that
 * inflates to 1 GB costs at most `limit` bytes of memory and is answered 413. Inflating runs on the libuv
 * thread pool, off the event loop.
 */
export async function readBody(req: IncomingMessage, encoding: ContentEncoding, limit: number, options: ReadBodyOptions): Promise<Buffer> {
  const memory: BodyMemory = options.pool ?? OWN_BUFFERS;
  const raw = await collect(req, limit, options.declaredLength, memory);
  if (encoding === 'identity' || raw.length === 0) return raw;
  try {
    return await gunzipAsync(raw, { maxOutputLength: limit });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new PipelineError('MCPW_ERR_BODY_TOO_LARGE', `request body exceeds ${limit} bytes after gzip decompression`);
    }
    throw new PipelineError('MCPW_ERR_MALFORMED', `Content-Encoding is gzip but the body is not valid gzip (${code ?? 'inflate failed'})`);
  } finally {
    memory.give(raw);
  }
}

/**
 * Copies the body's chunks into one buffer as they arrive: of the declared length when there is one (the
 * usual case, and then no copy is made at the end), growing by doubling for a chunked body or one that runs
 * past what it declared.
 */
function collect(req: IncomingMessage, limit: number, declared: number, memory: BodyMemory): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let target: Buffer | undefined;
    let size = 0;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) {
        if (target) memory.give(target);
        reject(err);
      } else {
        resolve(target ? target.subarray(0, size) : Buffer.alloc(0));
      }
    };
    const onData = (chunk: Buffer) => {
      const needed = size + chunk.length;
      if (needed > limit) {
        // Stop buffering; the handler answers 413 and closes the connection.
        req.pause();
        finish(new PipelineError('MCPW_ERR_BODY_TOO_LARGE', `request body exceeds ${limit} bytes`));
        return;
      }
      if (!target || needed > target.length) {
        const grown = memory.take(Math.min(limit, Math.max(needed, target ? target.length * 2 : declared > 0 ? declared : FIRST_GROWABLE_BYTES)));
        if (target) {
          target.copy(grown, 0, 0, size);
          memory.give(target);
        }
        target = grown;
      }
      chunk.copy(target, size);
      size = needed;
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(new PipelineError('MCPW_ERR_MALFORMED', `request body could not be read: ${err.message}`));
    const onAborted = () => finish(new PipelineError('MCPW_ERR_MALFORMED', 'client aborted the request body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
