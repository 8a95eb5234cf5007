import { parentPort, workerData } from 'node:worker_threads';
import { DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, diag, trace, type Attributes, type Context, type DiagLogger } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  type IdGenerator,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { TapSpan } from './span-emitter.js';

/**
 * The taps' span exporter thread. It owns the OpenTelemetry SDK: a `NodeSDK` (@opentelemetry/sdk-node) whose
 * tracer provider is global only within this thread (its environment has no `OTEL_*` variables, so
 * settings meant for the wrapped server do not apply, and resource detection is off, so the tap's own
 * process never stands in for the server's), with a bounded `BatchSpanProcessor` and the OTLP/HTTP
 * `OTLPTraceExporter`, sending to the daemon.
 *
 * Why a thread: on the relay thread the SDK's batch serialisation (~5 ms per 512 spans, inside the
 * `span.end()` that filled the batch) and the garbage of its span objects were the tap's whole latency
 * tail (BENCHMARKS.md "Tap overhead"). Here they run on their own event loop and heap; the relay thread
 * only posts plain records (`span-emitter.ts`).
 *
 * Each record is replayed as an SDK span with the ids and times the tap recorded: a preset id generator
 * hands the SDK the recorded ids, and the parent, when there is one, is set as a remote span context.
 * Counts go back to the relay thread after every batch received and every export, so its `stats()` and
 * logs stay the tap's one view of what was lost.
 */

