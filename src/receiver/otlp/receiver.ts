import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Component, Consumer, CreateSettings, Host } from '../../component/component.js';
import { PipelineError } from '../../component/errors.js';
import { bearerTokenMatches } from '../../api/auth.js';
import { parseEndpoint } from '../../config/endpoint.js';
import type { OtlpReceiverConfig } from '../../config/schema.js';
import { TimeSlicedRunner } from '../../component/time-sliced-runner.js';
import { LogOnce } from '../../telemetry/logger.js';
import { decodeJsonTraceBytes } from './decode-json-bytes.js';
import { decodeProtobufTraces } from './decode-protobuf.js';
import {
  encodeExportResponseJson,
  encodeExportResponseProtobuf,
  encodeStatusJson,
  encodeStatusProtobuf,
} from './encode-response.js';
import { BodyBufferPool, readBody, type ContentEncoding } from './read-body.js';
import { OtlpDecodeError, type DecodedSpan, type DecodedTraces } from './span.js';

/** What the handler needs to answer once a body has been decoded and handed on. */
interface IngestOutcome {
  taken: boolean;
  spans: number;
  rejectedSpans: number;
  rejectReason?: string | undefined;
}

/**
 * Most bytes of unused body buffers kept for reuse: enough for the bodies of 16 busy connections at
 * 512 KiB-1 MiB each (see `BodyBufferPool`).
 */
const BODY_POOL_BYTES = 16 * 1024 * 1024;

/** The only path this receiver serves (OTLP/HTTP default path for traces). */
export const TRACES_PATH = '/v1/traces';

type Encoding = 'protobuf' | 'json';

const CONTENT_TYPE: Record<Encoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** google.rpc.Code values used in error bodies (OTLP/HTTP: a failed request carries a Status message). */
const RPC_CODE: Record<number, number> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  404: 5, // NOT_FOUND
  405: 12, // UNIMPLEMENTED
  408: 4, // DEADLINE_EXCEEDED
  413: 8, // RESOURCE_EXHAUSTED
  415: 3, // INVALID_ARGUMENT
  429: 8, // RESOURCE_EXHAUSTED
  500: 13, // INTERNAL
  503: 14, // UNAVAILABLE
};

/**
 * OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf and JSON, optional gzip).
 *
 * Load is refused before a body is read: past `maxInflightRequests` or `maxInflightBytes` the answer is
 * 429, and while the pipeline queue is full or the daemon is closing it is 503; both carry `Retry-After`, so
 * a well-behaved exporter backs off instead of losing data.
 *
 * A request is in flight from its headers until its answer. Bodies are read as they arrive, but decoding
 * and handing spans on run in slices of `processingSliceMilliseconds` per event-loop turn (see
 * `TimeSlicedRunner`), so that under overload the accepted requests wait here, where the budget counts them
 * and refuses the rest at once, rather than unseen in socket buffers and the accept queue while one long
 * turn decodes everything that arrived (measured in BENCHMARKS.md, "Ingest", overload).
 */
