import type { Consumer } from '../component/component.js';
import type { DecodedSpan } from '../receiver/otlp/span.js';
import { LogOnce, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { McpEvent } from './events.js';
import { methodLabel, normalizeSpan } from './normalize.js';

/** Options of {@link NormalizeProcessor}. */
export interface NormalizeProcessorOptions {
  /** Keep masked tool arguments and results in events (DESIGN.md: content capture is opt-in). */
  captureContent: boolean;
  /** JSON payload strings longer than this are kept as size only. Default 1 MiB (see normalize.ts). */
  maxPayloadBytes?: number;
  metrics: Metrics;
  logger: Logger;
}

/** Where the processor hands its output. */
export interface NormalizeProcessorDownstream {
  /** Every span, MCP or not, for trace queries. */
  spans: Consumer<DecodedSpan>;
  /** The MCP events found in those spans, for detectors and the store. */
  events: Consumer<McpEvent>;
}

/**
 * The pipeline stage between the OTLP receiver and the event bus: normalizes each span into an
 * `McpTrafficEvent` (when it carries MCP traffic) and passes every span on for trace queries.
 *
 * Back-pressure: the events consumer is offered first, and a refusal refuses the whole batch so the
 * sender retries it with nothing half-delivered. Once the events are taken, a refusal by the span
 * consumer is not passed back (a retry would deliver the events twice and double-count in detectors);
 * those spans are lost to trace queries only, which is logged once per minute. The bounded queue in
 * front of the span store counts the refusal itself.
 */
export class NormalizeProcessor implements Consumer<DecodedSpan> {
  private readonly logOnce = new LogOnce();

  constructor(
    private readonly opts: NormalizeProcessorOptions,
    private readonly downstream: NormalizeProcessorDownstream,
  ) {}

  consume(batch: readonly DecodedSpan[]): boolean {
    const { metrics } = this.opts;
    const normalizeOpts =
      this.opts.maxPayloadBytes === undefined
        ? { captureContent: this.opts.captureContent }
        : { captureContent: this.opts.captureContent, maxPayloadBytes: this.opts.maxPayloadBytes };
    const events: McpEvent[] = [];
    let nonMcp = 0;
    for (const span of batch) {
      const event = normalizeSpan(span, normalizeOpts);
      if (event) events.push(event);
      else nonMcp++;
    }
    if (events.length > 0 && !this.downstream.events.consume(events)) return false;
    // Counted once the events are accepted, so a refused-and-retried batch is not counted twice.
    // One counter update per label set, not per event: prom-client hashes the labels on every inc().
    const counts = new Map<string, { method: string; flavour: string; n: number }>();
    for (const event of events) {
      if (event.kind !== 'mcp') continue;
      const key = `${event.method}\u0000${event.flavour}`;
      const c = counts.get(key);
      if (c) c.n += 1;
      else counts.set(key, { method: event.method, flavour: event.flavour, n: 1 });
    }
    for (const c of counts.values()) metrics.normalizedEvents.inc({ method: methodLabel(c.method), flavour: c.flavour }, c.n);
    if (nonMcp > 0) metrics.nonMcpSpans.inc(nonMcp);
    if (!this.downstream.spans.consume(batch) && this.logOnce.shouldLog('spans-refused')) {
      this.opts.logger.warn({ spans: batch.length }, 'span consumer refused a batch after its MCP events were delivered; spans dropped from trace queries');
    }
    return true;
  }
}
