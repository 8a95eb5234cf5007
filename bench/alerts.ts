/**
 * Alert delivery benchmark: alerts per second through the whole path (manager -> queue -> webhook sink ->
 * a local HTTP receiver), and latency from detection (`fire`) to the sink's request arriving, with the
 * BullMQ queue on Redis (`REDIS_URL`, default redis://127.0.0.1:6379) and with the in-process queue.
 *
 *   node --import tsx bench/alerts.ts            # or: BENCH_ALERTS=20000 BENCH_RATE=500 ...
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { AlertManager } from '../src/alert/manager.js';
import { alertsSchema } from '../src/config/schema.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { Metrics } from '../src/telemetry/metrics.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOTAL = Number(process.env.BENCH_ALERTS ?? 5000);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_SINK_CONCURRENCY ?? 16);

interface Arrival {
  firedAt: Map<string, number>;
  arrivedAt: Map<string, number>;
}

async function receiver(state: Arrival): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = performance.now();
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { alerts: { labels: { tool: string } }[] };
      for (const a of body.alerts) if (!state.arrivedAt.has(a.labels.tool)) state.arrivedAt.set(a.labels.tool, now);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function waitAll(state: Arrival, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (state.arrivedAt.size < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  if (state.arrivedAt.size < n) throw new Error(`only ${state.arrivedAt.size}/${n} alerts arrived`);
}

async function run(queue: 'redis' | 'in-process') {
  const state: Arrival = { firedAt: new Map(), arrivedAt: new Map() };
  const sink = await receiver(state);
  const prefix = `bench${randomUUID().slice(0, 8)}`;
  const m = new AlertManager({
    config: alertsSchema.parse({
      queue: { outboxDir: mkdtempSync(join(tmpdir(), 'mcpwatch-bench-')), ...(queue === 'redis' && { redis: REDIS_URL, prefix }) },
      sinks: { hook: { type: 'webhook', url: sink.url, concurrency: CONCURRENCY } },
    }),
    logger: silentLogger(),
    metrics: new Metrics(),
  });
  await m.start();
  const fire = (i: number, phase: string) => {
    const tool = `${phase}-${i}`;
    state.firedAt.set(tool, performance.now());
    return m.fireDurably({ detector: 'exfiltration', severity: 'high', title: 'bench', summary: 'bench alert', server: 'bench', tool, key: tool, evidence: [{ description: 'bench' }] });
  };

  // 1. Throughput: as fast as the path takes them (64 raised at a time).
  const t0 = performance.now();
  for (let i = 0; i < TOTAL; i += 64) await Promise.all(Array.from({ length: Math.min(64, TOTAL - i) }, (_, j) => fire(i + j, 'burst')));
  const recordedMs = performance.now() - t0;
  await waitAll(state, TOTAL, 120_000);
  const deliveredMs = Math.max(...state.arrivedAt.values()) - t0;

  // 2. Latency at a steady rate, sink not rate-limiting.
  const steady = RATE * RATE_SECONDS;
  const s0 = performance.now();
  for (let i = 0; i < steady; i++) {
    const due = s0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    void fire(i, 'steady');
  }
  await waitAll(state, TOTAL + steady, 60_000);
  const lat = [...state.firedAt]
    .filter(([k]) => k.startsWith('steady-'))
    .map(([k, t]) => state.arrivedAt.get(k)! - t)
    .sort((a, b) => a - b);
  await m.shutdown();
  await sink.close();
  if (queue === 'redis') {
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
  }
  return {
    queue,
    burst: { alerts: TOTAL, recordedPerSecond: Math.round(TOTAL / (recordedMs / 1000)), deliveredPerSecond: Math.round(TOTAL / (deliveredMs / 1000)) },
    steady: { ratePerSecond: RATE, alerts: steady, p50Ms: +quantile(lat, 0.5).toFixed(1), p99Ms: +quantile(lat, 0.99).toFixed(1), maxMs: +lat[lat.length - 1]!.toFixed(1) },
  };
}

const results = [await run('redis'), await run('in-process')];
console.log(JSON.stringify({ node: process.version, sinkConcurrency: CONCURRENCY, results }, null, 2));
process.exit(0);
