import type { Attributes } from '@opentelemetry/api';
import { canonicalJson } from '../pipeline/normalize.js';
import { maskSecrets } from '../pipeline/mask-secrets.js';
import { sha256Hex } from '../pipeline/sha256.js';
import { MCPWATCH, MCPWATCH_EXTRA, MCPWATCH_TAP, MCP_META, MCP_META_TRACEPARENT, OTEL, OTEL_VALUES } from '../semconv/attributes.js';
import type { Logger } from '../telemetry/logger.js';
import { CATALOG_METHODS, encodeCatalog } from './catalog.js';
import { ENVELOPE_WINDOW_BYTES, LARGE_MESSAGE_BYTES, readLargeMessage, type PayloadDigest } from './json-envelope.js';
import type { LargeFrame, OversizeFrame } from './jsonrpc-framer.js';
import { parseFrame, peekOversize, record, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from './jsonrpc-message.js';
import { MessageTracker, type Direction, type InFlightRequest, type ParentRef, type RequestIds } from './message-tracker.js';
import { newSpanId, newTraceId, type TapSpan } from './span-emitter.js';

/**
 * Turns the JSON-RPC messages a tap saw into spans, following the OpenTelemetry MCP semantic conventions:
 * one span per request (from the request to its response), one per notification, named
 * `{mcp.method.name} {target}`. The tap records on the server's behalf, so client-to-server messages are
 * SERVER spans and the server's own requests and notifications are CLIENT spans.
 *
 * Shared by the stdio and the HTTP tap; it never sees the relayed bytes themselves, only copies.
 */

/** Where spans go (the `SpanEmitter`, or a test sink). */
export interface SpanSink {
  record(span: TapSpan): void;
}

/**
 * Finds the call of an upstream tap that a request of this server, seen at `atMs` (epoch ms), was made
 * for: a call that was in flight at that time. `undefined` (not a promise) when it is known at once that
 * there is none (no upstream tap), so the request's span needs no asynchronous step.
 */
export type ParentResolver = (atMs: number) => Promise<ParentRef | undefined> | undefined;

/** A call this server serves or served recently, as descendant taps are told (`endMs` once answered). */
export interface ServedCall {
  traceId: string;
  spanId: string;
  startMs: number;
  endMs?: number;
  method: string;
}

export interface RecorderOptions {
  sink: SpanSink;
  logger: Logger;
  tapKind: 'stdio' | 'http';
  /** `pipe` (stdio) or `tcp` (HTTP), as `network.transport`. */
  transport: 'pipe' | 'tcp';
  serverId: string;
  /** Record (masked) tool arguments and results, not only their sizes and fingerprints. */
  captureContent: boolean;
  maxInFlight?: number;
  /** Captured content longer than this (characters, after masking) is cut. */
  maxContentChars?: number;
  maxCatalogBytes?: number;
  /** Messages above this are read by their envelope instead of parsed whole (see `json-envelope.ts`). */
  largeMessageBytes?: number;
}

/** Where one message came from. */
export interface MessageContext {
  direction: Direction;
  /** Scope JSON-RPC ids are unique in: the HTTP session, or one stdio connection. */
  scope: string;
  sessionId?: string;
  /** Extra span attributes (HTTP method, path, authorization presence). */
  attributes?: Attributes;
  /** Parent look-up for requests without `_meta.traceparent` (chains inferred by process or socket). */
  resolveParent?: ParentResolver;
  /** When the tap saw the message (epoch ms); defaults to now. */
  atMs?: number;
}

export interface RecorderStats {
  messages: number;
  requests: number;
  responses: number;
  notifications: number;
  /** Frames that were not JSON, or JSON but not JSON-RPC, and their total size. */
  invalidFrames: number;
  invalidBytes: number;
  oversizeFrames: number;
  oversizeBytes: number;
  /** Unterminated frames left when a peer closed its stream. */
  truncatedFrames: number;
  /** Responses whose request was never seen (or was evicted). */
  unmatchedResponses: number;
  evictedRequests: number;
  /** Large messages read by their envelope, and those that needed the full parse after all. */
  largeMessages: number;
  largeFullParses: number;
}

const DEFAULT_MAX_CONTENT_CHARS = 64 * 1024;
/**
 * Answered calls kept for descendant taps: a descendant's parent look-up (a socket-owner scan of /proc)
 * can take longer than a quick call lasts, so it asks "what was in flight when my request arrived?", not
 * "what is in flight now?".
 */
const RECENT_CALLS = 256;
const RECENT_CALL_MS = 30_000;
/** Results a span needs the content of (protocol version, catalogs): always parsed whole, even when large. */
const FULL_RESULT_METHODS: ReadonlySet<string> = new Set(['initialize', ...Object.keys(CATALOG_METHODS)]);
const MAX_SCOPES = 1000;
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

interface ScopeState {
  protocolVersion?: string;
  clientName?: string;
  clientVersion?: string;
}

/** Epoch milliseconds with sub-millisecond resolution. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export class TapRecorder {
  readonly tracker: MessageTracker;
  private readonly scopes = new Map<string, ScopeState>();
  private readonly maxContentChars: number;
  private readonly largeMessageBytes: number;
  private readonly s: RecorderStats = {
    messages: 0,
    requests: 0,
    responses: 0,
    notifications: 0,
    invalidFrames: 0,
    invalidBytes: 0,
    oversizeFrames: 0,
    oversizeBytes: 0,
    truncatedFrames: 0,
    unmatchedResponses: 0,
    evictedRequests: 0,
    largeMessages: 0,
    largeFullParses: 0,
  };
  private readonly loggedOnce = new Set<string>();
  private recentCalls: Array<{ req: InFlightRequest; endMs: number }> = [];

  constructor(private readonly opts: RecorderOptions) {
    this.tracker = new MessageTracker(opts.maxInFlight);
    this.maxContentChars = opts.maxContentChars ?? DEFAULT_MAX_CONTENT_CHARS;
    this.largeMessageBytes = opts.largeMessageBytes ?? LARGE_MESSAGE_BYTES;
  }

  stats(): RecorderStats {
    return { ...this.s, evictedRequests: this.tracker.evicted };
  }

  /** One complete frame (a line, an HTTP body, an SSE event's data). */
  onFrame(bytes: Buffer | string, ctx: MessageContext): void {
    if (bytes.length > this.largeMessageBytes) {
      const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      const window = Math.min(ENVELOPE_WINDOW_BYTES, buf.length >> 1);
      this.onLargeFrame({ kind: 'large', size: buf.length, head: buf.subarray(0, window), tail: buf.subarray(buf.length - window), bytes: () => buf }, ctx);
      return;
    }
    this.parseWhole(bytes, ctx);
  }

  /**
   * A frame over `largeMessageBytes`: read by its envelope, unless content capture is on or the message
   * is a result whose content the span needs (`initialize`, catalogs): those are parsed whole.
   */
  onLargeFrame(frame: LargeFrame, ctx: MessageContext): void {
    const large = this.opts.captureContent || frame.size <= this.largeMessageBytes ? undefined : readLargeMessage(frame, () => frame.bytes(), frame.hasher);
    const m = large?.message;
    const needsContent =
      m?.type === 'response' && m.result !== undefined && m.id !== null && FULL_RESULT_METHODS.has(this.tracker.peek(ctx.scope, ctx.direction, m.id)?.method ?? '');
    if (!large || !m || needsContent) {
      if (frame.size > this.largeMessageBytes) this.s.largeFullParses++;
      this.parseWhole(frame.bytes(), ctx);
      return;
    }
    this.s.largeMessages++;
    this.onMessage(m, ctx, frame.size, large.payload);
  }

  private parseWhole(bytes: Buffer | string, ctx: MessageContext): void {
    const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
    if (text.trim().length === 0) return;
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      this.invalid(size, parsed.reason, ctx);
      return;
    }
    const single = parsed.messages.length === 1;
    for (const m of parsed.messages) this.onMessage(m, ctx, single ? size : undefined);
  }

  /** A frame too big to parse: relayed whole; its id and method are guessed from its ends to close a span. */
  onOversize(frame: OversizeFrame, ctx: MessageContext): void {
    this.s.oversizeFrames++;
    this.s.oversizeBytes += frame.size;
    this.logOnce('oversize', { size: frame.size, direction: ctx.direction }, 'message larger than the parse cap: relayed unchanged, not parsed (logged once)');
    const peek = peekOversize(frame.prefix.toString('utf8'), frame.suffix.toString('utf8'));
    const at = ctx.atMs ?? nowMs();
    const extra: Attributes = { [MCPWATCH_TAP.messageOversize]: true, [MCPWATCH_TAP.messageSize]: frame.size };
    if (peek.method === undefined && peek.id !== undefined) {
      const req = this.tracker.complete(ctx.scope, ctx.direction, peek.id);
      if (req) {
        this.s.responses++;
        req.attributes[MCPWATCH.resultSize] = frame.size;
        Object.assign(req.attributes, extra);
        void this.finish(req, at, undefined);
      }
      return;
    }
    if (peek.method !== undefined) {
      const msg: JsonRpcMessage = peek.id !== undefined ? { type: 'request', id: peek.id, method: peek.method } : { type: 'notification', method: peek.method };
      this.onMessage(msg, { ...ctx, attributes: { ...ctx.attributes, ...extra } }, frame.size);
    }
  }

  /** A peer closed its stream in the middle of a frame. */
  onTruncated(size: number, ctx: MessageContext): void {
    this.s.truncatedFrames++;
    this.logOnce('truncated', { size, direction: ctx.direction }, 'stream ended in the middle of a message (logged once)');
  }

  /** A frame that is not JSON-RPC (e.g. a server printing logs on stdout). */
  invalid(size: number, reason: string, ctx: MessageContext): void {
    this.s.invalidFrames++;
    this.s.invalidBytes += size;
    this.logOnce(`invalid:${reason}`, { size, reason, direction: ctx.direction }, 'frame is not JSON-RPC: relayed unchanged and counted (logged once)');
  }

  /**
   * Calls this server is serving (client-to-server requests in flight) and answered in the last
   * `RECENT_CALL_MS`, with their span ids and times: what a descendant tap parents its spans on.
   */
  async servedCalls(): Promise<ServedCall[]> {
    const cutoff = nowMs() - RECENT_CALL_MS;
    const recent = this.recentCalls.slice(-RECENT_CALLS).filter((c) => c.endMs >= cutoff);
    const reqs = [...recent.map((c) => ({ req: c.req, endMs: c.endMs as number | undefined })), ...this.tracker.inFlight('client_to_server').map((req) => ({ req, endMs: undefined }))];
    const ids = await Promise.all(reqs.map((r) => Promise.resolve(r.req.ids).catch(() => ({ traceId: newTraceId() }))));
    return reqs.map(({ req, endMs }, i) => {
      const call: ServedCall = { traceId: ids[i]!.traceId, spanId: req.spanId, startMs: req.startMs, method: req.method };
      if (endMs !== undefined) call.endMs = endMs;
      return call;
    });
  }

  /** Records every request still unanswered (at shutdown). */
  async close(): Promise<void> {
    const at = nowMs();
    await Promise.all<void>(
      this.tracker.drain().map((r) => {
        r.attributes[MCPWATCH_TAP.unanswered] = true;
        return this.finish(r, at, undefined);
      }),
    );
  }

  /** `digest`: the payload's size and fingerprint, when a large message was not parsed whole. */
  private onMessage(m: JsonRpcMessage, ctx: MessageContext, size: number | undefined, digest?: PayloadDigest): void {
    this.s.messages++;
    if (m.type === 'request') this.onRequest(m, ctx, size, digest);
    else if (m.type === 'notification') this.onNotification(m, ctx, size);
    else this.onResponse(m, ctx, size, digest);
  }

  private baseAttributes(method: string, ctx: MessageContext, kind: 'request' | 'notification', size: number | undefined): Attributes {
    const st = this.scopes.get(ctx.scope);
    const a: Attributes = {
      [OTEL.mcpMethodName]: method,
      [OTEL.jsonrpcProtocolVersion]: '2.0',
      [OTEL.networkTransport]: this.opts.transport,
      [MCPWATCH.direction]: ctx.direction,
      [MCPWATCH.messageType]: kind,
      [MCPWATCH.serverId]: this.opts.serverId,
      [MCPWATCH_TAP.tapKind]: this.opts.tapKind,
    };
    if (size !== undefined) a[MCPWATCH_TAP.messageSize] = size;
    if (ctx.sessionId !== undefined) a[OTEL.mcpSessionId] = ctx.sessionId;
    if (st?.protocolVersion !== undefined) a[OTEL.mcpProtocolVersion] = st.protocolVersion;
    if (st?.clientName !== undefined) a[MCPWATCH.clientName] = st.clientName;
    if (st?.clientVersion !== undefined) a[MCPWATCH.clientVersion] = st.clientVersion;
    if (ctx.attributes) Object.assign(a, ctx.attributes);
    return a;
  }

  private onRequest(m: JsonRpcRequest, ctx: MessageContext, size: number | undefined, digest: PayloadDigest | undefined): void {
    this.s.requests++;
    const at = ctx.atMs ?? nowMs();
    const a = this.baseAttributes(m.method, ctx, 'request', size);
    a[OTEL.jsonrpcRequestId] = String(m.id);
    const params = m.params;
    const meta = record(params?.[MCP_META.key]);
    const metaVersion = meta?.[MCP_META.protocolVersion];
    if (typeof metaVersion === 'string') {
      a[MCPWATCH_EXTRA.metaProtocolVersion] = metaVersion.slice(0, 64);
      a[OTEL.mcpProtocolVersion] ??= metaVersion.slice(0, 64);
    }
    let target: string | undefined;
    if (m.method === 'initialize') {
      const info = record(params?.['clientInfo']);
      const st = this.scope(ctx.scope);
      if (typeof info?.['name'] === 'string') st.clientName = info['name'].slice(0, 256);
      if (typeof info?.['version'] === 'string') st.clientVersion = info['version'].slice(0, 256);
      if (st.clientName !== undefined) a[MCPWATCH.clientName] = st.clientName;
      if (st.clientVersion !== undefined) a[MCPWATCH.clientVersion] = st.clientVersion;
    } else if (m.method === 'tools/call') {
      target = str(params?.['name']);
      if (target !== undefined) a[OTEL.genAiToolName] = target;
      a[OTEL.genAiOperationName] = OTEL_VALUES.executeTool;
      this.payload(a, params?.['arguments'], digest, MCPWATCH.argumentsSize, MCPWATCH.argumentsFingerprint, OTEL.genAiToolCallArguments);
    } else if (m.method === 'prompts/get') {
      target = str(params?.['name']);
      if (target !== undefined) a[OTEL.genAiPromptName] = target;
      this.payload(a, params?.['arguments'], digest, MCPWATCH.argumentsSize, MCPWATCH.argumentsFingerprint, undefined);
    } else if (m.method.startsWith('resources/') && m.method !== 'resources/list' && m.method !== 'resources/templates/list') {
      target = str(params?.['uri']);
      if (target !== undefined) a[OTEL.mcpResourceUri] = target;
    }

    const fromMeta = parseTraceparent(meta?.[MCP_META_TRACEPARENT]);
    // A promise only while a parent look-up is pending: each awaited promise was a microtask and garbage
    // on the relay thread, for the common case of a tap with no upstream tap.
    let ids: InFlightRequest['ids'];
    const lookup = !fromMeta && ctx.resolveParent && ctx.direction === 'client_to_server' ? lookUpParent(ctx.resolveParent, at) : undefined;
    if (fromMeta) {
      ids = { traceId: fromMeta.traceId, parent: fromMeta };
    } else if (lookup) {
      ids = lookup.then(
        (parent) => (parent ? { traceId: parent.traceId, parent } : { traceId: newTraceId() }),
        () => ({ traceId: newTraceId() }),
      );
    } else {
      ids = { traceId: newTraceId() };
    }
    const req: InFlightRequest = {
      direction: ctx.direction,
      scope: ctx.scope,
      id: m.id,
      method: m.method,
      name: target !== undefined ? `${m.method} ${target.slice(0, 256)}` : m.method,
      startMs: at,
      spanId: newSpanId(),
      ids,
      attributes: a,
    };
    const evicted = this.tracker.begin(req);
    if (evicted) {
      evicted.attributes[MCPWATCH_TAP.unanswered] = true;
      void this.finish(evicted, at, undefined);
    }
  }

  private onResponse(m: JsonRpcResponse, ctx: MessageContext, size: number | undefined, digest: PayloadDigest | undefined): void {
    this.s.responses++;
    const at = ctx.atMs ?? nowMs();
    const req = m.id === null ? undefined : this.tracker.complete(ctx.scope, ctx.direction, m.id);
    if (!req) {
      this.s.unmatchedResponses++;
      return;
    }
    const a = req.attributes;
    if (size !== undefined) a[MCPWATCH.resultSize] = size;
    let error: string | undefined;
    if (m.error) {
      // JSON-RPC error: semconv puts the code in both `error.type` and `rpc.response.status_code`.
      const code = String(m.error.code);
      a[OTEL.errorType] = code;
      a[OTEL.rpcResponseStatusCode] = code;
      error = m.error.message.slice(0, 1024);
    } else {
      const result = record(m.result);
      if (req.method === 'initialize') {
        const version = str(result?.['protocolVersion']);
        if (version !== undefined) {
          this.scope(ctx.scope).protocolVersion = version.slice(0, 64);
          a[OTEL.mcpProtocolVersion] = version.slice(0, 64);
        }
      } else if (req.method === 'tools/call') {
        this.payload(a, m.result, digest, MCPWATCH.resultSize, MCPWATCH.resultFingerprint, OTEL.genAiToolCallResult);
        if (result?.['isError'] === true) {
          a[OTEL.errorType] = OTEL_VALUES.toolError;
          a[MCPWATCH.toolIsError] = true;
          error = OTEL_VALUES.toolError;
        }
      } else {
        this.payload(a, m.result, digest, MCPWATCH.resultSize, MCPWATCH.resultFingerprint, undefined);
        const catalog = encodeCatalog(req.method, m.result, this.opts.maxCatalogBytes);
        if (catalog) {
          a[MCPWATCH_TAP.catalog] = catalog.json;
          a[MCPWATCH_TAP.catalogCount] = catalog.count;
          a[MCPWATCH_TAP.catalogFingerprint] = catalog.fingerprint;
          if (catalog.truncated) a[MCPWATCH_TAP.catalogTruncated] = true;
        }
      }
    }
    void this.finish(req, at, error);
  }

  private onNotification(m: JsonRpcNotification, ctx: MessageContext, size: number | undefined): void {
    this.s.notifications++;
    const at = ctx.atMs ?? nowMs();
    const a = this.baseAttributes(m.method, ctx, 'notification', size);
    const p = m.params;
    let target: string | undefined;
    if (m.method === 'notifications/message') {
      const level = str(p?.['level']);
      const logger = str(p?.['logger']);
      if (level !== undefined) a[MCPWATCH_EXTRA.notificationLevel] = level.slice(0, 64);
      if (logger !== undefined) a[MCPWATCH_EXTRA.notificationLogger] = logger.slice(0, 256);
    } else if (m.method === 'notifications/progress') {
      const progress = p?.['progress'];
      const total = p?.['total'];
      if (typeof progress === 'number' && Number.isFinite(progress)) a[MCPWATCH_EXTRA.notificationProgress] = progress;
      if (typeof total === 'number' && Number.isFinite(total)) a[MCPWATCH_EXTRA.notificationTotal] = total;
    } else if (m.method === 'notifications/resources/updated') {
      target = str(p?.['uri']);
      if (target !== undefined) a[OTEL.mcpResourceUri] = target;
    } else if (m.method === 'notifications/cancelled') {
      const id = p?.['requestId'];
      if (typeof id === 'string' || typeof id === 'number') a[OTEL.jsonrpcRequestId] = String(id);
    }
    const parent = parseTraceparent(record(p?.[MCP_META.key])?.[MCP_META_TRACEPARENT]);
    const span: TapSpan = {
      name: target !== undefined ? `${m.method} ${target.slice(0, 256)}` : m.method,
      kind: ctx.direction === 'client_to_server' ? 'server' : 'client',
      startMs: at,
      endMs: at,
      traceId: parent?.traceId ?? newTraceId(),
      spanId: newSpanId(),
      attributes: a,
    };
    if (parent) {
      span.parentSpanId = parent.spanId;
      a[MCPWATCH_TAP.parentSource] = parent.source;
    }
    this.opts.sink.record(span);
  }

  /** Records the request's span: at once when its ids are known, else once the parent look-up settles. */
  private finish(req: InFlightRequest, endMs: number, error: string | undefined): Promise<void> | undefined {
    if (req.direction === 'client_to_server') {
      this.recentCalls.push({ req, endMs });
      // Trimmed in steps, not per call: a copy of the list per answered call was garbage on the relay thread.
      if (this.recentCalls.length > 2 * RECENT_CALLS) this.recentCalls = this.recentCalls.slice(-RECENT_CALLS);
    }
    const ids = req.ids;
    if (!(ids instanceof Promise)) {
      this.recordRequest(req, ids, endMs, error);
      return undefined;
    }
    return ids.then(
      (known) => this.recordRequest(req, known, endMs, error),
      () => this.recordRequest(req, { traceId: newTraceId() }, endMs, error),
    );
  }

  private recordRequest(req: InFlightRequest, ids: RequestIds, endMs: number, error: string | undefined): void {
    const span: TapSpan = {
      name: req.name,
      kind: req.direction === 'client_to_server' ? 'server' : 'client',
      startMs: req.startMs,
      endMs,
      traceId: ids.traceId,
      spanId: req.spanId,
      attributes: req.attributes,
    };
    if (ids.parent) {
      span.parentSpanId = ids.parent.spanId;
      req.attributes[MCPWATCH_TAP.parentSource] = ids.parent.source;
    }
    if (error !== undefined) span.error = error;
    this.opts.sink.record(span);
  }

  /** Size and fingerprint always; the (masked) content only when capture is on and the attribute exists. */
  private payload(a: Attributes, value: unknown, digest: PayloadDigest | undefined, sizeKey: string, fingerprintKey: string, contentKey: string | undefined): void {
    if (digest) {
      // A large payload, hashed over its bytes as sent (`json-envelope.ts`); never captured: capture parses whole.
      a[sizeKey] = digest.size;
      a[fingerprintKey] = digest.fingerprint;
      return;
    }
    if (value === undefined) return;
    const canonical = canonicalJson(value);
    a[sizeKey] = Buffer.byteLength(canonical);
    a[fingerprintKey] = sha256Hex(canonical).slice(0, 32);
    if (this.opts.captureContent && contentKey !== undefined) {
      const masked = JSON.stringify(maskSecrets(value)) ?? 'null';
      a[contentKey] = masked.length > this.maxContentChars ? masked.slice(0, this.maxContentChars) : masked;
    }
  }

  private scope(key: string): ScopeState {
    let st = this.scopes.get(key);
    if (!st) {
      if (this.scopes.size >= MAX_SCOPES) this.scopes.delete(this.scopes.keys().next().value as string);
      st = {};
      this.scopes.set(key, st);
    }
    return st;
  }

  private logOnce(key: string, details: Record<string, unknown>, msg: string): void {
    if (this.loggedOnce.has(key)) return;
    this.loggedOnce.add(key);
    this.opts.logger.warn({ frame: details }, msg);
  }
}

/** A resolver's answer; one that throws at once counts as a failed look-up, like one that rejects. */
function lookUpParent(resolve: ParentResolver, atMs: number): Promise<ParentRef | undefined> | undefined {
  try {
    return resolve(atMs);
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** A W3C `traceparent` (version-traceid-spanid-flags), rejecting the all-zero ids the spec forbids. */
export function parseTraceparent(v: unknown): ParentRef | undefined {
  if (typeof v !== 'string' || v.length > 128) return undefined;
  const m = TRACEPARENT.exec(v.trim().toLowerCase());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, source: 'traceparent' };
}
