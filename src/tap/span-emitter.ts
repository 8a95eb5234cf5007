import { randomBytes } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AttributeValue, Attributes } from '@opentelemetry/api';
import type { Logger } from '../telemetry/logger.js';

/**
 * The taps' span output: finished spans, encoded as OTLP/JSON (the protobuf JSON mapping of
 * `ExportTraceServiceRequest`, OTLP spec "JSON Protobuf Encoding": hex trace and span ids, 64-bit integers
 * as strings) when they are recorded, and POSTed to the daemon in batches.
 *
 * Why not the OpenTelemetry SDK: a tap records spans after the fact, with ids it chose earlier, so it
 * uses none of the SDK's context machinery, and the SDK's cost landed on the relay thread. Profiles of
 * `wrap` showed a batch's export (building the SDK's span objects into an export request and serialising
 * it, ~5 ms per 512 spans) and the garbage of SDK spans held until export as the whole of the relay's
 * latency tail (bench/tap-latency.ts, BENCHMARKS.md "Tap overhead"). Here a span costs one small string,
 * built when it is recorded (a few microseconds), and an export is a join and a socket write.
 *
 * Fail-open: nothing here is awaited on the relay path. `record()` only appends to a bounded queue (by
 * spans and by bytes); when it is full the span is dropped and counted. One export is in flight at a time;
 * one that fails (daemon down, slow, 4xx/5xx) drops its batch and counts it, except that 429, 502, 503 and
 * 504 are retried after `Retry-After` (OTLP/HTTP spec, "Retryable Response Codes"), twice at most. Each
 * kind of loss is logged once, with totals at shutdown.
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
  /** Most encoded bytes waiting for export (captured content can make spans large); more are dropped. */
  maxQueueBytes?: number;
  maxExportBatchSize?: number;
  /** Largest export body; a batch stops short of it (the daemon's default body limit is 16 MiB). */
  maxExportBatchBytes?: number;
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
  /** Dropped because their export failed, timed out, or the daemon rejected them. */
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

/** `SpanKind` in OTLP: SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3. */
const KIND = { server: 2, client: 3 } as const;
/** `Status.code` STATUS_CODE_ERROR. */
const STATUS_ERROR = 2;
const RETRYABLE_STATUS: ReadonlySet<number> = new Set([429, 502, 503, 504]);
const MAX_RETRIES = 2;
const DEFAULT_RETRY_DELAY_MS = 1000;
const MAX_RETRY_DELAY_MS = 5000;
const MAX_RESPONSE_BYTES = 64 * 1024;

/** Epoch milliseconds (fractional) as OTLP's decimal-string nanoseconds, without losing precision past 2^53. */
export function unixNanoString(ms: number): string {
  let whole = Math.floor(ms);
  let nanos = Math.round((ms - whole) * 1e6);
  if (nanos >= 1e6) {
    whole += 1;
    nanos -= 1e6;
  }
  return whole === 0 ? String(nanos) : `${whole}${String(nanos).padStart(6, '0')}`;
}

function anyValue(v: AttributeValue): string | undefined {
  switch (typeof v) {
    case 'string':
      return `{"stringValue":${JSON.stringify(v)}}`;
    case 'boolean':
      return `{"boolValue":${v}}`;
    case 'number':
      // The SDK's rule: integers are intValue (a string in JSON), everything else doubleValue.
      if (Number.isSafeInteger(v)) return `{"intValue":"${v}"}`;
      return Number.isFinite(v) ? `{"doubleValue":${v}}` : `{"doubleValue":"${v}"}`;
    default: {
      if (!Array.isArray(v)) return undefined;
      const values: string[] = [];
      for (const item of v as unknown[]) {
        const encoded = item === null || item === undefined ? '{}' : anyValue(item as AttributeValue);
        if (encoded !== undefined) values.push(encoded);
      }
      return `{"arrayValue":{"values":[${values.join(',')}]}}`;
    }
  }
}

/** OTLP/JSON `KeyValue` list; undefined values are left out, as the SDK does. */
export function encodeAttributes(attributes: Attributes): string {
  const out: string[] = [];
  for (const key in attributes) {
    const v = attributes[key];
    if (v === undefined) continue;
    const encoded = anyValue(v);
    if (encoded !== undefined) out.push(`{"key":${JSON.stringify(key)},"value":${encoded}}`);
  }
  return `[${out.join(',')}]`;
}

