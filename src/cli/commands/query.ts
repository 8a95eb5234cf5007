import { type Command, Option } from 'commander';
import type { McpEvent } from '../../pipeline/events.js';
import type { ServerSummary, StoredSpan, TraceNode } from '../../store/types.js';
import { adminGet } from '../client.js';
import { sanitizeForTerminal } from '../sanitize.js';
import { renderTable } from '../table.js';
import { checkSince, client, json, positiveInt, run, usage, type ConnectionOptions } from '../run-command.js';

/** Where the query commands look for the daemon when neither `--admin` nor `MCPWATCH_ADMIN_URL` is set. */
export const DEFAULT_ADMIN_ENDPOINT = '127.0.0.1:9464';
const ADMIN_ENV = 'MCPWATCH_ADMIN_URL';
const TOKEN_ENV = 'MCPWATCH_ADMIN_TOKEN';
/** The daemon's cap on one `/api/events` answer. */
const MAX_EVENTS = 1000;
const DEFAULT_TRACE_LIST_LIMIT = 20;
const TRACE_ID = /^[0-9a-f]{32}$/i;

interface EventFilterOptions extends ConnectionOptions {
  server?: string;
  method?: string;
  tool?: string;
  kind?: string;
  since?: string;
  limit?: number;
}

interface TraceAnswer {
  traceId: string;
  spanCount: number;
  roots: TraceNode[];
}

/** One row of `mcpwatch traces` without a trace id: the events of one trace, summarised. */
export interface TraceListEntry {
  traceId: string;
  servers: string[];
  firstSeen: number;
  events: number;
  errors: number;
  methods: string[];
  tools: string[];
  durationMs?: number;
}

/**
 * Adds the commands that query a running daemon through its admin API: `servers`, `traces`, `events`.
 * Human output is an aligned table with untrusted text neutralised; `--json` prints the daemon's JSON.
 * Connection and daemon errors go to stderr and set exit code 1; bad options are usage errors (exit 2).
 */
export function registerQueryCommands(program: Command): void {
  connectionOptions(
    program
      .command('servers')
      .description('List the MCP servers the daemon has seen: identity, event counts per kind, errors, top tools.')
      .addHelpText('after', examples('mcpwatch servers', 'mcpwatch servers --admin 10.0.0.5:9464 --json | jq ".servers[].name"')),
  ).action(async (opts: ConnectionOptions, cmd: Command) => {
    await run(cmd, async () => {
      const answer = await adminGet<{ servers: ServerSummary[] }>(client(opts), '/api/servers');
      if (opts.json) return json(answer);
      if (answer.servers.length === 0) return 'no servers seen yet\n';
      return renderServers(answer.servers, Date.now());
    });
  });

  connectionOptions(
    program
      .command('traces')
      .argument('[traceId]', 'a 32-hex-digit trace id: show that trace as a span tree')
      .description(
        'Show one trace as a span tree (name, server, duration, status), or, without a trace id, list recent traces\n' +
          'built from the events the daemon holds, newest first.',
      )
      .option('--server <name-or-id>', 'only traces with events of this server')
      .option('--since <when>', 'only events since: a duration back from now (15m, 1h), RFC 3339, or Unix ms')
      .addOption(new Option('--limit <n>', 'most traces listed').argParser(positiveInt(MAX_EVENTS)))
      .addHelpText(
        'after',
        examples(
          'mcpwatch traces 4bf92f3577b34da6a3ce929d0e0e4736',
          'mcpwatch traces --server weather --since 1h --limit 10',
          'mcpwatch traces 4bf92f3577b34da6a3ce929d0e0e4736 --json',
        ),
      ),
  ).action(async (traceId: string | undefined, opts: EventFilterOptions, cmd: Command) => {
    if (traceId !== undefined) {
      if (!TRACE_ID.test(traceId)) usage(cmd, `trace id "${sanitizeForTerminal(traceId)}" is not 32 hexadecimal characters`);
      if (opts.server !== undefined || opts.since !== undefined || opts.limit !== undefined) {
        usage(cmd, 'give either a trace id or --server/--since/--limit, not both');
      }
      await run(cmd, async () => {
        const answer = await adminGet<TraceAnswer>(client(opts), `/api/traces/${traceId.toLowerCase()}`);
        return opts.json ? json(answer) : renderTrace(answer);
      });
      return;
    }
    checkSince(cmd, opts.since);
    await run(cmd, async () => {
      const { events } = await adminGet<{ events: McpEvent[] }>(
        client(opts),
        `/api/events?${eventParams({ server: opts.server, since: opts.since, limit: MAX_EVENTS })}`,
      );
      const traces = groupByTrace(events).slice(0, opts.limit ?? DEFAULT_TRACE_LIST_LIMIT);
      if (opts.json) return json({ traces });
      if (traces.length === 0) return 'no traces match\n';
      return renderTraceList(traces);
    });
  });

  connectionOptions(
    program
      .command('events')
      .description('List recent normalized events (MCP traffic, process, file, network), newest first.')
      .option('--server <name-or-id>', 'only events of this server (name or id)')
      .option('--method <method>', 'only MCP events with this JSON-RPC method, e.g. tools/call')
      .option('--tool <tool>', 'only MCP events calling this tool')
      .addOption(new Option('--kind <kind>', 'only events of this kind').choices(['mcp', 'process', 'file', 'network']))
      .option('--since <when>', 'only events since: a duration back from now (15m, 1h), RFC 3339, or Unix ms')
      .addOption(new Option('--limit <n>', `most events listed (1-${MAX_EVENTS}; the daemon's default is 100)`).argParser(positiveInt(MAX_EVENTS)))
      .addHelpText(
        'after',
        examples(
          'mcpwatch events --server weather --since 15m',
          'mcpwatch events --method tools/call --tool run_shell --limit 50',
          'mcpwatch events --kind process --json',
        ),
      ),
  ).action(async (opts: EventFilterOptions, cmd: Command) => {
    checkSince(cmd, opts.since);
    await run(cmd, async () => {
      const answer = await adminGet<{ events: McpEvent[] }>(client(opts), `/api/events?${eventParams(opts)}`);
      if (opts.json) return json(answer);
      if (answer.events.length === 0) return 'no events match\n';
      return renderEvents(answer.events);
    });
  });
}

function connectionOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--admin <host:port>', 'admin endpoint of the daemon (or a URL)').env(ADMIN_ENV).default(DEFAULT_ADMIN_ENDPOINT),
    )
    .addOption(
      new Option('--token <token>', `bearer token for admin.auth.bearerToken (prefer ${TOKEN_ENV}: arguments show in ps)`).env(TOKEN_ENV),
    )
    .option('--json', 'print the JSON answer instead of a table');
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n\nThe daemon is found at --admin, else $${ADMIN_ENV}, else ${DEFAULT_ADMIN_ENDPOINT}; the token comes from --token or $${TOKEN_ENV}.`;
}

function eventParams(opts: Partial<Pick<EventFilterOptions, 'server' | 'method' | 'tool' | 'kind' | 'since' | 'limit'>>): string {
  const p = new URLSearchParams();
  for (const key of ['server', 'method', 'tool', 'kind', 'since'] as const) {
    const v = opts[key];
    if (v !== undefined) p.set(key, v);
  }
  if (opts.limit !== undefined) p.set('limit', String(opts.limit));
  return p.toString();
}

/** Formats a duration in milliseconds for people: `0.42ms`, `12.3ms`, `1.25s`, `3m05s`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function formatTime(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

function formatAgo(ms: number, now: number): string {
  const d = Math.max(0, now - ms);
  if (d < 60_000) return `${Math.round(d / 1000)}s ago`;
  if (d < 3_600_000) return `${Math.round(d / 60_000)}m ago`;
  if (d < 86_400_000) return `${Math.round(d / 3_600_000)}h ago`;
  return `${Math.round(d / 86_400_000)}d ago`;
}

function topNames(counts: Record<string, number>, n: number): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, count]) => `${name}(${count})`)
    .join(', ');
}

function renderServers(servers: ServerSummary[], now: number): string {
  return renderTable(
    [
      { header: 'NAME', maxWidth: 32 },
      { header: 'ID', maxWidth: 24 },
      { header: 'PID', align: 'right' },
      { header: 'MCP', align: 'right' },
      { header: 'PROC', align: 'right' },
      { header: 'FILE', align: 'right' },
      { header: 'NET', align: 'right' },
      { header: 'ERRORS', align: 'right' },
      { header: 'TOP TOOLS', maxWidth: 60 },
      { header: 'LAST SEEN' },
    ],
    servers.map((s) => [
      s.name,
      s.id,
      s.pid ?? '-',
      s.counts.mcp,
      s.counts.process,
      s.counts.file,
      s.counts.network,
      s.counts.errors,
      topNames(s.tools, 3) || '-',
      formatAgo(s.lastSeen, now),
    ]),
  );
}

/** What an event did, in two short cells: the method or action, and its object (tool, path, peer). */
function describe(e: McpEvent): [string, string, string] {
  switch (e.kind) {
    case 'mcp':
      return [e.method, e.tool ?? e.prompt ?? e.resourceUri ?? '', e.outcome];
    case 'process':
      return [e.action, e.executable ?? e.argv?.join(' ') ?? `pid ${e.pid}`, e.exitCode !== undefined ? `exit ${e.exitCode}` : ''];
    case 'file':
      return [e.action, e.path, e.sensitive ? 'sensitive' : ''];
    case 'network':
      return [e.action, `${e.remote.hostname ?? e.remote.address}:${e.remote.port}`, e.scope];
  }
}

function renderEvents(events: McpEvent[]): string {
  return renderTable(
    [
      { header: 'TIME' },
      { header: 'SERVER', maxWidth: 24 },
      { header: 'KIND' },
      { header: 'WHAT', maxWidth: 32 },
      { header: 'DETAIL', maxWidth: 48 },
      { header: 'OUTCOME', maxWidth: 16 },
      { header: 'DURATION', align: 'right' },
      { header: 'TRACE' },
    ],
    events.map((e) => {
      const [what, detail, outcome] = describe(e);
      return [
        formatTime(e.time),
        e.server.name,
        e.kind,
        what,
        detail || '-',
        outcome || '-',
        e.kind === 'mcp' ? formatDuration(e.durationMs) : '-',
        e.traceId ?? '-',
      ];
    }),
  );
}

function spanStatus(span: StoredSpan): string {
  switch (span.status.code) {
    case 1:
      return 'ok';
    case 2:
      return span.status.message ? `error: ${span.status.message}` : 'error';
    default:
      return 'unset';
  }
}

/** The span tree, depth first with children in start order, drawn with box characters; no recursion. */
function renderTrace(trace: TraceAnswer): string {
  const rows: unknown[][] = [];
  let traceStart = Infinity;
  for (const root of trace.roots) traceStart = Math.min(traceStart, root.span.startTimeUnixNano);
  const stack: { node: TraceNode; prefix: string; connector: string }[] = [];
  for (let i = trace.roots.length - 1; i >= 0; i--) stack.push({ node: trace.roots[i]!, prefix: '', connector: '' });
  while (stack.length > 0) {
    const { node, prefix, connector } = stack.pop()!;
    const span = node.span;
    rows.push([
      prefix + connector + span.name,
      span.server ?? '-',
      formatDuration(span.durationMs),
      `+${formatDuration((span.startTimeUnixNano - traceStart) / 1e6)}`,
      spanStatus(span),
      span.spanId,
    ]);
    const childPrefix = prefix + (connector === '' ? '' : connector === '└─ ' ? '   ' : '│  ');
    for (let i = node.children.length - 1; i >= 0; i--) {
      stack.push({ node: node.children[i]!, prefix: childPrefix, connector: i === node.children.length - 1 ? '└─ ' : '├─ ' });
    }
  }
  const header = `trace ${sanitizeForTerminal(trace.traceId)}: ${trace.spanCount} span${trace.spanCount === 1 ? '' : 's'}\n`;
  return (
    header +
    renderTable(
      [
        { header: 'SPAN', maxWidth: 100 },
        { header: 'SERVER', maxWidth: 24 },
        { header: 'DURATION', align: 'right' },
        { header: 'START', align: 'right' },
        { header: 'STATUS', maxWidth: 40 },
        { header: 'SPAN ID' },
      ],
      rows,
    )
  );
}

/** Groups events by trace id, newest trace first (by its newest event); events without a trace are skipped. */
export function groupByTrace(events: readonly McpEvent[]): TraceListEntry[] {
  const byTrace = new Map<string, TraceListEntry & { newest: number }>();
  for (const e of events) {
    if (e.traceId === undefined) continue;
    let t = byTrace.get(e.traceId);
    if (!t) {
      t = { traceId: e.traceId, servers: [], firstSeen: e.time, newest: e.time, events: 0, errors: 0, methods: [], tools: [] };
      byTrace.set(e.traceId, t);
    }
    t.events++;
    t.firstSeen = Math.min(t.firstSeen, e.time);
    t.newest = Math.max(t.newest, e.time);
    if (!t.servers.includes(e.server.name)) t.servers.push(e.server.name);
    if (e.kind === 'mcp') {
      if (e.outcome !== 'ok') t.errors++;
      if (!t.methods.includes(e.method)) t.methods.push(e.method);
      if (e.tool !== undefined && !t.tools.includes(e.tool)) t.tools.push(e.tool);
      if (e.durationMs !== undefined) t.durationMs = Math.max(t.durationMs ?? 0, e.durationMs);
    }
  }
  return [...byTrace.values()]
    .sort((a, b) => b.newest - a.newest)
    .map(({ newest: _newest, ...entry }) => entry);
}

function renderTraceList(traces: TraceListEntry[]): string {
  return renderTable(
    [
      { header: 'TRACE' },
      { header: 'STARTED' },
      { header: 'SERVERS', maxWidth: 32 },
      { header: 'EVENTS', align: 'right' },
      { header: 'ERRORS', align: 'right' },
      { header: 'LONGEST', align: 'right' },
      { header: 'METHODS', maxWidth: 40 },
      { header: 'TOOLS', maxWidth: 40 },
    ],
    traces.map((t) => [
      t.traceId,
      formatTime(t.firstSeen),
      t.servers.join(', '),
      t.events,
      t.errors,
      formatDuration(t.durationMs),
      t.methods.join(', ') || '-',
      t.tools.join(', ') || '-',
    ]),
  );
}
