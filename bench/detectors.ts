/**
 * Detector engine benchmark (run: `node --expose-gc --import tsx bench/detectors.ts`). Every packaged
 * detector is enabled (`BENCH_DETECTORS=dos,exfiltration` runs some; `BENCH_THROUGHPUT_ONLY=1` skips 2 and 3).
 * Reports:
 * 1. events/s through the engine on one core, for a mixed stream (tool calls with captured arguments and
 *    results, notifications, process samples, network and file events) over 200 servers and 2 000 sessions;
 * 2. state bytes per tracked session (heap growth over 20 000 new sessions, after GC, divided by sessions);
 * 3. span-to-alert latency: a real daemon on loopback, OTLP/JSON POSTs of a notification burst that crosses
 *    notification_spam's ceiling; time from the receiver's 200 to the alert reaching the alert manager.
 */
import { DetectorEngine } from '../src/detect/engine.js';
import { defaultDetectorsDirectory, loadDetectors } from '../src/detect/loader.js';
import { RecordingAlertPublisher } from '../src/detect/recording-publisher.js';
import { detectorsSectionSchema } from '../src/detect/settings.js';
import { MemoryStateStore } from '../src/detect/state-store.js';
import { configSchema } from '../src/config/schema.js';
import { Daemon } from '../src/daemon.js';
import type { McpEvent } from '../src/pipeline/events.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { expandSpec, type EventSpec } from '../test/detectors/harness.js';

const T0 = 1_750_000_000_000;
// `BENCH_DETECTORS=dos,exfiltration` restricts the run to some detectors (to see what each costs).
const only = process.env.BENCH_DETECTORS?.split(',').filter(Boolean);
const loaded = (await loadDetectors(defaultDetectorsDirectory())).filter((d) => !only || only.includes(d.id));

async function engine(clock: { now: number }) {
  const section = detectorsSectionSchema.parse({ engine: { persist: false }, ...Object.fromEntries(loaded.map((d) => [d.id, { enabled: true }])) });
  const e = new DetectorEngine({
    section,
    publisher: new RecordingAlertPublisher({ capacity: 1000 }),
    logger: silentLogger(),
    metrics: new Metrics(),
    detectors: loaded,
    stateStore: new MemoryStateStore(),
    clock: () => clock.now,
    timers: false,
  });
  await e.start();
  return e;
}

function mixedEvents(n: number): McpEvent[] {
  const out: McpEvent[] = [];
  const specs: ((i: number) => EventSpec)[] = [
    (i) => ({ server: `srv${i % 200}`, session: `s${i % 2000}`, client: 'agent', method: 'tools/call', tool: ['read_file', 'search', 'query'][i % 3], durationMs: 20 + (i % 50), arguments: { size: 120, content: { path: `/srv/data/f${i % 97}.txt`, q: 'select name from users' } }, result: { size: 900, content: { text: 'line one of the result\nline two of the result' } } }),
    (i) => ({ server: `srv${i % 200}`, session: `s${i % 2000}`, method: 'notifications/message', notification: { level: 'info' } }),
    (i) => ({ server: `srv${i % 200}`, session: `s${i % 2000}`, method: 'notifications/progress', traceId: `t${i % 5000}`, notification: { progress: i % 10, total: 10 } }),
    (i) => ({ kind: 'process', server: `srv${i % 200}`, pid: 1000 + (i % 200), cpuPercent: 5, rssBytes: 80_000_000, openFds: 30, threads: 10, children: 1 }),
    (i) => ({ kind: 'network', server: `srv${i % 200}`, remote: { address: '198.51.100.7', port: 443 }, scope: 'public', bytesSent: 1200 }),
    (i) => ({ kind: 'file', server: `srv${i % 200}`, path: `/srv/data/f${i % 97}.txt` }),
  ];
  for (let i = 0; i < n; i++) {
    const kind = i % 10 < 5 ? 0 : i % 10 < 7 ? 1 : i % 10 < 8 ? 2 : i % 10 < 9 ? 3 : i % 20 === 9 ? 4 : 5;
    out.push(...expandSpec({ ...specs[kind]!(i), at: i * 2 }, T0));
  }
  return out;
}

