import { z } from 'zod';
import type { Evidence } from '../../src/alert/types.js';
import { assess, verdictEvidence, type BaselineView, type Verdict } from '../../src/detect/assess.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import type { DetectorContext, DetectorModule } from '../../src/detect/detector.js';
import { eventRef } from '../../src/detect/evidence.js';
import { EwmaBaseline, type EwmaState } from '../../src/detect/ewma-baseline.js';
import { MedianMadBaseline, type RobustState } from '../../src/detect/robust-baseline.js';
import { SlidingWindow } from '../../src/detect/windows.js';
import type { McpTrafficEvent, ProcessEvent } from '../../src/pipeline/events.js';

const configSchema = z
  .object({
    /** Tumbling window of the traffic rules (rate, concurrency, latency, error rate). */
    windowSeconds: z.number().int().min(1).max(3600).default(10),
    /** Absolute ceilings of the traffic rules; they hold while learning. */
    maxRequestsPerSecond: z.number().positive().default(200),
    /** Average requests in flight over a window (sum of durations / window, Little's law). */
    maxConcurrency: z.number().positive().default(64),
    /** Mean latency of a window. */
    maxMeanLatencyMs: z.number().positive().default(60_000),
    /** Error ratio ceiling, applied from `minRequestsForErrorRate` requests in a window. */
    maxErrorRatio: z.number().gt(0).max(1).default(0.9),
    minRequestsForErrorRate: z.number().int().positive().default(20),
    /** A single response larger than this is a size bomb. */
    maxResponseBytes: z.number().int().positive().default(32 * 1024 * 1024),
    /** Baseline rule: deviations above, and the smallest values it considers. */
    zThreshold: z.number().positive().default(6),
    minRequestsPerWindow: z.number().int().positive().default(50),
    minLatencyMs: z.number().positive().default(2000),
    minResponseBytes: z.number().int().positive().default(1024 * 1024),
    alpha: z.number().gt(0).max(1).default(0.1),
    /** Windows (traffic) or samples (process) before a baseline is armed. */
    minSamples: z.number().int().positive().default(30),
    process: z
      .object({
        maxCpuPercent: z.number().positive().default(95),
        maxRssBytes: z.number().int().positive().default(4 * 1024 * 1024 * 1024),
        maxOpenFds: z.number().int().positive().default(4096),
        maxThreads: z.number().int().positive().default(1024),
        maxChildren: z.number().int().positive().default(64),
        /** RSS growth within `growthWindowSeconds` that fires in any phase ("eats memory"). */
        maxRssGrowthBytes: z.number().int().positive().default(512 * 1024 * 1024),
        growthWindowSeconds: z.number().int().positive().default(60),
        /** Consecutive samples over a ceiling or baseline before firing (one spike is not runaway). */
        sustainedSamples: z.number().int().positive().default(3),
      })
      .strict()
      .default({
        maxCpuPercent: 95,
        maxRssBytes: 4 * 1024 * 1024 * 1024,
        maxOpenFds: 4096,
        maxThreads: 1024,
        maxChildren: 64,
        maxRssGrowthBytes: 512 * 1024 * 1024,
        growthWindowSeconds: 60,
        sustainedSamples: 3,
      }),
    /** Process exits (or re-execs) per server within `restartWindowSeconds` that make a crash loop. */
    maxRestarts: z.number().int().positive().default(3),
    restartWindowSeconds: z.number().int().positive().default(120),
    maxEntities: z.number().int().positive().default(20_000),
    idleSeconds: z.number().int().positive().default(3600),
  })
  .strict();

type Config = z.infer<typeof configSchema>;

const TRAFFIC = ['rate', 'concurrency', 'latency', 'errors'] as const;

/** Per server x tool (or method when no tool). */
interface TrafficState {
  server: string;
  tool?: string;
  label: string;
  windowStart: number;
  count: number;
  errors: number;
  durationSum: number;
  fired: number;
  lastTraceId?: string;
  rate: EwmaBaseline;
  concurrency: EwmaBaseline;
  latency: MedianMadBaseline;
  errorRatio: EwmaBaseline;
  size: MedianMadBaseline;
}

