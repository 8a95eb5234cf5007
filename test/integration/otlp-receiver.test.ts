import { request as httpRequest } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { SinkConsumer, type Consumer } from '../../src/component/component.js';
import { decodeJsonTraces } from '../../src/receiver/otlp/decode-json.js';
import { decodeProtobufTraces } from '../../src/receiver/otlp/decode-protobuf.js';
import { otlpReceiverFactory } from '../../src/receiver/otlp/factory.js';
import type { OtlpHttpReceiver } from '../../src/receiver/otlp/receiver.js';
import { WireText, type DecodedSpan } from '../../src/receiver/otlp/span.js';
import { otlpReceiverSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { makeMcpSpans, toJson, toProtobuf } from '../helpers/mcp-spans.js';
import { recordSpans, toJson as toJsonRecorded, withoutWire } from '../unit/helpers/otlp-spans.js';

const running: OtlpHttpReceiver[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.shutdown()));
});

async function startReceiver(overrides: Record<string, unknown> = {}, next: Consumer<DecodedSpan> = new SinkConsumer<DecodedSpan>()) {
  const config = otlpReceiverSchema.parse({ endpoint: '127.0.0.1:0', ...overrides });
  const metrics = new Metrics();
  const receiver = otlpReceiverFactory.create({ path: 'receivers.otlp', logger: silentLogger(), metrics }, config, next) as OtlpHttpReceiver;
  await receiver.start();
  running.push(receiver);
  const { port } = receiver.address();
  return { receiver, metrics, url: `http://127.0.0.1:${port}/v1/traces`, port, next };
}

const post = (url: string, body: NonNullable<RequestInit['body']> | Uint8Array, headers: Record<string, string>) =>
  fetch(url, { method: 'POST', body: body as NonNullable<RequestInit['body']>, headers });

const metricSum = async (metrics: Metrics, name: string, labels: Record<string, string> = {}) => {
  const m = await metrics.registry.getSingleMetric(name)!.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val)).reduce((s, v) => s + v.value, 0);
};

const spans = makeMcpSpans({ count: 20, seed: 7 });
const PROTO = toProtobuf(spans);
const JSON_BODY = toJson(spans);

describe('OtlpHttpReceiver: accepted requests', () => {
  it('accepts protobuf and answers in protobuf', async () => {
    const { url, next, metrics } = await startReceiver();
    const res = await post(url, PROTO, { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    expect((await res.arrayBuffer()).byteLength).toBe(0); // an empty ExportTraceServiceResponse
    expect((next as SinkConsumer<DecodedSpan>).items).toHaveLength(20);
    expect(await metricSum(metrics, 'mcpwatch_receiver_accepted_spans_total', { encoding: 'protobuf' })).toBe(20);
  });

  it('accepts JSON (with a charset parameter) and answers in JSON', async () => {
    const { url, next } = await startReceiver();
    const res = await post(url, JSON_BODY, { 'content-type': 'Application/JSON; charset=utf-8' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({});
    const got = (next as SinkConsumer<DecodedSpan>).items;
    expect(got).toHaveLength(20);
    expect(got[0]!.resource['service.name']).toBe('filesystem');
  });

  it('accepts gzip in both encodings', async () => {
    const { url, next } = await startReceiver();
    for (const [body, type] of [[gzipSync(PROTO), 'application/x-protobuf'], [gzipSync(JSON_BODY), 'application/json']] as const) {
      const res = await post(url, body, { 'content-type': type, 'content-encoding': 'gzip' });
      expect(res.status).toBe(200);
    }
    expect((next as SinkConsumer<DecodedSpan>).items).toHaveLength(40);
  });

  it('answers an empty request with 200', async () => {
    const { url } = await startReceiver();
    expect((await post(url, new Uint8Array(0), { 'content-type': 'application/x-protobuf' })).status).toBe(200);
    expect((await post(url, '', { 'content-type': 'application/json' })).status).toBe(200);
    expect((await post(url, '{}', { 'content-type': 'application/json' })).status).toBe(200);
  });

  it('reports partial success for unusable spans and keeps the rest', async () => {
    const { url, next, metrics } = await startReceiver();
    const body = {
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'memory' } }] },
        scopeSpans: [{ spans: [
          { traceId: '5B8EFFF798038103D269B633813FC60C', spanId: 'EEE19B7EC3C1B174', name: 'tools/call x', kind: 2, startTimeUnixNano: '1790000000000000000', endTimeUnixNano: 1790000000001000000 },
          { traceId: '', spanId: 'eee19b7ec3c1b174', name: 'broken', kind: 2 },
        ] }],
      }],
    };
    const res = await post(url, JSON.stringify(body), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { partialSuccess?: { rejectedSpans?: string | number; errorMessage?: string } };
    expect(Number(answer.partialSuccess?.rejectedSpans)).toBe(1);
    expect(answer.partialSuccess?.errorMessage).toMatch(/trace/i);
    expect((next as SinkConsumer<DecodedSpan>).items.map((s) => s.traceId)).toEqual(['5b8efff798038103d269b633813fc60c']);
    expect(await metricSum(metrics, 'mcpwatch_receiver_refused_spans_total', { reason: 'invalid_span' })).toBe(1);
  });
});

