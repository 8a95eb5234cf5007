import type { Component, CreateSettings, Host } from './component/component.js';
import { BoundedQueue } from './component/bounded-queue.js';
import { FanOutConsumer } from './component/fan-out.js';
import { Lifecycle } from './component/lifecycle.js';
import type { Config } from './config/schema.js';
import { AdminServer } from './api/admin-server.js';
import type { McpEvent } from './pipeline/events.js';
import { NormalizeProcessor } from './pipeline/normalize-processor.js';
import { otlpReceiverFactory } from './receiver/otlp/factory.js';
import { createHostTelemetry, type HostTelemetry } from './receiver/process/host-telemetry.js';
import type { OtlpHttpReceiver } from './receiver/otlp/receiver.js';
import type { DecodedSpan } from './receiver/otlp/span.js';
import { RecentStore } from './store/recent-store.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { Metrics } from './telemetry/metrics.js';
import { validateConfig } from './config/validate.js';
import { AlertManager } from './alert/manager.js';
import { alertRoutes } from './alert/api-routes.js';
import { DetectorEngine } from './detect/engine.js';
import { AuditLog } from './audit/audit-log.js';
import { withServerRegistry } from './detect/server-registry-settings.js';

export interface DaemonOptions {
  logger?: Logger;
  metrics?: Metrics;
}

/**
 * The mcpwatch daemon: receivers (OTLP, host telemetry) -> bounded queue -> normalization -> event bus
 * (store, detectors, audit log) -> alert manager -> queue -> sinks, with the admin server beside them.
 *
 * Start order: admin (so /livez answers and /readyz says "not ready" at once), then the pipeline, then the
 * receivers. Shutdown runs in reverse: receivers stop taking data, the queue drains, the admin server
 * closes last so it can answer 503 while the rest drains.
 */
export class Daemon {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: RecentStore;
  /** Where normalized events go; detectors attach here. */
  readonly events: FanOutConsumer<McpEvent>;
  /** Runs the detectors over `events`; their alerts go to `alerts`. */
  readonly detectors: DetectorEngine;
  /** Alert delivery (`alerts.*`): the `AlertPublisher` detectors raise alerts through. */
  readonly alerts: AlertManager;
  /** Host receivers (process, file, network) and the server registry they share; undefined when all are off. */
  readonly host?: HostTelemetry;
  private readonly lifecycle = new Lifecycle();
  private readonly queue: BoundedQueue<DecodedSpan>;
  private readonly admin: AdminServer;
  private readonly receivers: OtlpHttpReceiver[] = [];
  private started = false;
  private stopping?: Promise<void>;

