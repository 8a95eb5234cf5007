import { PassThrough, Writable } from 'node:stream';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ReusedReadSource, settleChunk, writeCopies } from '../../src/tap/stdio/reused-reads.js';

/**
 * The stdio tap's read buffers (`reused-reads.ts`): a buffer is read into again only when no write holds
 * it; a buffer lent to a pending write comes back once the destination has nothing buffered; a destination
 * that may keep chunks gets each buffer for good.
 */

/** A destination that reports how much it still buffers, as a socket with a pending write does. */
function destination(buffered: () => number): Writable {
  const w = new Writable({ write: (_c, _e, cb) => cb() });
  Object.defineProperty(w, 'writableLength', { get: buffered });
  return w;
}

describe('reused read buffers', () => {
  it('reuses one buffer while writes complete at once', () => {
    const source = new ReusedReadSource();
    const first = source.onread.buffer();
    for (let i = 0; i < 5; i++) settleChunk(source, destination(() => 0), true);
    expect(source.onread.buffer()).toBe(first);
  });

  it('a buffer held by a pending write is not read into until the destination has drained', () => {
    const source = new ReusedReadSource();
    let buffered = 100;
    const to = destination(() => buffered);
    const lent = source.onread.buffer();
    settleChunk(source, to, true);
    const second = source.onread.buffer();
    expect(second).not.toBe(lent);
    settleChunk(source, to, true);
    const third = source.onread.buffer();
    expect([lent, second]).not.toContain(third);
    buffered = 0;
    settleChunk(source, to, true);
    // Drained: the current buffer stays, and the lent ones are free for the next lendings.
    expect(source.onread.buffer()).toBe(third);
    buffered = 100;
    settleChunk(source, to, true);
    expect([lent, second]).toContain(source.onread.buffer());
  });

  it('a destination that may keep chunks gets every buffer for good', () => {
    const source = new ReusedReadSource();
    const seen = new Set<Uint8Array>([source.onread.buffer()]);
    const to = new PassThrough();
    expect(writeCopies(to)).toBe(false);
    for (let i = 0; i < 4; i++) {
      settleChunk(source, to, writeCopies(to));
      seen.add(source.onread.buffer());
    }
    expect(seen.size).toBe(5);
  });

  it('sockets and the process stdout copy on write; other writables do not', () => {
    expect(writeCopies(new Socket())).toBe(true);
    expect(writeCopies(process.stdout)).toBe(true);
    expect(writeCopies(new PassThrough())).toBe(false);
  });
});
