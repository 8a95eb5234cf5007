import type { AlertInput, AlertPublisher } from '../alert/types.js';
import type { Component, Consumer } from '../component/component.js';
import { once } from '../component/lifecycle.js';
import type { McpEvent } from '../pipeline/events.js';
import { LogOnce, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Detector, DetectorContext, DetectorStats } from './detector.js';
import { ExceptionMatcher } from './exceptions.js';
import { defaultDetectorsDirectory, loadDetectors, type LoadedDetector } from './loader.js';
import type { DetectorManifest } from './manifest.js';
import { ENGINE_KEY, resolveDetectorSettings, type DetectorsSection, type EngineSettings } from './settings.js';
import { defaultStateDir, FileStateStore, MemoryStateStore, RedisStateStore, type DetectorStateStore } from './state-store.js';

export interface DetectorEngineOptions {
  /** The `detectors` config section (engine settings under `engine`, per-detector settings by id). */
  section: DetectorsSection;
  publisher: AlertPublisher;
  logger: Logger;
  metrics: Metrics;
  /** Already-loaded detectors (tests); default: load `section.engine.directory` at start. */
  detectors?: LoadedDetector[];
  /** Where learned state goes; default from the engine settings (Redis, else the local file). */
  stateStore?: DetectorStateStore;
  /** The engine clock, Unix ms. Tests drive it; default `Date.now`. */
  clock?: () => number;
  /** Tick detectors on a timer (default true); tests call `tick()` themselves. */
  timers?: boolean;
}

/** What `mcpwatch detectors` and `GET /api/detectors` show per detector. */
export interface DetectorInfo {
  id: string;
  title: string;
  description: string;
  severity: DetectorManifest['severity'];
  maturity: DetectorManifest['maturity'];
  enabled: boolean;
  sources: DetectorManifest['sources'];
  tags: string[];
  entities?: DetectorStats;
}

interface RunningDetector {
  loaded: LoadedDetector;
  enabled: boolean;
  exceptions: ExceptionMatcher;
  sources: ReadonlySet<McpEvent['kind']>;
  detector?: Detector;
  /** Bound once: resolving a label set per event costs more than the counter itself. */
  events: { inc(n?: number): void };
  /**
   * Events handed over since the counter was last updated: the counter is brought up to date on every tick
   * (and at shutdown), not per event, where prom-client's bookkeeping cost as much as a cheap detector.
   */
  pendingEvents: number;
}

/**
 * Runs detection content over the normalized event stream (a best-effort observer on `daemon.events`).
 *
 * - Loads `detectors/<id>/` at start, validates each detector's settings (problems name
 *   `detectors.<id>.<field>`), and creates only the enabled ones (default: `stable` maturity).
 * - Applies user exceptions before a detector sees an event, and again to the alerts it raises.
 * - Ticks detectors once a second (windows close without traffic) and sweeps idle state.
 * - Restores learned state at start and writes it every `persistIntervalSeconds` and at shutdown, so a
 *   restart does not relearn.
 * - Never lets a detector's exception escape: the event is skipped, counted, and logged once a minute.
 */
export class DetectorEngine implements Component, Consumer<McpEvent> {
  private running: RunningDetector[] = [];
  private bySource = new Map<McpEvent['kind'], RunningDetector[]>();
  private readonly settings: EngineSettings;
  private readonly clock: () => number;
  private readonly logOnce = new LogOnce();
  private store?: DetectorStateStore;
  private tickTimer?: NodeJS.Timeout;
  private persistTimer?: NodeJS.Timeout;
  private dirty = false;
  private startedAt?: Promise<void>;
  /** Events seen since start, all detectors together. */
  eventsSeen = 0;

  constructor(private readonly opts: DetectorEngineOptions) {
    this.settings = opts.section[ENGINE_KEY];
    this.clock = opts.clock ?? Date.now;
  }

  /** Loads, validates and creates the detectors, then restores their learned state. Throws on bad config. */
  start(): Promise<void> {
    this.startedAt ??= this.runStart();
    return this.startedAt;
  }