/** One span as an OTLP/JSON `Span`. */
export function encodeSpan(s: TapSpan): string {
  const end = Math.max(s.endMs, s.startMs);
  let json = `{"traceId":"${s.traceId}","spanId":"${s.spanId}"`;
  if (s.parentSpanId !== undefined) json += `,"parentSpanId":"${s.parentSpanId}"`;
  json += `,"name":${JSON.stringify(s.name)},"kind":${KIND[s.kind]},"startTimeUnixNano":"${unixNanoString(s.startMs)}","endTimeUnixNano":"${unixNanoString(end)}"`;
  json += `,"attributes":${encodeAttributes(s.attributes)}`;
  if (s.error !== undefined) json += `,"status":{"code":${STATUS_ERROR},"message":${JSON.stringify(s.error)}}`;
  return `${json}}`;
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

/** `Retry-After` (delay-seconds or an HTTP date) in milliseconds, bounded. */
function retryDelayMs(header: string | string[] | undefined): number {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined) return DEFAULT_RETRY_DELAY_MS;
  const seconds = Number(v);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_DELAY_MS) : DEFAULT_RETRY_DELAY_MS;
}

interface ExportOutcome {
  ok: boolean;
  /** Spans the daemon accepted the request but rejected (OTLP partial success). */
  rejected: number;
  retryAfterMs?: number;
  error?: string;
}

export class SpanEmitter {
  private readonly logger: Logger;
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly headers: Record<string, string>;
  private readonly prefix: string;
  private readonly maxQueueSize: number;
  private readonly maxQueueBytes: number;
  private readonly maxBatchSize: number;
  private readonly maxBatchBytes: number;
  private readonly delayMs: number;
  private readonly timeoutMs: number;
  /** Encoded spans waiting for export, oldest first; `head` is the first not yet taken. */
  private queue: string[] = [];
  private head = 0;
  private queuedBytes = 0;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private recorded = 0;
  private exported = 0;
  private droppedQueueFull = 0;
  private droppedExportFailed = 0;
  private loggedQueueFull = false;
  private loggedExportFailed = false;
  private closed = false;
  /** Set when shutdown's deadline passed: no more attempts. */
  private stopped = false;
  private closing: Promise<void> | undefined;

  constructor(opts: SpanEmitterOptions) {
    this.logger = opts.logger;
    this.url = new URL(opts.endpoint);
    this.maxQueueSize = opts.maxQueueSize ?? DEFAULT_SPAN_QUEUE_SIZE;
    this.maxQueueBytes = opts.maxQueueBytes ?? 32 * 1024 * 1024;
    this.maxBatchSize = Math.min(opts.maxExportBatchSize ?? 512, this.maxQueueSize);
    this.maxBatchBytes = opts.maxExportBatchBytes ?? 4 * 1024 * 1024;
    this.delayMs = opts.scheduledDelayMillis ?? 500;
    this.timeoutMs = opts.exportTimeoutMillis ?? 2000;
    // One kept-alive connection: an export is a write on an open socket, not a connect per batch.
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.headers = { 'content-type': 'application/json' };
    if (opts.bearerToken) this.headers['authorization'] = `Bearer ${opts.bearerToken}`;
    this.prefix = `{"resourceSpans":[{"resource":{"attributes":${encodeAttributes(opts.resource)}},"scopeSpans":[{"scope":{"name":"mcpwatch-tap"},"spans":[`;
  }

  /** Queues one finished span; never blocks, never throws. */
  record(s: TapSpan): void {
    if (this.closed) return;
    try {
      if (!validIds(s)) throw new Error('invalid trace or span id');
      const pending = this.queue.length - this.head;
      const encoded = pending < this.maxQueueSize ? encodeSpan(s) : '';
      if (pending >= this.maxQueueSize || this.queuedBytes + encoded.length > this.maxQueueBytes) {
        this.droppedQueueFull++;
        if (!this.loggedQueueFull) {
          this.loggedQueueFull = true;
          this.logger.warn({ maxQueueSize: this.maxQueueSize, maxQueueBytes: this.maxQueueBytes }, 'span queue full; spans are dropped and counted (logged once)');
        }
        return;
      }
      this.queue.push(encoded);
      this.queuedBytes += encoded.length;
      this.recorded++;
      this.schedule(pending + 1);
    } catch (err) {
      this.logger.debug({ error: (err as Error).message }, 'span not recorded');
    }
  }

  stats(): SpanEmitterStats {
    return { recorded: this.recorded, exported: this.exported, droppedQueueFull: this.droppedQueueFull, droppedExportFailed: this.droppedExportFailed };
  }

