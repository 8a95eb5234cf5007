import { describe, expect, it } from 'vitest';
import { TimeSlicedRunner } from '../../src/component/time-sliced-runner.js';

const burn = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

/**
 * Counts event-loop turns: a self-rearming `setImmediate` runs once per turn, so the value read inside a task
 * says in which turn that task ran.
 */
function turnCounter(): { readonly turn: number; stop(): void } {
  let turn = 0;
  let stopped = false;
  const tick = () => {
    turn += 1;
    if (!stopped) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turn() {
      return turn;
    },
    stop: () => {
      stopped = true;
    },
  };
}

describe('TimeSlicedRunner', () => {
  it('runs tasks in the order given and settles each with its result or its error', async () => {
    const runner = new TimeSlicedRunner(5);
    const order: number[] = [];
    const results = await Promise.allSettled([
      runner.run(() => (order.push(1), 'a')),
      runner.run(() => {
        order.push(2);
        throw new Error('bad batch');
      }),
      runner.run(() => (order.push(3), 'c')),
    ]);
    expect(order).toEqual([1, 2, 3]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'a' });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { message: 'bad batch' } });
    expect(results[2]).toEqual({ status: 'fulfilled', value: 'c' });
    expect(runner.pending).toBe(0);
  });

  it('runs no more than a slice of work per event-loop turn, then lets the loop turn', async () => {
    const runner = new TimeSlicedRunner(8);
    const turns = turnCounter();
    // 5 ms tasks against an 8 ms slice: the second task starts at 5 ms (< 8), the third would start at 10.
    const seen = await Promise.all(Array.from({ length: 10 }, () => runner.run(() => (burn(5), turns.turn))));
    turns.stop();
    const perTurn = new Map<number, number>();
    for (const t of seen) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    // At most two (fewer if this machine preempts us mid-task, which stretches a task past the slice).
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(2);
    expect(perTurn.size).toBeGreaterThanOrEqual(5);
  });

  it('runs one task per turn when a task is longer than the slice, and never stalls', async () => {
    const runner = new TimeSlicedRunner(1);
    const turns = turnCounter();
    const seen = await Promise.all(Array.from({ length: 4 }, () => runner.run(() => (burn(3), turns.turn))));
    turns.stop();
    expect(new Set(seen).size).toBe(4);
  });

  it('answers I/O between slices: a socket event queued behind a backlog is handled after one slice, not after all of it', async () => {
    const runner = new TimeSlicedRunner(2);
    let done = 0;
    const backlog = Array.from({ length: 20 }, () => runner.run(() => (burn(5), (done += 1))));
    // A timer stands in for the socket: it is served in the next turn's timers phase.
    const doneWhenTimerFired = await new Promise<number>((resolve) => setTimeout(() => resolve(done), 0));
    await Promise.all(backlog);
    expect(doneWhenTimerFired).toBeLessThanOrEqual(2);
    expect(done).toBe(20);
  });
});
