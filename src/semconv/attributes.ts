/**
 * Every MCP, GenAI and OpenTelemetry attribute name mcpwatch reads or writes lives here, grouped by the
 * instrumentation that emits it. Nothing else in the code base spells an attribute name as a literal.
 *
 * Sources: OpenTelemetry semantic conventions for MCP (`mcp.*`, `gen_ai.*`, `jsonrpc.*`), OpenLLMetry
 * (`traceloop.*`), Shinzo's MCP instrumentation, and the legacy names used by MCP gateways.
 */

/** OpenTelemetry MCP semantic conventions. */
export const OTEL = {
  mcpMethodName: 'mcp.method.name',
  mcpSessionId: 'mcp.session.id',
  mcpProtocolVersion: 'mcp.protocol.version',
  mcpResourceUri: 'mcp.resource.uri',
  genAiToolName: 'gen_ai.tool.name',
  genAiPromptName: 'gen_ai.prompt.name',
  genAiOperationName: 'gen_ai.operation.name',
  genAiToolCallArguments: 'gen_ai.tool.call.arguments',
  genAiToolCallResult: 'gen_ai.tool.call.result',
  genAiToolCallId: 'gen_ai.tool.call.id',
  jsonrpcRequestId: 'jsonrpc.request.id',
  jsonrpcProtocolVersion: 'jsonrpc.protocol.version',
  rpcResponseStatusCode: 'rpc.response.status_code',
  rpcJsonrpcErrorCode: 'rpc.jsonrpc.error_code',
  errorType: 'error.type',
  networkTransport: 'network.transport',
  networkProtocolName: 'network.protocol.name',
  networkProtocolVersion: 'network.protocol.version',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  clientAddress: 'client.address',
  clientPort: 'client.port',
} as const;

/** OpenLLMetry (Traceloop) span attributes. */
export const TRACELOOP = {
  spanKind: 'traceloop.span.kind',
  entityName: 'traceloop.entity.name',
  entityInput: 'traceloop.entity.input',
  entityOutput: 'traceloop.entity.output',
  workflowName: 'traceloop.workflow.name',
} as const;

/** Shinzo MCP instrumentation. Its `mcp.request.id` is a random value per span: never join on it. */
export const SHINZO = {
  toolName: 'mcp.tool.name',
  requestArgumentPrefix: 'mcp.request.argument.',
  requestId: 'mcp.request.id',
} as const;

/** Legacy names emitted by MCP gateways and early instrumentations. */
export const GATEWAY = {
  method: 'mcp.method',
  toolName: 'mcp.tool.name',
  serverName: 'mcp.server.name',
  toolCallSpanName: 'mcp.tool.call',
  sessionId: 'mcp.session_id',
  clientName: 'mcp.client.name',
} as const;

/** Attributes the mcpwatch taps add beyond the semantic conventions. */
export const MCPWATCH = {
  serverId: 'mcpwatch.server.id',
  clientName: 'mcpwatch.client.name',
  clientVersion: 'mcpwatch.client.version',
  argumentsSize: 'mcpwatch.arguments.size',
  argumentsFingerprint: 'mcpwatch.arguments.fingerprint',
  resultSize: 'mcpwatch.result.size',
  resultFingerprint: 'mcpwatch.result.fingerprint',
  toolIsError: 'mcpwatch.tool.is_error',
  direction: 'mcpwatch.direction',
  messageType: 'mcpwatch.message.type',
  authorizationPresent: 'mcpwatch.http.authorization_present',
} as const;

/** OpenTelemetry resource attributes used for server identity. */
export const RESOURCE = {
  serviceName: 'service.name',
  serviceVersion: 'service.version',
  serviceInstanceId: 'service.instance.id',
  processPid: 'process.pid',
  processCommandLine: 'process.command_line',
  processCommand: 'process.command',
  processCommandArgs: 'process.command_args',
  processExecutablePath: 'process.executable.path',
  processExecutableName: 'process.executable.name',
  hostName: 'host.name',
} as const;

/** Span kinds as numbered in the OTLP protocol (`Span.SpanKind`). */
export const SpanKind = {
  unspecified: 0,
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5,
} as const;

/** Status codes as numbered in the OTLP protocol (`Status.StatusCode`). */
export const StatusCode = { unset: 0, ok: 1, error: 2 } as const;

/** The stateless protocol revision that removed sessions and `initialize`. */
export const STATELESS_PROTOCOL_VERSION = '2026-07-28';

// ---------------------------------------------------------------------------------------------------
// Added for MCP normalization (src/pipeline/normalize.ts).

/** Values of OpenTelemetry attributes that carry meaning for normalization. */
export const OTEL_VALUES = {
  /** `error.type` when a `CallToolResult` came back with `isError: true` (semconv MCP spans, note [1]). */
  toolError: 'tool_error',
  /** `gen_ai.operation.name` on tool-call spans. */
  executeTool: 'execute_tool',
} as const;

/**
 * What `@traceloop/instrumentation-mcp` (OpenLLMetry) emits, read from its 0.27 build: it wraps
 * `Client.prototype.request` (CLIENT spans), `Server.prototype.request` (SERVER spans: requests the
 * server sends) and `Client.connect` / `close` (one `mcp.client.session` span for the connection).
 * `tools/call` spans are named `{tool}.tool` with `traceloop.span.kind` = `tool`; every other method is
 * named `{method}.mcp` and carries no kind. Inputs/outputs are JSON strings: `{tool_name, arguments}`
 * and `{result, is_error}` for tools; `{uri}`, `{name, arguments}` and cleaned params for the rest.
 */
