import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonRpcFramer } from '../../src/tap/jsonrpc-framer.js';
import { runWrap } from '../../src/tap/stdio/wrap.js';
import type { SpanSink } from '../../src/tap/tap-recorder.js';
import type { TapSpan } from '../../src/tap/span-emitter.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { REPO_ROOT } from '../helpers/daemon.js';

/**
 * The relay is byte-exact whatever arrives: random frames split anywhere, huge lines, invalid UTF-8 and
 * non-JSON go through `runWrap` to a child that echoes stdin to stdout, and what comes back must equal
 * what went in (both directions relayed, in order).
 */

const ECHO = join(REPO_ROOT, 'test', 'fixtures', 'servers', 'echo-bytes.mjs');

class CollectingSink implements SpanSink {
  spans: TapSpan[] = [];
  record(span: TapSpan): void {
    this.spans.push(span);
  }
}

/** Counts bytes; keeps them only when asked (a 100 MB run must not hold the output in the test either). */
class ByteCollector extends Writable {
  bytes = 0;
  private readonly pieces: Buffer[] = [];
  constructor(private readonly keep: boolean) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.bytes += chunk.length;
    if (this.keep) this.pieces.push(Buffer.from(chunk));
    cb();
  }
  all(): Buffer {
    return Buffer.concat(this.pieces);
  }
}

async function relayThrough(chunks: Buffer[], opts: { keep?: boolean; maxFrameBytes?: number; exitCode?: number } = {}) {
  const stdin = new PassThrough();
  const stdout = new ByteCollector(opts.keep ?? true);
  const sink = new CollectingSink();
  const done = runWrap({
    command: process.execPath,
    args: [ECHO, String(opts.exitCode ?? 0)],
    endpoint: 'http://127.0.0.1:9/v1/traces',
    captureContent: false,
    logger: silentLogger(),
    stdin,
    stdout,
    sink,
    ...(opts.maxFrameBytes !== undefined ? { maxFrameBytes: opts.maxFrameBytes } : {}),
  });
  for (const c of chunks) {
    if (!stdin.write(c)) await new Promise((r) => stdin.once('drain', r));
  }
  stdin.end();
  const code = await done;
  return { code, stdout, sink };
}

const message = fc
  .record({ id: fc.integer({ min: 1, max: 1000 }), method: fc.constantFrom('tools/call', 'ping', 'notifications/progress'), text: fc.string() })
  .map(({ id, method, text }) =>
    Buffer.from(
      method.startsWith('notifications/')
        ? JSON.stringify({ jsonrpc: '2.0', method, params: { progress: id, progressToken: text } })
        : JSON.stringify({ jsonrpc: '2.0', id, method, params: { name: text, arguments: { text } } }),
    ),
  );
const frame = fc.oneof(
  message,
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), // arbitrary bytes: invalid UTF-8, stray newlines
  fc.string().map((s) => Buffer.from(s)), // non-JSON text
  fc.integer({ min: 70_000, max: 300_000 }).map((n) => Buffer.alloc(n, 0x61)), // a line over the parse cap below
);

/** Joins frames with newlines (sometimes omitting the last one) and cuts the stream at random points. */
const stream = fc.tuple(fc.array(frame, { maxLength: 12 }), fc.boolean(), fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 8 })).map(([frames, trailingNewline, cuts]) => {
  const parts: Buffer[] = [];
  frames.forEach((f, i) => {
    parts.push(f);
    if (i < frames.length - 1 || trailingNewline) parts.push(Buffer.from('\n'));
  });
  const whole = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const c of cuts) {
    if (at >= whole.length) break;
    chunks.push(whole.subarray(at, Math.min(whole.length, at + c)));
    at += c;
  }
  if (at < whole.length) chunks.push(whole.subarray(at));
  return { whole, chunks };
});

describe('stdio relay', () => {
  it('relays random frames byte for byte, split anywhere (property)', async () => {
    await fc.assert(
      fc.asyncProperty(stream, async ({ whole, chunks }) => {
        const { stdout, code } = await relayThrough(chunks, { maxFrameBytes: 64 * 1024 });
        expect(code).toBe(0);
        expect(stdout.all().equals(whole)).toBe(true);
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('the framer never holds more than its cap and returns every line whatever the split (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 30 }), fc.integer({ min: 16, max: 64 }), (arrays, cap) => {
        const framer = new JsonRpcFramer({ maxFrameBytes: cap, prefixBytes: 8 });
        const whole = Buffer.concat(arrays.map((a) => Buffer.from(a)));
        const lines: number[] = [];
        for (const a of arrays) {
          for (const out of framer.push(Buffer.from(a))) lines.push(out.kind === 'frame' ? out.bytes.length : out.size);
          expect(framer.bufferedBytes).toBeLessThanOrEqual(cap);
        }
        const rest = framer.end();
        if (rest) lines.push(rest.kind === 'frame' ? rest.bytes.length : rest.size);
        const expected = whole.toString('latin1').split('\n').map((l) => l.length);
        if (expected[expected.length - 1] === 0) expected.pop();
        expect(lines).toEqual(expected);
      }),
    );
  });

  it('spans come out for JSON-RPC lines and garbage is counted, not fatal; the exit code is the child\'s', async () => {
    const lines = [
      '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      'this is not json',
      '{"not":"jsonrpc"}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}',
    ];
    const input = Buffer.from(`${lines.join('\n')}\n{"jsonrpc":"2.0","id":3,`); // half a frame, then EOF
    const { stdout, sink, code } = await relayThrough([input], { exitCode: 3 });
    expect(code).toBe(3);
    expect(stdout.all().equals(input)).toBe(true);
    // The echo child sends every request back, so each request is seen as a client request and as a server one.
    const names = sink.spans.map((s) => s.name).sort();
    expect(names).toContain('ping');
    expect(names).toContain('tools/call x');
    expect(names.filter((n) => n === 'notifications/initialized')).toHaveLength(2);
  }, 30_000);

  it('a 100 MB line is relayed whole while the parse buffer stays bounded', async () => {
    const size = 100 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x7a);
    const chunks = Array.from({ length: size / chunk.length }, () => chunk);
    chunks.push(Buffer.from('\n{"jsonrpc":"2.0","method":"notifications/initialized"}\n'));
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const { stdout, sink, code } = await relayThrough(chunks, { keep: false, maxFrameBytes: 1024 * 1024 });
    clearInterval(timer);
    expect(code).toBe(0);
    expect(stdout.bytes).toBe(size + chunks[chunks.length - 1]!.length);
    // The line after the huge one is still parsed (once each way).
    expect(sink.spans.filter((s) => s.name === 'notifications/initialized')).toHaveLength(2);
    // Bounded: far below the 100 MB line (streams hold a few chunks; the framer at most its 1 MiB cap).
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
  }, 120_000);

  it('a notification flood is relayed completely, one span per notification', async () => {
    const n = 20_000;
    const one = '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","logger":"flood","data":"x"}}\n';
    const input = Buffer.from(one.repeat(n));
    const { stdout, sink } = await relayThrough([input]);
    expect(stdout.all().equals(input)).toBe(true);
    expect(sink.spans.filter((s) => s.attributes['mcpwatch.notification.logger'] === 'flood')).toHaveLength(2 * n);
  }, 60_000);
});
