import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readLargeMessage } from '../../src/tap/json-envelope.js';
import { JsonRpcFramer, type LargeFrame } from '../../src/tap/jsonrpc-framer.js';
import { ObservationQueue } from '../../src/tap/observation-queue.js';

/**
 * The stdio tap's observation queue: a large message's payload, hashed in slices after the relay wrote
 * it, gets the fingerprint the streaming hash gives; messages are observed in arrival order; waiting work
 * is bounded.
 */

const TEXT = `${'x'.repeat(300_000)}é😀`;
const MESSAGE = JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: TEXT }], isError: false } });
const EXPECTED = createHash('sha256').update(JSON.stringify({ content: [{ type: 'text', text: TEXT }], isError: false })).digest('hex').slice(0, 32);

function largeFrame(cuts: number[]): LargeFrame {
  const framer = new JsonRpcFramer({ maxFrameBytes: 8 * 1024 * 1024, ownsChunks: true, hashWhileStreaming: false });
  const bytes = Buffer.from(`${MESSAGE}\n`);
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = cuts[i % cuts.length]!;
    for (const out of framer.push(Buffer.from(bytes.subarray(at, at + n)))) {
      if (out.kind !== 'large') throw new Error(`expected a large frame, got ${out.kind}`);
      expect(out.hasher).toBeUndefined();
      expect(out.pieces?.length).toBeGreaterThan(0);
      return out;
    }
    at += n;
  }
  throw new Error('no frame');
}

const noError = (err: Error) => {
  throw err;
};

describe('ObservationQueue', () => {
  it('hashes a large payload in slices to the fingerprint of the payload as sent, whatever the chunks and slices (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 200_000 }), (cuts, slice) => {
        const queue = new ObservationQueue({ maxPendingBytes: 64 * 1024 * 1024, sliceBytes: slice, onError: noError });
        let seen: LargeFrame | undefined;
        queue.large(largeFrame(cuts), (f) => (seen = f));
        expect(seen).toBeUndefined();
        queue.flush();
        expect(seen?.hasher).toBeDefined();
        expect(seen?.pieces).toBeUndefined();
        const read = readLargeMessage(seen!, () => seen!.bytes(), seen!.hasher);
        expect(read?.payload?.fingerprint).toBe(EXPECTED);
        expect(read?.message).toMatchObject({ type: 'response', id: 7 });
      }),
      { numRuns: 30 },
    );
  });

  it('works between turns of the event loop, one slice per turn, and keeps arrival order', async () => {
    const queue = new ObservationQueue({ maxPendingBytes: 64 * 1024 * 1024, sliceBytes: 64 * 1024, onError: noError });
    const order: string[] = [];
    queue.run(10, () => order.push('small before'));
    expect(order).toEqual(['small before']);
    queue.large(largeFrame([65_536]), () => order.push('large'));
    queue.run(10, () => order.push('small after'));
    expect(order).toEqual(['small before']);
    expect(queue.pending).toBeGreaterThan(300_000);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['small before']);
    for (let i = 0; i < 20 && order.length < 3; i++) await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['small before', 'large', 'small after']);
    expect(queue.pending).toBe(0);
  });

  it('past its bound, catches up at once instead of holding more', () => {
    const queue = new ObservationQueue({ maxPendingBytes: 100_000, sliceBytes: 64 * 1024, onError: noError });
    let done = false;
    queue.large(largeFrame([65_536]), () => (done = true));
    expect(done).toBe(true);
    expect(queue.pending).toBe(0);
  });

  it('an observer that throws is reported and does not stop the queue', () => {
    const errors: string[] = [];
    const queue = new ObservationQueue({ maxPendingBytes: 64 * 1024 * 1024, onError: (e) => errors.push(e.message) });
    const order: string[] = [];
    queue.large(largeFrame([65_536]), () => {
      throw new Error('boom');
    });
    queue.run(1, () => order.push('next'));
    queue.flush();
    expect(errors).toEqual(['boom']);
    expect(order).toEqual(['next']);
  });
});