async function throughput(): Promise<number> {
  const clock = { now: T0 };
  const e = await engine(clock);
  const events = mixedEvents(200_000);
  const warm = events.slice(0, 20_000);
  for (const ev of warm) e.process(ev);
  const t0 = process.hrtime.bigint();
  let lastTick = T0;
  for (const ev of events) {
    if (ev.time - lastTick >= 1000) {
      clock.now = ev.time;
      e.tick(ev.time);
      lastTick = ev.time;
    }
    e.process(ev);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return events.length / s;
}

async function bytesPerSession(): Promise<{ bytes: number; sessions: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const clock = { now: T0 };
  const e = await engine(clock);
  // Servers are few and long-lived; create them first so only per-session state is counted.
  for (let s = 0; s < 20; s++) for (const ev of expandSpec({ server: `srv${s}`, session: 'warm', method: 'tools/call', tool: 'search', durationMs: 10 }, T0)) e.process(ev);
  const sessions = 20_000;
  const batch: McpEvent[] = [];
  for (let i = 0; i < sessions; i++) {
    const base = { server: `srv${i % 20}`, session: `sess-${i}`, at: i };
    batch.push(
      ...expandSpec({ ...base, method: 'tools/call', tool: 'search', durationMs: 12, traceId: `b${i}` }, T0),
      ...expandSpec({ ...base, method: 'notifications/message', notification: { level: 'info' }, traceId: `b${i}` }, T0),
      ...expandSpec({ ...base, method: 'notifications/progress', notification: { progress: 1, total: 2 }, traceId: `b${i}` }, T0),
    );
  }
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (const ev of batch) e.process(ev);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  // Keep the batch alive across both measurements so only engine state is in the difference.
  if (batch.length === 0) throw new Error('empty');
  return { bytes: (after - before) / sessions, sessions };
}

function otlpBurst(session: string, n: number): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const hex = (len: number) => Array.from({ length: len }, () => Math.floor(Math.random() * 16).toString(16)).join('');
  const traceId = hex(32);
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId,
    spanId: hex(16),
    name: 'notifications/message',
    kind: 2,
    startTimeUnixNano: String(now + BigInt(i) * 1000n),
    endTimeUnixNano: String(now + BigInt(i) * 1000n + 500n),
    attributes: [
      { key: 'mcp.method.name', value: { stringValue: 'notifications/message' } },
      { key: 'mcp.session.id', value: { stringValue: session } },
    ],
  }));
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench-server' } }] }, scopeSpans: [{ scope: { name: 'bench' }, spans }] }] });
}

async function latency(rounds: number): Promise<{ p50: number; p99: number; max: number; fired: number; beforeAnswer: number; sendP50: number; sendP99: number }> {
  const config = configSchema.parse({
    receivers: { otlp: { endpoint: '127.0.0.1:0' } },
    admin: { endpoint: '127.0.0.1:0' },
    detectors: { engine: { persist: false } },
  });
  const daemon = new Daemon(config, { logger: silentLogger(), metrics: new Metrics() });
  const firedAt = new Map<string, number>();
  const publisher = daemon.alerts as unknown as { fire: (a: { session?: string }) => void };
  const original = publisher.fire.bind(publisher);
  publisher.fire = (a) => {
    if (a.session !== undefined && !firedAt.has(a.session)) firedAt.set(a.session, performance.now());
    original(a);
  };
  await daemon.start();
  const url = `http://127.0.0.1:${daemon.otlpAddress()!.port}/v1/traces`;
  const samples: number[] = [];
  const fromSend: number[] = [];
  let beforeAnswer = 0;
  for (let r = 0; r < rounds; r++) {
    const session = `lat-${r}`;
    const body = otlpBurst(session, 60);
    const sent = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answered = performance.now();
    await res.arrayBuffer();
    for (let i = 0; i < 200 && !firedAt.has(session); i++) await new Promise((r2) => setTimeout(r2, 1));
    const at = firedAt.get(session);
    if (at !== undefined) {
      samples.push(Math.max(0, at - answered));
      fromSend.push(at - sent);
      if (at <= answered) beforeAnswer += 1;
    }
  }
  await daemon.shutdown();
  samples.sort((a, b) => a - b);
  fromSend.sort((a, b) => a - b);
  const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
  return { p50: q(samples, 0.5), p99: q(samples, 0.99), max: samples[samples.length - 1] ?? NaN, fired: samples.length, beforeAnswer, sendP50: q(fromSend, 0.5), sendP99: q(fromSend, 0.99) };
}

const eps = await throughput();
console.log(`detectors enabled: ${loaded.map((d) => d.id).join(', ')}`);
console.log(`throughput: ${Math.round(eps).toLocaleString('en-US')} events/s on one core (mixed stream, 200 servers, 2000 sessions)`);
// `BENCH_THROUGHPUT_ONLY=1`: the events/s figure alone (per-detector runs, before/after comparisons).
if (process.env.BENCH_THROUGHPUT_ONLY === '1') process.exit(0);
const mem = await bytesPerSession();
const lat = await latency(300);
console.log(`state: ${Math.round(mem.bytes)} bytes per tracked session (${mem.sessions} sessions, 3 events each)`);
console.log(`span-to-alert latency (receiver 200 -> alert manager), ${lat.fired} bursts of 60 spans: p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms, max ${lat.max.toFixed(2)} ms; ${lat.beforeAnswer} alerts were recorded before the client saw the 200`);
console.log(`POST sent -> alert recorded: p50 ${lat.sendP50.toFixed(2)} ms, p99 ${lat.sendP99.toFixed(2)} ms`);
