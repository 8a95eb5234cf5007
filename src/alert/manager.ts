import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Component } from '../component/component.js';
import type { AlertsConfig, SinkConfig } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { alertFingerprint, stableId } from './fingerprint.js';
import { BullMqDeliveryQueue } from './queue/bullmq.js';
import { InProcessDeliveryQueue } from './queue/in-process.js';
import type { DeadLetter, DeliveryJob, DeliveryOutcome, DeliveryQueue, RecordedIn } from './queue/types.js';
import { AlertRouter } from './routes.js';
import { SilenceRegistry, type Silence, type SilenceInput } from './silences.js';
import { SHARED_SYNC_INTERVAL_MS, SharedAlertState } from './shared-state.js';
import { AlertmanagerSink } from './sinks/alertmanager.js';
import { LogSink } from './sinks/log.js';
import { SlackSink } from './sinks/slack.js';
import type { AlertSink } from './sinks/types.js';
import { WebhookSink } from './sinks/webhook.js';
import { AlertTraceExporter } from './trace-export.js';
import type { RecentStoreReader } from '../store/types.js';
import { SEVERITIES, type AlertInput, type AlertPublisher, type Severity, type TrackedAlert } from './types.js';

export interface AlertManagerOptions {
  config: AlertsConfig;
  logger: Logger;
  metrics: Metrics;
  /**
   * Admin endpoint of this daemon (`HOST:PORT`); names the default outbox directory so two daemons on one
   * host never share one.
   */
  adminEndpoint?: string;
  /** The received spans, re-exported with alert ids when `alerts.traceExport.reexportSpans` is on. */
  store?: RecentStoreReader;
  /** Replaces the sinks built from config (tests, benchmarks). */
  sinks?: AlertSink[];
  /** Told about every delivery attempt (tests, benchmarks). */
  onOutcome?: (job: DeliveryJob, outcome: DeliveryOutcome, error?: unknown) => void;
}

/** Filters of `GET /api/alerts` and `mcpwatch alerts`. */
export interface AlertQuery {
  detector?: string;
  server?: string;
  /** At least this severe. */
  severity?: Severity;
  status?: 'firing' | 'resolved';
  /** Unix ms: alerts active at or after this time. */
  since?: number;
  limit?: number;
}

/** Most trace ids and evidence items one alert accumulates over repeated firing. */
const MAX_TRACE_IDS = 20;
const MAX_EVIDENCE = 20;
const DEAD_LETTER_GAUGE_INTERVAL_MS = 5000;

