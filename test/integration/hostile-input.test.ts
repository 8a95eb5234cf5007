import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon.js';
import { makeMcpSpans, toProtobuf } from '../helpers/mcp-spans.js';
import { startDaemon, testConfig } from '../helpers/daemon.js';

/**
 * Hostile bodies against a whole daemon: each gets the status the OTLP/HTTP spec calls for, the daemon
 * stays up and ready, and every refusal shows in /metrics.
 */
let daemon: Daemon;
let adminUrl: string;
let otlpUrl: string;

beforeAll(async () => {
  ({ daemon, adminUrl, otlpUrl } = await startDaemon(testConfig({ receivers: { otlp: { maxRequestBodyBytes: 4 * 1024 * 1024 } } })));
});
afterAll(async () => {
  await daemon.shutdown();
});

const valid = toProtobuf(makeMcpSpans({ count: 10, seed: 5 }));
const PB = 'application/x-protobuf';
const JS = 'application/json';

/** Protobuf field header: (field << 3) | wireType. */
const tag = (field: number, wire: number) => (field << 3) | wire;

function deepJson(depth: number): string {
  return `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","attributes":[{"key":"k","value":${'{"arrayValue":{"values":['.repeat(depth)}{"stringValue":"deep"}${']}}'.repeat(depth)}}]}]}]}]}`;
}

const cases: { name: string; body: Uint8Array | string; type?: string; encoding?: string; status: number }[] = [
  { name: 'truncated protobuf', body: valid.subarray(0, Math.floor(valid.length / 2)), type: PB, status: 400 },
  { name: 'protobuf with a length past the end', body: Uint8Array.from([tag(1, 2), 0xff, 0xff, 0x03, 0x01]), type: PB, status: 400 },
  { name: 'protobuf resource_spans sent as a varint (wrong wire type)', body: Uint8Array.from([tag(1, 0), 0x05]), type: PB, status: 400 },
  { name: 'protobuf with an 11-byte varint', body: Uint8Array.from([tag(1, 0), ...Array(10).fill(0xff), 0x01]), type: PB, status: 400 },
  { name: 'random bytes as protobuf', body: Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff), type: PB, status: 400 },
  { name: 'JSON nested 100k levels deep', body: '['.repeat(100_000) + ']'.repeat(100_000), type: JS, status: 400 },
  { name: 'OTLP JSON with AnyValue nested 5000 levels', body: deepJson(5000), type: JS, status: 400 },
  { name: 'JSON that is not an object', body: '"resourceSpans"', type: JS, status: 400 },
  { name: 'JSON with resourceSpans of the wrong type', body: '{"resourceSpans": 42}', type: JS, status: 400 },
  { name: 'invalid UTF-8 in JSON', body: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), type: JS, status: 200 },
  { name: 'huge string (3 MiB) in a JSON attribute', body: `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"tools/call x","attributes":[{"key":"gen_ai.tool.call.arguments","value":{"stringValue":"${'A'.repeat(3 * 1024 * 1024)}"}}]}]}]}]}`, type: JS, status: 200 },
  { name: 'body over the limit', body: 'x'.repeat(5 * 1024 * 1024), type: JS, status: 413 },
  { name: 'gzip bomb (8 MiB of zeros from ~8 KB)', body: gzipSync(Buffer.alloc(8 * 1024 * 1024)), type: PB, encoding: 'gzip', status: 413 },
  { name: 'truncated gzip', body: gzipSync(valid).subarray(0, 50), type: PB, encoding: 'gzip', status: 400 },
  { name: 'text/plain', body: 'hello', type: 'text/plain', status: 415 },
  { name: 'multipart', body: '--x--', type: 'multipart/form-data; boundary=x', status: 415 },
  { name: 'no content type', body: valid, status: 415 },
  { name: 'deflate encoding', body: valid, type: PB, encoding: 'deflate', status: 415 },
];

describe('hostile OTLP bodies', () => {
  it.each(cases)('$name -> $status, daemon stays up', async ({ body, type, encoding, status }) => {
    const headers: Record<string, string> = {};
    if (type) headers['content-type'] = type;
    if (encoding) headers['content-encoding'] = encoding;
    const res = await fetch(otlpUrl, { method: 'POST', body: body as NonNullable<RequestInit['body']>, headers });
    expect(res.status).toBe(status);
    if (status >= 400) expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    expect((await fetch(`${adminUrl}/livez`)).status).toBe(200);
    expect((await fetch(`${adminUrl}/readyz`)).status).toBe(200);
  });

  it('survives unparseable HTTP and a client that hangs up mid-body', async () => {
    const { port } = new URL(otlpUrl);
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/traces', headers: { 'content-type': PB, 'content-length': 100_000 } });
      req.on('error', () => resolve());
      req.write(valid.subarray(0, 100));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    const net = await import('node:net');
    await new Promise<void>((resolve) => {
      const sock = net.connect(Number(port), '127.0.0.1', () => sock.write('GARBAGE / HTTP/9.9\r\n\x00\x01\r\n\r\n'));
      sock.on('data', () => undefined);
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
    });
    expect((await fetch(otlpUrl, { method: 'POST', body: valid, headers: { 'content-type': PB } })).status).toBe(200);
  });

  it('counts every refusal by status in /metrics', async () => {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const count = (status: number) => Number(text.match(new RegExp(`mcpwatch_receiver_requests_total\\{receiver="otlp",status="${status}"\\} (\\d+)`))?.[1] ?? 0);
    const expected = (status: number) => cases.filter((c) => c.status === status).length;
    // +1: the client that hung up mid-body in the test above is answered (and counted) as a 400.
    expect(count(400)).toBe(expected(400) + 1);
    expect(count(413)).toBe(expected(413));
    expect(count(415)).toBe(expected(415));
  });
});
