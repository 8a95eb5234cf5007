import { Buffer, isAscii, isUtf8 } from 'node:buffer';
import { WireText, type AttributeValue, type Attributes, type DecodedSpan } from '../receiver/otlp/span.js';
import type { McpCatalog, McpFlavour, McpTrafficEvent, PayloadInfo, ServerIdentity } from './events.js';
import { canonicalJsonOfText } from './canonical-text.js';
import { maskSecrets } from './mask-secrets.js';
import { sha256Hex, sha256HexOfBytes } from './sha256.js';
import {
  GATEWAY,
  GATEWAY_EXTRA,
  MCPWATCH,
  MCPWATCH_EXTRA,
  MCPWATCH_TAP,
  MCP_META,
  MCP_METHODS,
  OTEL,
  OTEL_VALUES,
  RESOURCE,
  SERVER_TO_CLIENT_NOTIFICATIONS,
  SERVER_TO_CLIENT_REQUESTS,
  SHINZO,
  STATELESS_PROTOCOL_VERSION,
  SpanKind,
  StatusCode,
  TRACELOOP,
  TRACELOOP_MCP,
  UNKNOWN_SERVICE_PREFIX,
} from '../semconv/attributes.js';

/**
 * Span -> `McpTrafficEvent` (DESIGN.md, "MCP traffic the normalizer must accept").
 *
 * Runs on every span the receiver accepts, so it is written for the common case: a handful of attribute
 * look-ups, no scanning of big strings, no regex over payloads. Everything a sender controls is bounded:
 * JSON payload strings longer than `maxPayloadBytes` are never parsed (size only), a payload is parsed at
 * most once per span, and every string copied into the event is capped. `normalizeSpan` never throws.
 *
 * Attributes are read as `a['error.type' satisfies typeof OTEL.errorType]`, not `a[OTEL.errorType]`: the
 * names still come from src/semconv (the compiler rejects a literal that differs from the constant), but a
 * literal key compiles to a named property load, which V8 serves from its inline caches, while a key held in
 * a variable goes through the generic keyed lookup. Measured on span attribute objects of the bench's shapes:
 * 6 against 13 ns per read, most of them of absent keys; a span takes some 35 reads (in-process decode +
 * normalize, 3 runs of 40 alternating rounds: +3.1 to +3.6%).
 */

