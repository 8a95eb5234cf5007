import type { Consumer } from '../component/component.js';
import { materializeDeferredText, type DecodedSpan } from '../receiver/otlp/span.js';
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
 * Spans go to the span consumer before their events, so the store can attribute each event to a span it
 * already holds (the reverse order costs a pending-attribution entry per span on the hot path).
 *
 * Back-pressure: a refusal by the events consumer refuses the whole batch, and the sender retries it; the
 * spans it already passed on come again and the store drops them as duplicates (OTLP delivery is
 * at-least-once anyway). A refusal by the span consumer is not passed back: those spans are lost to trace
 * queries only, which is logged once per minute.
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
    // With capture on the store keeps (masked) tool arguments and results: it gets them as strings.
    if (this.opts.captureContent) for (const span of batch) materializeDeferredText(span.attributes);
    if (!this.downstream.spans.consume(batch) && this.logOnce.shouldLog('spans-refused')) {
      this.opts.logger.warn({ spans: batch.length }, 'span consumer refused a batch; spans dropped from trace queries');
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
    return true;
  }
}
