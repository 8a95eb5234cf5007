import { createServer, request as httpRequest, Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Attributes } from '@opentelemetry/api';
import { MCPWATCH, MCPWATCH_TAP, OTEL, RESOURCE } from '../../semconv/attributes.js';
import type { Logger } from '../../telemetry/logger.js';
import { CHAIN_SUPPORTED, processTreeResolver, socketOwnerPid } from '../chain.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../jsonrpc-framer.js';
import type { Direction } from '../message-tracker.js';
import { httpServerId } from '../server-identity.js';
import { SpanEmitter } from '../span-emitter.js';
import { TapRecorder, nowMs, type MessageContext, type ParentResolver, type SpanSink } from '../tap-recorder.js';
import { SseParser } from './sse-parser.js';

/**
 * `mcpwatch proxy --upstream URL`: a reverse proxy in front of a Streamable HTTP MCP server (and the
 * legacy HTTP+SSE transport) that relays requests and responses unchanged and emits a span per JSON-RPC
 * message it sees: in POST bodies, in JSON and `text/event-stream` responses, on the GET stream, and on
 * the legacy `/sse` stream.
 *
 * Paths and query strings are forwarded as they are, so the client uses the proxy's address with the
 * upstream's path (`http://127.0.0.1:7410/mcp` for an upstream at `http://host:3001/mcp`). Response
 * chunks are written to the client as they arrive (SSE is never held back) and observed afterwards.
 *
 * Headers (RFC 9110 section 7.6.1): hop-by-hop headers (`Connection` and the fields it names,
 * `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) are not forwarded; each hop
 * frames its own body. Everything else, `Authorization` included, is forwarded unchanged; `Authorization`
 * is never recorded, only whether it was present. `Mcp-Session-Id` is recorded.
 *
 * Bodies are parsed only when not content-encoded, and only up to `maxFrameBytes`; bigger ones are
 * relayed and counted.
 */

