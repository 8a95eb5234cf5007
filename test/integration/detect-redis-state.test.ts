import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { DetectorEngine } from '../../src/detect/engine.js';
import { defaultDetectorsDirectory, loadDetectors } from '../../src/detect/loader.js';
import { RecordingAlertPublisher } from '../../src/detect/recording-publisher.js';
import { detectorsSectionSchema } from '../../src/detect/settings.js';
import type { McpEvent } from '../../src/pipeline/events.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { expandSpec } from '../detectors/harness.js';
import { requireRedis } from '../helpers/alert-receivers.js';

/**
 * Learned detector state in a real Redis (`detectors.engine.redis`): written by one engine, restored by the
 * next, and an outage of Redis mid-run costs persistence only (counted, logged once), never detection.
 * Missing Redis fails these tests (never skips them), so CI cannot pass without running them.
 */

const T0 = 1_750_000_000_000;
const loaded = await loadDetectors(defaultDetectorsDirectory());
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

async function engineOn(redis: string, redisKey: string, clock: { now: number }) {
  const metrics = new Metrics();
  const log = capturedLogger();
  const publisher = new RecordingAlertPublisher({ capacity: 100 });
  const engine = new DetectorEngine({
    section: detectorsSectionSchema.parse({ engine: { redis, redisKey }, chain_drift: { learningSeconds: 0, minChains: 3, settleSeconds: 1 } }),
    publisher,
    logger: log.logger,
    metrics,
    detectors: loaded,
    clock: () => clock.now,
    timers: false,
  });
  await engine.start();
  cleanups.push(() => engine.shutdown());
  const persists = async (status: 'ok' | 'failed') =>
    (await metrics.detectorStatePersists.get()).values.find((v) => v.labels.operation === 'save' && v.labels.status === status)?.value ?? 0;
  return { engine, publisher, log, persists };
}

/** Three planner -> search chains (learned by chain_drift), and destinations and volume (exfiltration). */
function learningTraffic(from: number): McpEvent[] {
  return [
    ...expandSpec({ at: 0, server: 'planner', client: 'agent', method: 'tools/call', tool: 'plan', traceId: 'tr', spanId: 'a', repeat: 3, every: 2000, traceEach: true }, from),
    ...expandSpec({ at: 100, server: 'search', method: 'tools/call', tool: 'fetch', traceId: 'tr', spanId: 'b', parentSpanId: 'a', repeat: 3, every: 2000, traceEach: true }, from),
    ...expandSpec({ at: 50, kind: 'network', server: 'planner', remote: { address: '198.51.100.7', port: 443 }, scope: 'public', bytesSent: 1200 }, from),
  ];
}

function feed(engine: DetectorEngine, clock: { now: number }, events: McpEvent[]): void {
  for (const e of events.sort((x, y) => x.time - y.time)) {
    clock.now = e.time;
    engine.process(e);
  }
  // Let the traces settle so the chains are judged and learned.
  clock.now += 5000;
  engine.tick(clock.now);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A private, non-persistent redis-server this test may kill and restart. */
async function privateRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run redis-server (needed by this test; install Redis): ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited with ${code}`)));
  });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await Promise.race([exited, probe.connect().then(() => probe.ping()).then(() => true, () => false)]);
      if (ok) return child;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on port ${port} did not answer`);
  } finally {
    probe.disconnect();
  }
}

function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.removeAllListeners('exit');
    child.once('exit', () => r());
    child.kill('SIGKILL');
  });
}

