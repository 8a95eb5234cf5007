import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeJsonTraces } from '../../src/receiver/otlp/decode-json.js';
import { SpanEmitter, newSpanId, newTraceId, type TapSpan } from '../../src/tap/span-emitter.js';
import { silentLogger } from '../../src/telemetry/logger.js';

/**
 * The taps' span output: the OpenTelemetry SDK and its OTLP/HTTP exporter on a worker thread, sending to a
 * loopback receiver that decodes with the daemon's own OTLP/JSON decoder; the bounds, drops and deadlines.
 */

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
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});

interface Received {
  body: string;
  headers: IncomingHttpHeaders;
}

/** A loopback OTLP/HTTP receiver; `answer` picks each response from the request (default 200 `{}`), or hangs. */
async function receiver(answer: (r: Received) => { status: number; headers?: Record<string, string>; body?: string } | 'hang' = () => ({ status: 200 })) {
  const requests: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const r = { body, headers: req.headers };
      requests.push(r);
      const next = answer(r);
      if (next === 'hang') return;
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(next.body ?? '{}');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, requests };
}

function spansIn(r: Received) {
  return decodeJsonTraces(r.body).spans;
}

function emitter(endpoint: string, extra: Partial<ConstructorParameters<typeof SpanEmitter>[0]> = {}): SpanEmitter {
  const e = new SpanEmitter({ endpoint, logger: silentLogger(), resource: { 'service.name': 'fs', 'process.pid': 42 }, scheduledDelayMillis: 10, ...extra });
  emitters.push(e);
  return e;
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met in time: ${condition.toString()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const DEAD_ENDPOINT = 'http://127.0.0.1:9/v1/traces';

describe('SpanEmitter', () => {
  it('spans reach a receiver through the OTel SDK exporter on the worker thread, with ids, parents, times, attributes, status and resource kept', async () => {
    const daemon = await receiver();
    const e = emitter(daemon.url, { bearerToken: 's3cret' });
    const parent = newSpanId();
    const spans = [span(), span({ kind: 'client', parentSpanId: parent, error: 'tool_error' })];
    for (const s of spans) e.record(s);
    await until(() => e.stats().exported === 2);
    await e.shutdown(2000);
    expect(e.stats()).toEqual({ recorded: 2, queued: 0, exported: 2, droppedQueueFull: 0, droppedExportFailed: 0 });
    // The SDK exporter's own request: its user agent, and our token.
    expect(daemon.requests[0]!.headers['user-agent']).toMatch(/OTel-OTLP-Exporter-JavaScript/);
    expect(daemon.requests[0]!.headers['authorization']).toBe('Bearer s3cret');
    const decoded = daemon.requests.flatMap(spansIn);
    const a = decoded.find((d) => d.spanId === spans[0]!.spanId);
    const b = decoded.find((d) => d.spanId === spans[1]!.spanId);
    expect(a).toMatchObject({ traceId: spans[0]!.traceId, name: 'tools/call echo', kind: 2, resource: { 'service.name': 'fs', 'process.pid': 42 } });
    expect(a!.attributes).toEqual(spans[0]!.attributes);
    expect(a!.parentSpanId).toBeUndefined();
    expect(a!.startTimeUnixNano).toBe(1_795_000_000_123_456_700);
    expect(a!.endTimeUnixNano - a!.startTimeUnixNano).toBeCloseTo(2_043_300, -3);
    expect(b).toMatchObject({ traceId: spans[1]!.traceId, kind: 3, parentSpanId: parent, status: { code: 2, message: 'tool_error' } });
  });

  it("OTEL_* settings meant for the wrapped server do not reach the tap's exporter", async () => {
    const daemon = await receiver();
    process.env['OTEL_EXPORTER_OTLP_HEADERS'] = 'x-leaked=1';
    try {
      const e = emitter(daemon.url);
      e.record(span());
      await e.shutdown(3000);
      expect(e.stats().exported).toBe(1);
    } finally {
      delete process.env['OTEL_EXPORTER_OTLP_HEADERS'];
    }
    expect(daemon.requests[0]!.headers['x-leaked']).toBeUndefined();
  });

  it('the exporter retries a 503 after Retry-After, then the span counts as exported', async () => {
    let first = true;
    const daemon = await receiver(() => {
      if (!first) return { status: 200 };
      first = false;
      return { status: 503, headers: { 'retry-after': '0' } };
    });
    const e = emitter(daemon.url);
    e.record(span());
    await e.shutdown(3000);
    expect(daemon.requests).toHaveLength(2);
    expect(e.stats()).toMatchObject({ exported: 1, droppedExportFailed: 0 });
  });

  it('spans the receiver rejects in a partial success, and a batch answered 400, count as failed', async () => {
    const daemon = await receiver((r) =>
      spansIn(r).length === 2 ? { status: 200, body: '{"partialSuccess":{"rejectedSpans":"1","errorMessage":"bad"}}' } : { status: 400 },
    );
    const e = emitter(daemon.url, { maxExportBatchSize: 2 });
    // Two spans recorded in one turn reach the worker together and fill one batch; the third goes alone once
    // they are settled (recorded all at once, a loaded machine could split them 1 + 1 + 1).
    e.record(span());
    e.record(span());
    await until(() => e.stats().exported + e.stats().droppedExportFailed === 2);
    e.record(span());
    await e.shutdown(3000);
    expect(e.stats()).toEqual({ recorded: 3, queued: 0, exported: 1, droppedQueueFull: 0, droppedExportFailed: 2 });
  });

  it('daemon down: spans are dropped and counted, and shutdown is quick', async () => {
    const e = emitter(DEAD_ENDPOINT);
    for (let i = 0; i < 5; i++) e.record(span());
    await until(() => e.stats().droppedExportFailed === 5);
    const started = performance.now();
    await e.shutdown(2000);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(e.stats()).toMatchObject({ recorded: 5, exported: 0, droppedExportFailed: 5 });
  });

  it("the relay thread's queue is bounded by spans and by bytes; what does not fit is dropped and counted", () => {
    const bySpans = emitter(DEAD_ENDPOINT, { maxQueueSize: 3 });
    for (let i = 0; i < 5; i++) bySpans.record(span());
    expect(bySpans.stats()).toMatchObject({ recorded: 3, droppedQueueFull: 2 });
    const byBytes = emitter(DEAD_ENDPOINT, { maxQueueBytes: 3000 });
    for (let i = 0; i < 3; i++) byBytes.record(span({ attributes: { big: 'x'.repeat(1200) } }));
    expect(byBytes.stats()).toMatchObject({ recorded: 2, droppedQueueFull: 1 });
  });

  it("the worker's queue is bounded too: while the daemon hangs, spans past it are dropped there and reported back", async () => {
    const daemon = await receiver(() => 'hang');
    const e = emitter(daemon.url, { maxQueueSize: 10, exportTimeoutMillis: 30_000 });
    // Each round waits until the worker has taken the previous one in (the relay thread's queue is empty
    // again): the first 10 are the export that hangs, the next 10 fill the worker's queue, the rest drop.
    for (let round = 1; round <= 4; round++) {
      for (let i = 0; i < 10; i++) e.record(span());
      await until(() => {
        const stats = e.stats();
        return stats.queued === 0 && stats.recorded === round * 10 && daemon.requests.length === 1 && stats.droppedQueueFull === Math.max(0, round - 2) * 10;
      });
    }
    expect(e.stats()).toMatchObject({ recorded: 40, exported: 0, droppedQueueFull: 20 });
    const started = performance.now();
    await e.shutdown(300);
    expect(performance.now() - started).toBeLessThan(1500);
    // The 20 still queued or in the hung export were not exported before the deadline: counted as failed.
    expect(e.stats()).toMatchObject({ exported: 0, droppedQueueFull: 20, droppedExportFailed: 20 });
  });

  it('a span with a malformed id is not recorded and does not throw', () => {
    const e = emitter(DEAD_ENDPOINT);
    expect(() => e.record(span({ traceId: 'nothex' }))).not.toThrow();
    expect(e.stats().recorded).toBe(0);
  });
});