const METRICS = ['cpuPercent', 'rssBytes', 'openFds', 'threads', 'children'] as const;
type ProcessMetric = (typeof METRICS)[number];

interface ProcessState {
  server: string;
  baselines: EwmaBaseline[];
  over: number[];
  rssHistory: { time: number; rss: number }[];
  restarts: SlidingWindow;
  fired: number;
}

function ewmaView(b: EwmaBaseline, floor: number): BaselineView {
  return { phase: b.phase, centre: () => b.mean, score: (x) => b.score(x, floor) };
}

function robustView(b: MedianMadBaseline, floor: number): BaselineView {
  return { phase: b.phase, centre: () => b.median(), score: (x) => b.score(x, floor) };
}

class DosDetector {
  private readonly traffic: BoundedMap<TrafficState>;
  private readonly processes: BoundedMap<ProcessState>;
  private readonly windowMs: number;

  constructor(private readonly ctx: DetectorContext<Config>) {
    const c = ctx.config;
    const onEvict = () => ctx.countEviction();
    this.windowMs = c.windowSeconds * 1000;
    this.traffic = new BoundedMap({ maxEntries: c.maxEntities, ttlMs: c.idleSeconds * 1000 * 24, onEvict });
    this.processes = new BoundedMap({ maxEntries: c.maxEntities, ttlMs: c.idleSeconds * 1000 * 24, onEvict });
  }

  private newTraffic(server: string, tool: string | undefined, label: string, snap?: TrafficSnapshot, now = 0): TrafficState {
    const c = this.ctx.config;
    const ewma = (s?: EwmaState) => new EwmaBaseline({ alpha: c.alpha, minSamples: c.minSamples }, s);
    const robust = (s?: RobustState) => new MedianMadBaseline({ capacity: 32, minSamples: c.minSamples }, s);
    const t: TrafficState = {
      server,
      label,
      windowStart: Math.floor(now / this.windowMs) * this.windowMs,
      count: 0,
      errors: 0,
      durationSum: 0,
      fired: 0,
      rate: ewma(snap?.rate),
      concurrency: ewma(snap?.concurrency),
      latency: robust(snap?.latency),
      errorRatio: ewma(snap?.errorRatio),
      size: robust(snap?.size),
    };
    if (tool !== undefined) t.tool = tool;
    return t;
  }

  onMcp(e: McpTrafficEvent): void {
    if (e.messageType !== 'request' || e.direction !== 'client_to_server') return;
    const label = e.tool ?? e.method;
    const key = `${e.server.id}\u001f${label}`;
    const t = this.traffic.getOrCreate(key, () => this.newTraffic(e.server.name, e.tool, label, undefined, e.time), e.time);
    this.roll(t, e.time);
    t.count += 1;
    if (e.outcome !== 'ok') t.errors += 1;
    t.durationSum += e.durationMs ?? 0;
    if (e.traceId !== undefined) t.lastTraceId = e.traceId;
    const c = this.ctx.config;
    // Ceilings fire as soon as crossed; the baseline rules when the window closes.
    const rateCeiling = c.maxRequestsPerSecond * c.windowSeconds;
    if (t.count > rateCeiling) this.fireTraffic(t, 'rate', { kind: 'ceiling', observed: t.count, limit: rateCeiling }, e);
    const concurrency = t.durationSum / this.windowMs;
    if (concurrency > c.maxConcurrency) this.fireTraffic(t, 'concurrency', { kind: 'ceiling', observed: concurrency, limit: c.maxConcurrency }, e);
    const size = e.result?.size;
    // Most responses are below both the ceiling and the smallest size the baseline rule considers: learn them
    // without building a verdict (what `assess` would conclude anyway).
    if (size !== undefined && size <= c.maxResponseBytes && (size < c.minResponseBytes || t.size.phase !== 'armed')) {
      t.size.update(size);
    } else if (size !== undefined) {
      const verdict = assess(size, robustView(t.size, 64 * 1024), { ceiling: c.maxResponseBytes, zThreshold: c.zThreshold, minValue: c.minResponseBytes });
      if (verdict) {
        this.ctx.fire({
          title: 'Response size bomb',
          summary: `${e.server.name} answered ${label} with ${size} bytes (${verdict.kind === 'ceiling' ? `ceiling ${verdict.limit}` : `baseline ${Math.round(verdict.expected)}`})`,
          server: e.server.name,
          tool: e.tool,
          session: e.sessionId,
          key: 'response_size',
          traceIds: e.traceId ? [e.traceId] : [],
          evidence: [verdictEvidence(`response size of ${label}`, ' B', verdict, eventRef(e))],
          labels: { rule: 'response_size' },
        });
      } else {
        t.size.update(size);
      }
    }
  }

