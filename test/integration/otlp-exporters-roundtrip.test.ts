import { describe, expect, it } from 'vitest';
import { decodeJsonTraces } from '../../src/receiver/otlp/decode-json.js';
import { decodeProtobufTraces } from '../../src/receiver/otlp/decode-protobuf.js';
import type { DecodedSpan, DecodedTraces } from '../../src/receiver/otlp/span.js';
import { bySpanId, expectedSpan, withoutWire } from '../unit/helpers/otlp-spans.js';
import { captureExport, type CapturedExport } from './helpers/exporter-capture.js';

function decodeAll(captured: CapturedExport, decode: (body: Uint8Array) => DecodedTraces): DecodedSpan[] {
  return captured.bodies.flatMap((body) => {
    const decoded = decode(body);
    expect(decoded.rejectedSpans).toBe(0);
    return decoded.spans;
  });
}

function assertMcpSpans(decoded: DecodedSpan[], captured: CapturedExport): void {
  expect(decoded).toHaveLength(2);
  const expected = bySpanId(captured.spans.map(expectedSpan));
  const actual = bySpanId(decoded.map(withoutWire));
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i]!;
    const got = actual[i]!;
    // Times within 1 µs of what the SDK recorded (they are in fact exact).
    expect(Math.abs(got.startTimeUnixNano - want.startTimeUnixNano)).toBeLessThanOrEqual(1000);
    expect(Math.abs(got.endTimeUnixNano - want.endTimeUnixNano)).toBeLessThanOrEqual(1000);
    expect(got).toEqual(want);
  }
  const server = decoded.find((s) => s.name === 'tools/call read_file');
  const child = decoded.find((s) => s.name === 'resources/read');
  expect(server).toMatchObject({
    kind: 2,
    parentSpanId: undefined,
    status: { code: 2, message: 'EACCES: permission denied' },
    resource: { 'service.name': 'mcp-filesystem', 'service.version': '1.0.0', 'process.pid': 4242 },
    scope: { name: 'mcp-integration', version: '0.1.0' },
    links: [{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', attributes: { 'link.reason': 'composability' } }],
    events: [{ name: 'notifications/progress', timeUnixNano: 1_760_000_000_200_000_000, attributes: { 'mcp.progress': 1, 'mcp.progress.total': 2 } }],
  });
  expect(server?.attributes).toMatchObject({
    'mcp.method.name': 'tools/call',
    'server.port': 3000,
    'mcpwatch.duration.ratio': 0.75,
    'mcpwatch.tool.is_error': true,
    'process.command_args': ['node', 'server.js', '--stdio'],
    'mcp.retry.delays': [10, 20, 40],
  });
  expect(child).toMatchObject({ kind: 3, parentSpanId: server?.spanId, traceId: server?.traceId, startTimeUnixNano: 1_760_000_000_300_000_000 });
}

describe('spans exported by the real OpenTelemetry JS exporters decode to what was recorded', () => {
  it('http/protobuf (exporter-trace-otlp-proto)', async () => {
    const captured = await captureExport('proto');
    expect(captured.contentTypes.every((t) => t.startsWith('application/x-protobuf'))).toBe(true);
    assertMcpSpans(decodeAll(captured, decodeProtobufTraces), captured);
  });

  it('http/protobuf with gzip', async () => {
    const captured = await captureExport('proto', { gzip: true });
    expect(captured.contentEncodings).toContain('gzip');
    assertMcpSpans(decodeAll(captured, decodeProtobufTraces), captured);
  });

  it('http/json (exporter-trace-otlp-http)', async () => {
    const captured = await captureExport('json');
    expect(captured.contentTypes.every((t) => t.startsWith('application/json'))).toBe(true);
    assertMcpSpans(decodeAll(captured, (body) => decodeJsonTraces(new TextDecoder().decode(body))), captured);
  });
});