  /** Flushes what it can within `timeoutMs`, then stops. Idempotent; never rejects. */
  shutdown(timeoutMs = 1000): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.clearSchedule();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      });
      const drain = async () => {
        for (;;) {
          if (this.inFlight) await this.inFlight;
          else if (this.queue.length > this.head) this.startExport();
          else return;
        }
      };
      await Promise.race([drain(), deadline]);
      if (timer) clearTimeout(timer);
      this.stopped = true;
      this.agent.destroy();
    })();
    return this.closing;
  }

  /**
   * A full batch is exported at the next turn of the event loop (after the I/O callbacks already due,
   * so a relay chunk that is waiting is written first); a partial one after `scheduledDelayMillis`.
   */
  private schedule(pending: number): void {
    if (this.inFlight) return;
    if (pending >= this.maxBatchSize) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.startExport();
      });
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.startExport();
      }, this.delayMs);
      this.timer.unref();
    }
  }

  private clearSchedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private startExport(): void {
    if (this.inFlight || this.queue.length === this.head) return;
    this.clearSchedule();
    const batch: string[] = [];
    let bytes = 0;
    while (this.head < this.queue.length && batch.length < this.maxBatchSize) {
      const next = this.queue[this.head]!;
      if (batch.length > 0 && bytes + next.length > this.maxBatchBytes) break;
      batch.push(next);
      bytes += next.length;
      this.head++;
    }
    this.queuedBytes -= bytes;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const body = `${this.prefix}${batch.join(',')}]}]}]}`;
    this.inFlight = this.exportWithRetries(body, batch.length).finally(() => {
      this.inFlight = undefined;
      if (!this.closed && this.queue.length > this.head) this.schedule(this.queue.length - this.head);
    });
  }

  private async exportWithRetries(body: string, count: number): Promise<void> {
    let outcome: ExportOutcome = { ok: false, rejected: 0 };
    for (let attempt = 0; attempt <= MAX_RETRIES; attempt++) {
      outcome = await this.post(body);
      if (outcome.ok || outcome.retryAfterMs === undefined || attempt === MAX_RETRIES || this.stopped) break;
      await new Promise((r) => setTimeout(r, outcome.retryAfterMs).unref());
    }
    if (outcome.ok) {
      this.exported += count - outcome.rejected;
      if (outcome.rejected > 0) this.failed(outcome.rejected, `the daemon rejected ${outcome.rejected} spans: ${outcome.error ?? ''}`);
    } else {
      this.failed(count, outcome.error);
    }
  }

  private failed(count: number, error: string | undefined): void {
    this.droppedExportFailed += count;
    if (this.loggedExportFailed) return;
    this.loggedExportFailed = true;
    this.logger.warn({ endpoint: this.url.toString(), spans: count, error }, 'span export failed; traffic is unaffected, spans are dropped and counted (logged once)');
  }

  private post(body: string): Promise<ExportOutcome> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (o: ExportOutcome) => {
        if (settled) return;
        settled = true;
        resolve(o);
      };
      const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(this.url, { method: 'POST', agent: this.agent, headers: { ...this.headers, 'content-length': String(Buffer.byteLength(body)) } }, (res: IncomingMessage) => {
        const pieces: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size <= MAX_RESPONSE_BYTES) pieces.push(d);
        });
        res.on('error', (err) => settle({ ok: false, rejected: 0, error: err.message }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(pieces).toString('utf8');
          if (status >= 200 && status < 300) settle({ ok: true, ...partialSuccess(text) });
          else if (RETRYABLE_STATUS.has(status)) settle({ ok: false, rejected: 0, retryAfterMs: retryDelayMs(res.headers['retry-after']), error: `HTTP ${status}` });
          else settle({ ok: false, rejected: 0, error: `HTTP ${status}: ${text.slice(0, 200)}` });
        });
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(new Error(`no answer within ${this.timeoutMs} ms`));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive socket the daemon closed just as this request went out: resend at once.
        const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        settle({ ok: false, rejected: 0, error: err.message, ...(stale ? { retryAfterMs: 0 } : {}) });
      });
      req.end(body);
    });
  }
}

/** OTLP partial success: `{"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}}` (absent when all were accepted). */
function partialSuccess(text: string): { rejected: number; error?: string } {
  if (!text.includes('rejected')) return { rejected: 0 };
  try {
    const p = (JSON.parse(text) as { partialSuccess?: { rejectedSpans?: unknown; errorMessage?: unknown } }).partialSuccess;
    const rejected = Number(p?.rejectedSpans ?? 0);
    const error = typeof p?.errorMessage === 'string' ? p.errorMessage.slice(0, 200) : undefined;
    return Number.isSafeInteger(rejected) && rejected > 0 ? { rejected, ...(error ? { error } : {}) } : { rejected: 0 };
  } catch {
    return { rejected: 0 };
  }
}
