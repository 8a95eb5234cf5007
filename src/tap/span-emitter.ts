import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Attributes } from '@opentelemetry/api';
import type { Logger } from '../telemetry/logger.js';
import type { ExportWorkerConfig, ExportWorkerCounts, FromExportWorker, SpanRecord, ToExportWorker } from './export-worker.js';

/**
 * The taps' span output. Spans are emitted by the OpenTelemetry SDK (`@opentelemetry/sdk-node`'s `NodeSDK`
 * with a `BatchSpanProcessor`) and exported with `@opentelemetry/exporter-trace-otlp-http`, both on a worker
 * thread (`export-worker.ts`): the relay thread records a finished span as a small plain record and posts
 * records to the worker in batches, between relay callbacks, never one message per span.
 *
 * Fail-open: nothing here is awaited on the relay path. `record()` only appends to a bounded buffer (by
 * spans and by bytes, counting records posted to the worker and not yet taken in by it); when it is full
 * the span is dropped and counted. The worker bounds its own queue the same way and reports its drops and
 * failed exports (daemon down, slow, 4xx/5xx; the exporter itself retries 429/502/503/504 after
 * `Retry-After` within the export deadline). Each kind of loss is logged once, with totals at shutdown.
 */

export interface SpanEmitterOptions {
  /** OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. */
  endpoint: string;
  /** Sent as `Authorization: Bearer <token>` when the daemon's receiver requires one. */
  bearerToken?: string;
  resource: Attributes;
  logger: Logger;
  /** Most finished spans waiting for export (on each thread); more are dropped and counted. */
  maxQueueSize?: number;
  /** Most bytes of spans waiting for export (on each thread; captured content can make spans large). */
  maxQueueBytes?: number;
  maxExportBatchSize?: number;
  scheduledDelayMillis?: number;
  /** One export's deadline, retries included; a slow daemon costs a dropped batch, never a stalled relay. */
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
  /** Recorded spans still on the relay thread or on their way to the export worker. */
  queued: number;
  exported: number;
  /** Dropped because a queue (the relay thread's or the export worker's) was full. */
  droppedQueueFull: number;
  /** Dropped because their export failed, timed out, the daemon rejected them, or shutdown's deadline passed. */
  droppedExportFailed: number;
}

export const DEFAULT_SPAN_QUEUE_SIZE = 2048;

/**
 * Random bytes for ids, drawn from the CSPRNG 4 KiB at a time: one `randomBytes` call per id was ~5 us
 * of the relay thread per id (two ids per call).
 */
const ID_POOL_BYTES = 4096;
let idPool = Buffer.alloc(0);
let idPoolAt = 0;

function randomHex(bytes: number): string {
  if (idPoolAt + bytes > idPool.length) {
    idPool = randomBytes(ID_POOL_BYTES);
    idPoolAt = 0;
  }
  const hex = idPool.toString('hex', idPoolAt, idPoolAt + bytes);
  idPoolAt += bytes;
  return hex;
}

export function newTraceId(): string {
  return randomHex(16);
}

export function newSpanId(): string {
  return randomHex(8);
}

const HEX_ID = /^[\da-f]+$/;

function validIds(s: TapSpan): boolean {
  return (
    s.traceId.length === 32 &&
    s.spanId.length === 16 &&
    HEX_ID.test(s.traceId) &&
    HEX_ID.test(s.spanId) &&
    (s.parentSpanId === undefined || (s.parentSpanId.length === 16 && HEX_ID.test(s.parentSpanId)))
  );
}

/** Roughly what a span weighs (UTF-16 string lengths, 8 per other value): enough to bound memory. */
function approxBytes(s: TapSpan): number {
  let n = 96 + s.name.length + (s.error?.length ?? 0);
  const a = s.attributes;
  for (const key in a) {
    const v = a[key];
    n += key.length + 8;
    if (typeof v === 'string') n += v.length;
    else if (Array.isArray(v)) for (const item of v as unknown[]) n += typeof item === 'string' ? item.length + 8 : 8;
  }
  return n;
}

/**
 * Records are posted when this many are waiting (at the next turn of the event loop, after the I/O
 * callbacks already due) or after `POST_INTERVAL_MS`: one structured clone per batch, small enough that a
 * post costs the relay tens of microseconds, not a latency spike.
 */
const POST_BATCH = 128;
const POST_INTERVAL_MS = 50;

/**
 * The worker's entry. From the build it is the compiled `.js` beside this file; when this file runs as
 * TypeScript source (tests) the worker is the `.ts` source, loaded through tsx (a development dependency),
 * because a worker does not inherit the loader hooks of the thread that starts it.
 */