  onTick(now: number): void {
    for (const [, t] of this.traffic.entries()) this.roll(t, now);
    this.traffic.sweep(now);
    this.processes.sweep(now);
  }

  /** Closes the window: baseline rules, then learn from the window when it was not anomalous. */
  private roll(t: TrafficState, now: number): void {
    const w = Math.floor(now / this.windowMs) * this.windowMs;
    if (w <= t.windowStart) return;
    const c = this.ctx.config;
    if (t.count > 0) {
      const concurrency = t.durationSum / this.windowMs;
      const meanLatency = t.durationSum / t.count;
      const ratio = t.errors / t.count;
      const verdicts: [(typeof TRAFFIC)[number], Verdict][] = [
        ['rate', assess(t.count, ewmaView(t.rate, 1), { zThreshold: c.zThreshold, minValue: c.minRequestsPerWindow })],
        ['concurrency', assess(concurrency, ewmaView(t.concurrency, 0.5), { zThreshold: c.zThreshold, minValue: 4 })],
        ['latency', assess(meanLatency, robustView(t.latency, 50), { ceiling: c.maxMeanLatencyMs, zThreshold: c.zThreshold, minValue: c.minLatencyMs })],
        [
          'errors',
          t.count >= c.minRequestsForErrorRate
            ? assess(ratio, ewmaView(t.errorRatio, 0.05), { ceiling: c.maxErrorRatio, zThreshold: c.zThreshold, minValue: 0.5 })
            : undefined,
        ],
      ];
      let anomalous = false;
      for (const [rule, verdict] of verdicts) {
        if (!verdict) continue;
        anomalous = true;
        this.fireTraffic(t, rule, verdict);
      }
      if (!anomalous) {
        t.rate.update(t.count);
        t.concurrency.update(concurrency);
        t.latency.update(meanLatency);
        if (t.count >= c.minRequestsForErrorRate) t.errorRatio.update(ratio);
      }
    } else if (t.rate.samples > 0) {
      t.rate.update(0);
    }
    t.windowStart = w;
    t.count = 0;
    t.errors = 0;
    t.durationSum = 0;
    t.fired = 0;
  }

  private fireTraffic(t: TrafficState, rule: (typeof TRAFFIC)[number], verdict: NonNullable<Verdict>, e?: McpTrafficEvent): void {
    const bit = 1 << TRAFFIC.indexOf(rule);
    if (t.fired & bit) return;
    t.fired |= bit;
    const c = this.ctx.config;
    const what = {
      rate: [`requests to ${t.label} in ${c.windowSeconds} s`, ''],
      concurrency: [`requests of ${t.label} in flight (average over ${c.windowSeconds} s)`, ''],
      latency: [`mean latency of ${t.label} over ${c.windowSeconds} s`, ' ms'],
      errors: [`error ratio of ${t.label} over ${c.windowSeconds} s`, ''],
    }[rule];
    const evidence: Evidence = verdictEvidence(what[0]!, what[1]!, verdict, e ? eventRef(e) : { time: t.windowStart });
    this.ctx.fire({
      title: `MCP ${rule} anomaly`,
      summary: `${t.server}: ${evidence.description}`,
      server: t.server,
      tool: t.tool,
      key: rule,
      traceIds: t.lastTraceId ? [t.lastTraceId] : [],
      evidence: [evidence],
      labels: { rule },
      ...(e ? { time: e.time } : { time: t.windowStart + this.windowMs }),
    });
  }

