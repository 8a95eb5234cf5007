import type { McpEvent } from '../pipeline/events.js';
import type { DecodedSpan } from '../receiver/otlp/span.js';

/** Filters of `GET /api/events` and `mcpwatch events`. */
export interface EventQuery {
  server?: string;
  method?: string;
  tool?: string;
  kind?: McpEvent['kind'];
  /** Unix ms; events at or after. */
  since?: number;
  /** Most events returned, newest first. */
  limit?: number;
}

/** One node of `GET /api/traces/:traceId`: a span with its children (orphans become roots). */
export interface TraceNode {
  span: StoredSpan;
  children: TraceNode[];
}

/** A span as kept in the store: the decoded span minus the shared resource object, plus who it is. */
export interface StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: number;
  endTimeUnixNano: number;
  durationMs: number;
  status: { code: number; message?: string };
  attributes: DecodedSpan['attributes'];
  events: DecodedSpan['events'];
  links: DecodedSpan['links'];
  resource: DecodedSpan['resource'];
  scope: DecodedSpan['scope'];
  /** Server name the span was attributed to, when it is MCP traffic. */
  server?: string;
}

export interface ServerSummary {
  id: string;
  name: string;
  pid?: number;
  commandLine?: string;
  firstSeen: number;
  lastSeen: number;
  /** Events seen per kind since the daemon started (not only those still in the store). */
  counts: { mcp: number; process: number; file: number; network: number; errors: number };
  methods: Record<string, number>;
  tools: Record<string, number>;
}

/** The recent-event store's read side, used by the admin API and the CLI. */
export interface RecentStoreReader {
  queryEvents(q: EventQuery): McpEvent[];
  getTrace(traceId: string): { traceId: string; spanCount: number; roots: TraceNode[] } | undefined;
  listServers(): ServerSummary[];
  stats(): { events: number; spans: number; bytes: number; evictedEvents: number; evictedSpans: number };
}