describe('learned detector state in Redis', () => {
  it('is written to the configured key and restored by a new engine (a restart does not relearn)', async () => {
    const url = await requireRedis();
    const key = `mcpwatch-test:${randomUUID()}:detector-state`;
    const admin = new Redis(url);
    cleanups.push(async () => {
      await admin.del(key);
      admin.disconnect();
    });

    const clock = { now: T0 };
    const first = await engineOn(url, key, clock);
    feed(first.engine, clock, learningTraffic(T0));
    const learned = first.engine.detector('chain_drift')!.snapshot!() as { graphs: Record<string, { chains: number; edges: string[] }> };
    expect(Object.values(learned.graphs)[0]).toMatchObject({ chains: 3, edges: ['planner/plan>search/fetch'] });
    await first.engine.persist();
    expect(await first.persists('ok')).toBe(1);

    // One hash field per detector, JSON.
    const fields = await admin.hgetall(key);
    expect(Object.keys(fields)).toEqual(expect.arrayContaining(['chain_drift', 'exfiltration', 'dos', 'notification_spam']));
    expect(JSON.parse(fields['chain_drift']!)).toEqual(learned);
    await first.engine.shutdown();

    // A new engine (a restarted daemon) starts with what the first learned, for every detector.
    const second = await engineOn(url, key, clock);
    for (const d of loaded) {
      const snap = second.engine.detector(d.id)?.snapshot?.();
      if (snap !== undefined && fields[d.id] !== undefined) expect([d.id, snap]).toEqual([d.id, JSON.parse(fields[d.id]!)]);
    }
    // ... and judges with it: the graph is armed, so a new downstream server alerts at once.
    feed(
      second.engine,
      clock,
      [
        ...expandSpec({ at: 0, server: 'planner', client: 'agent', method: 'tools/call', tool: 'plan', traceId: 'n', spanId: 'a' }, clock.now),
        ...expandSpec({ at: 100, server: 'webhook-relay', method: 'tools/call', tool: 'post', traceId: 'n', spanId: 'b', parentSpanId: 'a' }, clock.now),
      ],
    );
    expect(second.publisher.list({ detector: 'chain_drift' }).map((a) => a.key)).toEqual(['new_server:webhook-relay']);
  });

  it('survives Redis going away mid-run: keeps detecting, counts each failed write, logs once, writes again when Redis is back', async () => {
    const port = await freePort();
    let redis = await privateRedis(port);
    cleanups.push(() => stopRedis(redis));
    const url = `redis://127.0.0.1:${port}`;
    const key = `mcpwatch-test:${randomUUID()}:detector-state`;
    const clock = { now: T0 };
    const { engine, publisher, log, persists } = await engineOn(url, key, clock);

    feed(engine, clock, learningTraffic(T0));
    await engine.persist();
    expect(await persists('ok')).toBe(1);

    await stopRedis(redis);
    // Redis is gone: writes fail, are counted, and logged once; events are still processed and alerts raised.
    feed(engine, clock, expandSpec({ at: 0, server: 'chatty', session: 's1', method: 'notifications/message', repeat: 60, every: 10 }, clock.now));
    await engine.persist();
    feed(engine, clock, learningTraffic(clock.now));
    await engine.persist();
    expect(await persists('failed')).toBe(2);
    expect(await persists('ok')).toBe(1);
    const errors = log.lines.filter((l) => l['msg'] === 'cannot write learned detector state');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 50, state: `redis hash ${key}` });
    expect(publisher.list({ detector: 'notification_spam' })).toHaveLength(1);

    // Redis is back (empty: it kept nothing): the next write succeeds and carries the state learned meanwhile.
    redis = await privateRedis(port);
    let saved: Record<string, string> = {};
    const admin = new Redis(url);
    cleanups.push(() => admin.disconnect());
    for (let i = 0; i < 50 && saved['chain_drift'] === undefined; i++) {
      await engine.persist(true);
      saved = await admin.hgetall(key);
      if (saved['chain_drift'] === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(await persists('ok')).toBeGreaterThanOrEqual(2);
    const graph = Object.values((JSON.parse(saved['chain_drift']!) as { graphs: Record<string, { chains: number }> }).graphs)[0]!;
    expect(graph.chains).toBe(6);
    expect(log.lines.filter((l) => l['msg'] === 'cannot write learned detector state')).toHaveLength(1);
  }, 30_000);
});
