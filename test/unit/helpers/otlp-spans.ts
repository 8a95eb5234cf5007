/**
 * Test helpers for the OTLP decoders: real SDK spans, serialized by the official OpenTelemetry JS
 * serializers (so our decoders are checked against what exporters really send), and the
 * `DecodedSpan` we expect each of them to decode to.
 */

import { SpanKind, SpanStatusCode, context, trace, type Attributes as ApiAttributes, type HrTime } from '@opentelemetry/api';
import { ProtobufTraceSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { materializeDeferredText, type AttributeValue, type Attributes, type DecodedSpan } from '../../../src/receiver/otlp/span.js';

/** A tracer whose finished spans can be collected with `finished()`. */
export interface SpanRecorder {
  tracer: ReturnType<BasicTracerProvider['getTracer']>;
  finished(): ReadableSpan[];
  shutdown(): Promise<void>;
}

export function recordSpans(
  resourceAttributes: ApiAttributes = { 'service.name': 'mcp-test-server' },
  scope: { name: string; version?: string } = { name: 'mcp-instrumentation', version: '1.2.3' },
): SpanRecorder {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resourceAttributes),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    // Keep generated values intact: the SDK's defaults would cap attribute and event counts.
    spanLimits: { attributeCountLimit: 10_000, eventCountLimit: 10_000, linkCountLimit: 10_000 },
  });
  return {
    tracer: provider.getTracer(scope.name, scope.version),
    finished: () => exporter.getFinishedSpans(),
    shutdown: () => provider.shutdown(),
  };
}

export function toProtobuf(spans: ReadableSpan[]): Uint8Array {
  const body = ProtobufTraceSerializer.serializeRequest(spans);
  if (body === undefined) throw new Error('serializer returned nothing');
  return body;
}

export function toJson(spans: ReadableSpan[]): string {
  const body = JsonTraceSerializer.serializeRequest(spans);
  if (body === undefined) throw new Error('serializer returned nothing');
  return new TextDecoder().decode(body);
}

/** Unix nanoseconds, rounded to a double once (as the decoders do), from an HrTime. */
export function hrTimeToNanos(time: HrTime): number {
  return Number(BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]));
}

function toAttributeValue(value: unknown): AttributeValue {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.map(toAttributeValue);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Uint8Array) return new Uint8Array(value);
  const out: { [key: string]: AttributeValue } = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = toAttributeValue(v);
  return out;
}

function toAttributes(attributes: ApiAttributes | Record<string, unknown>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attributes)) out[k] = toAttributeValue(v);
  return out;
}

/** The `DecodedSpan` an SDK span must decode to (OTLP SpanKind is the API's SpanKind + 1). */
export function expectedSpan(span: ReadableSpan): DecodedSpan {
  const ctx = span.spanContext();
  const version = span.instrumentationScope.version;
  const traceState = ctx.traceState?.serialize();
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    traceState: traceState === '' ? undefined : traceState,
    name: span.name,
    kind: span.kind + 1,
    startTimeUnixNano: hrTimeToNanos(span.startTime),
    endTimeUnixNano: hrTimeToNanos(span.endTime),
    attributes: toAttributes(span.attributes),
    events: span.events.map((e) => ({
      name: e.name,
      timeUnixNano: hrTimeToNanos(e.time),
      attributes: toAttributes(e.attributes ?? {}),
    })),
    links: span.links.map((l) => {
      const state = l.context.traceState?.serialize();
      return {
        traceId: l.context.traceId,
        spanId: l.context.spanId,
        traceState: state === '' ? undefined : state,
        attributes: toAttributes(l.attributes ?? {}),
      };
    }),
    status: {
      code: span.status.code,
      message: span.status.message === '' ? undefined : span.status.message,
    },
    resource: toAttributes(span.resource.attributes),
    scope: { name: span.instrumentationScope.name, version: version === '' ? undefined : version },
  };
}

/**
 * The span without `wire` (where its message lay in the request body) and with deferred tool-call text as
 * strings: only the protobuf decoder makes either, so comparisons with what was recorded, or with the JSON
 * decoder, leave them out.
 */
export function withoutWire(span: DecodedSpan): DecodedSpan {
  const { wire: _wire, ...rest } = span;
  // Long tool-call payloads stay on the wire (`WireText`); compare the strings they stand for.
  rest.attributes = { ...rest.attributes };
  materializeDeferredText(rest.attributes);
  return rest;
}

/** Sorts by span id so decoded and expected lists compare regardless of resource/scope grouping. */
export function bySpanId<T extends { spanId: string }>(spans: readonly T[]): T[] {
  return [...spans].sort((a, b) => (a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0));
}

const TOOL_ARGUMENT_SIZES = [100, 400, 1_000, 3_000, 10_000];

/**
 * `count` spans shaped like instrumented MCP `tools/call` traffic: ~15 attributes, one tool-argument
 * string of 100 B to 10 KB, an event on every fourth span, errors on every tenth.
 */
export function realisticMcpSpans(count: number): ReadableSpan[] {
  const recorder = recordSpans({
    'service.name': 'mcp-filesystem-server',
    'service.version': '2025.8.21',
    'process.pid': 4242,
    'process.command': 'node',
    'process.command_args': ['node', 'dist/index.js', '/home/user/projects'],
    'host.name': 'dev-laptop',
    'telemetry.sdk.language': 'nodejs',
  });
  const root = recorder.tracer.startSpan('mcp.session', { kind: SpanKind.SERVER });
  const parent = trace.setSpan(context.active(), root);
  for (let i = 0; i < count; i++) {
    const size = TOOL_ARGUMENT_SIZES[i % TOOL_ARGUMENT_SIZES.length] ?? 100;
    const argument = JSON.stringify({ path: `/home/user/projects/file-${i}.txt`, content: 'x'.repeat(size) });
    const span = recorder.tracer.startSpan(
      'tools/call read_file',
      {
        kind: SpanKind.SERVER,
        attributes: {
          'mcp.method.name': 'tools/call',
          'gen_ai.tool.name': 'read_file',
          'gen_ai.operation.name': 'execute_tool',
          'mcp.session.id': '8f2c1a7e-3b4d-4c5e-9f60-718293a4b5c6',
          'mcp.protocol.version': '2025-06-18',
          'jsonrpc.request.id': String(1000 + i),
          'jsonrpc.protocol.version': '2.0',
          'network.transport': 'pipe',
          'network.protocol.name': 'http',
          'server.address': 'localhost',
          'server.port': 8080,
          'client.address': '127.0.0.1',
          'mcpwatch.arguments.size': argument.length,
          'mcpwatch.duration.ratio': 0.25 + i / 1000,
          'gen_ai.tool.call.arguments': argument,
        },
      },
      parent,
    );
    if (i % 4 === 0) span.addEvent('notifications/progress', { 'mcp.progress': i, 'mcp.progress.total': count });
    if (i % 10 === 0) {
      span.setAttribute('error.type', 'tool_error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'ENOENT: no such file or directory' });
    }
    span.end();
  }
  root.end();
  return recorder.finished().slice(0, count);
}