export interface NormalizeOptions {
  /** Keep (masked) tool arguments and results in the event. Off by default everywhere (DESIGN.md). */
  captureContent: boolean;
  /** JSON payload strings longer than this (UTF-16 units) are treated as opaque: size only. Default 1 MiB. */
  maxPayloadBytes?: number;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Longest string copied from a span into an event field (tool names, URIs, ids). */
const MAX_FIELD_CHARS = 1024;
/** Longest command line kept in a server identity. */
const MAX_COMMAND_CHARS = 4096;
/** Most `mcp.request.argument.*` attributes folded back into an arguments object. */
const MAX_FLAT_ARGUMENTS = 256;
/** Deepest nesting the canonical JSON writer follows; deeper values are replaced by a marker. */
const MAX_CANONICAL_DEPTH = 64;

const KNOWN_METHODS: ReadonlySet<string> = new Set<string>(MCP_METHODS);
/** Shape of an MCP method we do not know yet (`tasks/get`, `foo/bar_baz`); used on span names only. */
const METHOD_SHAPE = /^[a-z]+(?:\/[a-zA-Z_]+)+$/;
const STATELESS_METHODS: ReadonlySet<string> = new Set(['server/discover', 'subscriptions/listen']);
const SERVER_TO_CLIENT: ReadonlySet<string> = new Set([...SERVER_TO_CLIENT_REQUESTS, ...SERVER_TO_CLIENT_NOTIFICATIONS]);
const INTEGER_SHAPE = /^-?\d{1,15}$/;

/** Whether `method` is one MCP defines (either era). */
export function isKnownMcpMethod(method: string): boolean {
  return KNOWN_METHODS.has(method);
}

/** The `method` metric label: a known MCP method or `other`, so a sender cannot mint label values. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

/**
 * Turns one decoded span into an MCP event, or `undefined` when the span carries no MCP message (it is
 * still kept for trace queries by the caller). Never throws: a span that breaks an assumption is treated
 * as not MCP.
 */
export function normalizeSpan(span: DecodedSpan, opts: NormalizeOptions): McpTrafficEvent | undefined {
  try {
    return normalizeOrThrow(span, opts);
  } catch {
    return undefined;
  }
}

/** What recognition found; the common pass fills in the rest. */
interface Recognised {
  flavour: McpFlavour;
  method: string;
  tool?: string;
  prompt?: string;
  resourceUri?: string;
  requestId?: string;
  sessionId?: string;
  /** Parsed OpenLLMetry input/output (params-like objects), parsed once. */
  input?: Parsed;
  output?: Parsed;
  /** Arguments rebuilt from flattened attributes (Shinzo). */
  flatArguments?: Record<string, unknown>;
  isError?: boolean;
}

/** A bounded parse of a JSON string: `value` when it parsed, else only the raw size. */
interface Parsed {
  raw: string;
  value?: unknown;
  /** True when the string was too long to parse. */
  opaque: boolean;
}

/** Returned by a recogniser for a span that is definitely not an MCP message (stop looking). */
const NOT_A_MESSAGE = Symbol('not-a-message');
type Recognition = Recognised | typeof NOT_A_MESSAGE | undefined;

function normalizeOrThrow(span: DecodedSpan, opts: NormalizeOptions): McpTrafficEvent | undefined {
  const a = span.attributes;
  const maxPayload = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  // Priority order of DESIGN.md: semantic conventions, OpenLLMetry, Shinzo, gateways, then the name alone.
  let r: Recognition = recogniseOtel(a);
  if (r === undefined) r = recogniseOpenllmetry(span, a, maxPayload);
  if (r === undefined) r = recogniseShinzo(span, a);
  if (r === undefined) r = recogniseGateway(span, a);
  if (r === undefined) r = recogniseSpanName(span);
  if (r === undefined || r === NOT_A_MESSAGE) return undefined;
  return build(span, r, opts, maxPayload);
}

// ---------------------------------------------------------------------------------------------------
// Recognisers. Each returns undefined when the span is not of its flavour.

function isShinzoSpan(a: Attributes): boolean {
  // Shinzo also writes `mcp.method.name`, but names the tool `mcp.tool.name` (not `gen_ai.tool.name`) and
  // adds a random `mcp.request.id` to every span: those marks tell it apart from semconv instrumentation.
  return (
    a['mcp.request.id' satisfies typeof SHINZO.requestId] !== undefined ||
    (a['mcp.tool.name' satisfies typeof SHINZO.toolName] !== undefined && a['gen_ai.tool.name' satisfies typeof OTEL.genAiToolName] === undefined)
  );
}

function recogniseOtel(a: Attributes): Recognition {
  const method = str(a['mcp.method.name' satisfies typeof OTEL.mcpMethodName]);
  if (method === undefined || isShinzoSpan(a)) return undefined;
  return { flavour: 'otel', method };
}

function recogniseOpenllmetry(span: DecodedSpan, a: Attributes, maxPayload: number): Recognition {
  const kind = str(a['traceloop.span.kind' satisfies typeof TRACELOOP.spanKind]);
  const name = span.name;
  const fromMcpInstrumentation = span.scope.name === TRACELOOP_MCP.scopeName;
  // The connection-lifetime span is not a JSON-RPC message.
  if (name === TRACELOOP_MCP.sessionSpanName && (fromMcpInstrumentation || kind === TRACELOOP_MCP.spanKindSession)) {
    return NOT_A_MESSAGE;
  }
  let method: string | undefined;
  let tool: string | undefined;
  if (name.endsWith(TRACELOOP_MCP.methodSpanSuffix)) {
    const m = name.slice(0, -TRACELOOP_MCP.methodSpanSuffix.length);
    if (isMethodLike(m)) method = m;
  }
  // `{tool}.tool` with kind `tool` is also what OpenLLMetry writes for any agent tool (LangChain, the
  // `withTool` decorator): only the MCP instrumentation's scope makes it an MCP `tools/call`.
  if (method === undefined && fromMcpInstrumentation && (kind === TRACELOOP_MCP.spanKindTool || name.endsWith(TRACELOOP_MCP.toolSpanSuffix))) {
    method = 'tools/call';
    tool =
      str(a['traceloop.entity.name' satisfies typeof TRACELOOP.entityName]) ??
      (name.endsWith(TRACELOOP_MCP.toolSpanSuffix) ? name.slice(0, -TRACELOOP_MCP.toolSpanSuffix.length) : undefined);
  }
  if (method === undefined) return undefined;

  const r: Recognised = { flavour: 'openllmetry', method };
  const input = parseBounded(a['traceloop.entity.input' satisfies typeof TRACELOOP.entityInput], maxPayload);
  const output = parseBounded(a['traceloop.entity.output' satisfies typeof TRACELOOP.entityOutput], maxPayload);
  if (input) r.input = input;
  if (output) r.output = output;
  const inObj = asRecord(input?.value);
  if (method === 'tools/call') r.tool = tool ?? str(inObj?.[TRACELOOP_MCP.inputToolName]) ?? str(inObj?.['name']);
  else if (method === 'prompts/get') r.prompt = str(inObj?.['name']);
  if (method.startsWith('resources/') || method === 'notifications/resources/updated') r.resourceUri = str(inObj?.['uri']);
  const isError = asRecord(output?.value)?.[TRACELOOP_MCP.outputIsError];
  if (typeof isError === 'boolean') r.isError = isError;
  return r;
}

function recogniseShinzo(span: DecodedSpan, a: Attributes): Recognition {
  if (!isShinzoSpan(a)) return undefined;
  const method = str(a['mcp.method.name' satisfies typeof OTEL.mcpMethodName]) ?? methodFromName(span.name)?.method;
  if (method === undefined) return undefined;
  const r: Recognised = { flavour: 'shinzo', method };
  const tool = str(a['mcp.tool.name' satisfies typeof SHINZO.toolName]);
  if (tool !== undefined) r.tool = tool;
  // Arguments are only present when the server enabled `enableArgumentCollection`; the prefix scan is
  // limited to Shinzo spans, which carry few attributes.
  let args: Record<string, unknown> | undefined;
  let n = 0;
  for (const key in a) {
    if (!key.startsWith(SHINZO.requestArgumentPrefix)) continue;
    if (++n > MAX_FLAT_ARGUMENTS) break;
    args ??= {};
    setPath(args, key.slice(SHINZO.requestArgumentPrefix.length), a[key]);
  }
  if (args) r.flatArguments = args;
  return r;
}

function recogniseGateway(span: DecodedSpan, a: Attributes): Recognition {
  let method = str(a['mcp.method' satisfies typeof GATEWAY.method]);
  if (method === undefined && span.name === GATEWAY.toolCallSpanName) method = 'tools/call';
  if (method === undefined) return undefined;
  const r: Recognised = { flavour: 'gateway', method };
  const tool = str(a['mcp.tool.name' satisfies typeof GATEWAY.toolName]);
  if (tool !== undefined) r.tool = tool;
  const session = str(a['mcp.session_id' satisfies typeof GATEWAY.sessionId]);
  if (session !== undefined) r.sessionId = session;
  const requestId = idString(a['mcp.request_id' satisfies typeof GATEWAY_EXTRA.requestId]);
  if (requestId !== undefined) r.requestId = requestId;
  const uri = str(a['mcp.resource_uri' satisfies typeof GATEWAY_EXTRA.resourceUri]);
  if (uri !== undefined) r.resourceUri = uri;
  return r;
}

function recogniseSpanName(span: DecodedSpan): Recognition {
  const parsed = methodFromName(span.name);
  if (parsed === undefined) return undefined;
  return { flavour: 'span-name', method: parsed.method };
}

/** `{method} {target}` per the semconv span name; only when the first token looks like an MCP method. */
function methodFromName(name: string): { method: string; target?: string } | undefined {
  if (name.length === 0 || name.length > 2 * MAX_FIELD_CHARS) return undefined;
  const space = name.indexOf(' ');
  const method = space < 0 ? name : name.slice(0, space);
  if (!isMethodLike(method)) return undefined;
  const target = space < 0 ? undefined : name.slice(space + 1).trim();
  return target ? { method, target } : { method };
}

function isMethodLike(token: string): boolean {
  return KNOWN_METHODS.has(token) || (token.length <= 128 && METHOD_SHAPE.test(token));
}

// ---------------------------------------------------------------------------------------------------
// The common pass: everything that reads the same way whatever the flavour.

function build(span: DecodedSpan, r: Recognised, opts: NormalizeOptions, maxPayload: number): McpTrafficEvent {
  const a = span.attributes;
  const method = cap(r.method);
  const inObj = asRecord(r.input?.value);
  const meta = asRecord(inObj?.[MCP_META.key]);

  // The span name's target is only a fallback: read it when an attribute is missing, not on every span.
  const tool =
    r.tool ??
    str(a['gen_ai.tool.name' satisfies typeof OTEL.genAiToolName]) ??
    (method === 'tools/call' ? methodFromName(span.name)?.target : undefined);
  const prompt =
    r.prompt ??
    str(a['gen_ai.prompt.name' satisfies typeof OTEL.genAiPromptName]) ??
    (method === 'prompts/get' ? methodFromName(span.name)?.target : undefined);
  const resourceUri =
    r.resourceUri ??
    str(a['mcp.resource.uri' satisfies typeof OTEL.mcpResourceUri]) ??
    (method.startsWith('resources/') && method !== 'resources/list' ? methodFromName(span.name)?.target : undefined);
  // Shinzo's `mcp.request.id` is a fresh random value per span: never a join key, so never read here.
  const requestId = r.requestId ?? idString(a['jsonrpc.request.id' satisfies typeof OTEL.jsonrpcRequestId]);
  // Shinzo's `mcp.session.id` is minted per telemetry instance (per server process), not the MCP
  // `Mcp-Session-Id`: reading it would mark stateless-era servers as session-based.
  const sessionId =
    r.flavour === 'shinzo'
      ? undefined
      : (r.sessionId ?? str(a['mcp.session.id' satisfies typeof OTEL.mcpSessionId]) ?? str(a['mcp.session_id' satisfies typeof GATEWAY.sessionId]));
  const metaVersion =
    str(meta?.[MCP_META.protocolVersion]) ??
    str(a['mcpwatch.meta.protocol_version' satisfies typeof MCPWATCH_EXTRA.metaProtocolVersion]);
  // OpenLLMetry records `initialize` params and result whole: the negotiated version is the result's.
  const negotiated = method === 'initialize' ? (str(asRecord(r.output?.value)?.['protocolVersion']) ?? str(inObj?.['protocolVersion'])) : undefined;
  const protocolVersion = str(a['mcp.protocol.version' satisfies typeof OTEL.mcpProtocolVersion]) ?? metaVersion ?? negotiated;

  const messageType: McpTrafficEvent['messageType'] = method.startsWith('notifications/') ? 'notification' : 'request';
  const declaredDirection = str(a['mcpwatch.direction' satisfies typeof MCPWATCH.direction]);
  const direction: McpTrafficEvent['direction'] =
    declaredDirection === 'client_to_server' || declaredDirection === 'server_to_client'
      ? declaredDirection
      : SERVER_TO_CLIENT.has(method)
        ? 'server_to_client'
        : 'client_to_server';
  const side = recordedBy(r.flavour, span.kind, direction);

  // Outcome.
  const errorType = str(a['error.type' satisfies typeof OTEL.errorType]);
  const jsonRpcErrorCode =
    errorCode(a['rpc.response.status_code' satisfies typeof OTEL.rpcResponseStatusCode]) ??
    errorCode(a['rpc.jsonrpc.error_code' satisfies typeof OTEL.rpcJsonrpcErrorCode]) ??
    negative(errorCode(errorType));
  // The taps fingerprint payloads in their own process; recomputing here would only cost hot-path time.
  const tapFingerprintsArgs =
    a['mcpwatch.arguments.fingerprint' satisfies typeof MCPWATCH.argumentsFingerprint] !== undefined && !opts.captureContent;
  const args = tapFingerprintsArgs ? undefined : argumentsPayload(r, a, opts, maxPayload);
  const result = resultPayload(r, a, opts, maxPayload);
  const toolIsError =
    errorType === OTEL_VALUES.toolError ||
    r.isError === true ||
    a['mcpwatch.tool.is_error' satisfies typeof MCPWATCH.toolIsError] === true ||
    result?.isError === true;
  const outcome: McpTrafficEvent['outcome'] = toolIsError
    ? 'tool_error'
    : span.status.code === StatusCode.error || errorType !== undefined || jsonRpcErrorCode !== undefined
      ? 'error'
      : 'ok';

  // Who is who.
  const ids = identities(span, r.flavour, side, meta);
  // The process part: the pid, else the SDK's per-process `service.instance.id` (Shinzo sets no pid).
  let correlationKey = sessionId;
  if (correlationKey === undefined) {
    const processKey =
      num(span.resource['process.pid' satisfies typeof RESOURCE.processPid]) ??
      str(span.resource['service.instance.id' satisfies typeof RESOURCE.serviceInstanceId]);
    correlationKey =
      ids.client?.name !== undefined || processKey !== undefined
        ? `${cap(ids.client?.name ?? '')}|${ids.server.id}|${cap(String(processKey ?? ''))}`
        : span.traceId;
  }

  const startMs = span.startTimeUnixNano / 1e6;
  const ev: McpTrafficEvent = {
    kind: 'mcp',
    id: `${span.traceId}:${span.spanId}`,
    time: Math.floor(startMs),
    server: ids.server,
    traceId: span.traceId,
    spanId: span.spanId,
    flavour: r.flavour,
    method,
    messageType,
    side,
    direction,
    correlationKey,
    era: eraOf(method, protocolVersion, sessionId, metaVersion !== undefined),
    outcome,
  };
  if (span.parentSpanId) ev.parentSpanId = span.parentSpanId;
  if (tool !== undefined) ev.tool = cap(tool);
  if (prompt !== undefined) ev.prompt = cap(prompt);
  if (resourceUri !== undefined) ev.resourceUri = cap(resourceUri);
  if (requestId !== undefined) ev.requestId = cap(requestId);
  if (sessionId !== undefined) ev.sessionId = cap(sessionId);
  if (protocolVersion !== undefined) ev.protocolVersion = cap(protocolVersion);
  const transport =
    str(a['network.transport' satisfies typeof OTEL.networkTransport]) ??
    str(a['mcp.transport' satisfies typeof GATEWAY_EXTRA.transport]);
  if (transport !== undefined) ev.transport = cap(transport);
  if (ids.client) ev.client = ids.client;
  if (span.endTimeUnixNano >= span.startTimeUnixNano && span.startTimeUnixNano > 0) {
    ev.durationMs = (span.endTimeUnixNano - span.startTimeUnixNano) / 1e6;
  }
  if (errorType !== undefined) ev.errorType = cap(errorType);
  if (jsonRpcErrorCode !== undefined) ev.jsonRpcErrorCode = jsonRpcErrorCode;
  if (args) ev.arguments = args.info;
  if (result) ev.result = result.info;
  const tapArgs = tapPayload(
    a['mcpwatch.arguments.size' satisfies typeof MCPWATCH.argumentsSize],
    a['mcpwatch.arguments.fingerprint' satisfies typeof MCPWATCH.argumentsFingerprint],
    ev.arguments,
  );
  if (tapArgs) ev.arguments = tapArgs;
  const tapResult = tapPayload(
    a['mcpwatch.result.size' satisfies typeof MCPWATCH.resultSize],
    a['mcpwatch.result.fingerprint' satisfies typeof MCPWATCH.resultFingerprint],
    ev.result,
  );
  if (tapResult) ev.result = tapResult;
  const catalog = catalogOf(a, maxPayload);
  if (catalog) ev.catalog = catalog;
  if (messageType === 'notification') {
    const n = notificationDetails(method, a, inObj, resourceUri);
    if (n) ev.notification = n;
  }
  return ev;
}

/**
 * The taps record size and fingerprint of the payload as sent (`mcpwatch.arguments.*`, `mcpwatch.result.*`)
 * even when content is not captured, or is captured masked: those win over values computed here.
 */
function tapPayload(sizeValue: AttributeValue | undefined, fingerprintValue: AttributeValue | undefined, existing: PayloadInfo | undefined): PayloadInfo | undefined {
  const size = num(sizeValue);
  const fp = str(fingerprintValue);
  if (size === undefined && fp === undefined) return undefined;
  const info: PayloadInfo = { ...existing };
  if (size !== undefined) info.size = size;
  if (fp !== undefined) info.fingerprint = cap(fp, 128);
  return info;
}

const CATALOG_KINDS: ReadonlySet<string> = new Set(['tools', 'prompts', 'resources', 'resource_templates']);

/** The taps' `mcpwatch.catalog` JSON (bounded parse; a malformed one is ignored). */
function catalogOf(a: Attributes, maxPayload: number): McpCatalog | undefined {
  const parsed = parseBounded(a['mcpwatch.catalog' satisfies typeof MCPWATCH_TAP.catalog], maxPayload);
  const obj = asRecord(parsed?.value);
  const kind = str(obj?.['kind']);
  const items = obj?.['items'];
  if (kind === undefined || !CATALOG_KINDS.has(kind) || !Array.isArray(items)) return undefined;
  const catalog: McpCatalog = {
    kind: kind as McpCatalog['kind'],
    items: items.filter((i): i is Record<string, unknown> => asRecord(i) !== undefined),
  };
  const count = num(a['mcpwatch.catalog.count' satisfies typeof MCPWATCH_TAP.catalogCount]);
  if (count !== undefined) catalog.count = count;
  if (a['mcpwatch.catalog.truncated' satisfies typeof MCPWATCH_TAP.catalogTruncated] === true) catalog.truncated = true;
  const fp = str(a['mcpwatch.catalog.fingerprint' satisfies typeof MCPWATCH_TAP.catalogFingerprint]);
  if (fp !== undefined) catalog.fingerprint = cap(fp, 128);
  return catalog;
}

/**
 * Which MCP party recorded the span (the `side` of the event).
 *
 * Semantic conventions: the sender of a request or notification records a CLIENT span and the receiver a
 * SERVER span, whichever MCP party that is; so for server-to-client traffic (sampling, elicitation, roots,
 * server notifications) a CLIENT span was recorded by the MCP server. For all client-to-server traffic this
 * is simply CLIENT -> client, SERVER -> server.
 * OpenLLMetry marks spans by the class it wrapped (`Client` -> CLIENT, `Server` -> SERVER) whatever the
 * direction, and Shinzo only instruments servers (its spans are INTERNAL).
 */
function recordedBy(flavour: McpFlavour, kind: number, direction: McpTrafficEvent['direction']): McpTrafficEvent['side'] {
  if (flavour === 'shinzo') return 'server';
  if (kind !== SpanKind.client && kind !== SpanKind.server) return 'unknown';
  const initiator = kind === SpanKind.client;
  if (flavour === 'openllmetry') return initiator ? 'client' : 'server';
  const fromServer = direction === 'server_to_client';
  return initiator !== fromServer ? 'client' : 'server';
}

function eraOf(method: string, protocolVersion: string | undefined, sessionId: string | undefined, metaSeen: boolean): McpTrafficEvent['era'] {
  const dated = protocolVersion !== undefined && isDatedVersion(protocolVersion) ? protocolVersion : undefined;
  if ((dated !== undefined && dated >= STATELESS_PROTOCOL_VERSION) || STATELESS_METHODS.has(method) || metaSeen) return 'stateless';
  if (sessionId !== undefined || method === 'initialize' || method === 'notifications/initialized' || dated !== undefined) return 'session';
  return 'unknown';
}

/** `YYYY-MM-DD` (digits 0-9 only): what the regular expression `^\d{4}-\d{2}-\d{2}$` accepts, without a regex call per span. */
function isDatedVersion(v: string): boolean {
  if (v.length !== 10 || v.charCodeAt(4) !== 0x2d || v.charCodeAt(7) !== 0x2d) return false;
  for (let i = 0; i < 10; i++) {
    if (i === 4 || i === 7) continue;
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function notificationDetails(
  method: string,
  a: Attributes,
  params: Record<string, unknown> | undefined,
  resourceUri: string | undefined,
): McpTrafficEvent['notification'] | undefined {
  const n: NonNullable<McpTrafficEvent['notification']> = {};
  if (method === 'notifications/message') {
    const level = str(a['mcpwatch.notification.level' satisfies typeof MCPWATCH_EXTRA.notificationLevel]) ?? str(params?.['level']);
    const logger = str(a['mcpwatch.notification.logger' satisfies typeof MCPWATCH_EXTRA.notificationLogger]) ?? str(params?.['logger']);
    if (level !== undefined) n.level = cap(level);
    if (logger !== undefined) n.logger = cap(logger);
  } else if (method === 'notifications/progress') {
    const progress = num(a['mcpwatch.notification.progress' satisfies typeof MCPWATCH_EXTRA.notificationProgress]) ?? num(params?.['progress']);
    const total = num(a['mcpwatch.notification.total' satisfies typeof MCPWATCH_EXTRA.notificationTotal]) ?? num(params?.['total']);
    if (progress !== undefined) n.progress = progress;
    if (total !== undefined) n.total = total;
  } else if (method === 'notifications/resources/updated') {
    const uri = resourceUri ?? str(params?.['uri']);
    if (uri !== undefined) n.uri = cap(uri);
  }
  return Object.keys(n).length > 0 ? n : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Server and client identity.

interface Identities {
  server: ServerIdentity;
  client?: NonNullable<McpTrafficEvent['client']>;
}

/** The server identity of a resource alone, cached per resource object (decoders share them per batch). */
const resourceIdentityCache = new WeakMap<Attributes, ServerIdentity>();

/**
 * Who the server and the client are.
 *
 * The OTel resource describes the process that recorded the span. When the MCP server recorded it, the
 * resource is the server; when the MCP client recorded it (a CLIENT span of client-to-server traffic, or
 * any OpenLLMetry `Client` span), the resource is the client and the server is the peer, known only from
 * span attributes (`mcp.server.name`, `server.address`/`server.port`, a tap's `mcpwatch.server.id`).
 * In that case the resource identity goes to `client` instead. A peer without any of those is named
 * `unknown` and given an id derived from the client process, so at least it is not merged with the
 * unknown peers of other clients.
 * Gateways record spans in their own process but name the upstream server in `mcp.server.name`: that
 * server is the identity, and its id is derived from its name and the gateway's.
 * A span whose recorder cannot be told (INTERNAL kind) is attributed to its resource, as a server.
 */
function identities(span: DecodedSpan, flavour: McpFlavour, side: McpTrafficEvent['side'], meta: Record<string, unknown> | undefined): Identities {
  const a = span.attributes;
  const res = span.resource;
  if (side === 'client') {
    const client: NonNullable<McpTrafficEvent['client']> = {};
    const name = serviceName(res) ?? str(a['mcpwatch.client.name' satisfies typeof MCPWATCH.clientName]);
    const version =
      str(res['service.version' satisfies typeof RESOURCE.serviceVersion]) ??
      str(a['mcpwatch.client.version' satisfies typeof MCPWATCH.clientVersion]);
    if (name !== undefined) client.name = cap(name);
    if (version !== undefined) client.version = cap(version);
    return { server: peerIdentity(a, res), client };
  }

  let server: ServerIdentity;
  const upstream = flavour === 'gateway' ? str(a['mcp.server.name' satisfies typeof GATEWAY.serverName]) : undefined;
  if (upstream !== undefined) {
    const gateway = serviceName(res) ?? '';
    server = { id: str(a['mcpwatch.server.id' satisfies typeof MCPWATCH.serverId]) ?? shortHash(upstream, 'via', gateway), name: cap(upstream) };
    const host = str(res['host.name' satisfies typeof RESOURCE.hostName]);
    if (host !== undefined) server.host = cap(host);
  } else {
    const spanId = str(a['mcpwatch.server.id' satisfies typeof MCPWATCH.serverId]);
    const spanName = str(a['mcp.server.name' satisfies typeof GATEWAY.serverName]);
    if (spanId === undefined && spanName === undefined) {
      let cached = resourceIdentityCache.get(res);
      if (cached === undefined) {
        cached = localIdentity(res, undefined, undefined);
        resourceIdentityCache.set(res, cached);
      }
      server = cached;
    } else {
      server = localIdentity(res, spanId, spanName);
    }
  }

  const info = asRecord(meta?.[MCP_META.clientInfo]);
  const name =
    str(a['mcpwatch.client.name' satisfies typeof MCPWATCH.clientName]) ??
    str(a['mcp.client.name' satisfies typeof GATEWAY.clientName]) ??
    str(info?.['name']);
  const version = str(a['mcpwatch.client.version' satisfies typeof MCPWATCH.clientVersion]) ?? str(info?.['version']);
  // Shinzo's `client.address` is the server host's own first IPv4 address, not the peer's.
  const address = flavour === 'shinzo' ? undefined : str(a['client.address' satisfies typeof OTEL.clientAddress]);
  if (name === undefined && version === undefined && address === undefined) return { server };
  const client: NonNullable<McpTrafficEvent['client']> = {};
  if (name !== undefined) client.name = cap(name);
  if (version !== undefined) client.version = cap(version);
  if (address !== undefined) client.address = cap(address);
  return { server, client };
}

function localIdentity(res: Attributes, spanServerId: string | undefined, spanServerName: string | undefined): ServerIdentity {
  const executable = str(res['process.executable.path' satisfies typeof RESOURCE.processExecutablePath]);
  const commandLine = commandLineOf(res);
  const name =
    serviceName(res) ??
    spanServerName ??
    str(res['mcp.server.name' satisfies typeof GATEWAY.serverName]) ??
    str(res['process.executable.name' satisfies typeof RESOURCE.processExecutableName]) ??
    (executable !== undefined ? basename(executable) : undefined) ??
    'unknown';
  const id = spanServerId ?? str(res['mcpwatch.server.id' satisfies typeof MCPWATCH.serverId]) ?? shortHash(name, commandLine ?? executable ?? '');
  const s: ServerIdentity = { id: cap(id), name: cap(name) };
  const pid = num(res['process.pid' satisfies typeof RESOURCE.processPid]);
  if (pid !== undefined) s.pid = pid;
  if (commandLine !== undefined) s.commandLine = commandLine;
  if (executable !== undefined) s.executable = cap(executable);
  const version = str(res['service.version' satisfies typeof RESOURCE.serviceVersion]);
  if (version !== undefined) s.version = cap(version);
  const host = str(res['host.name' satisfies typeof RESOURCE.hostName]);
  if (host !== undefined) s.host = cap(host);
  return s;
}

function peerIdentity(a: Attributes, res: Attributes): ServerIdentity {
  const address = str(a['server.address' satisfies typeof OTEL.serverAddress]);
  const port = num(a['server.port' satisfies typeof OTEL.serverPort]);
  const endpoint = address !== undefined ? (port !== undefined ? `${address}:${port}` : address) : undefined;
  const name = str(a['mcp.server.name' satisfies typeof GATEWAY.serverName]) ?? endpoint;
  const id =
    str(a['mcpwatch.server.id' satisfies typeof MCPWATCH.serverId]) ??
    (name !== undefined
      ? shortHash(name, endpoint ?? '')
      : shortHash('unknown-peer', serviceName(res) ?? '', String(num(res['process.pid' satisfies typeof RESOURCE.processPid]) ?? '')));
  const s: ServerIdentity = { id: cap(id), name: cap(name ?? 'unknown') };
  if (address !== undefined) s.host = cap(address);
  return s;
}

function serviceName(res: Attributes): string | undefined {
  const name = str(res['service.name' satisfies typeof RESOURCE.serviceName]);
  return name === undefined || name.startsWith(UNKNOWN_SERVICE_PREFIX) ? undefined : name;
}

function commandLineOf(res: Attributes): string | undefined {
  const line = str(res['process.command_line' satisfies typeof RESOURCE.processCommandLine]);
  if (line !== undefined) return cap(line, MAX_COMMAND_CHARS);
  // `process.command_args` includes the command itself (semconv), so it is the whole line when present.
  const args = res['process.command_args' satisfies typeof RESOURCE.processCommandArgs];
  if (Array.isArray(args) && args.length > 0) {
    let out = '';
    for (const arg of args) {
      if (out.length > MAX_COMMAND_CHARS) break;
      out += (out ? ' ' : '') + (typeof arg === 'string' ? arg : String(arg));
    }
    return cap(out, MAX_COMMAND_CHARS);
  }
  const command = str(res['process.command' satisfies typeof RESOURCE.processCommand]);
  return command === undefined ? undefined : cap(command, MAX_COMMAND_CHARS);
}

function basename(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i >= 0 ? path.slice(i + 1) : path;
}

/** 16 hex chars of sha256 over the parts joined by NUL: stable across restarts, short enough for labels. */
function shortHash(...parts: string[]): string {
  return sha256Hex(parts.join('\u0000')).slice(0, 16);
}

// ---------------------------------------------------------------------------------------------------
// Payloads.

interface Payload {
  info: PayloadInfo;
  isError?: boolean;
}

function argumentsPayload(r: Recognised, a: Attributes, opts: NormalizeOptions, maxPayload: number): Payload | undefined {
  const semconv = a['gen_ai.tool.call.arguments' satisfies typeof OTEL.genAiToolCallArguments];
  // Only a result's isError counts (MCP puts it in CallToolResult): a large argument is not searched for one.
  if (semconv !== undefined) return payloadOfAttribute(semconv, opts, maxPayload, false);
  if (r.flatArguments) return payloadOfValue(r.flatArguments, opts);
  const input = r.input;
  if (!input) return undefined;
  if (input.opaque) return { info: { size: Buffer.byteLength(input.raw) } };
  const obj = asRecord(input.value);
  // OpenLLMetry writes `{tool_name, arguments}` / `{name, arguments}`: the arguments are the payload, so
  // fingerprints match those of semconv `gen_ai.tool.call.arguments` for the same call.
  if (obj && TRACELOOP_MCP.inputArguments in obj && (r.method === 'tools/call' || r.method === 'prompts/get')) {
    return payloadOfValue(obj[TRACELOOP_MCP.inputArguments], opts);
  }
  return input.value !== undefined ? payloadOfValue(input.value, opts) : payloadOfRaw(input.raw, opts);
}

function resultPayload(r: Recognised, a: Attributes, opts: NormalizeOptions, maxPayload: number): Payload | undefined {
  const semconv = a['gen_ai.tool.call.result' satisfies typeof OTEL.genAiToolCallResult];
  if (semconv !== undefined) return payloadOfAttribute(semconv, opts, maxPayload);
  const output = r.output;
  if (!output) return undefined;
  if (output.opaque) return { info: { size: Buffer.byteLength(output.raw) } };
  return output.value !== undefined ? payloadOfValue(output.value, opts) : payloadOfRaw(output.raw, opts);
}

/**
 * Payloads up to this many characters are fingerprinted over canonical JSON (key order does not matter,
 * so the same arguments match across instrumentations); larger ones over the JSON text as sent, because
 * parsing and re-serialising a large payload costs several times the hash on the ingest hot path.
 */
export const CANONICAL_FINGERPRINT_MAX_CHARS = 2048;

const IS_ERROR_TRUE = /"isError"\s*:\s*true/;

/** `findIsError`: false when the caller ignores `isError` (arguments), to skip searching a large payload for it. */
function payloadOfAttribute(value: AttributeValue, opts: NormalizeOptions, maxPayload: number, findIsError = true): Payload {
  let v = value;
  if (v instanceof WireText) {
    const fromWire = payloadOfWireText(v, opts, maxPayload, findIsError);
    if (fromWire) return fromWire;
    v = v.text();
  }
  if (typeof v !== 'string') return payloadOfValue(v, opts);
  const size = Buffer.byteLength(v);
  if (v.length > maxPayload) return { info: { size } };
  if (v.length > CANONICAL_FINGERPRINT_MAX_CHARS && !opts.captureContent) {
    const info: PayloadInfo = { size, fingerprint: fingerprint(v) };
    // Unescaped `"isError":true` can only be JSON structure, never text inside a string value. The plain
    // substring search first: it is ~6x cheaper than the regular expression on a 5 KB payload that lacks it.
    return findIsError && v.includes('"isError"') && IS_ERROR_TRUE.test(v) ? { info, isError: true } : { info };
  }
  if (!opts.captureContent) {
    // Small JSON payloads are fingerprinted over canonical JSON: written straight from the text when it is
    // plain (canonical-text.ts), which costs a third of parsing it and walking the result.
    const first = v.charCodeAt(0);
    const plain = first === 0x7b /* { */ || first === 0x5b /* [ */ ? canonicalJsonOfText(v) : undefined;
    if (plain) {
      const info: PayloadInfo = { size, fingerprint: fingerprint(plain.canonical) };
      return plain.isError === undefined ? { info } : { info, isError: plain.isError };
    }
  }
  const parsed = parseBounded(v, maxPayload);
  if (!parsed || parsed.opaque) return { info: { size } };
  if (parsed.value === undefined) return payloadOfRaw(v, opts);
  const p = payloadOfValue(parsed.value, opts, v);
  p.info.size = size;
  return p;
}

const IS_ERROR_KEY = Buffer.from('"isError"');

/**
 * The large-payload case of `payloadOfAttribute` straight from the request bytes: the same size and
 * fingerprint, because for valid UTF-8 the bytes are the string's UTF-8 (what the hash and `byteLength`
 * see). The length limits count UTF-16 units: for ASCII that is the byte count, and a unit takes at most
 * 3 bytes, so only shorter non-ASCII payloads need the string to tell. Undefined when the string path must
 * decide: content capture, invalid UTF-8, a payload outside the hashed-as-sent range.
 */
function payloadOfWireText(t: WireText, opts: NormalizeOptions, maxPayload: number, findIsError: boolean): Payload | undefined {
  const size = t.byteLength;
  if (opts.captureContent || size <= CANONICAL_FINGERPRINT_MAX_CHARS || size > maxPayload) return undefined;
  const bytes = t.bytes();
  // Hashed before the bytes are checked: the decoder skipped them, so the first pass over them waits for
  // memory. The hash is slow enough for the hardware prefetcher to hide that, and the check then finds them
  // in cache (check first: decode + normalize 2.4 to 3.6% slower, in-process A/B). Only invalid UTF-8, which
  // the string path must handle, wastes the hash.
  const fp = sha256HexOfBytes(bytes).slice(0, 32);
  let text: string | undefined;
  if (!isAscii(bytes)) {
    if (!isUtf8(bytes)) return undefined;
    if (size <= 3 * CANONICAL_FINGERPRINT_MAX_CHARS) {
      text = t.text();
      if (text.length <= CANONICAL_FINGERPRINT_MAX_CHARS) return undefined;
    }
  }
  const info: PayloadInfo = { size, fingerprint: fp };
  return findIsError && bytes.indexOf(IS_ERROR_KEY) >= 0 && IS_ERROR_TRUE.test(text ?? t.text()) ? { info, isError: true } : { info };
}

/** `text`: the JSON text the value was parsed from, when there is one. */
function payloadOfValue(value: unknown, opts: NormalizeOptions, text?: string): Payload {
  const sent = text ?? JSON.stringify(plain(value)) ?? 'null';
  const canonical = sent.length <= CANONICAL_FINGERPRINT_MAX_CHARS ? canonicalJson(value, 0) : sent;
  const info: PayloadInfo = { size: Buffer.byteLength(sent), fingerprint: fingerprint(canonical) };
  if (opts.captureContent) info.content = maskSecrets(plain(value));
  const rec = asRecord(value);
  return rec && typeof rec['isError'] === 'boolean' ? { info, isError: rec['isError'] } : { info };
}

function payloadOfRaw(raw: string, opts: NormalizeOptions): Payload {
  const info: PayloadInfo = { size: Buffer.byteLength(raw), fingerprint: fingerprint(JSON.stringify(raw)) };
  if (opts.captureContent) info.content = maskSecrets(raw);
  return { info };
}

function fingerprint(canonicalText: string): string {
  return sha256Hex(canonicalText).slice(0, 32);
}

/** Parses a JSON object/array string at most once, and only when it is within the size cap. */
function parseBounded(v: AttributeValue | undefined, maxPayload: number): Parsed | undefined {
  if (typeof v !== 'string') return undefined;
  if (v.length > maxPayload) return { raw: v, opaque: true };
  const first = v.charCodeAt(0);
  // Only objects and arrays are worth a parse; anything else stays a raw string.
  if (first !== 0x7b /* { */ && first !== 0x5b /* [ */) return { raw: v, opaque: false };
  try {
    return { raw: v, value: JSON.parse(v) as unknown, opaque: false };
  } catch {
    return { raw: v, opaque: false };
  }
}

/**
 * JSON with object keys sorted at every level, so equal values give equal fingerprints.
 *
 * Written out in JS on purpose: a key-sorted copy handed to the native `JSON.stringify` was tried and was
 * slower (copy + stringify + sha256: 5.1 against 4.8 us for 0.1-1.5 KB arguments, 3.8 against 2.9 us for
 * a 150 B result), because the copy allocates an object per level and the concatenated output is flattened
 * once, by the hash, anyway.
 */
export function canonicalJson(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return 'null';
  }
  if (depth > MAX_CANONICAL_DEPTH) return '"[depth]"';
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i], depth + 1);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v, depth + 1);
    first = false;
  }
  return out + '}';
}

