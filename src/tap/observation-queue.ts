import { PayloadHasher, payloadStart } from './json-envelope.js';
import type { LargeFrame } from './jsonrpc-framer.js';

/**
 * Observation work of the stdio tap, kept off the relay's critical path.
 *
 * Why: a large message arrives in 64 KiB pipe reads, and whatever the tap does between one read and the
 * next delays the rest of the message. Hashing a 1 MB payload costs ~0.7 ms here; done chunk by chunk as
 * the message streams, it stretched every 1 MB relay by that much (bench/tap-latency.ts). Here the relay
 * only writes each chunk on and frames it; a large message's payload is hashed afterwards, in slices of
 * `sliceBytes` run from `setImmediate`, so the event loop polls for relay I/O between slices and a chunk
 * that arrives meanwhile waits for one slice at most (~0.1 ms), not for the whole hash. In request /
 * response traffic the hash runs while the server computes its next answer.
 *
 * Order: messages are observed in the order they arrived, across both directions (a response must meet
 * its request in the tracker, and a reused id must not meet the previous call's response), so a small
 * message that arrives while a large one waits is observed after it. While nothing waits, a small
 * message is observed at once, as before.
 *
 * Bounded: at most `maxPendingBytes` of messages wait (held by reference: the framer's pieces); past it the
 * work is done at once, on the relay path (the tap then falls behind no further than the bound).
 */

export interface ObservationQueueOptions {
  /** Bytes hashed per turn of the event loop. */
  sliceBytes?: number;
  /** Most message bytes waiting for observation; past it, work runs at once. */
  maxPendingBytes: number;
  /** Observation must never break the relay: errors are handed here. */
  onError: (err: Error) => void;
}

interface Task {
  /** Bytes still accounted as waiting. */
  bytes: number;
  /** Does up to `budget` bytes of work; returns what it did (at least 1), and whether it is finished. */
  step(budget: number): { cost: number; done: boolean };
}

export const DEFAULT_SLICE_BYTES = 128 * 1024;

export class ObservationQueue {
  private readonly sliceBytes: number;
  private tasks: Task[] = [];
  private head = 0;
  private pendingBytes = 0;
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly opts: ObservationQueueOptions) {
    this.sliceBytes = opts.sliceBytes ?? DEFAULT_SLICE_BYTES;
  }

  /** Bytes of messages waiting for observation. */
  get pending(): number {
    return this.pendingBytes;
  }

  /**
   * Observes a small message: now if nothing waits, else after what waits. `release` (the frame's) runs
   * once `observe` returned: the message's bytes may be reused from then on.
   */
  run(bytes: number, observe: () => void, release?: () => void): void {
    if (this.head === this.tasks.length) {
      this.safely(observe);
      release?.();
      return;
    }
    this.enqueue({
      bytes,
      step: () => {
        this.safely(observe);
        release?.();
        return { cost: Math.max(1, bytes), done: true };
      },
    });
  }

  /**
   * Observes a large message whose pieces the framer handed over (`pieces`): its payload is hashed in
   * slices, then `observe` gets the frame with the finished-up-to-the-tail hasher (`hasher`), and the
   * frame is released (`LargeFrame.release`).
   */
  large(frame: LargeFrame, observe: (frame: LargeFrame) => void): void {
    const pieces = frame.pieces ?? [];
    // The hash stops one tail window short of the end: the payload's end is cut there from the tail.
    const limit = frame.size - frame.tail.length;
    let hasher: PayloadHasher | undefined;
    let started = false;
    let piece = 0;
    let offset = 0;
    this.enqueue({
      bytes: frame.size,
      step: (budget) => {
        if (!started) {
          started = true;
          const at = payloadStart(frame.head);
          if (at !== undefined) hasher = new PayloadHasher(at);
        }
        let cost = 0;
        while (hasher && piece < pieces.length && hasher.hashedTo < limit && cost < budget) {
          const p = pieces[piece]!;
          const before = hasher.hashedTo;
          hasher.feed(p, offset, Math.min(limit, hasher.hashedTo + budget - cost));
          cost += hasher.hashedTo - before;
          if (hasher.hashedTo >= offset + p.length || offset + p.length <= hasher.start) {
            offset += p.length;
            piece++;
          } else if (hasher.hashedTo === before) {
            break;
          }
        }
        if (hasher && hasher.hashedTo < limit && piece < pieces.length) return { cost: Math.max(1, cost), done: false };
        const { pieces: _held, release, ...rest } = frame;
        const finished: LargeFrame = hasher ? { ...rest, hasher } : rest;
        this.safely(() => observe(finished));
        release?.();
        return { cost: Math.max(1, cost), done: true };
      },
    });
  }

  /** Does everything that waits, now (end of stream, shutdown). */
  flush(): void {
    this.clearSchedule();
    while (this.head < this.tasks.length) this.turn(Number.MAX_SAFE_INTEGER);
  }

  private enqueue(task: Task): void {
    this.tasks.push(task);
    this.pendingBytes += task.bytes;
    // Over the bound: catch up now, on the relay path, rather than hold more.
    while (this.pendingBytes > this.opts.maxPendingBytes && this.head < this.tasks.length) this.turn(this.sliceBytes);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.head === this.tasks.length) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.turn(this.sliceBytes);
      this.schedule();
    });
  }

  private clearSchedule(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }

  /** Runs tasks in order until `budget` bytes of work are done or none wait. */
  private turn(budget: number): void {
    let left = budget;
    while (left > 0 && this.head < this.tasks.length) {
      const task = this.tasks[this.head]!;
      let r: { cost: number; done: boolean };
      try {
        r = task.step(left);
      } catch (err) {
        this.opts.onError(err as Error);
        r = { cost: 1, done: true };
      }
      left -= r.cost;
      if (r.done) {
        this.pendingBytes -= task.bytes;
        this.head++;
      }
    }
    if (this.head === this.tasks.length) {
      this.tasks = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.tasks = this.tasks.slice(this.head);
      this.head = 0;
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.onError(err as Error);
    }
  }
}
