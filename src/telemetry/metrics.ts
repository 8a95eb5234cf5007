import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { METRIC, MCP_DURATION_BUCKETS } from './metric-names.js';

/**
 * The daemon's own metrics, one registry per daemon instance (tests run several in one process).
 * Components receive this object through their `Host` and never create metrics by name themselves.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly receiverAcceptedSpans = this.counter(METRIC.receiverAcceptedSpans, 'Spans accepted by a receiver.', ['receiver', 'encoding']);
  readonly receiverRefusedSpans = this.counter(METRIC.receiverRefusedSpans, 'Spans a receiver refused or rejected (partial success).', ['receiver', 'reason']);
  readonly receiverRequests = this.counter(METRIC.receiverRequests, 'Requests answered by a receiver, by HTTP status.', ['receiver', 'status']);
  readonly receiverRequestDuration = new Histogram({
    name: METRIC.receiverRequestDuration,
    help: 'Time from request start to response, seconds.',
    labelNames: ['receiver', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly receiverInflightRequests = this.gauge(METRIC.receiverInflightRequests, 'Requests being read or decoded now.', ['receiver']);
  readonly receiverInflightBytes = this.gauge(METRIC.receiverInflightBytes, 'Declared body bytes of requests being handled now.', ['receiver']);
  readonly receiverRequestBytes = this.counter(METRIC.receiverRequestBytes, 'Request body bytes after decompression.', ['receiver']);
  readonly queueAccepted = this.counter(METRIC.queueAccepted, 'Items accepted by a pipeline queue.', ['queue']);
  readonly queueRefused = this.counter(METRIC.queueRefused, 'Items a full or closed pipeline queue refused.', ['queue']);
  readonly queueDropped = this.counter(METRIC.queueDropped, 'Items a pipeline queue accepted but could not hand on.', ['queue']);
  readonly queueSize = this.gauge(METRIC.queueSize, 'Items waiting in a pipeline queue.', ['queue']);
  readonly queueCapacity = this.gauge(METRIC.queueCapacity, 'Capacity of a pipeline queue.', ['queue']);
  readonly normalizedEvents = this.counter(METRIC.normalizedEvents, 'MCP events produced by normalization, by method and flavour.', ['method', 'flavour']);
  readonly nonMcpSpans = this.counter(METRIC.nonMcpSpans, 'Spans kept for trace queries that carry no MCP traffic.', []);
  readonly storeItems = this.gauge(METRIC.storeItems, 'Items held in the recent store.', ['kind']);
  readonly storeBytes = this.gauge(METRIC.storeBytes, 'Approximate bytes held in the recent store.', []);
  readonly storeEvictions = this.counter(METRIC.storeEvictions, 'Items evicted from the recent store to stay within its limits.', ['kind']);
  readonly adminRequests = this.counter(METRIC.adminRequests, 'Admin API requests by route and status.', ['route', 'status']);
  readonly up = this.gauge(METRIC.up, '1 while the daemon is serving, 0 while it shuts down.', []);
  readonly alertsFired = this.counter(METRIC.alertsFired, 'Alerts raised by detectors (before dedup and silences).', ['detector', 'severity']);
  readonly alertsSuppressed = this.counter(METRIC.alertsSuppressed, 'Alert notifications not sent, by reason (deduplicated, silenced, acknowledged, unrouted).', ['detector', 'reason']);
  readonly alertsActive = this.gauge(METRIC.alertsActive, 'Alerts firing now, as this daemon knows them.', []);
  readonly alertNotifications = this.counter(METRIC.alertNotifications, 'Notifications durably recorded for delivery, by where they were recorded.', ['sink', 'store']);
  readonly alertDeliveries = this.counter(METRIC.alertDeliveries, 'Delivery attempts by outcome (delivered, retry, rate_limited, dead_lettered).', ['sink', 'outcome']);
  readonly alertDeliveryLatency = new Histogram({
    name: METRIC.alertDeliveryLatency,
    help: 'Time from an alert being raised to its successful delivery request, seconds.',
    labelNames: ['sink'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly alertDeadLetters = this.gauge(METRIC.alertDeadLetters, 'Notifications in the dead-letter list, waiting for an operator (see mcpwatch alerts dead-letters).', ['sink']);
  readonly alertOutboxJobs = this.gauge(METRIC.alertOutboxJobs, 'Notifications held in the local outbox (in-process queue, or Redis unreachable).', []);

  readonly detectorEvents = this.counter(METRIC.detectorEvents, 'Events handed to a detector.', ['detector']);
  readonly detectorErrors = this.counter(METRIC.detectorErrors, 'Exceptions thrown by a detector (the event is skipped, the detector keeps running).', ['detector']);
  readonly detectorExceptions = this.counter(METRIC.detectorExceptions, 'Events and alerts dropped by user exceptions (allowlists), by what was dropped.', ['detector', 'what']);
  readonly detectorStateEvictions = this.counter(METRIC.detectorStateEvictions, 'Per-entity detector state evicted by its cap (LRU) or TTL.', ['detector']);
  readonly detectorEntities = this.gauge(METRIC.detectorEntities, 'Entities a detector tracks, by baseline phase (learning, armed, none).', ['detector', 'phase']);
  readonly detectorStatePersists = this.counter(METRIC.detectorStatePersists, 'Writes and loads of learned detector state, by outcome.', ['operation', 'status']);

  readonly hostServers = this.gauge(METRIC.hostServers, 'MCP server process trees monitored by host telemetry, by how they were identified and whether they are registered.', ['source', 'registered']);
  readonly hostEvents = this.counter(METRIC.hostEvents, 'Process, file and network events emitted by the host receivers.', ['receiver', 'action']);
  readonly hostDroppedEvents = this.counter(METRIC.hostDroppedEvents, 'Host events the event bus refused (host receivers cannot ask /proc to resend).', ['receiver']);
  readonly hostSampleDuration = new Histogram({
    name: METRIC.hostSampleDuration,
    help: 'Time one host receiver sample took, seconds.',
    labelNames: ['receiver'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly hostProcReadErrors = this.counter(METRIC.hostProcReadErrors, 'Host reads that failed: /proc entries of other users (denied), scans that failed, servers over the cap.', ['reason']);
  readonly hostTrackedItems = this.gauge(METRIC.hostTrackedItems, 'State held by host receivers (processes, connections, destinations), each bounded by its config cap.', ['receiver', 'kind']);
  readonly fileUnwatchedPaths = this.gauge(METRIC.fileUnwatchedPaths, 'Configured file paths not being watched now, by reason (missing, inotify_limit, denied, noatime, canary_conflict, error).', ['reason']);

  private lagHistogram?: IntervalHistogram;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    new Gauge({
      name: METRIC.buildInfo,
      help: 'Build information; always 1.',
      labelNames: ['version', 'node'],
      registers: [this.registry],
    }).set({ version: process.env.npm_package_version ?? '0.1.0', node: process.version }, 1);
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'mcpwatch_' });
    // Event-loop lag, measured by node's own sampler: the first thing to degrade when ingest is too hot.
    this.lagHistogram = monitorEventLoopDelay({ resolution: 20 });
    this.lagHistogram.enable();
    const lag = this.lagHistogram;
    new Gauge({
      name: METRIC.eventLoopLag,
      help: 'Event-loop delay since the previous scrape, seconds (p99 and max).',
      labelNames: ['quantile'],
      registers: [this.registry],
      collect() {
        this.set({ quantile: '0.99' }, lag.percentile(99) / 1e9);
        this.set({ quantile: '1' }, lag.max / 1e9);
        lag.reset();
      },
    });
  }

  /** Stops the event-loop sampler. */
  close(): void {
    this.lagHistogram?.disable();
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}

export { MCP_DURATION_BUCKETS };
