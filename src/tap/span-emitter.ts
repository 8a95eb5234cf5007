import { randomBytes } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind as ApiSpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type IdGenerator,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../telemetry/logger.js';

/**
 * The taps' span output: a private `BasicTracerProvider` (never the global one, and no `OTEL_*`
 * environment: the tap must not pick up settings meant for the server it wraps) exporting OTLP/HTTP to
 * the daemon through a bounded `BatchSpanProcessor`.
 *
 * Fail-open: nothing here is awaited on the relay path. `record()` only appends to a bounded queue; when
 * the queue is full the span is dropped and counted, and an export that fails (daemon down, slow, 4xx/5xx)
 * drops its batch and counts it. Each kind of loss is logged once, with totals at shutdown.
 *
 * Spans are recorded after the fact (a request's span when its response is seen) with ids the tap chose
 * when the request was seen, so a descendant tap can parent its spans on a call still in flight.
 */

export interface SpanEmitterOptions {
  /** OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. */
  endpoint: string;
  /** Sent as `Authorization: Bearer <token>` when the daemon's receiver requires one. */
  bearerToken?: string;
  resource: Attributes;
  logger: Logger;
  /** Most finished spans waiting for export; more are dropped and counted. */
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  scheduledDelayMillis?: number;
  /** One export attempt's deadline; a slow daemon costs a dropped batch, never a stalled relay. */
  exportTimeoutMillis?: number;
}

/** A span the tap saw completely: its times, ids and attributes. */
export interface TapSpan {
  name: string;
  kind: 'server' | 'client';
  /** Unix epoch milliseconds (fractional). */
  startMs: number;
  endMs: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Attributes;
  error?: string;
}

export interface SpanEmitterStats {
  recorded: number;
  exported: number;
  /** Dropped because the queue was full. */
  droppedQueueFull: number;
  /** Dropped because their export failed or timed out. */
  droppedExportFailed: number;
}

export const DEFAULT_SPAN_QUEUE_SIZE = 2048;

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/** Hands out the ids set just before a span is started (the tap chose them earlier). */
class PresetIdGenerator implements IdGenerator {
  nextTraceId: string | undefined;
  nextSpanId: string | undefined;
  generateTraceId(): string {
    const id = this.nextTraceId ?? newTraceId();
    this.nextTraceId = undefined;
    return id;
  }
  generateSpanId(): string {
    const id = this.nextSpanId ?? newSpanId();
    this.nextSpanId = undefined;
    return id;
  }
}

type ExportCallback = Parameters<SpanExporter['export']>[1];
/** `ExportResultCode.SUCCESS` of @opentelemetry/core (not a direct dependency). */
const EXPORT_SUCCESS = 0;

/** Counts what the exporter was handed and what it could not deliver. */
class CountingExporter implements SpanExporter {
  handed = 0;
  exported = 0;
  failed = 0;
  constructor(
    private readonly inner: SpanExporter,
    private readonly onFailure: (count: number, err: Error | undefined) => void,
  ) {}
  export(spans: ReadableSpan[], resultCallback: ExportCallback): void {
    this.handed += spans.length;
    this.inner.export(spans, (result) => {
      if (result.code === EXPORT_SUCCESS) this.exported += spans.length;
      else {
        this.failed += spans.length;
        this.onFailure(spans.length, result.error);
      }
      resultCallback(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Drops (and counts) a span instead of queueing it when the batch processor's queue is full. */
class BoundedProcessor implements SpanProcessor {
  ended = 0;
  dropped = 0;
  constructor(
    private readonly inner: SpanProcessor,
    private readonly exporter: CountingExporter,
    private readonly maxQueueSize: number,
    private readonly onDrop: () => void,
  ) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    if (this.ended - this.exporter.handed >= this.maxQueueSize) {
      this.dropped++;
      this.onDrop();
      return;
    }
    this.ended++;
    this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

export class SpanEmitter {
  private readonly provider: BasicTracerProvider;
  private readonly ids = new PresetIdGenerator();
  private readonly exporter: CountingExporter;
  private readonly processor: BoundedProcessor;
  private readonly tracer;
  private readonly logger: Logger;
  private recorded = 0;
  private loggedQueueFull = false;
  private loggedExportFailed = false;
  private closing: Promise<void> | undefined;

  constructor(opts: SpanEmitterOptions) {
    this.logger = opts.logger;
    const maxQueueSize = opts.maxQueueSize ?? DEFAULT_SPAN_QUEUE_SIZE;
    const exportTimeoutMillis = opts.exportTimeoutMillis ?? 2000;
    this.exporter = new CountingExporter(new OTLPTraceExporter({
        url: opts.endpoint,
        timeoutMillis: exportTimeoutMillis,
        ...(opts.bearerToken ? { headers: { authorization: `Bearer ${opts.bearerToken}` } } : {}),
      }), (count, err) => {
      if (this.loggedExportFailed) return;
      this.loggedExportFailed = true;
      this.logger.warn({ endpoint: opts.endpoint, spans: count, error: err?.message }, 'span export failed; traffic is unaffected, spans are dropped and counted (logged once)');
    });
    const batch = new BatchSpanProcessor(this.exporter, {
      // The inner queue is one larger than ours so that BoundedProcessor, which counts, is the one that drops.
      maxQueueSize: maxQueueSize + 1,
      maxExportBatchSize: Math.min(opts.maxExportBatchSize ?? 512, maxQueueSize),
      scheduledDelayMillis: opts.scheduledDelayMillis ?? 500,
      exportTimeoutMillis,
    });
    this.processor = new BoundedProcessor(batch, this.exporter, maxQueueSize, () => {
      if (this.loggedQueueFull) return;
      this.loggedQueueFull = true;
      this.logger.warn({ maxQueueSize }, 'span queue full; spans are dropped and counted (logged once)');
    });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes(opts.resource),
      sampler: new AlwaysOnSampler(),
      idGenerator: this.ids,
      spanProcessors: [this.processor],
    });
    this.tracer = this.provider.getTracer('mcpwatch-tap');
  }

  /** Queues one finished span; never blocks, never throws. */
  record(s: TapSpan): void {
    if (this.closing) return;
    try {
      let ctx: Context = ROOT_CONTEXT;
      if (s.parentSpanId !== undefined) {
        ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
      } else {
        this.ids.nextTraceId = s.traceId;
      }
      this.ids.nextSpanId = s.spanId;
      const span = this.tracer.startSpan(
        s.name,
        { kind: s.kind === 'server' ? ApiSpanKind.SERVER : ApiSpanKind.CLIENT, startTime: s.startMs, attributes: s.attributes },
        ctx,
      );
      if (s.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error });
      span.end(Math.max(s.endMs, s.startMs));
      this.recorded++;
    } catch (err) {
      this.logger.debug({ error: (err as Error).message }, 'span not recorded');
    } finally {
      this.ids.nextTraceId = undefined;
      this.ids.nextSpanId = undefined;
    }
  }

  stats(): SpanEmitterStats {
    return {
      recorded: this.recorded,
      exported: this.exporter.exported,
      droppedQueueFull: this.processor.dropped,
      droppedExportFailed: this.exporter.failed,
    };
  }

  /** Flushes what it can within `timeoutMs`, then stops. Idempotent; never rejects. */
  shutdown(timeoutMs = 1000): Promise<void> {
    this.closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      });
      await Promise.race([this.provider.shutdown().catch(() => undefined), deadline]);
      if (timer) clearTimeout(timer);
    })();
    return this.closing;
  }
}