describe('OtlpHttpReceiver: reading bodies', () => {
  /**
   * Ids and attributes of every span, read after all bodies were sent: to compare what arrived with what was
   * sent, and to show that nothing decoded still depends on a body buffer that a later body reused.
   */
  const fingerprint = (items: readonly DecodedSpan[]) => items.map((s) => `${s.traceId}/${s.spanId}/${JSON.stringify(s.attributes)}`);
  const expected = (body: string) => fingerprint(decodeJsonTraces(body).spans);

  /**
   * Sends raw bytes on a new connection and collects everything the receiver writes until it closes. The
   * socket is not half-closed: node:http drops pipelined requests it has not answered when the client ends.
   */
  const rawExchange = (port: number, bytes: Buffer) =>
    new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(bytes));
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      socket.once('close', () => resolve(answer));
      socket.once('error', reject);
    });

  it('decodes a chunked JSON body (no Content-Length) sent in many small pieces', async () => {
    const { port, next } = await startReceiver();
    const body = toJson(makeMcpSpans({ count: 60, seed: 11, argBytes: [2000, 9000] }));
    expect(body.length).toBeGreaterThan(200_000);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/traces', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      });
      req.once('error', reject);
      for (let at = 0; at < body.length; at += 3000) req.write(body.slice(at, at + 3000));
      req.end();
    });
    expect(status).toBe(200);
    expect(fingerprint((next as SinkConsumer<DecodedSpan>).items)).toEqual(expected(body));
  });

  it('reads exactly Content-Length bytes: what follows is the next request on the connection', async () => {
    const { port, next } = await startReceiver();
    const second = toJson(makeMcpSpans({ count: 3, seed: 12 }));
    const request = (body: string, last: boolean) =>
      `POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${last ? 'Connection: close\r\n' : ''}\r\n${body}`;
    const answer = await rawExchange(port, Buffer.from(request(JSON_BODY, false) + request(second, true)));
    expect(answer.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(fingerprint((next as SinkConsumer<DecodedSpan>).items)).toEqual([...expected(JSON_BODY), ...expected(second)]);
  });

  it('does not append bytes past Content-Length to the body: the declared body is decoded, the rest refused as HTTP', async () => {
    const { port, next } = await startReceiver();
    const head = `POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(JSON_BODY)}\r\n\r\n`;
    const answer = await rawExchange(port, Buffer.from(`${head}${JSON_BODY}{"more": "bytes than declared"}`));
    // The parser answers the surplus (not a request line) 400 at once and closes; the body's slice runs after.
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    const sink = next as SinkConsumer<DecodedSpan>;
    for (let i = 0; i < 50 && sink.items.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fingerprint(sink.items)).toEqual(expected(JSON_BODY));
  });

  it('decodes bodies of different sizes one after another on one connection as sent (reused buffers)', async () => {
    const { url, next, metrics } = await startReceiver();
    const bodies = [
      toJson(makeMcpSpans({ count: 80, seed: 21, argBytes: [3000, 9000] })),
      toJson(makeMcpSpans({ count: 5, seed: 22 })),
      toJson(makeMcpSpans({ count: 70, seed: 23, argBytes: [3000, 9000] })),
      JSON_BODY,
    ];
    for (const body of bodies) expect((await post(url, body, { 'content-type': 'application/json' })).status).toBe(200);
    expect(fingerprint((next as SinkConsumer<DecodedSpan>).items)).toEqual(bodies.flatMap(expected));
    expect(await metricSum(metrics, 'mcpwatch_receiver_inflight_bytes')).toBe(0);
  });

  it('reuses a protobuf body buffer only once the pipeline released the spans that are views of it', async () => {
    // A next stage that keeps batches until told to release them, as the pipeline queue does.
    const held: { spans: readonly DecodedSpan[]; release?: () => void }[] = [];
    const next: Consumer<DecodedSpan> = {
      consume: (batch, meta) => {
        held.push({ spans: batch, release: meta?.release });
        return true;
      },
    };
    const { url } = await startReceiver({}, next);
    const bodies = [11, 12, 13].map((seed) => toProtobuf(makeMcpSpans({ count: 60, seed, argBytes: [3000, 9000] })));
    const protobuf = { 'content-type': 'application/x-protobuf' };
    const decodedAlone = (body: Uint8Array) => fingerprint(decodeProtobufTraces(Buffer.from(body)).spans.map(withoutWire));
    const seen = (i: number) => fingerprint(held[i]!.spans.map(withoutWire));

    expect((await post(url, bodies[0]!, protobuf)).status).toBe(200);
    expect((await post(url, bodies[1]!, protobuf)).status).toBe(200);
    // The first batch is still held: the second body must not have been read into its buffer.
    expect(held[1]!.spans[0]!.wire!.body.buffer).not.toBe(held[0]!.spans[0]!.wire!.body.buffer);
    expect(seen(0)).toEqual(decodedAlone(bodies[0]!));
    expect(typeof held[0]!.release).toBe('function');

    held[0]!.release!();
    expect((await post(url, bodies[2]!, protobuf)).status).toBe(200);
    // Released: its buffer serves the next body (the second batch, still held, is untouched).
    expect(held[2]!.spans[0]!.wire!.body.buffer).toBe(held[0]!.spans[0]!.wire!.body.buffer);
    expect(seen(1)).toEqual(decodedAlone(bodies[1]!));
    expect(seen(2)).toEqual(decodedAlone(bodies[2]!));
  });

  it('reuses a JSON body buffer only once the pipeline released spans whose long payloads are views of it', async () => {
    const held: { spans: readonly DecodedSpan[]; release?: () => void }[] = [];
    const { url } = await startReceiver({}, { consume: (batch, meta) => (held.push({ spans: batch, release: meta?.release }), true) });
    // Plain long arguments (no escapes) stay in the body as WireText.
    const body = (n: number) => {
      const recorder = recordSpans();
      for (let i = 0; i < 5; i++) recorder.tracer.startSpan('tools/call t', { attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.call.arguments': `${n}${i}`.repeat(3000) } }).end();
      return toJsonRecorded(recorder.finished());
    };
    const json = { 'content-type': 'application/json' };
    const viewOf = (i: number) => held[i]!.spans[0]!.attributes['gen_ai.tool.call.arguments'] as WireText;
    const seen = (i: number) => fingerprint(held[i]!.spans.map(withoutWire));
    const bodies = [1, 2, 3].map(body);
    expect((await post(url, bodies[0]!, json)).status).toBe(200);
    expect((await post(url, bodies[1]!, json)).status).toBe(200);
    expect(viewOf(0)).toBeInstanceOf(WireText);
    expect(viewOf(1).body.buffer).not.toBe(viewOf(0).body.buffer);
    expect(seen(0)).toEqual(expected(bodies[0]!));
    held[0]!.release!();
    expect((await post(url, bodies[2]!, json)).status).toBe(200);
    expect(viewOf(2).body.buffer).toBe(viewOf(0).body.buffer);
    expect(seen(1)).toEqual(expected(bodies[1]!));
    expect(seen(2)).toEqual(expected(bodies[2]!));
  });

  it('survives a client that aborts mid-body, and the next request is decoded as sent', async () => {
    const { port, url, next, metrics } = await startReceiver();
    const body = Buffer.from(toJson(makeMcpSpans({ count: 40, seed: 31, argBytes: [3000, 9000] })));
    const head = `POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.write(Buffer.concat([Buffer.from(head), body.subarray(0, body.length >> 1)]));
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await metricSum(metrics, 'mcpwatch_receiver_inflight_requests')).toBe(0);
    expect((await post(url, JSON_BODY, { 'content-type': 'application/json' })).status).toBe(200);
    expect(fingerprint((next as SinkConsumer<DecodedSpan>).items)).toEqual(expected(JSON_BODY));
  });
});

describe('OtlpHttpReceiver: refusals per the OTLP/HTTP spec', () => {
  it('400 with a message for malformed JSON and protobuf, in the request encoding', async () => {
    const { url, metrics } = await startReceiver();
    const json = await post(url, '{"resourceSpans": [', { 'content-type': 'application/json' });
    expect(json.status).toBe(400);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(((await json.json()) as { message: string }).message).toMatch(/malformed OTLP JSON/);
    const proto = await post(url, PROTO.subarray(0, 1000), { 'content-type': 'application/x-protobuf' });
    expect(proto.status).toBe(400);
    expect(proto.headers.get('content-type')).toBe('application/x-protobuf');
    expect(Buffer.from(await proto.arrayBuffer()).toString('latin1')).toContain('malformed OTLP protobuf');
    expect(await metricSum(metrics, 'mcpwatch_receiver_requests_total', { status: '400' })).toBe(2);
  });

  it('404 for other paths and 405 (with Allow) for other methods', async () => {
    const { port, url } = await startReceiver();
    const other = await post(`http://127.0.0.1:${port}/v1/metrics`, PROTO, { 'content-type': 'application/x-protobuf' });
    expect(other.status).toBe(404);
    const get = await fetch(url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('415 for unsupported content types and encodings', async () => {
    const { url } = await startReceiver();
    const text = await post(url, 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { message: string }).message).toMatch(/application\/x-protobuf or application\/json/);
    expect((await post(url, PROTO, { 'content-type': 'application/x-protobuf', 'content-encoding': 'br' })).status).toBe(415);
    expect((await post(url, 'x', {})).status).toBe(415);
  });

  it('413 for a declared body over the limit, before reading it', async () => {
    const { url } = await startReceiver({ maxRequestBodyBytes: 1000, maxInflightBytes: 1000 });
    const res = await post(url, PROTO, { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(413);
  });

  it('413 for a gzip body that inflates past the limit, with bounded memory (1 GB bomb)', async () => {
    const { url } = await startReceiver();
    // A gzip stream may hold many members; 100 members of 10 MiB of zeros inflate to ~1 GiB from ~1 MB.
    const member = gzipSync(Buffer.alloc(10 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 100 }, () => member));
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    const before = process.memoryUsage().rss;
    const res = await post(url, bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(((await res.arrayBuffer()).byteLength)).toBeGreaterThan(0);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('400 for a body that claims gzip but is not', async () => {
    const { url } = await startReceiver();
    expect((await post(url, PROTO, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' })).status).toBe(400);
  });

  it('429 with Retry-After past the in-flight budget, decided before the body is read', async () => {
    const { port, url, metrics } = await startReceiver({ maxInflightRequests: 1, retryAfterSeconds: 3 });
    // Hold one request open: headers promise 1 MB, only 10 bytes arrive.
    const held = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/traces', headers: { 'content-type': 'application/x-protobuf', 'content-length': 1_000_000 } });
    held.on('error', () => undefined);
    held.write(Buffer.alloc(10));
    await new Promise((r) => setTimeout(r, 100));
    const res = await post(url, PROTO, { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await metricSum(metrics, 'mcpwatch_receiver_requests_total', { status: '429' })).toBe(1);
    held.destroy();
  });

  it('429 when the declared bytes in flight would pass maxInflightBytes', async () => {
    const { url } = await startReceiver({ maxInflightBytes: 100_000, maxRequestBodyBytes: 100_000 });
    const big = toProtobuf(makeMcpSpans({ count: 1, seed: 3, argBytes: [60_000, 60_001] }));
    const big2 = toProtobuf(makeMcpSpans({ count: 1, seed: 4, argBytes: [60_000, 60_001] }));
    const results = await Promise.all([
      post(url, big, { 'content-type': 'application/x-protobuf' }),
      post(url, big2, { 'content-type': 'application/x-protobuf' }),
    ]);
    // Both cannot be in flight together; at least one is accepted, and any refusal is a 429.
    expect(results.map((r) => r.status).sort()).toSatisfy((s: number[]) => s.includes(200) && s.every((x) => x === 200 || x === 429));
  });

  it('503 with Retry-After while the pipeline queue is full', async () => {
    const full: Consumer<DecodedSpan> = { consume: () => false, hasRoomFor: () => false };
    const { url } = await startReceiver({}, full);
    const res = await post(url, PROTO, { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
  });

  it('503 when the queue refuses a decoded batch', async () => {
    const refusing: Consumer<DecodedSpan> = { consume: () => false };
    const { url, metrics } = await startReceiver({}, refusing);
    expect((await post(url, PROTO, { 'content-type': 'application/x-protobuf' })).status).toBe(503);
    expect(await metricSum(metrics, 'mcpwatch_receiver_refused_spans_total', { reason: 'pipeline_full' })).toBe(20);
  });

  it('passes the decompressed body size downstream and asks for room with the declared size first', async () => {
    const seen: { room?: [number, number | undefined]; bytes?: number } = {};
    const spy: Consumer<DecodedSpan> = {
      hasRoomFor: (n, bytes) => ((seen.room = [n, bytes]), true),
      consume: (_batch, meta) => ((seen.bytes = meta?.bytes), true),
    };
    const { url } = await startReceiver({}, spy);
    const gz = gzipSync(PROTO);
    expect((await post(url, gz, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' })).status).toBe(200);
    expect(seen.room).toEqual([1, gz.length]);
    expect(seen.bytes).toBe(PROTO.length);
  });

  it('401 without a valid bearer token when one is configured', async () => {
    const token = 'correct-horse-battery-staple';
    const { url } = await startReceiver({ auth: { bearerToken: token } });
    const h = { 'content-type': 'application/x-protobuf' };
    const none = await post(url, PROTO, h);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await post(url, PROTO, { ...h, authorization: 'Bearer correct-horse-battery-stapl' })).status).toBe(401);
    expect((await post(url, PROTO, { ...h, authorization: `Bearer ${token}x` })).status).toBe(401);
    expect((await post(url, PROTO, { ...h, authorization: `Basic ${token}` })).status).toBe(401);
    expect((await post(url, PROTO, { ...h, authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('503 while closing, then the port is released', async () => {
    const { receiver, url } = await startReceiver();
    receiver.beginClosing();
    const res = await post(url, PROTO, { 'content-type': 'application/x-protobuf' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
    await receiver.shutdown();
    await expect(fetch(url, { method: 'POST' })).rejects.toThrow();
  });

  it('refuses to start on a port in use with a message naming the setting', async () => {
    const { port } = await startReceiver();
    const second = otlpReceiverFactory.create(
      { path: 'receivers.otlp', logger: silentLogger(), metrics: new Metrics() },
      otlpReceiverSchema.parse({ endpoint: `127.0.0.1:${port}` }),
      new SinkConsumer(),
    );
    await expect(second.start({ logger: silentLogger(), metrics: new Metrics() })).rejects.toThrow(`receivers.otlp.endpoint 127.0.0.1:${port} is already in use`);
    await second.shutdown();
  });
});

describe('OtlpHttpReceiver: overload', () => {
  /** A pipeline that costs `ms` of CPU per batch, synchronously, as decode + normalize + store do. */
  const slowPipeline = (ms: number) => {
    const sink = { batches: 0, spans: 0 };
    const consumer: Consumer<DecodedSpan> = {
      consume: (batch) => {
        const until = performance.now() + ms;
        while (performance.now() < until);
        sink.batches += 1;
        sink.spans += batch.length;
        return true;
      },
    };
    return { sink, consumer };
  };

  /** Opens `n` connections and waits until the receiver has accepted them (libuv accepts one per loop turn). */
  const connect = async (port: number, n: number) => {
    const sockets = await Promise.all(
      Array.from({ length: n }, () => new Promise<Socket>((resolve, reject) => {
        const s = createConnection({ host: '127.0.0.1', port }, () => resolve(s));
        s.once('error', reject);
      })),
    );
    await new Promise((r) => setTimeout(r, 100));
    return sockets;
  };

  /** Posts `body` on an already open connection; resolves with the answer and how long it took from the send. */
  const postOn = (socket: Socket, body: Uint8Array) =>
    new Promise<{ status: number; retryAfter: string | undefined; ms: number }>((resolve, reject) => {
      const sent = performance.now();
      const req = httpRequest(
        { createConnection: () => socket, method: 'POST', path: '/v1/traces', headers: { 'content-type': 'application/x-protobuf', 'content-length': body.byteLength } },
        (res) => {
          res.resume();
          res.once('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], ms: performance.now() - sent }));
        },
      );
      req.once('error', reject);
      req.end(body);
    });

  it('refuses with 429 and Retry-After at once when more requests arrive together than the budget, and answers every one', async () => {
    const { sink, consumer } = slowPipeline(30);
    const { port, metrics } = await startReceiver({ maxInflightRequests: 4 }, consumer);
    const sockets = await connect(port, 32);
    try {
      // All 32 arrive in one event-loop turn. Taken one after the other in that turn, the last would wait
      // 32 x 30 ms for its answer, and none would be refused: the wait would sit unseen in the socket buffers.
      const answers = await Promise.all(sockets.map((s) => postOn(s, PROTO)));
      const ok = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status === 429);
      expect(ok.length + refused.length).toBe(32);
      expect(ok.length).toBeGreaterThan(0);
      expect(refused.length).toBeGreaterThan(0);
      for (const a of refused) expect(a.retryAfter).toBe('2');
      // Refusals go out before the accepted work is done, not after it, and long before any client timeout.
      const lastOk = Math.max(...ok.map((a) => a.ms));
      for (const a of refused) {
        expect(a.ms).toBeLessThan(lastOk);
        expect(a.ms).toBeLessThan(1000);
      }
      // Nothing taken silently: every 200 is a batch the pipeline got, every refusal is counted.
      expect(sink.batches).toBe(ok.length);
      expect(sink.spans).toBe(ok.length * 20);
      expect(await metricSum(metrics, 'mcpwatch_receiver_requests_total', { status: '200' })).toBe(ok.length);
      expect(await metricSum(metrics, 'mcpwatch_receiver_requests_total', { status: '429' })).toBe(refused.length);
      expect(await metricSum(metrics, 'mcpwatch_receiver_accepted_spans_total')).toBe(ok.length * 20);
      expect(await metricSum(metrics, 'mcpwatch_receiver_inflight_requests')).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('takes every request that fits the budget, however slow the pipeline', async () => {
    const { sink, consumer } = slowPipeline(10);
    const { port } = await startReceiver({ maxInflightRequests: 16 }, consumer);
    const sockets = await connect(port, 16);
    try {
      const answers = await Promise.all(sockets.map((s) => postOn(s, PROTO)));
      expect(answers.map((a) => a.status)).toEqual(Array(16).fill(200));
      expect(sink.batches).toBe(16);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});