  onProcess(e: ProcessEvent): void {
    const c = this.ctx.config;
    const p = this.processes.getOrCreate(
      e.server.id,
      () => ({
        server: e.server.name,
        baselines: METRICS.map(() => new EwmaBaseline({ alpha: c.alpha, minSamples: c.minSamples })),
        over: METRICS.map(() => 0),
        rssHistory: [],
        restarts: new SlidingWindow(c.restartWindowSeconds * 1000, 6),
        fired: 0,
      }),
      e.time,
    );
    if (e.action === 'exit' || e.action === 'exec') {
      // Only the server's own process exiting is a crash; its children (helpers, downstream servers it
      // closes) come and go by design.
      if (e.action === 'exit' && (e.server.pid === undefined || e.pid === e.server.pid)) p.restarts.add(e.time);
      const n = p.restarts.count(e.time);
      if (n >= c.maxRestarts) {
        this.ctx.fire({
          title: 'Crash or restart loop',
          summary: `${e.server.name} exited ${n} times in ${c.restartWindowSeconds} s`,
          server: e.server.name,
          key: 'restart_loop',
          evidence: [{ description: `${n} process exits in ${c.restartWindowSeconds} s (last exit code ${e.exitCode ?? 'unknown'})`, observed: n, expected: `< ${c.maxRestarts}`, ...eventRef(e) }],
          labels: { rule: 'restart_loop' },
        });
      }
      return;
    }
    if (e.action !== 'sample') return;
    const ceilings: Record<ProcessMetric, number> = {
      cpuPercent: c.process.maxCpuPercent,
      rssBytes: c.process.maxRssBytes,
      openFds: c.process.maxOpenFds,
      threads: c.process.maxThreads,
      children: c.process.maxChildren,
    };
    const minimum: Record<ProcessMetric, number> = { cpuPercent: 50, rssBytes: 256 * 1024 * 1024, openFds: 256, threads: 64, children: 8 };
    const floor: Record<ProcessMetric, number> = { cpuPercent: 5, rssBytes: 16 * 1024 * 1024, openFds: 8, threads: 2, children: 1 };
    METRICS.forEach((m, i) => {
      const value = e[m];
      if (value === undefined) return;
      const b = p.baselines[i]!;
      const verdict = assess(value, ewmaView(b, floor[m]), { ceiling: ceilings[m], zThreshold: c.zThreshold, minValue: minimum[m] });
      if (!verdict) {
        p.over[i] = 0;
        p.fired &= ~(1 << i);
        b.update(value);
        return;
      }
      p.over[i] = p.over[i]! + 1;
      if (p.over[i]! < c.process.sustainedSamples || p.fired & (1 << i)) return;
      p.fired |= 1 << i;
      const unit = m === 'rssBytes' ? ' B' : m === 'cpuPercent' ? ' %' : '';
      const evidence = verdictEvidence(`${m} of ${e.server.name} (pid ${e.pid}) for ${p.over[i]} samples`, unit, verdict, eventRef(e));
      this.ctx.fire({
        title: `Runaway ${m}`,
        summary: `${e.server.name}: ${evidence.description}`,
        server: e.server.name,
        key: `process:${m}`,
        evidence: [evidence],
        labels: { rule: `process_${m}` },
      });
    });
    if (e.rssBytes !== undefined) this.checkGrowth(p, e, e.rssBytes);
  }