export class OtlpHttpReceiver implements Component {
  private server?: Server;
  private closing = false;
  private inflightRequests = 0;
  private inflightBytes = 0;
  private readonly sockets = new Set<Socket>();
  private readonly logOnce = new LogOnce();
  private shutdownPromise?: Promise<void>;
  private readonly token: string | undefined;
  private readonly slices: TimeSlicedRunner;
  private readonly bodies = new BodyBufferPool(BODY_POOL_BYTES);

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: OtlpReceiverConfig,
    private readonly next: Consumer<DecodedSpan>,
  ) {
    this.token = config.auth.bearerToken;
    this.slices = new TimeSlicedRunner(config.processingSliceMilliseconds);
  }

  /** True once the port is bound and requests are answered. */
  get listening(): boolean {
    return this.server?.listening === true && !this.closing;
  }

  /** The bound address (useful with port 0). */
  address(): { host: string; port: number } {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error(`${this.settings.path}: receiver is not listening`);
    return { host: addr.address, port: addr.port };
  }

  async start(_host?: Host): Promise<void> {
    if (this.server || this.closing) return;
    const { host, port } = parseEndpoint(this.config.endpoint);
    const server = createServer({ requestTimeout: this.config.requestTimeoutSeconds * 1000 }, (req, res) => {
      void this.handle(req, res);
    });
    server.keepAliveTimeout = 65_000;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (err, socket) => {
      // Unparseable HTTP: answer 400 if we still can, never throw.
      if (this.logOnce.shouldLog('clientError')) this.settings.logger.warn({ err: err.message }, 'malformed HTTP request on OTLP receiver');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off('listening', onListening);
        const why = err.code === 'EADDRINUSE' ? 'is already in use' : err.code === 'EACCES' ? 'is not permitted' : `failed: ${err.message}`;
        reject(new Error(`${this.settings.path}.endpoint ${this.config.endpoint} ${why}`));
      };
      const onListening = () => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(port, host);
    });
    this.settings.logger.info({ endpoint: this.address(), path: TRACES_PATH }, 'OTLP/HTTP receiver listening');
  }

  /** Stop taking new requests (answer 503) but let in-flight ones finish. */
  beginClosing(): void {
    this.closing = true;
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.close();
    return this.shutdownPromise;
  }

  private async close(): Promise<void> {
    this.closing = true;
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // Requests still running after the grace period lose their connection rather than block exit.
      const force = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, 5000);
      force.unref();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let responseEncoding: Encoding = 'json';
    let admitted = false;
    let counted = 0;
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (path !== TRACES_PATH) {
        throw new PipelineError('MCPW_ERR_NOT_FOUND', `no route for ${truncate(path)}; OTLP traces are accepted at POST ${TRACES_PATH}`);
      }
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        throw new PipelineError('MCPW_ERR_METHOD_NOT_ALLOWED', `method ${truncate(req.method ?? '')} is not allowed on ${TRACES_PATH}; use POST`);
      }
      const encoding = parseContentType(req.headers['content-type']);
      responseEncoding = encoding;
      if (this.closing) throw new PipelineError('MCPW_ERR_SHUTTING_DOWN', 'mcpwatch is shutting down; retry against another instance or later');
      if (this.token !== undefined && !bearerTokenMatches(req.headers, this.token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="mcpwatch-otlp"');
        throw new PipelineError('MCPW_ERR_UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <token>)');
      }
      const contentEncoding = parseContentEncoding(req.headers['content-encoding']);
      const declared = Number(req.headers['content-length'] ?? 0) || 0;
      if (declared > this.config.maxRequestBodyBytes) {
        throw new PipelineError('MCPW_ERR_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${this.config.maxRequestBodyBytes} bytes`);
      }
      // Budget decisions come before a single body byte is read, so overload costs us almost nothing.
      if (
        this.inflightRequests >= this.config.maxInflightRequests ||
        this.inflightBytes + declared > this.config.maxInflightBytes
      ) {
        throw new PipelineError('MCPW_ERR_OVER_BUDGET', 'mcpwatch is over its in-flight request budget; retry after the Retry-After delay');
      }
      if (this.next.hasRoomFor && !this.next.hasRoomFor(1, declared)) {
        throw new PipelineError('MCPW_ERR_PIPELINE_FULL', 'the processing queue is full; retry after the Retry-After delay');
      }

      // In flight from here until the answer: a request whose body has arrived but waits for its slice is
      // still work we have taken on, and the budget is what keeps that wait short.
      admitted = true;
      counted = declared;
      this.track(1, declared);
      const body = await readBody(req, contentEncoding, this.config.maxRequestBodyBytes, {
        declaredLength: declared,
        pool: this.bodies,
      });
      const bodyBytes = body.length;
      this.settings.metrics.receiverRequestBytes.inc({ receiver: 'otlp' }, bodyBytes);
      // Chunked or gzip bodies hold more than they declared; later admissions see what is really held.
      if (bodyBytes > counted) {
        this.track(0, bodyBytes - counted);
        counted = bodyBytes;
      }
      const outcome = await this.slices.run(() => this.ingest(encoding, body));

      if (!outcome.taken) {
        this.settings.metrics.receiverRefusedSpans.inc({ receiver: 'otlp', reason: 'pipeline_full' }, outcome.spans);
        throw new PipelineError('MCPW_ERR_PIPELINE_FULL', 'the processing queue is full; retry after the Retry-After delay');
      }
      this.settings.metrics.receiverAcceptedSpans.inc({ receiver: 'otlp', encoding }, outcome.spans);
      let partial: { rejectedSpans: number; errorMessage: string } | undefined;
      if (outcome.rejectedSpans > 0) {
        this.settings.metrics.receiverRefusedSpans.inc({ receiver: 'otlp', reason: 'invalid_span' }, outcome.rejectedSpans);
        partial = { rejectedSpans: outcome.rejectedSpans, errorMessage: outcome.rejectReason ?? 'some spans were invalid' };
        if (this.logOnce.shouldLog('partial')) this.settings.logger.warn({ partial }, 'OTLP request partly rejected');
      }
      const payload = encoding === 'protobuf' ? encodeExportResponseProtobuf(partial) : encodeExportResponseJson(partial);
      this.respond(res, 200, encoding, payload, started);
    } catch (err) {
      this.fail(req, res, responseEncoding, err, started);
    } finally {
      if (admitted) this.track(-1, -counted);
    }
  }

  /**
   * Decodes a body and hands its spans on, in one slice. Only counts leave it: when the decoded spans were
   * returned to the awaiting handler, 64 queued requests made young-generation collections promote 4.3 MB
   * each instead of 0.4 MB, and throughput fell by 40% (in-process: 55k against 91k spans per CPU second).
   */
  private ingest(encoding: Encoding, body: Buffer): IngestOutcome {
    const bytes = body.length;
    let traces: DecodedTraces;
    try {
      traces = decode(encoding, body);
    } catch (err) {
      this.bodies.give(body);
      throw err;
    }
    // Decoded spans may be views of their body (protobuf `SpanWire`, long payloads as `WireText` in either
    // encoding): the body goes back to the pool when the pipeline queue releases the batch, i.e. once the
    // store has copied what it keeps.
    if (traces.spans.length === 0) this.bodies.give(body);
    const taken = traces.spans.length === 0 || this.next.consume(traces.spans, { bytes, release: () => this.bodies.give(body) });
    return { taken, spans: traces.spans.length, rejectedSpans: traces.rejectedSpans, rejectReason: traces.rejectReason };
  }

  private track(requests: number, bytes: number): void {
    this.inflightRequests += requests;
    this.inflightBytes += bytes;
    this.settings.metrics.receiverInflightRequests.set({ receiver: 'otlp' }, this.inflightRequests);
    this.settings.metrics.receiverInflightBytes.set({ receiver: 'otlp' }, this.inflightBytes);
  }

  private fail(req: IncomingMessage, res: ServerResponse, encoding: Encoding, err: unknown, started: number): void {
    const error =
      err instanceof PipelineError
        ? err
        : err instanceof OtlpDecodeError
          ? new PipelineError('MCPW_ERR_MALFORMED', `malformed OTLP ${encoding === 'json' ? 'JSON' : 'protobuf'}: ${err.message}`)
          : new PipelineError('MCPW_ERR_INTERNAL', 'internal error while handling the request');
    if (error.code === 'MCPW_ERR_INTERNAL') this.settings.logger.error({ err }, 'OTLP receiver internal error');
    else if (this.logOnce.shouldLog(error.code)) {
      this.settings.logger.warn({ code: error.code, status: error.status, reason: error.message }, 'OTLP request refused');
    }
    if (error.retryable) res.setHeader('Retry-After', String(this.config.retryAfterSeconds));
    // A refused body may still be arriving; closing the connection keeps us from reading the rest of it.
    if (!req.complete) res.setHeader('Connection', 'close');
    const rpcCode = RPC_CODE[error.status] ?? 2;
    const payload = encoding === 'protobuf' ? encodeStatusProtobuf(rpcCode, error.message) : encodeStatusJson(rpcCode, error.message);
    this.respond(res, error.status, encoding, payload, started);
    if (!req.complete) req.resume();
  }

  private respond(res: ServerResponse, status: number, encoding: Encoding, payload: Uint8Array | string, started: number): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.statusCode = status;
    res.setHeader('Content-Type', CONTENT_TYPE[encoding]);
    res.setHeader('Content-Length', typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength);
    if (this.closing) res.setHeader('Connection', 'close');
    res.end(payload);
    const labels = { receiver: 'otlp', status: String(status) };
    this.settings.metrics.receiverRequests.inc(labels);
    this.settings.metrics.receiverRequestDuration.observe(labels, (performance.now() - started) / 1000);
  }
}

function decode(encoding: Encoding, body: Buffer): DecodedTraces {
  if (body.length === 0) return { spans: [], rejectedSpans: 0 };
  if (encoding === 'protobuf') return decodeProtobufTraces(body);
  // Straight from the bytes (1.6x the piecewise JSON.parse of `decodeJsonTraceBody` in-process); long tool
  // payloads without escapes stay in the body as `WireText`, as with protobuf.
  return decodeJsonTraceBytes(body, { wireText: true });
}

/** Media type only, parameters (charset) ignored, case-insensitive (RFC 9110 §8.3.1). */
function parseContentType(header: string | undefined): Encoding {
  const media = (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (media === 'application/x-protobuf' || media === 'application/protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  throw new PipelineError(
    'MCPW_ERR_UNSUPPORTED_MEDIA_TYPE',
    `Content-Type ${media ? truncate(media) : '(missing)'} is not supported; use application/x-protobuf or application/json`,
  );
}

function parseContentEncoding(header: string | undefined): ContentEncoding {
  const value = (header ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  throw new PipelineError('MCPW_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${truncate(value)} is not supported; use gzip or none`);
}

function truncate(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}...` : clean;
}