export const TRACELOOP_MCP = {
  scopeName: '@traceloop/instrumentation-mcp',
  toolSpanSuffix: '.tool',
  methodSpanSuffix: '.mcp',
  sessionSpanName: 'mcp.client.session',
  spanKindTool: 'tool',
  spanKindSession: 'session',
  inputToolName: 'tool_name',
  inputArguments: 'arguments',
  outputIsError: 'is_error',
} as const;

/** More legacy gateway names (Sentry-style `mcp.transport`, `mcp.request_id`). */
export const GATEWAY_EXTRA = {
  transport: 'mcp.transport',
  requestId: 'mcp.request_id',
  resourceUri: 'mcp.resource_uri',
} as const;

/** Attributes the mcpwatch taps record for what the semantic conventions leave out. */
export const MCPWATCH_EXTRA = {
  /** `params._meta["io.modelcontextprotocol/protocolVersion"]` of the request (stateless era). */
  metaProtocolVersion: 'mcpwatch.meta.protocol_version',
  notificationLevel: 'mcpwatch.notification.level',
  notificationLogger: 'mcpwatch.notification.logger',
  notificationProgress: 'mcpwatch.notification.progress',
  notificationTotal: 'mcpwatch.notification.total',
} as const;

/** Keys of the stateless-era (2026-07-28) per-request `params._meta` envelope. */
export const MCP_META = {
  key: '_meta',
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
} as const;

/** Default `service.name` of OpenTelemetry SDKs when none is configured: not a usable server name. */
export const UNKNOWN_SERVICE_PREFIX = 'unknown_service';

/**
 * Every JSON-RPC method named by MCP, both eras (2024-11-05 .. 2025-11-25 session-based, and the
 * 2026-07-28 stateless revision). Used to recognise MCP spans by name and to bound metric labels.
 */
export const MCP_METHODS = [
  // lifecycle and utilities
  'initialize',
  'ping',
  'server/discover',
  'subscriptions/listen',
  'logging/setLevel',
  'completion/complete',
  // tools, resources, prompts
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  // server-to-client requests
  'sampling/createMessage',
  'elicitation/create',
  'roots/list',
  // tasks (2025-11-25)
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
  // notifications
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/message',
  'notifications/resources/updated',
  'notifications/resources/list_changed',
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/roots/list_changed',
  'notifications/elicitation/complete',
  'notifications/tasks/status',
] as const;

export type McpMethod = (typeof MCP_METHODS)[number];

/** Requests only a server sends to its client. */
export const SERVER_TO_CLIENT_REQUESTS: readonly string[] = ['sampling/createMessage', 'elicitation/create', 'roots/list'];

/** Notifications only a server sends (`progress` is sent by whichever side handles the request, usually the server). */
export const SERVER_TO_CLIENT_NOTIFICATIONS: readonly string[] = [
  'notifications/message',
  'notifications/progress',
  'notifications/resources/updated',
  'notifications/resources/list_changed',
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/elicitation/complete',
  'notifications/tasks/status',
];

// ---------------------------------------------------------------------------------------------------
// Added for the taps (src/tap/): `mcpwatch wrap` and `mcpwatch proxy`.

/** Attributes the taps write beyond `MCPWATCH` / `MCPWATCH_EXTRA`. */
export const MCPWATCH_TAP = {
  /**
   * JSON string of a `tools/list`, `prompts/list`, `resources/list` or `resources/templates/list` result:
   * `{"kind":"tools","items":[{name,title,description,inputSchema,outputSchema,annotations},...]}`.
   * Metadata, always captured; capped in size (items beyond the cap are left out and
   * `mcpwatch.catalog.truncated` is true).
   */
  catalog: 'mcpwatch.catalog',
  catalogCount: 'mcpwatch.catalog.count',
  catalogTruncated: 'mcpwatch.catalog.truncated',
  /** sha256 (32 hex) over the canonical JSON of the whole list as the server sent it. */
  catalogFingerprint: 'mcpwatch.catalog.fingerprint',
  /** The message was larger than the tap's parse cap: relayed whole, only its prefix was looked at. */
  messageOversize: 'mcpwatch.message.oversize',
  /** Size in bytes of the JSON-RPC message as relayed. */
  messageSize: 'mcpwatch.message.size',
  /** How the parent of this span was found: `traceparent`, `process_tree` or `socket_owner`. */
  parentSource: 'mcpwatch.parent.source',
  /** `stdio` or `http` (which tap recorded the span). */
  tapKind: 'mcpwatch.tap.kind',
  /** The request was still unanswered when the tap stopped or its in-flight table overflowed. */
  unanswered: 'mcpwatch.request.unanswered',
  httpMethod: 'http.request.method',
  httpStatusCode: 'http.response.status_code',
  urlPath: 'url.path',
} as const;

/** `_meta` key carrying a W3C trace context on MCP requests (used by instrumented clients and servers). */
export const MCP_META_TRACEPARENT = 'traceparent';