/** The outbox directory when `alerts.queue.outboxDir` is not set. */
export function defaultOutboxDir(adminEndpoint: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const port = adminEndpoint ? /:(\d+)$/.exec(adminEndpoint)?.[1] : undefined;
  // An ephemeral admin port (tests) has no identity across restarts: keep its outbox per process.
  if (port === undefined || port === '0') return join(tmpdir(), `mcpwatch-alerts-${process.pid}`);
  const base = env.STATE_DIRECTORY?.split(':')[0] ?? join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'mcpwatch');
  return join(base, `alerts-${adminEndpoint!.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
}

/**
 * Turns what detectors raise into notifications, and hands them to the queue (DESIGN.md, alert manager):
 *
 * - same fingerprint (detector, server, tool, detector key) = same alert: repeats only raise `count`, add
 *   trace ids and evidence, and notify again after `repeatIntervalSeconds` (or at once when the severity
 *   rises), unless someone acknowledged it;
 * - firing -> resolved: `resolve()` ends the alert and notifies wherever it fired;
 * - silences (config and API, with author and expiry) hold notifications back;
 * - routes choose sinks by detector / server / severity, each sink has its own `minSeverity`;
 * - notifications of one detector and server inside `groupWaitSeconds` go out as one.
 *
 * Notification ids are derived from the alert (fingerprint, start time, status, repeat window), so two
 * daemons raising the same alert from the same events enqueue the same job once.
 */
export class AlertManager implements AlertPublisher, Component {
  readonly silences: SilenceRegistry;
  private readonly router: AlertRouter;
  /** Alerts by id, oldest first (for eviction); `active` maps a firing fingerprint to its alert id. */
  private readonly alerts = new Map<string, TrackedAlert>();
  private readonly active = new Map<string, string>();
  private readonly groups = new Map<string, { jobs: DeliveryJob[]; waiters: ((r: Promise<RecordedIn>) => void)[]; timer: NodeJS.Timeout }>();
  private readonly sinks: AlertSink[];
  private queue?: DeliveryQueue;
  private readonly traceExporter?: AlertTraceExporter;
  private gaugeTimer?: NodeJS.Timeout;
  private shared?: SharedAlertState;
  private syncTimer?: NodeJS.Timeout;
  private closed?: Promise<void>;
  private started = false;

  constructor(private readonly opts: AlertManagerOptions) {
    this.silences = new SilenceRegistry(opts.config.silences);
    this.router = new AlertRouter(opts.config.routes, opts.config.sinks);
    this.sinks = opts.sinks ?? Object.entries(opts.config.sinks).map(([name, c]) => this.buildSink(name, c));
    const te = opts.config.traceExport;
    if (te) {
      this.traceExporter = new AlertTraceExporter({
        endpoint: te.endpoint,
        headers: te.headers,
        reexportSpans: te.reexportSpans,
        timeoutMs: te.timeoutSeconds * 1000,
        logger: opts.logger,
        ...(opts.store && { store: opts.store }),
      });
    }
  }

  /** Opens the queue (recovering what a previous run left) and starts the sink workers. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('alert manager: start() after shutdown()');
    if (this.started) return;
    const q = this.opts.config.queue;
    const outboxDir = q.outboxDir ?? defaultOutboxDir(this.opts.adminEndpoint);
    const common = {
      outboxDir,
      maxAttempts: q.maxAttempts,
      backoffBaseMs: q.backoffBaseSeconds * 1000,
      backoffMaxMs: q.backoffMaxSeconds * 1000,
      onOutcome: (job: DeliveryJob, outcome: DeliveryOutcome, error?: unknown) => this.outcome(job, outcome, error),
    };
    this.queue = q.redis
      ? new BullMqDeliveryQueue({
          ...common,
          redisUrl: q.redis,
          ...(q.password !== undefined && { password: q.password }),
          prefix: q.prefix,
          lockMs: q.lockSeconds * 1000,
          enqueueTimeoutMs: q.enqueueTimeoutSeconds * 1000,
          dedupRetentionSeconds: q.dedupRetentionSeconds,
          logger: this.opts.logger,
        })
      : new InProcessDeliveryQueue(common);
    await this.queue.start(
      this.sinks.map((s) => ({
        name: s.name,
        concurrency: s.concurrency,
        deliver: s.deliver,
        ...(s.maxPerSecond !== undefined && { maxPerSecond: s.maxPerSecond }),
      })),
    );
    for (const s of this.sinks) s.start?.();
    if (q.redis) {
      this.shared = new SharedAlertState(q.redis, q.password, q.prefix, this.opts.logger);
      for (const s of this.silences.list({ includeExpired: true })) if (s.source === 'config') void this.shared.saveSilence(s);
      this.syncTimer = setInterval(() => void this.syncShared(), SHARED_SYNC_INTERVAL_MS);
      this.syncTimer.unref();
    }
    this.gaugeTimer = setInterval(() => void this.refreshGauges(), DEAD_LETTER_GAUGE_INTERVAL_MS);
    this.gaugeTimer.unref();
    void this.refreshGauges();
    this.started = true;
    this.opts.logger.info({ queue: q.redis ? 'redis' : 'in-process', outboxDir, sinks: this.sinks.map((s) => s.name) }, 'alert delivery started');
  }

  /** Flushes grouping windows, waits for deliveries in flight, closes the queue. Idempotent, safe without start. */
  shutdown(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.gaugeTimer);
      clearInterval(this.syncTimer);
      this.shared?.close();
      for (const key of [...this.groups.keys()]) this.flushGroup(key);
      await Promise.allSettled(this.sinks.map((s) => s.shutdown?.()));
      await this.queue?.close();
      await this.traceExporter?.shutdown();
    })();
    return this.closed;
  }

  /** `AlertPublisher.fire`: never throws; failures to record are logged (see `fireDurably`). */
  fire(input: AlertInput): void {
    this.fireDurably(input).catch((err: unknown) => this.opts.logger.error({ err: { message: (err as Error).message } }, 'alert could not be recorded'));
  }

  /** `AlertPublisher.resolve`. */
  resolve(input: Pick<AlertInput, 'detector' | 'server' | 'tool' | 'key'> & { time?: number }): void {
    this.resolveDurably(input).catch((err: unknown) => this.opts.logger.error({ err: { message: (err as Error).message } }, 'resolution could not be recorded'));
  }

  /**
   * Raises an alert and resolves once its notifications (if any) are durably recorded: this is the
   * acknowledgement `POST /api/alerts` waits for.
   */
  async fireDurably(input: AlertInput): Promise<TrackedAlert> {
    const now = Date.now();
    const time = input.time ?? now;
    const fingerprint = alertFingerprint(input);
    this.opts.metrics.alertsFired.inc({ detector: input.detector, severity: input.severity });
    const activeId = this.active.get(fingerprint);
    const existing = activeId !== undefined ? this.alerts.get(activeId) : undefined;
    if (existing) {
      const escalated = SEVERITIES.indexOf(input.severity) > SEVERITIES.indexOf(existing.severity);
      existing.count++;
      if (escalated) existing.severity = input.severity;
      existing.title = input.title;
      existing.summary = input.summary;
      existing.traceIds = mergeBounded(existing.traceIds, input.traceIds ?? [], MAX_TRACE_IDS);
      existing.traceLinks = this.traceLinks(existing.traceIds);
      existing.evidence = [...existing.evidence, ...input.evidence].slice(-MAX_EVIDENCE);
      const sinceLast = existing.lastNotifiedAt ? now - Date.parse(existing.lastNotifiedAt) : Infinity;
      if (existing.acknowledged && !escalated) {
        this.opts.metrics.alertsSuppressed.inc({ detector: input.detector, reason: 'acknowledged' });
      } else if (escalated || sinceLast >= this.opts.config.repeatIntervalSeconds * 1000) {
        await this.notify(existing, now);
      } else {
        this.opts.metrics.alertsSuppressed.inc({ detector: input.detector, reason: 'deduplicated' });
      }
      return existing;
    }
    const startsAt = new Date(time).toISOString();
    const traceIds = mergeBounded([], input.traceIds ?? [], MAX_TRACE_IDS);
    const alert: TrackedAlert = {
      id: stableId('al', fingerprint, time),
      fingerprint,
      status: 'firing',
      detector: input.detector,
      severity: input.severity,
      title: input.title,
      summary: input.summary,
      server: input.server,
      ...(input.tool !== undefined && { tool: input.tool }),
      ...(input.session !== undefined && { session: input.session }),
      traceIds,
      traceLinks: this.traceLinks(traceIds),
      evidence: input.evidence.slice(-MAX_EVIDENCE),
      labels: { ...input.labels },
      startsAt,
      count: 1,
    };
    this.track(alert);
    await this.notify(alert, now);
    return alert;
  }

  /** Ends a firing alert; notifies where it was notified. Resolves once recorded; undefined if none was firing. */
  async resolveDurably(input: Pick<AlertInput, 'detector' | 'server' | 'tool' | 'key'> & { time?: number }): Promise<TrackedAlert | undefined> {
    const fingerprint = alertFingerprint(input);
    const id = this.active.get(fingerprint);
    const alert = id !== undefined ? this.alerts.get(id) : undefined;
    if (!alert) return undefined;
    this.active.delete(fingerprint);
    alert.status = 'resolved';
    alert.endsAt = new Date(input.time ?? Date.now()).toISOString();
    this.opts.metrics.alertsActive.set(this.active.size);
    // An alert nobody was told about (silenced, unrouted) ends quietly.
    if (alert.lastNotifiedAt !== undefined) await this.notify(alert, Date.now());
    return alert;
  }

  /** Alerts matching the filters, newest first. */
  list(q: AlertQuery = {}): TrackedAlert[] {
    const out: TrackedAlert[] = [];
    const all = [...this.alerts.values()];
    for (let i = all.length - 1; i >= 0 && out.length < (q.limit ?? 100); i--) {
      const a = all[i]!;
      if (q.detector !== undefined && a.detector !== q.detector) continue;
      if (q.server !== undefined && a.server !== q.server) continue;
      if (q.status !== undefined && a.status !== q.status) continue;
      if (q.severity !== undefined && SEVERITIES.indexOf(a.severity) < SEVERITIES.indexOf(q.severity)) continue;
      if (q.since !== undefined && Date.parse(a.endsAt ?? new Date().toISOString()) < q.since) continue;
      out.push(a);
    }
    return out;
  }

  get(id: string): TrackedAlert | undefined {
    return this.alerts.get(id);
  }

  /**
   * Acknowledges a firing alert: no repeat notifications until it resolves (or its severity rises). With
   * Redis the acknowledgement is shared with every daemon.
   */
  acknowledge(id: string, author: string, comment = ''): TrackedAlert | undefined {
    const alert = this.alerts.get(id);
    if (!alert) return undefined;
    alert.acknowledged = { author, comment, at: new Date().toISOString() };
    void this.shared?.saveAck(id, alert.acknowledged);
    return alert;
  }

  /** Adds a silence (shared with every daemon on the same Redis); throws `RangeError` on bad input. */
  addSilence(input: SilenceInput, now: number = Date.now()): Silence {
    const s = this.silences.add(input, now);
    void this.shared?.saveSilence(s);
    return s;
  }

  /** Ends a silence now, everywhere; undefined when there is no such silence. */
  expireSilence(id: string, author: string): Silence | undefined {
    const s = this.silences.expire(id, author);
    if (s) void this.shared?.saveSilence(s);
    return s;
  }

  /** Reads the silences and acknowledgements other daemons shared. */
  async syncShared(): Promise<void> {
    if (!this.shared) return;
    const { silences, acks } = await this.shared.load();
    for (const s of silences) this.silences.upsert(s);
    for (const [id, ack] of acks) {
      const alert = this.alerts.get(id);
      if (alert && !alert.acknowledged) alert.acknowledged = ack;
    }
  }

  deadLetters(): Promise<DeadLetter[]> {
    return this.requireQueue().deadLetters();
  }

  /** Re-queues dead letters (all when `ids` is absent); returns how many. */
  async replay(ids?: readonly string[]): Promise<number> {
    const n = await this.requireQueue().replay(ids);
    void this.refreshGauges();
    return n;
  }

  /** Notifications held in the local outbox (in-process queue, or waiting for Redis). */
  outboxSize(): number {
    return this.queue?.outboxSize() ?? 0;
  }

  private requireQueue(): DeliveryQueue {
    if (!this.queue) throw new Error('alert manager is not started');
    return this.queue;
  }

  private buildSink(name: string, c: SinkConfig): AlertSink {
    const logger = this.opts.logger.child({ component: `alerts.sinks.${name}` });
    const ext = this.opts.config.externalUrl ?? '';
    switch (c.type) {
      case 'slack':
        return new SlackSink(name, c);
      case 'webhook':
        return new WebhookSink(name, c, ext);
      case 'alertmanager':
        return new AlertmanagerSink(name, c, logger, ext);
      case 'log':
        return new LogSink(name, logger);
    }
  }

  private traceLinks(traceIds: readonly string[]): string[] | undefined {
    const template = this.opts.config.traceLinkTemplate;
    if (template === undefined) return undefined;
    return traceIds.map((id) => template.replaceAll('{traceId}', encodeURIComponent(id)));
  }

  private track(alert: TrackedAlert): void {
    this.alerts.set(alert.id, alert);
    this.active.set(alert.fingerprint, alert.id);
    this.opts.metrics.alertsActive.set(this.active.size);
    // Bounded: evict the oldest resolved alert first, the oldest firing one only if nothing else is left.
    while (this.alerts.size > this.opts.config.maxAlerts) {
      let victim: string | undefined;
      for (const [id, a] of this.alerts) {
        if (a.status === 'resolved') {
          victim = id;
          break;
        }
      }
      victim ??= this.alerts.keys().next().value;
      if (victim === undefined) break;
      const a = this.alerts.get(victim);
      this.alerts.delete(victim);
      if (a && this.active.get(a.fingerprint) === victim) this.active.delete(a.fingerprint);
    }
  }

  /** Builds the jobs of one notification and records them (through the grouping window if one is set). */
  private async notify(alert: TrackedAlert, now: number): Promise<void> {
    const silence = this.silences.match(alert, now);
    if (silence) {
      alert.silencedBy = silence.id;
      this.opts.metrics.alertsSuppressed.inc({ detector: alert.detector, reason: 'silenced' });
      return;
    }
    delete alert.silencedBy;
    const sinks = this.router.sinksFor(alert);
    if (sinks.length === 0) {
      this.opts.metrics.alertsSuppressed.inc({ detector: alert.detector, reason: 'unrouted' });
      return;
    }
    const startsAtMs = Date.parse(alert.startsAt);
    const repeatWindow = Math.floor((now - startsAtMs) / (this.opts.config.repeatIntervalSeconds * 1000));
    const snapshot: TrackedAlert = structuredClone(alert);
    alert.lastNotifiedAt = new Date(now).toISOString();
    const jobs = sinks.map<DeliveryJob>((sink) => ({
      id:
        alert.status === 'resolved'
          ? stableId('n', sink, alert.fingerprint, startsAtMs, 'resolved')
          : stableId('n', sink, alert.fingerprint, startsAtMs, 'firing', alert.severity, Math.max(0, repeatWindow)),
      sink,
      alerts: [snapshot],
      raisedAt: now,
    }));
    const groupWaitMs = this.opts.config.groupWaitSeconds * 1000;
    const recorded = groupWaitMs > 0 ? Promise.all(jobs.map((j) => this.addToGroup(j, groupWaitMs))) : this.record(jobs);
    await recorded;
    // Best effort, after the durable record: the trace backend is a place to look, not a delivery.
    if (this.traceExporter) void this.traceExporter.exportAlert(snapshot);
  }

  private record(jobs: DeliveryJob[]): Promise<RecordedIn> {
    const queue = this.requireQueue();
    return queue.enqueue(jobs).then((where) => {
      for (const j of jobs) this.opts.metrics.alertNotifications.inc({ sink: j.sink, store: where });
      this.opts.metrics.alertOutboxJobs.set(queue.outboxSize());
      return where;
    });
  }

  private addToGroup(job: DeliveryJob, waitMs: number): Promise<RecordedIn> {
    const first = job.alerts[0]!;
    const key = JSON.stringify([job.sink, first.detector, first.server]);
    let group = this.groups.get(key);
    if (!group) {
      const timer = setTimeout(() => this.flushGroup(key), waitMs);
      timer.unref();
      group = { jobs: [], waiters: [], timer };
      this.groups.set(key, group);
    }
    group.jobs.push(job);
    const g = group;
    return new Promise<RecordedIn>((resolve, reject) => g.waiters.push((p) => p.then(resolve, reject)));
  }

  private flushGroup(key: string): void {
    const group = this.groups.get(key);
    if (!group) return;
    this.groups.delete(key);
    clearTimeout(group.timer);
    const [first, ...rest] = group.jobs;
    if (!first) return;
    const merged: DeliveryJob =
      rest.length === 0
        ? first
        : {
            id: stableId('g', ...group.jobs.map((j) => j.id)),
            sink: first.sink,
            alerts: group.jobs.flatMap((j) => j.alerts),
            raisedAt: Math.min(...group.jobs.map((j) => j.raisedAt)),
          };
    const recorded = this.record([merged]);
    recorded.catch(() => undefined);
    for (const w of group.waiters) w(recorded);
  }

  private outcome(job: DeliveryJob, outcome: DeliveryOutcome, error?: unknown): void {
    this.opts.metrics.alertDeliveries.inc({ sink: job.sink, outcome });
    if (outcome === 'delivered') {
      this.opts.metrics.alertDeliveryLatency.observe({ sink: job.sink }, Math.max(0, Date.now() - job.raisedAt) / 1000);
    } else if (outcome === 'dead_lettered') {
      this.opts.logger.error({ sink: job.sink, notification: job.id, err: { message: (error as Error | undefined)?.message } }, 'alert notification dead-lettered (see mcpwatch alerts dead-letters)');
      void this.refreshGauges();
    }
    this.opts.onOutcome?.(job, outcome, error);
  }

  private async refreshGauges(): Promise<void> {
    const queue = this.queue;
    if (!queue) return;
    try {
      const counts: Record<string, number> = Object.fromEntries(this.sinks.map((s) => [s.name, 0]));
      for (const d of await queue.deadLetters()) counts[d.sink] = (counts[d.sink] ?? 0) + 1;
      for (const [sink, n] of Object.entries(counts)) this.opts.metrics.alertDeadLetters.set({ sink }, n);
      this.opts.metrics.alertOutboxJobs.set(queue.outboxSize());
    } catch {
      // Redis away: the gauges keep their last values until it answers.
    }
  }
}

function mergeBounded(into: readonly string[], more: readonly string[], max: number): string[] {
  const out = [...into];
  for (const id of more) if (!out.includes(id)) out.push(id);
  return out.slice(-max);
}