/** What the relay thread passes as `workerData`. */
export interface ExportWorkerConfig {
  endpoint: string;
  bearerToken?: string;
  resource: Attributes;
  maxQueueSize: number;
  maxQueueBytes: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

/** A recorded span with its approximate size in bytes (the queues are bounded by it). */
export interface SpanRecord extends TapSpan {
  bytes: number;
}

export type ToExportWorker = { type: 'spans'; spans: SpanRecord[] } | { type: 'shutdown' };

export interface ExportWorkerCounts {
  /** `spans` messages handled so far: the relay thread's in-transit accounting. */
  batchesReceived: number;
  exported: number;
  droppedQueueFull: number;
  droppedExportFailed: number;
}

export type FromExportWorker =
  | ({ type: 'counts' } & ExportWorkerCounts)
  | { type: 'queue_full' }
  | { type: 'export_failed'; spans: number; error: string | undefined }
  | ({ type: 'closed' } & ExportWorkerCounts);

/** Hands out the ids set just before a span is started (the tap chose them earlier). */
class PresetIdGenerator implements IdGenerator {
  nextTraceId = '';
  nextSpanId = '';
  generateTraceId(): string {
    return this.nextTraceId;
  }
  generateSpanId(): string {
    return this.nextSpanId;
  }
}

type ExportCallback = Parameters<SpanExporter['export']>[1];
/** `ExportResultCode.SUCCESS` of @opentelemetry/core (not a direct dependency). */
const EXPORT_SUCCESS = 0;

/**
 * Counts what the exporter was handed, delivered and could not deliver. A partial success (spans the
 * daemon accepted the request but rejected) reaches us only as the exporter's diagnostic warning, which
 * arrives before the export's result; `rejectedInCurrentExport` carries it over.
 */
class CountingExporter implements SpanExporter {
  handed = 0;
  exported = 0;
  failed = 0;
  rejectedPending = 0;
  constructor(
    private readonly inner: SpanExporter,
    private readonly onHanded: (spans: ReadableSpan[]) => void,
    private readonly onResult: (failed: number, err: Error | undefined) => void,
  ) {}
  export(spans: ReadableSpan[], resultCallback: ExportCallback): void {
    this.handed += spans.length;
    this.onHanded(spans);
    this.rejectedPending = 0;
    this.inner.export(spans, (result) => {
      if (result.code === EXPORT_SUCCESS) {
        const rejected = Math.min(this.rejectedPending, spans.length);
        this.exported += spans.length - rejected;
        this.failed += rejected;
        this.onResult(rejected, rejected > 0 ? new Error(`the daemon rejected ${rejected} spans`) : undefined);
      } else {
        this.failed += spans.length;
        this.onResult(spans.length, result.error);
      }
      this.rejectedPending = 0;
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

/**
 * Drops (and counts) a span instead of queueing it when the batch processor holds `maxQueueSize` spans or
 * `maxQueueBytes` bytes not yet handed to the exporter; the batch processor's own limit is never reached,
 * so every drop is counted here.
 */
class BoundedProcessor implements SpanProcessor {
  ended = 0;
  dropped = 0;
  queuedBytes = 0;
  readonly sizes = new WeakMap<ReadableSpan, number>();
  nextBytes = 0;
  constructor(
    private readonly inner: SpanProcessor,
    private readonly exporter: CountingExporter,
    private readonly maxQueueSize: number,
    private readonly maxQueueBytes: number,
    private readonly onDrop: () => void,
  ) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    const bytes = this.nextBytes;
    if (this.ended - this.exporter.handed >= this.maxQueueSize || (this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxQueueBytes)) {
      this.dropped++;
      this.onDrop();
      return;
    }
    this.ended++;
    this.queuedBytes += bytes;
    this.sizes.set(span, bytes);
    this.inner.onEnd(span);
  }
  handed(spans: ReadableSpan[]): void {
    for (const s of spans) this.queuedBytes -= this.sizes.get(s) ?? 0;
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('export-worker.ts runs only as a worker thread (span-emitter.ts starts it)');
  const config = workerData as ExportWorkerConfig;
  const post = (m: FromExportWorker) => port.postMessage(m);

  let batchesReceived = 0;
  let reportedQueueFull = false;
  let reportedExportFailed = false;
  let countsQueued = false;
  let exporter: CountingExporter | undefined;
  let processor: BoundedProcessor | undefined;
  const counts = (): ExportWorkerCounts => ({
    batchesReceived,
    exported: exporter?.exported ?? 0,
    droppedQueueFull: processor?.dropped ?? 0,
    droppedExportFailed: exporter?.failed ?? 0,
  });
  // Coalesced: one message per turn of this thread's loop, however many batches and exports it saw.
  const reportCounts = () => {
    if (countsQueued) return;
    countsQueued = true;
    setImmediate(() => {
      countsQueued = false;
      post({ type: 'counts', ...counts() });
    });
  };

  // The exporter reports a partial success only through the diagnostic logger of this thread.
  const diagLogger: DiagLogger = {
    error: () => undefined,
    warn: (message: string, ...args: unknown[]) => {
      if (!exporter || !message.startsWith('Received Partial Success')) return;
      try {
        const rejected = Number((JSON.parse(String(args[0])) as { rejectedSpans?: unknown }).rejectedSpans ?? 0);
        if (Number.isSafeInteger(rejected) && rejected > 0) exporter.rejectedPending += rejected;
      } catch {
        // Not the shape we know: the spans count as exported.
      }
    },
    info: () => undefined,
    debug: () => undefined,
    verbose: () => undefined,
  };
  diag.setLogger(diagLogger, DiagLogLevel.WARN);

  exporter = new CountingExporter(
    new OTLPTraceExporter({
      url: config.endpoint,
      timeoutMillis: config.exportTimeoutMillis,
      ...(config.bearerToken ? { headers: { authorization: `Bearer ${config.bearerToken}` } } : {}),
    }),
    (spans) => processor?.handed(spans),
    (failed, err) => {
      if (failed > 0 && !reportedExportFailed) {
        reportedExportFailed = true;
        post({ type: 'export_failed', spans: failed, error: err?.message });
      }
      reportCounts();
    },
  );
  const batch = new BatchSpanProcessor(exporter, {
    maxQueueSize: config.maxQueueSize + 1,
    maxExportBatchSize: Math.min(config.maxExportBatchSize, config.maxQueueSize),
    scheduledDelayMillis: config.scheduledDelayMillis,
    exportTimeoutMillis: config.exportTimeoutMillis,
  });
  processor = new BoundedProcessor(batch, exporter, config.maxQueueSize, config.maxQueueBytes, () => {
    if (reportedQueueFull) return;
    reportedQueueFull = true;
    post({ type: 'queue_full' });
  });
  const ids = new PresetIdGenerator();
  const sdk = new NodeSDK({
    resource: resourceFromAttributes(config.resource),
    autoDetectResources: false,
    instrumentations: [],
    sampler: new AlwaysOnSampler(),
    idGenerator: ids,
    spanProcessors: [processor],
  });
  sdk.start();
  const tracer = trace.getTracer('mcpwatch-tap');

  const replay = (s: SpanRecord) => {
    let ctx: Context = ROOT_CONTEXT;
    if (s.parentSpanId !== undefined) {
      ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    }
    ids.nextTraceId = s.traceId;
    ids.nextSpanId = s.spanId;
    processor!.nextBytes = s.bytes;
    const span = tracer.startSpan(s.name, { kind: s.kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT, startTime: s.startMs, attributes: s.attributes }, ctx);
    if (s.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error });
    span.end(Math.max(s.endMs, s.startMs));
  };

  let closing = false;
  port.on('message', (m: ToExportWorker) => {
    if (m.type === 'spans') {
      batchesReceived++;
      if (!closing) {
        for (const s of m.spans) {
          try {
            replay(s);
          } catch {
            // A record the SDK refuses is lost like a failed export.
            exporter!.failed++;
          }
        }
      }
      reportCounts();
    } else if (m.type === 'shutdown' && !closing) {
      closing = true;
      void sdk
        .shutdown()
        .catch(() => undefined)
        .then(() => post({ type: 'closed', ...counts() }));
    }
  });
}

main();
