import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { killSpawnedClis, spawnCli } from '../helpers/daemon.js';

/**
 * The CLI tap reads its stdin and the server's stdout into reused buffers (`reused-reads.ts`). A buffer
 * that a write still holds (the reader is slow) must not take the next read: with a slow server on one
 * side and a slow reader on the other, 16 MB of distinct random lines come back exactly as sent (with the
 * lending check removed, this failed in 3 runs out of 3).
 */

afterEach(() => killSpawnedClis());

describe('wrap (CLI): reused read buffers', () => {
  it('relays distinct random lines byte for byte through a slow server and to a slow reader', async () => {
    // Printable random lines of 1 KB to 1.5 MB: any reused buffer overwritten too early shows as a difference.
    const lines: Buffer[] = [];
    let total = 0;
    for (let i = 0; total < 16 * 1024 * 1024; i++) {
      const n = i % 3 === 0 ? 1024 : 200_000 + ((i * 7919) % 1_300_000);
      const line = Buffer.from(randomBytes(Math.ceil((n * 3) / 4)).toString('base64').slice(0, n));
      lines.push(line, Buffer.from('\n'));
      total += n + 1;
    }
    const input = Buffer.concat(lines);
    // The server stops reading for a moment after each chunk, so the tap's writes into it are left pending.
    const slowEcho = `process.stdin.on('data', (d) => { process.stdout.write(d); process.stdin.pause(); setTimeout(() => process.stdin.resume(), 2); });
      process.stdin.on('end', () => process.stdout.end(() => process.exit(0)));`;
    const child = spawnCli(['wrap', '--endpoint', '127.0.0.1:9', '--log-level', 'error', '--', process.execPath, '-e', slowEcho]);
    const got: Buffer[] = [];
    let received = 0;
    const done = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // A slow reader too: the tap's writes to its stdout are left pending.
    child.stdout.on('data', (d: Buffer) => {
      got.push(d);
      received += d.length;
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 1);
    });
    for (let at = 0; at < input.length; at += 256 * 1024) {
      if (!child.stdin.write(input.subarray(at, at + 256 * 1024))) await new Promise((r) => child.stdin.once('drain', r));
    }
    child.stdin.end();
    expect(await done).toBe(0);
    expect(received).toBe(input.length);
    expect(Buffer.concat(got).equals(input)).toBe(true);
  }, 120_000);
});
