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
