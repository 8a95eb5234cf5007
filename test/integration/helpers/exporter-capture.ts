/**
 * Runs a real OpenTelemetry `NodeSDK` with a real OTLP/HTTP trace exporter against a loopback
 * `node:http` server that keeps the raw request bodies. Shared by the exporter round-trip test and
 * the fixture generator (test/fixtures/otlp/generate-exporter-samples.ts).
 */

import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode, context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { encodeExportResponseJson, encodeExportResponseProtobuf } from '../../../src/receiver/otlp/encode-response.js';

export interface CapturedExport {
  /** Raw bodies as sent, after removing gzip content encoding. */
  bodies: Uint8Array[];
  contentTypes: string[];
  contentEncodings: string[];
  /** The same spans, as the SDK handed them to its exporters. */
  spans: ReadableSpan[];
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
}

/** The MCP-like traffic every capture records: a tools/call server span with a child and an error. */
export function emitMcpSpans(tracer: Tracer): void {
  const server = tracer.startSpan('tools/call read_file', {
    kind: SpanKind.SERVER,
    startTime: [1_760_000_000, 123_456_789],
    attributes: {
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'read_file',
      'mcp.session.id': 'c0ffee00-1111-2222-3333-444455556666',
      'jsonrpc.request.id': '17',
      'server.port': 3000,
      'mcpwatch.duration.ratio': 0.75,
      'mcpwatch.tool.is_error': true,
      'gen_ai.tool.call.arguments': JSON.stringify({ path: '/etc/passwd', note: 'é ✓ 😀'.repeat(50) }),
      'process.command_args': ['node', 'server.js', '--stdio'],
      'mcp.retry.delays': [10, 20, 40],
    },
    links: [
      {
        context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 },
        attributes: { 'link.reason': 'composability' },
      },
    ],
  });
  server.addEvent('notifications/progress', { 'mcp.progress': 1, 'mcp.progress.total': 2 }, [1_760_000_000, 200_000_000]);
  const child = tracer.startSpan(
    'resources/read',
    { kind: SpanKind.CLIENT, startTime: [1_760_000_000, 300_000_000], attributes: { 'mcp.resource.uri': 'file:///etc/passwd' } },
    trace.setSpan(context.active(), server),
  );
  child.end([1_760_000_000, 400_000_000]);
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'EACCES: permission denied' });
  server.end([1_760_000_000, 500_000_000]);
}

/**
 * Exports `emitMcpSpans` once through a real NodeSDK and exporter (`proto` = http/protobuf,
 * `json` = http/json) and returns what reached the wire.
 */
export async function captureExport(protocol: 'proto' | 'json', options: { gzip?: boolean } = {}): Promise<CapturedExport> {
  const captured: CapturedExport = { bodies: [], contentTypes: [], contentEncodings: [], spans: [] };
  const server = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        captured.bodies.push(new Uint8Array(body));
        captured.contentTypes.push(req.headers['content-type'] ?? '');
        captured.contentEncodings.push(req.headers['content-encoding'] ?? '');
        if (protocol === 'proto') {
          res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(encodeExportResponseProtobuf());
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(encodeExportResponseJson());
        }
      },
      () => res.writeHead(400).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/v1/traces`;
  const compression = options.gzip === true ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE;
  const exporter = protocol === 'proto' ? new OtlpProtoExporter({ url, compression }) : new OtlpJsonExporter({ url, compression });
  const memory = new InMemorySpanExporter();
  const sdk = new NodeSDK({
    autoDetectResources: false,
    resource: resourceFromAttributes({ 'service.name': 'mcp-filesystem', 'service.version': '1.0.0', 'process.pid': 4242 }),
    // Batch so that all spans of the scenario leave in one request (flushed by shutdown).
    spanProcessors: [new BatchSpanProcessor(exporter), new SimpleSpanProcessor(memory)],
    instrumentations: [],
  });
  try {
    sdk.start();
    emitMcpSpans(trace.getTracer('mcp-integration', '0.1.0'));
    captured.spans = [...memory.getFinishedSpans()];
    await sdk.shutdown();
  } finally {
    // NodeSDK registers global providers; clear them so another SDK can start in this process.
    trace.disable();
    context.disable();
    propagation.disable();
    server.close();
  }
  return captured;
}
