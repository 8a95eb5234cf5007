import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../../src/component/bounded-queue.js';
import { SinkConsumer, type Component } from '../../src/component/component.js';
import { Lifecycle } from '../../src/component/lifecycle.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';

const host = () => ({ logger: silentLogger(), metrics: new Metrics() });

function recorder(name: string, log: string[], failOnShutdown = false): Component {
  return {
    start: async () => void log.push(`start ${name}`),
    shutdown: async () => {
      log.push(`stop ${name}`);
      if (failOnShutdown) throw new Error(`${name} broke`);
    },
  };
}

describe('Lifecycle', () => {
  it('starts in order and shuts down in reverse order, once', async () => {
    const log: string[] = [];
    const lc = new Lifecycle();
    for (const n of ['a', 'b', 'c']) lc.add(n, recorder(n, log));
    await lc.startAll(host());
    await Promise.all([lc.shutdownAll(), lc.shutdownAll()]);
    await lc.shutdownAll();
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('shuts down every component even when one fails, and reports the failure', async () => {
    const log: string[] = [];
    const lc = new Lifecycle();
    lc.add('a', recorder('a', log));
    lc.add('b', recorder('b', log, true));
    lc.add('c', recorder('c', log));
    await lc.startAll(host());
    await expect(lc.shutdownAll()).rejects.toThrow('b: b broke');
    expect(log.slice(3)).toEqual(['stop c', 'stop b', 'stop a']);
  });

  it('shuts down only what started when a start fails', async () => {
    const log: string[] = [];
    const lc = new Lifecycle();
    lc.add('a', recorder('a', log));
    lc.add('b', { start: async () => Promise.reject(new Error('port busy')), shutdown: async () => void log.push('stop b') });
    lc.add('c', recorder('c', log));
    await expect(lc.startAll(host())).rejects.toThrow('b failed to start: port busy');
    await lc.shutdownAll();
    expect(log).toEqual(['start a', 'stop b', 'stop a']);
  });
});

describe('BoundedQueue', () => {
  const counter = async (m: Metrics, name: string) =>
    (await m.registry.getSingleMetric(name)!.get()).values.reduce((s, v) => s + v.value, 0);

  it('refuses a batch that would pass capacity and counts accepted and refused items', async () => {
    const metrics = new Metrics();
    const sink = new SinkConsumer<number>();
    const q = new BoundedQueue({ name: 't', capacity: 5, metrics }, sink);
    expect(q.consume([1, 2, 3])).toBe(true);
    expect(q.hasRoomFor(3)).toBe(false);
    expect(q.consume([4, 5, 6])).toBe(false);
    expect(q.consume([4, 5])).toBe(true);
    await q.close(1000);
    expect(sink.items).toEqual([1, 2, 3, 4, 5]);
    expect(await counter(metrics, 'mcpwatch_queue_accepted_total')).toBe(5);
    expect(await counter(metrics, 'mcpwatch_queue_refused_total')).toBe(3);
    expect(q.consume([7])).toBe(false);
  });

  it('counts items as dropped when the next stage refuses them', async () => {
    const metrics = new Metrics();
    const sink = new SinkConsumer<number>();
    sink.refuse = true;
    const q = new BoundedQueue({ name: 't', capacity: 10, metrics }, sink);
    q.consume([1, 2]);
    await q.close(1000);
    expect(await counter(metrics, 'mcpwatch_queue_dropped_total')).toBe(2);
  });

  it('with passThroughWhenIdle, hands a batch on in the caller\'s turn and passes a refusal back', async () => {
    const metrics = new Metrics();
    const sink = new SinkConsumer<number>();
    const q = new BoundedQueue({ name: 't', capacity: 10, passThroughWhenIdle: true, metrics }, sink);
    expect(q.consume([1, 2])).toBe(true);
    // Already there, before any drain turn could have run.
    expect(sink.items).toEqual([1, 2]);
    expect(q.size).toBe(0);
    sink.refuse = true;
    expect(q.consume([3])).toBe(false);
    expect(await counter(metrics, 'mcpwatch_queue_accepted_total')).toBe(2);
    expect(await counter(metrics, 'mcpwatch_queue_refused_total')).toBe(1);
    await q.close(100);
    expect(q.consume([4])).toBe(false);
  });

  it('drops what is left when the drain deadline passes', async () => {
    const metrics = new Metrics();
    const slow = { consume: () => { const end = Date.now() + 30; while (Date.now() < end); return true; } };
    const q = new BoundedQueue({ name: 't', capacity: 1000, metrics }, slow);
    for (let i = 0; i < 100; i++) q.consume([i]);
    await q.close(50);
    expect(q.size).toBe(0);
    expect(await counter(metrics, 'mcpwatch_queue_dropped_total')).toBeGreaterThan(0);
  });
});

describe('BoundedQueue release', () => {
  /** A next stage that logs each batch it is handed, and may refuse or throw. */
  const recorder = (log: string[], answer: (batch: readonly number[]) => boolean) => ({
    consume: (batch: readonly number[]) => {
      log.push(`consume ${batch.join(',')}`);
      return answer(batch);
    },
  });
  const release = (log: string[], name: string) => () => log.push(`release ${name}`);

  it('releases a batch once, after the next stage returned, whether it was passed through, queued, refused or threw', async () => {
    const log: string[] = [];
    const metrics = new Metrics();
    const next = recorder(log, (b) => {
      if (b[0] === 3) throw new Error('stage failed');
      return b[0] !== 2;
    });
    const q = new BoundedQueue({ name: 'r', capacity: 100, passThroughWhenIdle: true, metrics }, next);
    q.consume([1], { release: release(log, '1') });
    q.consume([2], { release: release(log, '2') });
    q.consume([3], { release: release(log, '3') });
    expect(log).toEqual(['consume 1', 'release 1', 'consume 2', 'release 2', 'consume 3', 'release 3']);

    // Queued batches (the queue is not idle): released as the drain hands each on, not when queued.
    log.length = 0;
    const queued = new BoundedQueue({ name: 'r2', capacity: 100, metrics }, recorder(log, () => true));
    queued.consume([4], { release: release(log, '4') });
    queued.consume([5], { release: release(log, '5') });
    expect(log).toEqual([]);
    await queued.close(1000);
    expect(log).toEqual(['consume 4', 'release 4', 'consume 5', 'release 5']);
  });

  it('releases a batch refused at the door, and the batches dropped at the shutdown deadline', async () => {
    const log: string[] = [];
    const metrics = new Metrics();
    const slow = recorder(log, () => {
      const end = Date.now() + 30;
      while (Date.now() < end);
      return true;
    });
    const q = new BoundedQueue({ name: 'd', capacity: 3, metrics }, slow);
    for (let i = 0; i < 3; i++) q.consume([i], { release: release(log, String(i)) });
    expect(q.consume([9], { release: release(log, 'refused') })).toBe(false);
    expect(log).toEqual(['release refused']);
    await q.close(10);
    // Every batch released exactly once, handed on or dropped.
    expect(log.filter((l) => l.startsWith('release')).sort()).toEqual(['release 0', 'release 1', 'release 2', 'release refused']);
  });
});

describe('BoundedQueue byte bound', () => {
  it('refuses a batch that would pass capacityBytes, but always takes one batch into an empty queue', async () => {
    const metrics = new Metrics();
    const sink = new SinkConsumer<number>();
    const q = new BoundedQueue({ name: 'b', capacity: 1000, capacityBytes: 100, metrics }, sink);
    expect(q.hasRoomFor(1, 500)).toBe(true); // empty: an oversize batch still fits alone
    expect(q.consume([1], { bytes: 500 })).toBe(true);
    expect(q.hasRoomFor(1, 1)).toBe(false);
    expect(q.consume([2], { bytes: 1 })).toBe(false);
    await q.close(1000);
    expect(sink.items).toEqual([1]);
    expect(q.sizeBytes).toBe(0);
  });

  it('frees bytes as batches are handed on', async () => {
    const metrics = new Metrics();
    const sink = new SinkConsumer<number>();
    const q = new BoundedQueue({ name: 'b', capacity: 1000, capacityBytes: 100, metrics }, sink);
    expect(q.consume([1], { bytes: 60 })).toBe(true);
    expect(q.consume([2], { bytes: 60 })).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(q.sizeBytes).toBe(0);
    expect(q.consume([2], { bytes: 60 })).toBe(true);
    await q.close(1000);
    expect(sink.items).toEqual([1, 2]);
  });
});