  private async runStart(): Promise<void> {
    const loaded = this.opts.detectors ?? (await loadDetectors(this.settings.directory ?? defaultDetectorsDirectory()));
    const problems: string[] = [];
    const known = new Set(loaded.map((d) => d.id));
    for (const key of Object.keys(this.opts.section)) {
      if (key !== ENGINE_KEY && !known.has(key)) problems.push(`detectors.${key}: no such detector (known: ${[...known].sort().join(', ')})`);
    }
    const running: RunningDetector[] = [];
    for (const d of loaded) {
      const resolved = resolveDetectorSettings(d.manifest, d.module.configSchema, this.opts.section[d.id]);
      problems.push(...resolved.problems);
      if (!resolved.settings) continue;
      running.push({
        loaded: d,
        enabled: resolved.settings.enabled,
        exceptions: new ExceptionMatcher(resolved.settings.exceptions),
        sources: new Set(d.manifest.sources),
        events: this.opts.metrics.detectorEvents.labels({ detector: d.id }),
        pendingEvents: 0,
        ...(resolved.settings.enabled ? { detector: d.module.create(this.contextFor(d, resolved.settings.config)) } : {}),
      });
    }
    if (problems.length > 0) throw new Error(`invalid detector configuration: ${problems.join('; ')}`);
    this.running = running;
    for (const r of running) {
      if (!r.detector) continue;
      for (const kind of r.sources) {
        const list = this.bySource.get(kind) ?? [];
        list.push(r);
        this.bySource.set(kind, list);
      }
    }
    this.store = this.opts.stateStore ?? this.defaultStore();
    await this.restore();
    if (this.opts.timers !== false) {
      this.tickTimer = setInterval(() => this.tick(), this.settings.tickIntervalMs);
      this.tickTimer.unref();
      this.persistTimer = setInterval(() => void this.persist(), this.settings.persistIntervalSeconds * 1000);
      this.persistTimer.unref();
    }
    const enabled = running.filter((r) => r.enabled).map((r) => r.loaded.id);
    this.opts.logger.info({ detectors: { enabled, loaded: running.length, state: this.store.description } }, 'detector engine started');
  }

  private defaultStore(): DetectorStateStore {
    if (!this.settings.persist) return new MemoryStateStore();
    if (this.settings.redis) return new RedisStateStore(this.settings.redis, this.settings.redisKey);
    return new FileStateStore(this.settings.stateDir ?? defaultStateDir());
  }

  /** Events of the batch go to every enabled detector that consumes their kind. Always takes the batch. */
  consume(batch: readonly McpEvent[]): boolean {
    for (const event of batch) this.process(event);
    return true;
  }

  /** One event through every interested detector (exceptions applied first). */
  process(event: McpEvent): void {
    const targets = this.bySource.get(event.kind);
    if (!targets) return;
    this.eventsSeen += 1;
    this.dirty = true;
    for (const r of targets) {
      if (r.exceptions.coversEvent(event)) {
        this.opts.metrics.detectorExceptions.inc({ detector: r.loaded.id, what: 'event' });
        continue;
      }
      r.pendingEvents += 1;
      try {
        r.detector!.onEvent(event);
      } catch (err) {
        this.detectorFailed(r.loaded.id, 'onEvent', err);
      }
    }
  }

  /** Ticks every enabled detector with the engine clock and refreshes the entity gauges. */
  tick(now = this.clock()): void {
    this.flushEventCounts();
    for (const r of this.running) {
      if (!r.detector) continue;
      try {
        r.detector.onTick?.(now);
        const stats = r.detector.stats?.();
        if (stats) {
          this.opts.metrics.detectorEntities.set({ detector: r.loaded.id, phase: 'learning' }, stats.learning);
          this.opts.metrics.detectorEntities.set({ detector: r.loaded.id, phase: 'armed' }, stats.armed);
          this.opts.metrics.detectorEntities.set({ detector: r.loaded.id, phase: 'none' }, stats.none ?? 0);
        }
      } catch (err) {
        this.detectorFailed(r.loaded.id, 'onTick', err);
      }
    }
  }

  private flushEventCounts(): void {
    for (const r of this.running) {
      if (r.pendingEvents === 0) continue;
      r.events.inc(r.pendingEvents);
      r.pendingEvents = 0;
    }
  }

  /** Writes every detector's learned state to the state store (skipped when nothing happened). */
  async persist(force = false): Promise<void> {
    if (!this.store || (!this.dirty && !force)) return;
    this.dirty = false;
    const state: Record<string, unknown> = {};
    for (const r of this.running) {
      if (!r.detector?.snapshot) continue;
      try {
        state[r.loaded.id] = r.detector.snapshot();
      } catch (err) {
        this.detectorFailed(r.loaded.id, 'snapshot', err);
      }
    }
    try {
      await this.store.save(state);
      this.opts.metrics.detectorStatePersists.inc({ operation: 'save', status: 'ok' });
    } catch (err) {
      this.dirty = true;
      this.opts.metrics.detectorStatePersists.inc({ operation: 'save', status: 'failed' });
      if (this.logOnce.shouldLog('persist')) {
        this.opts.logger.error({ err: (err as Error).message, state: this.store.description }, 'cannot write learned detector state');
      }
    }
  }

