/**
 * The normalized event every detector consumes (DESIGN.md, "One event shape flows between stages").
 * Receivers produce it; nothing downstream of normalization parses OTLP or reads /proc.
 */

/** Who an event is attributed to. `id` is stable across restarts of the same server. */
export interface ServerIdentity {
  /** Stable id: the taps' `mcpwatch.server.id`, else derived from name + command line (see normalize). */
  id: string;
  /** Human name: `service.name`, `mcp.server.name`, or the executable. */
  name: string;
  pid?: number;
  commandLine?: string;
  executable?: string;
  version?: string;
  host?: string;
  /** Host telemetry: false when only discovery found this server (in neither the `servers` config nor telemetry). */
  registered?: boolean;
  /** Host telemetry: how the server process was identified (`span`, `config`, `discovery`, `manual`). */
  source?: 'span' | 'config' | 'discovery' | 'manual';
}

interface EventBase {
  /** Unique per event (trace id + span id for span-derived events). */
  id: string;
  /** When it happened, Unix milliseconds. */
  time: number;
  server: ServerIdentity;
  traceId?: string;
  spanId?: string;
}

/** Which attribute convention an MCP span was recognised by (kept for debugging and metrics). */
export type McpFlavour = 'otel' | 'openllmetry' | 'shinzo' | 'gateway' | 'span-name';

/** Size and content fingerprint of a payload; `content` only when capture is on at the source. */
export interface PayloadInfo {
  size?: number;
  fingerprint?: string;
  /** Parsed JSON when available, else the raw string. Untrusted. */
  content?: unknown;
}

export interface McpTrafficEvent extends EventBase {
  kind: 'mcp';
  flavour: McpFlavour;
  /** JSON-RPC method, e.g. `tools/call`, `notifications/progress`. */
  method: string;
  /** `request` (answered or not), or `notification` (one-way). */
  messageType: 'request' | 'notification';
  /** Which side recorded the span: the MCP client (CLIENT span) or the server (SERVER span). */
  side: 'client' | 'server' | 'unknown';
  /** Requests a server sends to its client (sampling, elicitation, roots) are `server_to_client`. */
  direction: 'client_to_server' | 'server_to_client';
  tool?: string;
  prompt?: string;
  resourceUri?: string;
  requestId?: string;
  /** Untrusted: a client may reuse or forge it. Absent in the stateless era. */
  sessionId?: string;
  /** Session id when present, else client + server + process, else the trace id. */
  correlationKey: string;
  protocolVersion?: string;
  era: 'session' | 'stateless' | 'unknown';
  transport?: string;
  client?: { name?: string; version?: string; address?: string };
  durationMs?: number;
  outcome: 'ok' | 'error' | 'tool_error';
  errorType?: string;
  jsonRpcErrorCode?: number;
  arguments?: PayloadInfo;
  result?: PayloadInfo;
  /** Notification details (`notifications/message`, `progress`, `resources/updated`). */
  notification?: { level?: string; logger?: string; progress?: number; total?: number; uri?: string };
  parentSpanId?: string;
  /** What a `tools/list`, `prompts/list`, `resources/list` or `resources/templates/list` result offered (from the taps' `mcpwatch.catalog`). */
  catalog?: McpCatalog;
}

/** A server's list result as recorded by a tap: untrusted metadata, the input of drift and poisoning detectors. */
export interface McpCatalog {
  kind: 'tools' | 'prompts' | 'resources' | 'resource_templates';
  /** Items as the server described them (name, title, description, inputSchema, outputSchema, annotations, uri, ...). */
  items: Array<Record<string, unknown>>;
  /** How many items the server listed (may exceed `items.length` when `truncated`). */
  count?: number;
  /** Items were left out to respect the tap's size cap. */
  truncated?: boolean;
  /** sha256 (32 hex) of the whole list's canonical JSON, as sent. */
  fingerprint?: string;
}

export interface ProcessEvent extends EventBase {
  kind: 'process';
  /** `root`: a server process runs with effective uid 0; `restart_loop`: the same server started too often. */
  action: 'sample' | 'exec' | 'exit' | 'listen' | 'uid_change' | 'root' | 'restart_loop';
  pid: number;
  ppid?: number;
  executable?: string;
  argv?: string[];
  uid?: number;
  euid?: number;
  cpuPercent?: number;
  rssBytes?: number;
  threads?: number;
  openFds?: number;
  children?: number;
  listen?: { address: string; port: number; protocol: 'tcp' | 'udp' };
  exitCode?: number;
  /** `uid_change`: the ids before the change. */
  previous?: { uid: number; euid: number };
  /** `restart_loop`: starts of this server within `windowSeconds`. */
  restarts?: { count: number; windowSeconds: number };
  /** `sample`: processes in the server's tree whose descriptors could not be read (another user's). */
  unreadable?: number;
}

export interface FileEvent extends EventBase {
  kind: 'file';
  action: 'create' | 'modify' | 'delete' | 'read';
  path: string;
  sensitive: boolean;
  canary?: boolean;
  pid?: number;
  /** How sure the attribution to `server` is, 0..1. */
  confidence: number;
  /** Host telemetry: what the attribution rests on (an open descriptor, I/O timing, a declared root, nothing). */
  attribution?: 'open_fd' | 'io_timing' | 'declared_root' | 'none';
}

export interface NetworkEvent extends EventBase {
  kind: 'network';
  action: 'connect' | 'new_destination' | 'traffic' | 'close';
  pid?: number;
  protocol: 'tcp' | 'udp';
  local?: { address: string; port: number };
  remote: { address: string; port: number; hostname?: string };
  scope: 'loopback' | 'private' | 'link_local' | 'metadata' | 'public';
  /** Cumulative for this connection at `time` (`ss` tcp_info `bytes_sent` / `bytes_received`). */
  bytesSent?: number;
  bytesReceived?: number;
  /** Socket inode: the connection's identity across events. */
  inode?: number;
}

export type McpEvent = McpTrafficEvent | ProcessEvent | FileEvent | NetworkEvent;