export interface ProxyOptions {
  upstream: URL;
  host: string;
  port: number;
  name?: string;
  endpoint: string;
  /** Bearer token of the daemon's OTLP receiver, when it requires one. */
  bearerToken?: string;
  captureContent: boolean;
  logger: Logger;
  maxFrameBytes?: number;
  maxSpanQueue?: number;
  /** Replaces the OTLP emitter (tests). */
  sink?: SpanSink;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const SESSION_HEADER = 'mcp-session-id';
const NO_SESSION = '-';

/** Headers to forward: all but hop-by-hop ones and those the `Connection` header names. */
export function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = new Set<string>();
  const connection = headers['connection'];
  for (const v of Array.isArray(connection) ? connection : connection ? [connection] : []) {
    for (const token of v.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

export class McpProxy {
  private server: Server | undefined;
  private readonly recorder: TapRecorder;
  private readonly emitter: SpanEmitter | undefined;
  private readonly agent: HttpAgent;
  private readonly maxFrameBytes: number;
  private readonly parentBySocket = new WeakMap<Socket, ParentResolver>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: ProxyOptions) {
    const serverId = httpServerId(opts.upstream);
    this.emitter = opts.sink
      ? undefined
      : new SpanEmitter({
          endpoint: opts.endpoint,
          ...(opts.bearerToken ? { bearerToken: opts.bearerToken } : {}),
          logger: opts.logger,
          ...(opts.maxSpanQueue !== undefined ? { maxQueueSize: opts.maxSpanQueue } : {}),
          resource: {
            [RESOURCE.serviceName]: opts.name ?? opts.upstream.host,
            [MCPWATCH.serverId]: serverId,
            [OTEL.networkTransport]: 'tcp',
            [OTEL.serverAddress]: opts.upstream.hostname,
            [OTEL.serverPort]: Number(opts.upstream.port || (opts.upstream.protocol === 'https:' ? 443 : 80)),
          },
        });
    this.recorder = new TapRecorder({
      sink: opts.sink ?? this.emitter!,
      logger: opts.logger,
      tapKind: 'http',
      transport: 'tcp',
      serverId,
      captureContent: opts.captureContent,
    });
    this.agent = opts.upstream.protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  stats() {
    return { ...this.recorder.stats(), spans: this.emitter?.stats() };
  }

  /** Listens; resolves with the bound address. */
  start(): Promise<AddressInfo> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** Stops listening, closes open streams, records unanswered requests and flushes spans. Idempotent. */
  async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of this.sockets) s.destroy();
      });
    }
    this.agent.destroy();
    await this.recorder.close();
    await this.emitter?.shutdown(1000);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const parsedUrl = new URL(url, 'http://proxy.invalid');
    const requestSession = headerValue(req.headers[SESSION_HEADER]) ?? parsedUrl.searchParams.get('sessionId') ?? undefined;
    const http: Attributes = {
      [MCPWATCH_TAP.httpMethod]: req.method ?? 'GET',
      [MCPWATCH_TAP.urlPath]: parsedUrl.pathname.slice(0, 512),
      [MCPWATCH.authorizationPresent]: req.headers['authorization'] !== undefined,
    };
    const exchange = { scope: requestSession ?? NO_SESSION, sessionId: requestSession };
    const ctx = (direction: Direction, extra?: Attributes): MessageContext => {
      const c: MessageContext = { direction, scope: exchange.scope, attributes: extra ? { ...http, ...extra } : http, atMs: nowMs() };
      if (exchange.sessionId !== undefined) c.sessionId = exchange.sessionId;
      if (direction === 'client_to_server') {
        const resolver = this.parentResolver(req.socket);
        if (resolver) c.resolveParent = resolver;
      }
      return c;
    };

    const target = new URL(url, this.opts.upstream);
    const headers = forwardableHeaders(req.headers);
    headers['host'] = this.opts.upstream.host;
    const send = this.opts.upstream.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstreamReq = send(target, { method: req.method, headers, agent: this.agent });

    // Request body: relay each chunk, keep a bounded copy for parsing.
    const body = new BoundedBuffer(this.maxFrameBytes);
    const parseRequestBody = req.headers['content-encoding'] === undefined || req.headers['content-encoding'] === 'identity';
    req.on('data', (chunk: Buffer) => {
      if (!upstreamReq.write(chunk)) {
        req.pause();
        upstreamReq.once('drain', () => req.resume());
      }
      if (parseRequestBody) body.push(chunk);
    });
    req.on('end', () => {
      upstreamReq.end();
      if (body.size === 0) return;
      if (body.oversize) this.recorder.onOversize({ kind: 'oversize', size: body.size, prefix: body.head, suffix: Buffer.alloc(0) }, ctx('client_to_server'));
      else this.recorder.onFrame(body.take(), ctx('client_to_server'));
    });
    req.on('error', () => upstreamReq.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });

    upstreamReq.on('error', (err) => {
      this.opts.logger.warn({ upstream: this.opts.upstream.origin, error: err.message }, 'upstream request failed');
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`mcpwatch proxy: upstream ${this.opts.upstream.origin} unreachable: ${err.message}\n`);
      } else {
        res.destroy();
      }
    });

    upstreamReq.on('response', (upRes) => {
      const responseSession = headerValue(upRes.headers[SESSION_HEADER]);
      if (responseSession !== undefined && exchange.sessionId === undefined) exchange.sessionId = responseSession;
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, forwardableHeaders(upRes.headers));
      res.flushHeaders();
      const status = { [MCPWATCH_TAP.httpStatusCode]: upRes.statusCode ?? 0 };
      const type = (headerValue(upRes.headers['content-type']) ?? '').toLowerCase();
      const encoded = upRes.headers['content-encoding'] !== undefined && upRes.headers['content-encoding'] !== 'identity';
      const sse = !encoded && type.startsWith('text/event-stream') ? new SseParser(this.maxFrameBytes) : undefined;
      const json = !encoded && !sse && type.includes('json') ? new BoundedBuffer(this.maxFrameBytes) : undefined;

      upRes.on('data', (chunk: Buffer) => {
        if (!res.write(chunk)) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
        if (sse) {
          for (const ev of sse.push(chunk)) {
            if (ev.event === 'endpoint') {
              // Legacy HTTP+SSE: the POST URL names the session the stream's messages belong to.
              const sid = new URL(ev.data, 'http://proxy.invalid').searchParams.get('sessionId');
              if (sid) {
                exchange.scope = sid;
                exchange.sessionId = sid;
              }
              continue;
            }
            if (ev.oversize !== undefined) this.recorder.onOversize({ kind: 'oversize', size: ev.oversize, prefix: Buffer.alloc(0), suffix: Buffer.alloc(0) }, ctx('server_to_client', status));
            else this.recorder.onFrame(ev.data, ctx('server_to_client', status));
          }
        } else if (json) {
          json.push(chunk);
        }
      });
      upRes.on('end', () => {
        res.end();
        if (json && json.size > 0) {
          if (json.oversize) this.recorder.onOversize({ kind: 'oversize', size: json.size, prefix: json.head, suffix: Buffer.alloc(0) }, ctx('server_to_client', status));
          else this.recorder.onFrame(json.take(), ctx('server_to_client', status));
        }
      });
      upRes.on('error', () => res.destroy());
    });
  }

  /**
   * Chains by socket owner: the process holding the client end of a loopback connection, and its
   * ancestors, may run a tap serving the call this request was made for.
   */
  private parentResolver(socket: Socket): ParentResolver | undefined {
    if (!CHAIN_SUPPORTED || !isLoopback(socket.remoteAddress) || socket.remotePort === undefined || socket.localPort === undefined) return undefined;
    let resolver = this.parentBySocket.get(socket);
    if (!resolver) {
      const owner = socketOwnerPid(socket.remotePort, socket.localPort);
      let inner: Promise<ParentResolver | undefined> | undefined;
      resolver = async (atMs) => {
        inner ??= owner.then((pid) => (pid === undefined ? undefined : processTreeResolver(pid, 'socket_owner', true)));
        const r = await inner;
        return r ? r(atMs) : undefined;
      };
      this.parentBySocket.set(socket, resolver);
    }
    return resolver;
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s !== undefined && s.length > 0 ? s.slice(0, 256) : undefined;
}

/** A copy of a body kept for parsing, up to a cap; past it only the size and the first bytes are kept. */
class BoundedBuffer {
  private pieces: Buffer[] = [];
  size = 0;
  oversize = false;
  head: Buffer = Buffer.alloc(0);
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.oversize) return;
    if (this.size > this.max) {
      this.oversize = true;
      this.head = Buffer.concat([...this.pieces, chunk]).subarray(0, 4096);
      this.head = Buffer.from(this.head);
      this.pieces = [];
      return;
    }
    this.pieces.push(Buffer.from(chunk));
  }
  take(): Buffer {
    const b = Buffer.concat(this.pieces);
    this.pieces = [];
    return b;
  }
}