  private async restore(): Promise<void> {
    if (!this.store) return;
    let state: Record<string, unknown>;
    try {
      state = await this.store.load();
      this.opts.metrics.detectorStatePersists.inc({ operation: 'load', status: 'ok' });
    } catch (err) {
      // Never refuse to start over learned state: relearning is the safe fallback.
      this.opts.metrics.detectorStatePersists.inc({ operation: 'load', status: 'failed' });
      this.opts.logger.warn({ err: (err as Error).message, state: this.store.description }, 'cannot read learned detector state; detectors start learning afresh');
      return;
    }
    for (const r of this.running) {
      const saved = state[r.loaded.id];
      if (saved === undefined || !r.detector?.restore) continue;
      try {
        r.detector.restore(saved);
      } catch (err) {
        this.detectorFailed(r.loaded.id, 'restore', err);
      }
    }
  }

  /** Stops the timers and writes learned state. Idempotent, safe without start. */
  readonly shutdown = once(async () => {
    clearInterval(this.tickTimer);
    clearInterval(this.persistTimer);
    this.flushEventCounts();
    if (!this.startedAt) return;
    await this.startedAt.catch(() => undefined);
    await this.persist();
    await this.store?.close();
  });

  /** Every loaded detector (enabled or not), for `mcpwatch detectors` and `/api/detectors`. */
  list(): DetectorInfo[] {
    return this.running.map((r) => {
      const m = r.loaded.manifest;
      const info: DetectorInfo = {
        id: m.id,
        title: m.title,
        description: m.description,
        severity: m.severity,
        maturity: m.maturity,
        enabled: r.enabled,
        sources: m.sources,
        tags: m.tags,
      };
      const stats = r.detector?.stats?.();
      if (stats) info.entities = stats;
      return info;
    });
  }

  /** The running instance of a detector (tests and benchmarks). */
  detector(id: string): Detector | undefined {
    return this.running.find((r) => r.loaded.id === id)?.detector;
  }

  private contextFor(d: LoadedDetector, config: unknown): DetectorContext<unknown> {
    const logger = this.opts.logger.child({ detector: d.id });
    const exceptions = (): ExceptionMatcher | undefined => this.running.find((r) => r.loaded === d)?.exceptions;
    // Bound once: a detector whose traces or requests come and go evicts on nearly every event, and resolving
    // the label set per eviction cost more than the eviction itself.
    const evictions = this.opts.metrics.detectorStateEvictions.labels({ detector: d.id });
    return {
      manifest: d.manifest,
      config,
      logger,
      now: this.clock,
      fire: (alert) => {
        const input: AlertInput = { ...alert, detector: d.id, severity: alert.severity ?? d.manifest.severity };
        if (exceptions()?.coversAlert(input)) {
          this.opts.metrics.detectorExceptions.inc({ detector: d.id, what: 'alert' });
          return;
        }
        input.labels = { ...input.labels, maturity: d.manifest.maturity };
        input.time ??= this.clock();
        try {
          this.opts.publisher.fire(input);
        } catch (err) {
          if (this.logOnce.shouldLog(`publish:${d.id}`)) this.opts.logger.error({ err: (err as Error).message, detector: d.id }, 'alert hand-off failed');
        }
      },
      resolve: (alert) => {
        try {
          this.opts.publisher.resolve({ detector: d.id, server: alert.server, tool: alert.tool, key: alert.key, time: alert.time ?? this.clock() });
        } catch (err) {
          if (this.logOnce.shouldLog(`publish:${d.id}`)) this.opts.logger.error({ err: (err as Error).message, detector: d.id }, 'alert hand-off failed');
        }
      },
      countEviction: (n = 1) => evictions.inc(n),
    };
  }

  private detectorFailed(id: string, where: string, err: unknown): void {
    this.opts.metrics.detectorErrors.inc({ detector: id });
    if (this.logOnce.shouldLog(`${id}:${where}`)) {
      this.opts.logger.error({ err: (err as Error).message, detector: id, where }, 'detector failed (the event is skipped; the detector keeps running)');
    }
  }
}
