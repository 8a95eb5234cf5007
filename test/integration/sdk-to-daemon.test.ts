import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpHttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.js';
import type { TraceNode } from '../../src/store/types.js';
import { startDaemon } from '../helpers/daemon.js';

/**
 * A real NodeSDK exports the same MCP spans through the official protobuf exporter to one daemon and
 * the official JSON exporter to another; both daemons must hold the same trace tree and MCP events.
 */
let protoDaemon: { daemon: Daemon; adminUrl: string; otlpUrl: string };
let jsonDaemon: { daemon: Daemon; adminUrl: string; otlpUrl: string };
let sdk: NodeSDK;
let traceId = '';

beforeAll(async () => {
  protoDaemon = await startDaemon();
  jsonDaemon = await startDaemon();
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'weather-server', 'process.pid': 777, 'process.command_line': 'node weather.js' }),
    instrumentations: [],
    // Our resource only: the SDK's process detector would replace process.pid with the test runner's.
    resourceDetectors: [],
    spanProcessors: [
      new BatchSpanProcessor(new OtlpProtoExporter({ url: protoDaemon.otlpUrl })),
      new BatchSpanProcessor(new OtlpHttpJsonExporter({ url: jsonDaemon.otlpUrl })),
    ],
  });
  sdk.start();
  const tracer = trace.getTracer('mcp-test');
  const root = tracer.startSpan('tools/call get_weather', {
    kind: SpanKind.SERVER,
    attributes: {
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'get_weather',
      'mcp.session.id': 'session-1',
      'jsonrpc.request.id': '7',
      'mcp.protocol.version': '2025-06-18',
      'network.transport': 'pipe',
      'gen_ai.tool.call.arguments': '{"city":"Lisbon"}',
    },
  });
  traceId = root.spanContext().traceId;
  const ctx = trace.setSpan(context.active(), root);
  const child = tracer.startSpan('tools/call geocode', { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'geocode', 'server.address': 'geo-server' } }, ctx);
  const http = tracer.startSpan('GET', { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'url.full': 'https://api.example.test/geo' } }, trace.setSpan(ctx, child));
  http.end();
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream timeout' });
  child.setAttribute('error.type', 'timeout');
  child.end();
  root.addEvent('progress', { 'mcp.progress': 1 });
  root.end();
  await sdk.shutdown(); // flushes both exporters
});

afterAll(async () => {
  await protoDaemon?.daemon.shutdown();
  await jsonDaemon?.daemon.shutdown();
});

interface TraceResponse {
  traceId: string;
  spanCount: number;
  roots: TraceNode[];
}

async function fetchTrace(adminUrl: string): Promise<TraceResponse> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${adminUrl}/api/traces/${traceId.toUpperCase()}`);
    if (res.status === 200) {
      const body = (await res.json()) as TraceResponse;
      if (body.spanCount === 3) return body;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('trace did not arrive');
}

const shape = (n: TraceNode): unknown => ({ name: n.span.name, kind: n.span.kind, status: n.span.status.code, children: n.children.map(shape) });

describe('NodeSDK -> official exporters -> mcpwatch', () => {
  it('keeps the same trace tree from protobuf and from JSON', async () => {
    const fromProto = await fetchTrace(protoDaemon.adminUrl);
    const fromJson = await fetchTrace(jsonDaemon.adminUrl);
    expect(fromProto.roots.map(shape)).toEqual([
      { name: 'tools/call get_weather', kind: 2, status: 0, children: [{ name: 'tools/call geocode', kind: 3, status: 2, children: [{ name: 'GET', kind: 3, status: 0, children: [] }] }] },
    ]);
    expect(fromJson.roots.map(shape)).toEqual(fromProto.roots.map(shape));
    const protoRoot = fromProto.roots[0]!.span;
    const jsonRoot = fromJson.roots[0]!.span;
    expect(jsonRoot.attributes).toEqual(protoRoot.attributes);
    expect(jsonRoot.startTimeUnixNano).toBeCloseTo(protoRoot.startTimeUnixNano, -4);
    expect(protoRoot.resource['service.name']).toBe('weather-server');
    expect(protoRoot.resource['process.pid']).toBe(777);
  });

  it('produces MCP events for the MCP spans only', async () => {
    for (const { adminUrl } of [protoDaemon, jsonDaemon]) {
      const res = await fetch(`${adminUrl}/api/events?kind=mcp&limit=10`);
      const { events } = (await res.json()) as { events: { method: string; tool?: string; outcome: string }[] };
      expect(events.map((e) => `${e.method} ${e.tool} ${e.outcome}`).sort()).toEqual(['tools/call geocode error', 'tools/call get_weather ok']);
    }
  });
});