/** A JSON-like copy of attribute values (bytes become base64) for captured content. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  return value;
}

/** `a.b.c` -> nested objects; a path that collides with a scalar keeps the first value. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.', 16);
  let node = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    if (part === '__proto__') return;
    const next = node[part];
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      node[part] = created;
      node = created;
    } else if (asRecord(next)) {
      node = next as Record<string, unknown>;
    } else {
      return;
    }
  }
  const last = parts[parts.length - 1] as string;
  if (last !== '__proto__' && node[last] === undefined) node[last] = value;
}

// ---------------------------------------------------------------------------------------------------
// Small readers. Attribute values are untrusted: every reader checks the type it expects.

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && INTEGER_SHAPE.test(v)) return Number(v);
  return undefined;
}

/** JSON-RPC ids may be strings or numbers; both become strings. */
function idString(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 ? v : undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A JSON-RPC error code from `rpc.response.status_code` / `error.type` when it is an integer. */
/** A JSON-RPC error code, or undefined. 0 is no JSON-RPC error code: some instrumentations record it on success. */
function errorCode(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && INTEGER_SHAPE.test(v) ? Number(v) : undefined;
  return n !== undefined && Number.isInteger(n) && n !== 0 ? n : undefined;
}

/** JSON-RPC codes are negative; a positive `error.type` number is more likely an HTTP status. */
function negative(n: number | undefined): number | undefined {
  return n !== undefined && n < 0 ? n : undefined;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Record<string, unknown>) : undefined;
}

function cap(s: string, max = MAX_FIELD_CHARS): string {
  return s.length > max ? s.slice(0, max) : s;
}
