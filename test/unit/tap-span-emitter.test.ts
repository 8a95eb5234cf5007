import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeJsonTraces } from '../../src/receiver/otlp/decode-json.js';
import { SpanEmitter, encodeSpan, newSpanId, newTraceId, unixNanoString, type TapSpan } from '../../src/tap/span-emitter.js';
import { silentLogger } from '../../src/telemetry/logger.js';

/** The taps' own OTLP/JSON encoding and export: what the daemon's decoder reads back, retries, bounds. */

function span(overrides: Partial<TapSpan> = {}): TapSpan {
  return {
    name: 'tools/call echo',
    kind: 'server',
    startMs: 1_795_000_000_123.4567,
    endMs: 1_795_000_000_125.5,
    traceId: newTraceId(),
    spanId: newSpanId(),
    attributes: { 'mcp.method.name': 'tools/call', 'mcpwatch.result.size': 1024, ratio: 0.5, ok: true, list: ['a', 'b'], quote: 'a "quoted"\n\u2028 value' },
    ...overrides,
  };
}

const servers: Server[] = [];
const emitters: SpanEmitter[] = [];
afterEach(async () => {
  await Promise.all(emitters.splice(0).map((e) => e.shutdown(100)));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A fake daemon answering each request with the next status of `statuses` (then 200), keeping the bodies. */
async function fakeDaemon(statuses: Array<{ status: number; headers?: Record<string, string>; body?: string }> = []) {
  const bodies: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      bodies.push(body);
      const next = statuses.shift() ?? { status: 200, body: '{}' };
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(next.body ?? '{}');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, bodies };
}

function emitter(endpoint: string, extra: Partial<ConstructorParameters<typeof SpanEmitter>[0]> = {}): SpanEmitter {
  const e = new SpanEmitter({ endpoint, logger: silentLogger(), resource: { 'service.name': 'fs', 'process.pid': 42 }, scheduledDelayMillis: 10, ...extra });
  emitters.push(e);
  return e;
}

describe('SpanEmitter', () => {
  it('nanosecond times keep sub-millisecond precision past 2^53', () => {
    expect(unixNanoString(1_795_000_000_123.25)).toBe('1795000000123250000');
    expect(unixNanoString(1_795_000_000_123.9999999)).toBe('1795000000124000000');
    expect(unixNanoString(5)).toBe('5000000');
  });

  it("encodes spans the daemon's OTLP/JSON decoder reads back exactly", async () => {
    const daemon = await fakeDaemon();
    const e = emitter(daemon.url);
    const parent = newSpanId();
    const spans = [span(), span({ kind: 'client', parentSpanId: parent, error: 'tool_error' })];
    for (const s of spans) e.record(s);
    await e.shutdown(2000);
    expect(e.stats()).toEqual({ recorded: 2, exported: 2, droppedQueueFull: 0, droppedExportFailed: 0 });
    const decoded = decodeJsonTraces(daemon.bodies.join(''));
    expect(decoded.rejectedSpans).toBe(0);
    const [a, b] = decoded.spans;
    expect(a).toMatchObject({ traceId: spans[0]!.traceId, spanId: spans[0]!.spanId, name: 'tools/call echo', kind: 2, resource: { 'service.name': 'fs', 'process.pid': 42 } });
    expect(a!.attributes).toEqual(spans[0]!.attributes);
    expect(a!.parentSpanId).toBeUndefined();
    expect(a!.endTimeUnixNano - a!.startTimeUnixNano).toBeCloseTo(2_043_300, -3);
    expect(b).toMatchObject({ kind: 3, parentSpanId: parent, status: { code: 2, message: 'tool_error' } });
    expect(encodeSpan(spans[0]!)).not.toContain('\n');
  });

  it('retries after Retry-After on 503, then counts the batch exported', async () => {
    const daemon = await fakeDaemon([{ status: 503, headers: { 'retry-after': '0' } }]);
    const e = emitter(daemon.url);
    e.record(span());
    await e.shutdown(3000);
    expect(daemon.bodies).toHaveLength(2);
    expect(e.stats()).toMatchObject({ exported: 1, droppedExportFailed: 0 });
  });

  it('counts spans the daemon rejected in a partial success, and a 400 batch, as failed', async () => {
    const daemon = await fakeDaemon([{ status: 200, body: '{"partialSuccess":{"rejectedSpans":"1","errorMessage":"bad"}}' }, { status: 400 }]);
    const e = emitter(daemon.url, { maxExportBatchSize: 2 });
    e.record(span());
    e.record(span());
    e.record(span());
    await e.shutdown(3000);
    expect(e.stats()).toEqual({ recorded: 3, exported: 1, droppedQueueFull: 0, droppedExportFailed: 2 });
  });

  it('daemon down: spans are dropped and counted, quickly', async () => {
    const e = emitter('http://127.0.0.1:9/v1/traces');
    for (let i = 0; i < 5; i++) e.record(span());
    const started = performance.now();
    await e.shutdown(2000);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(e.stats()).toMatchObject({ recorded: 5, exported: 0, droppedExportFailed: 5 });
  });

  it('the queue is bounded by spans and by bytes; what does not fit is dropped and counted', () => {
    const bySpans = emitter('http://127.0.0.1:9/v1/traces', { maxQueueSize: 3, scheduledDelayMillis: 60_000 });
    for (let i = 0; i < 5; i++) bySpans.record(span());
    expect(bySpans.stats()).toMatchObject({ recorded: 3, droppedQueueFull: 2 });
    const byBytes = emitter('http://127.0.0.1:9/v1/traces', { maxQueueBytes: 3000, scheduledDelayMillis: 60_000 });
    for (let i = 0; i < 3; i++) byBytes.record(span({ attributes: { big: 'x'.repeat(800) } }));
    expect(byBytes.stats()).toMatchObject({ recorded: 2, droppedQueueFull: 1 });
  });

  it('a span with a malformed id is not recorded and does not throw', () => {
    const e = emitter('http://127.0.0.1:9/v1/traces');
    expect(() => e.record(span({ traceId: 'nothex' }))).not.toThrow();
    expect(e.stats().recorded).toBe(0);
  });
});