  constructor(
    readonly config: Config,
    opts: DaemonOptions = {},
  ) {
    const problems = validateConfig(config);
    if (problems.length > 0) throw new Error(`invalid configuration: ${problems.join('; ')}`);
    this.logger = opts.logger ?? createLogger({ level: config.admin.logLevel });
    this.metrics = opts.metrics ?? new Metrics({ defaultMetrics: true });
    this.store = new RecentStore(config.store, this.metrics);
    this.events = new FanOutConsumer<McpEvent>([this.store.eventConsumer]);
    const normalize = new NormalizeProcessor(
      { captureContent: config.store.captureContent, metrics: this.metrics, logger: this.logger },
      { spans: this.store.spanConsumer, events: this.events },
    );
    this.queue = new BoundedQueue<DecodedSpan>(
      {
        name: 'spans',
        capacity: config.pipeline.queueCapacitySpans,
        capacityBytes: config.pipeline.queueCapacityBytes,
        passThroughWhenIdle: true,
        metrics: this.metrics,
      },
      normalize,
    );
    this.alerts = new AlertManager({
      config: config.alerts,
      logger: this.logger.child({ component: 'alerts' }),
      metrics: this.metrics,
      adminEndpoint: config.admin.endpoint,
      store: this.store,
    });
    this.detectors = new DetectorEngine({
      section: withServerRegistry(config.detectors, config.servers),
      publisher: this.alerts,
      logger: this.logger.child({ component: 'detectors' }),
      metrics: this.metrics,
    });
    this.events.add(this.detectors);
    this.admin = new AdminServer({
      config: config.admin,
      store: this.store,
      metrics: this.metrics,
      logger: this.logger.child({ component: 'admin' }),
      readiness: () => this.readiness(),
      detectors: () => this.detectors.list(),
      routes: alertRoutes(this.alerts),
    });
    this.lifecycle.add('admin', this.admin);
    // After admin, before the detectors: detectors stop raising before delivery stops.
    this.lifecycle.add('alerts', this.alerts);
    // After admin, before the pipeline: shut down after the queue drained, so the last events are learned
    // from and the learned state written.
    this.lifecycle.add('detectors', this.detectors);
    if (config.store.audit.enabled) {
      // An observer beside the store; shut down after the queue drained, so the last actions are written.
      const audit = new AuditLog({ config: config.store.audit, captureContent: config.store.captureContent, logger: this.logger.child({ component: 'audit' }) });
      this.events.add(audit);
      this.lifecycle.add('audit', audit);
    }
    this.lifecycle.add('pipeline', this.pipelineComponent());
    if (config.receivers.otlp.enabled) {
      const settings: CreateSettings = {
        path: 'receivers.otlp',
        logger: this.logger.child({ component: 'receivers.otlp' }),
        metrics: this.metrics,
      };
      const receiver = otlpReceiverFactory.create(settings, config.receivers.otlp, this.queue) as OtlpHttpReceiver;
      this.receivers.push(receiver);
      this.lifecycle.add('receivers.otlp', receiver);
    }
    this.host = createHostTelemetry(config, this.events, this.logger, this.metrics);
    for (const [name, component] of this.host?.components ?? []) this.lifecycle.add(name, component);
  }

  /** Binds every listener; rejects (after cleaning up) if any cannot start. */
  async start(): Promise<void> {
    const host: Host = { logger: this.logger, metrics: this.metrics };
    try {
      await this.lifecycle.startAll(host);
    } catch (err) {
      await this.lifecycle.shutdownAll().catch(() => undefined);
      this.metrics.close();
      throw err;
    }
    this.started = true;
    this.metrics.up.set(1);
    this.logger.info({ admin: this.adminAddress(), otlp: this.otlpAddress() }, 'mcpwatch started');
  }

  /** Ready when every enabled receiver listens and the daemon is not shutting down. */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.started) reasons.push('starting');
    if (this.stopping) reasons.push('shutting down');
    this.receivers.forEach((r, i) => {
      if (!r.listening) reasons.push(`receiver ${i === 0 ? 'otlp' : i} is not listening`);
    });
    return { ready: reasons.length === 0, reasons };
  }

  adminAddress(): { host: string; port: number } {
    return this.admin.address();
  }

  otlpAddress(): { host: string; port: number } | undefined {
    return this.receivers[0]?.address();
  }

  /**
   * Stops accepting (503 on every listener), drains the queue within `pipeline.drainTimeoutSeconds`, closes.
   * Idempotent: a second signal waits for the same shutdown.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.runShutdown();
    return this.stopping;
  }

  private async runShutdown(): Promise<void> {
    this.metrics.up.set(0);
    this.admin.beginClosing();
    for (const r of this.receivers) r.beginClosing();
    this.logger.info({ queued: this.queue.size }, 'mcpwatch shutting down');
    try {
      await this.lifecycle.shutdownAll();
    } finally {
      this.metrics.close();
      this.logger.info('mcpwatch stopped');
      this.logger.flush();
    }
  }

  private pipelineComponent(): Component {
    let closed: Promise<void> | undefined;
    return {
      start: async () => undefined,
      shutdown: () => (closed ??= this.queue.close(this.config.pipeline.drainTimeoutSeconds * 1000)),
    };
  }
}