  /** RSS growth over the growth window, in any phase: a server eating memory is caught before the ceiling. */
  private checkGrowth(p: ProcessState, e: ProcessEvent, rss: number): void {
    const c = this.ctx.config.process;
    const windowMs = c.growthWindowSeconds * 1000;
    p.rssHistory.push({ time: e.time, rss });
    while (p.rssHistory.length > 0 && e.time - p.rssHistory[0]!.time > windowMs) p.rssHistory.shift();
    if (p.rssHistory.length > 16) p.rssHistory.splice(1, 1);
    const min = p.rssHistory.reduce((m, h) => Math.min(m, h.rss), Infinity);
    const growth = rss - min;
    const bit = 1 << METRICS.length;
    if (growth <= c.maxRssGrowthBytes) {
      p.fired &= ~bit;
      return;
    }
    if (p.fired & bit) return;
    p.fired |= bit;
    this.ctx.fire({
      title: 'Memory growing without bound',
      summary: `${e.server.name} grew by ${growth} bytes of RSS within ${c.growthWindowSeconds} s`,
      server: e.server.name,
      key: 'process:rss_growth',
      evidence: [{ description: `RSS grew from ${min} to ${rss} bytes within ${c.growthWindowSeconds} s (limit ${c.maxRssGrowthBytes})`, observed: growth, expected: `<= ${c.maxRssGrowthBytes}`, ...eventRef(e) }],
      labels: { rule: 'process_rss_growth' },
    });
  }

  stats() {
    let learning = 0;
    let armed = 0;
    for (const [, t] of this.traffic.entries()) t.rate.phase === 'armed' ? armed++ : learning++;
    for (const [, p] of this.processes.entries()) p.baselines[1]!.phase === 'armed' ? armed++ : learning++;
    return { learning, armed };
  }

  snapshot(): unknown {
    const traffic: Record<string, TrafficSnapshot & { server: string; tool?: string; label: string }> = {};
    for (const [k, t] of this.traffic.entries()) {
      traffic[k] = { server: t.server, label: t.label, ...(t.tool !== undefined ? { tool: t.tool } : {}), rate: t.rate.snapshot(), concurrency: t.concurrency.snapshot(), latency: t.latency.snapshot(), errorRatio: t.errorRatio.snapshot(), size: t.size.snapshot() };
    }
    const processes: Record<string, { server: string; baselines: EwmaState[] }> = {};
    for (const [k, p] of this.processes.entries()) processes[k] = { server: p.server, baselines: p.baselines.map((b) => b.snapshot()) };
    return { version: 1, traffic, processes };
  }

  restore(state: unknown): void {
    const parsed = snapshotSchema.safeParse(state);
    if (!parsed.success) return;
    const now = this.ctx.now();
    const c = this.ctx.config;
    for (const [k, t] of Object.entries(parsed.data.traffic)) this.traffic.set(k, this.newTraffic(t.server, t.tool, t.label, t, now), now);
    for (const [k, p] of Object.entries(parsed.data.processes)) {
      this.processes.set(
        k,
        {
          server: p.server,
          baselines: METRICS.map((_, i) => new EwmaBaseline({ alpha: c.alpha, minSamples: c.minSamples }, p.baselines[i])),
          over: METRICS.map(() => 0),
          rssHistory: [],
          restarts: new SlidingWindow(c.restartWindowSeconds * 1000, 6),
          fired: 0,
        },
        now,
      );
    }
  }
}

interface TrafficSnapshot {
  rate: EwmaState;
  concurrency: EwmaState;
  latency: RobustState;
  errorRatio: EwmaState;
  size: RobustState;
}

const ewma = z.object({ mean: z.number(), variance: z.number(), samples: z.number() });
const robust = z.object({ samples: z.array(z.number()), next: z.number(), seen: z.number() });
const snapshotSchema = z.object({
  version: z.literal(1),
  traffic: z.record(z.string(), z.object({ server: z.string(), tool: z.string().optional(), label: z.string(), rate: ewma, concurrency: ewma, latency: robust, errorRatio: ewma, size: robust })),
  processes: z.record(z.string(), z.object({ server: z.string(), baselines: z.array(ewma) })),
});

const dos: DetectorModule<Config> = {
  configSchema,
  create(ctx) {
    const d = new DosDetector(ctx);
    return {
      onEvent: (e) => {
        if (e.kind === 'mcp') d.onMcp(e);
        else if (e.kind === 'process') d.onProcess(e);
      },
      onTick: (now) => d.onTick(now),
      snapshot: () => d.snapshot(),
      restore: (s) => d.restore(s),
      stats: () => d.stats(),
    };
  },
};

export default dos;
