import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyBufferPool, readBody } from '../../src/receiver/otlp/read-body.js';

/**
 * Enough of an `IncomingMessage` for `readBody`: it listens for `data`, `end`, `error` and `aborted`, and
 * pauses the request when it refuses it.
 */
class FakeRequest extends EventEmitter {
  paused = false;
  pause(): this {
    this.paused = true;
    return this;
  }
  send(...chunks: (string | Buffer)[]): void {
    for (const chunk of chunks) this.emit('data', typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  get listening(): number {
    return this.listenerCount('data') + this.listenerCount('end') + this.listenerCount('error') + this.listenerCount('aborted');
  }
}

const read = (req: FakeRequest, options: Parameters<typeof readBody>[3], limit = 1 << 20, encoding: 'identity' | 'gzip' = 'identity') =>
  readBody(req as unknown as IncomingMessage, encoding, limit, options);

/** A body of `n` bytes, each position telling where it is, so a misplaced copy shows. */
const pattern = (n: number, salt = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + salt) & 0xff));

describe('BodyBufferPool', () => {
  it('hands a returned buffer out again, for any length up to its power-of-two capacity', () => {
    const pool = new BodyBufferPool(1 << 20);
    const first = pool.take(100_000);
    expect(first.length).toBe(100_000);
    pool.give(first);
    expect(pool.idleBytes).toBe(128 * 1024);
    const second = pool.take(70_000);
    expect(second.length).toBe(70_000);
    expect(second.buffer).toBe(first.buffer);
    expect(pool.idleBytes).toBe(0);
    // A different capacity class does not take it.
    pool.give(second);
    expect(pool.take(200_000).buffer).not.toBe(first.buffer);
  });

  it('never lends one buffer twice, even when it is given back twice', () => {
    const pool = new BodyBufferPool(1 << 20);
    const a = pool.take(1000);
    pool.give(a);
    pool.give(a);
    const b = pool.take(1000);
    const c = pool.take(1000);
    expect(b.buffer).toBe(a.buffer);
    expect(c.buffer).not.toBe(b.buffer);
  });

  it('ignores buffers it did not lend', () => {
    const pool = new BodyBufferPool(1 << 20);
    pool.give(Buffer.alloc(64 * 1024));
    pool.give(Buffer.from('small, from the shared allocation pool'));
    expect(pool.idleBytes).toBe(0);
  });

  it('keeps at most maxFreeBytes of unused buffers', () => {
    const pool = new BodyBufferPool(256 * 1024);
    const taken = [pool.take(100_000), pool.take(100_000), pool.take(100_000)];
    for (const b of taken) pool.give(b);
    expect(pool.idleBytes).toBe(256 * 1024);
  });
});

describe('readBody', () => {
  it('reads a body of its declared length into one buffer, whatever the chunking', async () => {
    const body = pattern(200_000);
    for (const pool of [undefined, new BodyBufferPool(1 << 20)]) {
      const req = new FakeRequest();
      const done = read(req, { declaredLength: body.length, pool });
      for (let at = 0; at < body.length; at += 65_536) req.send(body.subarray(at, at + 65_536));
      req.emit('end');
      const got = await done;
      expect(got.equals(body)).toBe(true);
      expect(req.listening).toBe(0);
    }
  });

  it('reads a chunked body (no Content-Length), growing as it arrives', async () => {
    const body = pattern(300_001, 3);
    const req = new FakeRequest();
    const done = read(req, { declaredLength: 0, pool: new BodyBufferPool(1 << 22) });
    for (let at = 0; at < body.length; at += 1000) req.send(body.subarray(at, at + 1000));
    req.emit('end');
    expect((await done).equals(body)).toBe(true);
  });

  it('reads a body that runs past what it declared (the limit still applies)', async () => {
    const body = pattern(150_000, 5);
    const req = new FakeRequest();
    const done = read(req, { declaredLength: 10, pool: new BodyBufferPool(1 << 22) });
    req.send(body.subarray(0, 7), body.subarray(7));
    req.emit('end');
    expect((await done).equals(body)).toBe(true);

    const over = new FakeRequest();
    const refused = read(over, { declaredLength: 10 }, 1000);
    over.send(pattern(600), pattern(600));
    await expect(refused).rejects.toMatchObject({ code: 'MCPW_ERR_BODY_TOO_LARGE' });
    expect(over.paused).toBe(true);
    expect(over.listening).toBe(0);
  });

  it('answers an empty body with an empty buffer', async () => {
    const req = new FakeRequest();
    const done = read(req, { declaredLength: 0, pool: new BodyBufferPool(1 << 20) });
    req.emit('end');
    expect((await done).length).toBe(0);
  });

  it('gives a refused or aborted body back to the pool', async () => {
    const pool = new BodyBufferPool(1 << 22);
    const aborted = new FakeRequest();
    const done = read(aborted, { declaredLength: 100_000, pool });
    aborted.send(pattern(5000));
    aborted.emit('aborted');
    await expect(done).rejects.toMatchObject({ code: 'MCPW_ERR_MALFORMED' });
    expect(pool.idleBytes).toBe(128 * 1024);

    const tooLarge = new FakeRequest();
    const refused = read(tooLarge, { declaredLength: 100_000, pool }, 100_000);
    tooLarge.send(pattern(60_000), pattern(60_000));
    await expect(refused).rejects.toMatchObject({ code: 'MCPW_ERR_BODY_TOO_LARGE' });
    expect(pool.idleBytes).toBe(128 * 1024);
  });

  it('a reused buffer carries nothing of the previous body', async () => {
    const pool = new BodyBufferPool(1 << 22);
    const long = new FakeRequest();
    const first = read(long, { declaredLength: 100_000, pool });
    long.send(pattern(100_000, 1));
    long.emit('end');
    pool.give(await first);
    const short = new FakeRequest();
    const second = read(short, { declaredLength: 70_000, pool });
    short.send(pattern(70_000, 2));
    short.emit('end');
    const got = await second;
    expect(got.length).toBe(70_000);
    expect(got.equals(pattern(70_000, 2))).toBe(true);
  });

  it('inflates gzip from a pooled buffer and gives the compressed bytes back', async () => {
    const pool = new BodyBufferPool(1 << 22);
    const plain = Buffer.from('{"resourceSpans":[]}'.repeat(5000));
    const gz = gzipSync(plain);
    const req = new FakeRequest();
    const done = read(req, { declaredLength: gz.length, pool }, 1 << 20, 'gzip');
    req.send(gz);
    req.emit('end');
    const got = await done;
    expect(got.equals(plain)).toBe(true);
    expect(pool.idleBytes).toBe(64 * 1024);
    // The inflated body is zlib's own buffer: giving it back keeps nothing.
    pool.give(got);
    expect(pool.idleBytes).toBe(64 * 1024);
  });
});
