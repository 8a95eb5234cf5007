import { SpanKind, SpanStatusCode, context, type Attributes } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

/**
 * Realistic MCP server spans, made by the real OpenTelemetry SDK and serialized by the official OTLP
 * serializers: the same bytes an instrumented server's exporter would send. Deterministic for a seed.
 *
 * The attributes are the OpenTelemetry semantic conventions only, with the opt-in tool arguments and
 * results recorded. No `mcpwatch.*` tap attributes: a span that carries the tap's payload fingerprint lets
 * the normalizer skip hashing the arguments, which is most of its work, so the benchmark would measure a
 * cheaper span than an instrumented server sends.
 */
export interface McpSpanOptions {
  count: number;
  seed?: number;
  serviceName?: string;
  /** Smallest and largest tool-argument payload, bytes (defaults 100 B .. 10 KB). */
  argBytes?: [number, number];
}

const TOOLS = ['read_file', 'search_files', 'get_weather', 'query_database', 'send_email', 'list_directory', 'fetch_url', 'create_issue'];

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

function words(rand: () => number, size: number): string[] {
  const vocabulary = ['alpha', 'report', 'q3', 'customer', 'path', 'src', 'index', 'query', 'select', 'where', 'limit', 'utf8'];
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    const w = vocabulary[Math.floor(rand() * vocabulary.length)]!;
    parts.push(w);
    len += w.length + 1;
  }
  return parts;
}

function payload(rand: () => number, size: number): string {
  const parts = words(rand, size);
  return JSON.stringify({ path: `/srv/data/${parts[0]}.txt`, query: parts.join(' ').slice(0, size) });
}

/** A `CallToolResult` as the MCP SDK serialises it: content blocks first, each with `type` before `text`. */
function toolResult(rand: () => number, size: number): string {
  return JSON.stringify({ content: [{ type: 'text', text: words(rand, size).join(' ').slice(0, size) }], isError: false });
}

export function makeMcpSpans(opts: McpSpanOptions): ReadableSpan[] {
  const rand = rng(opts.seed ?? 1);
  const [minArg, maxArg] = opts.argBytes ?? [100, 10_000];
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': opts.serviceName ?? 'filesystem',
      'service.version': '2026.1.14',
      'process.pid': 4242,
      'process.command_line': 'npx -y @modelcontextprotocol/server-filesystem /srv/data',
      'process.executable.name': 'node',
      'host.name': 'dev-laptop',
      'telemetry.sdk.language': 'nodejs',
    }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('mcp-server-instrumentation', '1.0.0');
  const session = `sess-${Math.floor(rand() * 1e9).toString(16)}`;
  for (let i = 0; i < opts.count; i++) {
    const r = rand();
    const base: Attributes = {
      'mcp.session.id': session,
      'mcp.protocol.version': '2025-06-18',
      'network.transport': 'pipe',
      'jsonrpc.protocol.version': '2.0',
      'client.address': '127.0.0.1',
    };
    let name: string;
    let attrs: Attributes;
    if (r < 0.7) {
      const tool = TOOLS[Math.floor(rand() * TOOLS.length)]!;
      const args = payload(rand, minArg + Math.floor(rand() * (maxArg - minArg)));
      name = `tools/call ${tool}`;
      attrs = {
        ...base,
        'mcp.method.name': 'tools/call',
        'gen_ai.tool.name': tool,
        'gen_ai.operation.name': 'execute_tool',
        'jsonrpc.request.id': String(i + 1),
        'gen_ai.tool.call.arguments': args,
        'gen_ai.tool.call.result': toolResult(rand, 200),
        'gen_ai.tool.call.id': `call_${(i + 1).toString(36).padStart(8, '0')}`,
        'gen_ai.tool.type': 'function',
        'server.address': 'localhost',
        'server.port': 0,
        'user_agent.original': 'claude-desktop/1.0',
      };
    } else if (r < 0.8) {
      name = 'tools/list';
      attrs = { ...base, 'mcp.method.name': 'tools/list', 'jsonrpc.request.id': String(i + 1) };
    } else if (r < 0.9) {
      name = 'resources/read file:///srv/data/report.txt';
      attrs = { ...base, 'mcp.method.name': 'resources/read', 'mcp.resource.uri': 'file:///srv/data/report.txt', 'jsonrpc.request.id': String(i + 1) };
    } else {
      name = 'notifications/progress';
      attrs = { ...base, 'mcp.method.name': 'notifications/progress', 'mcpwatch.progress': i, 'mcpwatch.progress.total': opts.count };
    }
    // A server records the notifications it sends as CLIENT spans, the requests it serves as SERVER spans.
    const kind = name.startsWith('notifications/') ? SpanKind.CLIENT : SpanKind.SERVER;
    const span = tracer.startSpan(name, { kind, attributes: attrs, startTime: [1_790_000_000 + i, 0] }, context.active());
    if (rand() < 0.05) {
      span.setAttribute('error.type', 'tool_error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'tool failed' });
    }
    span.addEvent('message', { 'rpc.message.type': 'RECEIVED', 'rpc.message.id': i }, [1_790_000_000 + i, 1000]);
    span.end([1_790_000_000 + i, 2_000_000 + Math.floor(rand() * 50_000_000)]);
  }
  // Not provider.shutdown(): it would clear the in-memory exporter.
  return exporter.getFinishedSpans();
}

export function toProtobuf(spans: ReadableSpan[]): Uint8Array {
  const body = ProtobufTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('serializer returned nothing');
  return body;
}

export function toJson(spans: ReadableSpan[]): string {
  const body = JsonTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('serializer returned nothing');
  return new TextDecoder().decode(body);
}