function startWorker(config: ExportWorkerConfig): Worker {
  // Settings meant for the wrapped server (OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*, ...) must not apply to the tap.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('OTEL_')) env[k] = v;
  // Whatever the worker might print goes to the tap's stderr: for `wrap`, stdout is the MCP channel.
  const options = { workerData: config, env, stdout: true, stderr: false };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./export-worker.js', import.meta.url), options);
  // tsx's ESM API entry, found through its package's export map (require() would resolve its CommonJS build).
  const require = createRequire(import.meta.url);
  const tsxPackage = require.resolve('tsx/package.json');
  const tsxApi = (require(tsxPackage) as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api']!.import.default;
  const api = new URL(tsxApi, pathToFileURL(tsxPackage)).href;
  const entry = new URL('./export-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { ...options, eval: true });
}

export class SpanEmitter {
  private readonly logger: Logger;
  private readonly endpoint: string;
  private readonly maxQueueSize: number;
  private readonly maxQueueBytes: number;
  private readonly postIntervalMs: number;
  private worker: Worker | undefined;
  /** Records not yet posted. */
  private pending: SpanRecord[] = [];
  /** Records waiting in this thread or in transit to the worker: the bounded queue. */
  private queuedSpans = 0;
  private queuedBytes = 0;
  /** Posted batches the worker has not taken in yet, oldest first: [spans, bytes]. */
  private readonly inTransit: Array<[number, number]> = [];
  private batchesAccounted = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private recorded = 0;
  private droppedHere = 0;
  /** Lost without the worker's word: it failed, or shutdown's deadline passed first. */
  private lostHere = 0;
  private workerCounts: ExportWorkerCounts = { batchesReceived: 0, exported: 0, droppedQueueFull: 0, droppedExportFailed: 0 };
  private loggedQueueFull = false;
  private loggedExportFailed = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private onClosed: (() => void) | undefined;

  constructor(opts: SpanEmitterOptions) {
    this.logger = opts.logger;
    this.endpoint = opts.endpoint;
    this.maxQueueSize = opts.maxQueueSize ?? DEFAULT_SPAN_QUEUE_SIZE;
    this.maxQueueBytes = opts.maxQueueBytes ?? 32 * 1024 * 1024;
    const scheduledDelayMillis = opts.scheduledDelayMillis ?? 500;
    this.postIntervalMs = Math.min(POST_INTERVAL_MS, scheduledDelayMillis);
    const config: ExportWorkerConfig = {
      endpoint: opts.endpoint,
      ...(opts.bearerToken ? { bearerToken: opts.bearerToken } : {}),
      resource: opts.resource,
      maxQueueSize: this.maxQueueSize,
      maxQueueBytes: this.maxQueueBytes,
      maxExportBatchSize: opts.maxExportBatchSize ?? 512,
      scheduledDelayMillis,
      exportTimeoutMillis: opts.exportTimeoutMillis ?? 2000,
    };
    try {
      const worker = startWorker(config);
      // The tap's lifetime is the server's: the exporter thread never holds the process open.
      worker.unref();
      worker.stdout.pipe(process.stderr);
      worker.on('message', (m: FromExportWorker) => this.onWorkerMessage(m));
      worker.on('error', (err) => this.workerGone(err.message));
      worker.on('exit', (code) => this.workerGone(`exited with code ${code}`));
      this.worker = worker;
    } catch (err) {
      this.workerGone((err as Error).message);
    }
  }

  /** Queues one finished span; never blocks, never throws. */
  record(s: TapSpan): void {
    if (this.closed) return;
    try {
      if (!validIds(s)) throw new Error('invalid trace or span id');
      if (!this.worker) {
        this.lostHere++;
        this.recorded++;
        return;
      }
      const bytes = approxBytes(s);
      if (this.queuedSpans >= this.maxQueueSize || (this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxQueueBytes)) {
        this.droppedHere++;
        this.queueFull();
        return;
      }
      const r: SpanRecord = { name: s.name, kind: s.kind, startMs: s.startMs, endMs: s.endMs, traceId: s.traceId, spanId: s.spanId, attributes: s.attributes, bytes };
      if (s.parentSpanId !== undefined) r.parentSpanId = s.parentSpanId;
      if (s.error !== undefined) r.error = s.error;
      this.pending.push(r);
      this.queuedSpans++;
      this.queuedBytes += bytes;
      this.recorded++;
      this.schedule();
    } catch (err) {
      this.logger.debug({ error: (err as Error).message }, 'span not recorded');
    }
  }

  stats(): SpanEmitterStats {
    const w = this.workerCounts;
    return {
      recorded: this.recorded,
      queued: this.queuedSpans,
      exported: w.exported,
      droppedQueueFull: this.droppedHere + w.droppedQueueFull,
      droppedExportFailed: this.lostHere + w.droppedExportFailed,
    };
  }

  /** Flushes what it can within `timeoutMs`, then stops the worker. Idempotent; never rejects. */
  shutdown(timeoutMs = 1000): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.clearSchedule();
      const worker = this.worker;
      if (worker) {
        this.post();
        const closed = new Promise<void>((resolve) => (this.onClosed = resolve));
        this.send({ type: 'shutdown' });
        // Bounded by the deadline, so holding the process open until then is safe.
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
        await Promise.race([closed, deadline]);
        clearTimeout(timer);
        this.worker = undefined;
        await worker.terminate().catch(() => undefined);
      }
      this.settleUnaccounted(`not exported within the ${timeoutMs} ms shutdown deadline`);
    })();
    return this.closing;
  }

  private onWorkerMessage(m: FromExportWorker): void {
    switch (m.type) {
      case 'counts':
      case 'closed': {
        const { batchesReceived, exported, droppedQueueFull, droppedExportFailed } = m;
        this.workerCounts = { batchesReceived, exported, droppedQueueFull, droppedExportFailed };
        while (this.batchesAccounted < batchesReceived) {
          const [spans, bytes] = this.inTransit.shift() ?? [0, 0];
          this.queuedSpans -= spans;
          this.queuedBytes -= bytes;
          this.batchesAccounted++;
        }
        if (m.type === 'closed') this.onClosed?.();
        break;
      }
      case 'queue_full':
        this.queueFull();
        break;
      case 'export_failed':
        this.exportFailed(m.spans, m.error);
        break;
    }
  }

  /** The worker could not start or died: from now on spans are counted as lost, and the relay goes on. */
  private workerGone(error: string): void {
    if (!this.worker && this.closed) return;
    this.worker = undefined;
    this.clearSchedule();
    this.pending = [];
    this.queuedSpans = 0;
    this.queuedBytes = 0;
    this.inTransit.length = 0;
    this.settleUnaccounted(`span export worker: ${error}`);
    this.onClosed?.();
  }

  /** Counts as lost every recorded span the worker has not reported exported or dropped. */
  private settleUnaccounted(reason: string): void {
    const w = this.workerCounts;
    const unaccounted = this.recorded - this.lostHere - w.exported - w.droppedQueueFull - w.droppedExportFailed;
    if (unaccounted <= 0) return;
    this.lostHere += unaccounted;
    this.exportFailed(unaccounted, reason);
  }

  private queueFull(): void {
    if (this.loggedQueueFull) return;
    this.loggedQueueFull = true;
    this.logger.warn({ maxQueueSize: this.maxQueueSize, maxQueueBytes: this.maxQueueBytes }, 'span queue full; spans are dropped and counted (logged once)');
  }

  private exportFailed(spans: number, error: string | undefined): void {
    if (this.loggedExportFailed) return;
    this.loggedExportFailed = true;
    this.logger.warn({ endpoint: this.endpoint, spans, error }, 'span export failed; traffic is unaffected, spans are dropped and counted (logged once)');
  }

  private schedule(): void {
    if (this.pending.length >= POST_BATCH) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.post();
      });
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.post();
      }, this.postIntervalMs);
      this.timer.unref();
    }
  }

  private clearSchedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private post(): void {
    this.clearSchedule();
    if (this.pending.length === 0 || !this.worker) return;
    const spans = this.pending;
    this.pending = [];
    let bytes = 0;
    for (const s of spans) bytes += s.bytes;
    this.inTransit.push([spans.length, bytes]);
    if (!this.send({ type: 'spans', spans })) {
      // Never posted: the worker will not count this batch, so it is lost here.
      this.inTransit.pop();
      this.queuedSpans -= spans.length;
      this.queuedBytes -= bytes;
      this.lostHere += spans.length;
      this.exportFailed(spans.length, 'spans could not be passed to the export worker');
    }
  }

  private send(m: ToExportWorker): boolean {
    try {
      this.worker?.postMessage(m);
      return this.worker !== undefined;
    } catch (err) {
      this.logger.debug({ error: (err as Error).message }, 'message to the span export worker failed');
      return false;
    }
  }
}
