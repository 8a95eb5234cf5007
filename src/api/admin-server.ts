import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Component } from '../component/component.js';
import type { AdminConfig } from '../config/schema.js';
import { parseEndpoint, type HostPort } from '../config/endpoint.js';
import type { McpEvent } from '../pipeline/events.js';
import type { EventQuery, RecentStoreReader } from '../store/types.js';
import { LogOnce, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { bearerTokenMatches } from './auth.js';
import { AdminApiError } from './errors.js';
import { toSafeJson } from './json.js';
import { limitParam, sinceParam } from './query-params.js';

/** What the daemon reports to `/readyz`: ready, or the sentences saying why not. */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export interface AdminServerOptions {
  config: AdminConfig;
  store: RecentStoreReader;
  metrics: Metrics;
  logger: Logger;
  /** Asked on every `/readyz`; keep it cheap. */
  readiness: () => Readiness;
  /** The loaded detectors for `/api/detectors` (an empty list when absent). */
  detectors?: () => unknown[];
  /** More routes (e.g. the alert manager's `/api/alerts/...`), matched before the built-in ones. */
  routes?: AdminRoute[];
}

/** Most events one `/api/events` answer holds, and how many it holds when `limit` is not given. */
export const EVENTS_DEFAULT_LIMIT = 100;
export const EVENTS_MAX_LIMIT = 1000;

/** `Retry-After` seconds on the 503s answered while shutting down. */
const CLOSING_RETRY_AFTER_SECONDS = 5;
const ALLOW = 'GET, HEAD';
const JSON_TYPE = 'application/json; charset=utf-8';
const TRACE_ID = /^[0-9a-f]{32}$/i;
const EVENT_KINDS: ReadonlySet<string> = new Set<McpEvent['kind']>(['mcp', 'process', 'file', 'network']);
const EVENT_PARAMS = ['server', 'method', 'tool', 'kind', 'since', 'limit'] as const;
/** Longest filter value accepted; longer ones cannot match anything the store keeps usefully. */
const MAX_FILTER_LENGTH = 1024;

export interface Reply {
  status: number;
  body: string;
  contentType?: string;
}

interface Route {
  /** The route template, which is also the `route` label of `mcpwatch_admin_requests_total`. */
  template: string;
  /** Served without the bearer token (probes must work without secrets). */
  public: boolean;
  /** Methods answered; GET and HEAD when absent. A POST route gets its JSON body as `body`. */
  methods?: readonly ('GET' | 'HEAD' | 'POST')[];
  match(path: string): Record<string, string> | undefined;
  handle(params: Record<string, string>, query: URLSearchParams, body?: unknown): Reply | Promise<Reply>;
}

/** A route added by another component through `AdminServerOptions.routes`. */
export type AdminRoute = Route;

/** Largest JSON body a POST route reads. */
const MAX_BODY_BYTES = 64 * 1024;

/** The `route` label of requests that matched no route, so raw paths never become label values. */
const UNMATCHED_ROUTE = 'unmatched';

function exact(path: string): (p: string) => Record<string, string> | undefined {
  return (p) => (p === path ? {} : undefined);
}

function json(status: number, value: unknown): Reply {
  return { status, body: toSafeJson(value) };
}

/**
 * The admin HTTP server: Prometheus `/metrics`, `/livez`, `/readyz`, and the read-only query API over the
 * recent store (`/api/events`, `/api/traces/:traceId`, `/api/servers`, `/api/detectors`).
 *
 * Bearer auth (when `admin.auth.bearerToken` is set) covers everything but the two probes. After
 * `beginClosing()` every route answers 503 with `Retry-After` and `Connection: close`, so load balancers
 * and keep-alive clients move away while the daemon drains. Bodies are JSON; errors come from the one
 * registry in `errors.ts`.
 */
export class AdminServer implements Component {
  private server?: Server;
  private closing = false;
  private closed?: Promise<void>;
  private readonly routes: Route[];
  private readonly logOnce = new LogOnce();

  constructor(private readonly opts: AdminServerOptions) {
    this.routes = [
      ...(opts.routes ?? []),
      { template: '/metrics', public: false, match: exact('/metrics'), handle: () => this.metricsReply() },
      { template: '/livez', public: true, match: exact('/livez'), handle: () => json(200, { status: 'ok' }) },
      { template: '/readyz', public: true, match: exact('/readyz'), handle: () => this.readyReply() },
      { template: '/api/events', public: false, match: exact('/api/events'), handle: (_p, q) => this.eventsReply(q) },
      {
        template: '/api/traces/:traceId',
        public: false,
        match: (p) => {
          const m = /^\/api\/traces\/([^/]+)$/.exec(p);
          return m ? { traceId: m[1]! } : undefined;
        },
        handle: (p) => this.traceReply(p.traceId!),
      },
      {
        template: '/api/servers',
        public: false,
        match: exact('/api/servers'),
        handle: () => json(200, { servers: this.opts.store.listServers() }),
      },
      {
        template: '/api/detectors',
        public: false,
        match: exact('/api/detectors'),
        handle: () => json(200, { detectors: this.opts.detectors?.() ?? [] }),
      },
    ];
  }

  /** Listens on `admin.endpoint`; resolves once listening, rejects with a sentence naming the setting. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('admin server: start() called after shutdown()');
    if (this.server) return;
    const endpoint = this.opts.config.endpoint;
    const { host, port } = parseEndpoint(endpoint);
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      void this.handle(req, res);
    });
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          server.off('listening', onListening);
          if (err.code === 'EADDRINUSE') reject(new Error(`admin.endpoint ${endpoint} is already in use`, { cause: err }));
          else if (err.code === 'EACCES') reject(new Error(`admin.endpoint ${endpoint}: permission denied to bind`, { cause: err }));
          else reject(new Error(`admin.endpoint ${endpoint}: cannot listen (${err.message})`, { cause: err }));
        };
        const onListening = (): void => {
          server.off('error', onError);
          resolve();
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen({ host, port });
      });
    } catch (err) {
      this.server = undefined;
      throw err;
    }
    // Never crash after start-up: a late server error is logged, not thrown.
    server.on('error', (err) => this.opts.logger.error({ err }, 'admin server error'));
    const bound = this.address();
    this.opts.logger.info({ admin: { host: bound.host, port: bound.port } }, 'admin API listening');
  }

  /** Where the server listens (the real port when the endpoint asked for port 0). */
  address(): HostPort {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') throw new Error('admin server is not listening');
    return { host: (addr as AddressInfo).address, port: (addr as AddressInfo).port };
  }

  /** From now on every route answers 503 (`/readyz` included), so traffic drains away before shutdown. */
  beginClosing(): void {
    this.closing = true;
  }

  /** Stops listening and resolves once every connection is closed. Idempotent; safe without `start()`. */
  shutdown(): Promise<void> {
    this.closed ??= this.close();
    return this.closed;
  }

  private async close(): Promise<void> {
    this.beginClosing();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve, reject) => {
      // In-flight requests get their answer (with `Connection: close`); a client that never finishes
      // its request is cut off once the configured shutdown budget is spent.
      const timer = setTimeout(() => server.closeAllConnections(), this.opts.config.shutdownTimeoutSeconds * 1000);
      timer.unref();
      server.close((err) => {
        clearTimeout(timer);
        if (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') reject(err);
        else resolve();
      });
      server.closeIdleConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let template = UNMATCHED_ROUTE;
    let bodyRead = false;
    let reply: Reply;
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      let route: Route | undefined;
      let params: Record<string, string> | undefined;
      for (const r of this.routes) {
        params = r.match(path);
        if (params) {
          route = r;
          break;
        }
      }
      if (route) template = route.template;

      if (this.closing) {
        res.setHeader('Retry-After', String(CLOSING_RETRY_AFTER_SECONDS));
        res.setHeader('Connection', 'close');
        throw new AdminApiError('shutting_down');
      }
      // Unknown paths need the token too, so an unauthenticated caller cannot map the API.
      const token = this.opts.config.auth.bearerToken;
      if (token !== undefined && !route?.public && !bearerTokenMatches(req.headers, token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="mcpwatch"');
        throw new AdminApiError('unauthorized');
      }
      if (!route || !params) throw new AdminApiError('not_found', 'No such route; see /api/events, /api/traces/:traceId, /api/servers, /api/detectors, /api/alerts, /metrics, /livez, /readyz.');
      const methods = route.methods ?? ['GET', 'HEAD'];
      if (!(methods as readonly string[]).includes(req.method ?? '')) {
        res.setHeader('Allow', route.methods ? methods.join(', ') : ALLOW);
        throw new AdminApiError('method_not_allowed', route.methods ? `This route answers ${methods.join(', ')}.` : undefined);
      }
      let body: unknown;
      if (req.method === 'POST') {
        bodyRead = true;
        body = await readJsonBody(req);
      }
      reply = await route.handle(params, query, body);
    } catch (err) {
      if (err instanceof AdminApiError) {
        reply = json(err.status, err.toBody());
      } else {
        if (this.logOnce.shouldLog(`admin:${template}`)) this.opts.logger.error({ err, route: template }, 'admin request failed');
        reply = json(500, new AdminApiError('internal_error').toBody());
      }
    }
    // Bodies not read by a route are drained so the connection stays usable.
    if (!bodyRead) req.resume();
    this.send(res, reply, template);
  }

  private send(res: ServerResponse, reply: Reply, template: string): void {
    this.opts.metrics.adminRequests.inc({ route: template, status: String(reply.status) });
    if (res.headersSent || res.destroyed) return;
    res.statusCode = reply.status;
    res.setHeader('Content-Type', reply.contentType ?? JSON_TYPE);
    res.setHeader('Content-Length', Buffer.byteLength(reply.body));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    if (this.closing) res.setHeader('Connection', 'close');
    res.end(reply.body);
  }

  private async metricsReply(): Promise<Reply> {
    const registry = this.opts.metrics.registry;
    return { status: 200, body: await registry.metrics(), contentType: registry.contentType };
  }

  private readyReply(): Reply {
    let readiness: Readiness;
    try {
      readiness = this.opts.readiness();
    } catch (err) {
      readiness = { ready: false, reasons: [`readiness check failed: ${(err as Error).message}`] };
    }
    return readiness.ready
      ? json(200, { status: 'ready' })
      : json(503, { status: 'not_ready', reasons: readiness.reasons });
  }

  private traceReply(raw: string): Reply {
    if (!TRACE_ID.test(raw)) {
      throw new AdminApiError('bad_request', 'traceId: must be 32 hexadecimal characters (a W3C trace id)');
    }
    const trace = this.opts.store.getTrace(raw.toLowerCase());
    if (!trace) throw new AdminApiError('trace_not_found');
    return json(200, trace);
  }

  private eventsReply(query: URLSearchParams): Reply {
    const q = parseEventQuery(query);
    const events = this.opts.store.queryEvents(q);
    return json(200, { count: events.length, limit: q.limit, events });
  }
}

/**
 * Validates the query string of `GET /api/events`. Unknown or repeated parameters are errors rather than
 * ignored, so a typo (`?severs=x`) does not silently return everything.
 */
export function parseEventQuery(query: URLSearchParams, now: number = Date.now()): EventQuery & { limit: number } {
  const out: EventQuery & { limit: number } = { limit: EVENTS_DEFAULT_LIMIT };
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (!(EVENT_PARAMS as readonly string[]).includes(name)) {
      throw new AdminApiError('bad_request', `${name.slice(0, 64)}: unknown parameter; accepted: ${EVENT_PARAMS.join(', ')}`);
    }
    if (seen.has(name)) throw new AdminApiError('bad_request', `${name}: given more than once`);
    seen.add(name);
    if (value === '') throw new AdminApiError('bad_request', `${name}: must not be empty`);
    if (value.length > MAX_FILTER_LENGTH) throw new AdminApiError('bad_request', `${name}: longer than ${MAX_FILTER_LENGTH} characters`);
    switch (name) {
      case 'server':
      case 'method':
      case 'tool':
        out[name] = value;
        break;
      case 'kind':
        if (!EVENT_KINDS.has(value)) throw new AdminApiError('bad_request', `kind: must be one of ${[...EVENT_KINDS].join(', ')}`);
        out.kind = value as McpEvent['kind'];
        break;
      case 'since':
        out.since = sinceParam(value, now);
        break;
      case 'limit':
        out.limit = limitParam(value, EVENTS_MAX_LIMIT);
        break;
    }
  }
  return out;
}

/** Reads a JSON request body of at most 64 KiB; 415 for another type, 413 beyond the limit, 400 when not JSON. */
async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new AdminApiError('unsupported_media_type');
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    throw new AdminApiError('payload_too_large');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      req.resume();
      throw new AdminApiError('payload_too_large');
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminApiError('bad_request', 'the body is not valid JSON');
  }
}
