import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LARGE_MESSAGE_BYTES, readLargeMessage } from '../../src/tap/json-envelope.js';
import { JsonRpcFramer, type FramerOutput } from '../../src/tap/jsonrpc-framer.js';
import type { Direction } from '../../src/tap/message-tracker.js';
import type { TapSpan } from '../../src/tap/span-emitter.js';
import { TapRecorder } from '../../src/tap/tap-recorder.js';
import { silentLogger } from '../../src/telemetry/logger.js';

/**
 * Messages over 64 KiB are read by their JSON-RPC envelope, with the payload hashed as it streams through
 * the framer, instead of parsed whole. Their spans must say what a full parse says (method, ids, tool,
 * errors, sizes; fingerprints over the payload as sent), and whatever the scan cannot read must fall back
 * to the full parse.
 */

const BIG = 'x'.repeat(200_000);

function recorder(opts: { captureContent?: boolean; largeMessageBytes?: number } = {}) {
  const spans: TapSpan[] = [];
  const rec = new TapRecorder({
    sink: { record: (s) => spans.push(s) },
    logger: silentLogger(),
    tapKind: 'stdio',
    transport: 'pipe',
    serverId: 'srv',
    captureContent: opts.captureContent ?? false,
    ...(opts.largeMessageBytes !== undefined ? { largeMessageBytes: opts.largeMessageBytes } : {}),
  });
  const framers: Record<Direction, JsonRpcFramer> = {
    client_to_server: new JsonRpcFramer({ maxFrameBytes: 8 * 1024 * 1024 }),
    server_to_client: new JsonRpcFramer({ maxFrameBytes: 8 * 1024 * 1024 }),
  };
  const feed = (out: FramerOutput, direction: Direction) => {
    const ctx = { direction, scope: 'stdio', atMs: 1000 };
    if (out.kind === 'frame') rec.onFrame(out.bytes, ctx);
    else if (out.kind === 'large') rec.onLargeFrame(out, ctx);
    else rec.onOversize(out, ctx);
  };
  /** Sends one message as a line, through the framer, in chunks of `chunk` bytes. */
  const send = (direction: Direction, message: unknown, chunk = 65_536) => {
    const line = Buffer.from(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
    for (let i = 0; i < line.length; i += chunk) for (const out of framers[direction].push(line.subarray(i, i + chunk))) feed(out, direction);
  };
  return { rec, spans, send };
}

/** Span attributes with the timing-free fields only (span and trace ids differ between runs). */
async function spansOf(run: (send: ReturnType<typeof recorder>['send']) => void, opts: Parameters<typeof recorder>[0] = {}) {
  const r = recorder(opts);
  run(r.send);
  await r.rec.close();
  await new Promise((resolve) => setImmediate(resolve));
  return { spans: r.spans.map((s) => ({ name: s.name, error: s.error, attributes: s.attributes })), stats: r.rec.stats() };
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

describe('large messages read by their envelope', () => {
  it('a 1 MB tools/call round trip gives the same span as a full parse (sorted, compact JSON)', async () => {
    const script = (send: ReturnType<typeof recorder>['send']) => {
      send('client_to_server', { method: 'tools/call', params: { name: 'upload', arguments: { blob: BIG }, _meta: { progressToken: 1 } }, jsonrpc: '2.0', id: 1 });
      send('server_to_client', { result: { content: [{ text: BIG, type: 'text' }], isError: true }, jsonrpc: '2.0', id: 1 });
    };
    const envelope = await spansOf(script);
    const full = await spansOf(script, { largeMessageBytes: Number.MAX_SAFE_INTEGER });
    expect(envelope.stats.largeMessages).toBe(2);
    expect(envelope.stats.largeFullParses).toBe(0);
    expect(full.stats.largeMessages).toBe(0);
    expect(envelope.spans).toEqual(full.spans);
    expect(envelope.spans[0]).toMatchObject({
      name: 'tools/call upload',
      error: 'tool_error',
      attributes: { 'gen_ai.tool.name': 'upload', 'jsonrpc.request.id': '1', 'mcpwatch.tool.is_error': true, 'error.type': 'tool_error' },
    });
  });

  it('fingerprints a large payload over its bytes as sent (key order and spacing included)', async () => {
    const resultText = `{ "isError": false, "content": [{"type":"text","text":"${BIG}"}] }`;
    const { spans } = await spansOf((send) => {
      send('client_to_server', { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'read' } });
      send('server_to_client', `{"jsonrpc":"2.0","id":"a","result":${resultText}}`);
    });
    expect(spans[0]!.attributes['mcpwatch.result.fingerprint']).toBe(sha(resultText));
    expect(spans[0]!.attributes['mcpwatch.result.size']).toBe(Buffer.byteLength(resultText));
    expect(spans[0]!.attributes['mcpwatch.tool.is_error']).toBeUndefined();
    expect(spans[0]!.error).toBeUndefined();
  });

  it('the streamed hash is the same whatever size the chunks come in (property)', () => {
    const message = JSON.stringify({ result: { content: [{ type: 'text', text: BIG.slice(0, 90_000) + 'é😀' }] }, jsonrpc: '2.0', id: 7 });
    const expected = sha(JSON.stringify({ content: [{ type: 'text', text: BIG.slice(0, 90_000) + 'é😀' }] }));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 20 }), (cuts) => {
        const framer = new JsonRpcFramer({ maxFrameBytes: 1024 * 1024 });
        const bytes = Buffer.from(`${message}\n`);
        const outs: FramerOutput[] = [];
        let at = 0;
        for (let i = 0; at < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          outs.push(...framer.push(bytes.subarray(at, at + n)));
          at += n;
        }
        expect(outs).toHaveLength(1);
        const out = outs[0]!;
        if (out.kind !== 'large') throw new Error(`expected a large frame, got ${out.kind}`);
        expect(out.hasher).toBeDefined();
        const read = readLargeMessage(out, () => out.bytes(), out.hasher);
        expect(read?.payload?.fingerprint).toBe(expected);
        expect(read?.message).toMatchObject({ type: 'response', id: 7 });
      }),
      { numRuns: 40 },
    );
  });

  it('reads a large JSON-RPC error by its code and message', async () => {
    const { spans } = await spansOf((send) => {
      send('client_to_server', { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'file:///big' } });
      send('server_to_client', { jsonrpc: '2.0', id: 2, error: { code: -32002, message: 'Resource not found', data: BIG } });
    });
    expect(spans[0]).toMatchObject({ name: 'resources/read file:///big', error: 'Resource not found', attributes: { 'error.type': '-32002', 'rpc.response.status_code': '-32002' } });
  });

  it('reads a large notification (level and logger of notifications/message)', async () => {
    const { spans, stats } = await spansOf((send) => send('server_to_client', { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'warning', logger: 'db', data: BIG } }));
    expect(stats.largeMessages).toBe(1);
    expect(spans[0]).toMatchObject({ name: 'notifications/message', attributes: { 'mcpwatch.notification.level': 'warning', 'mcpwatch.notification.logger': 'db' } });
  });

  it('takes _meta.traceparent from a large request', async () => {
    const { spans } = await spansOf((send) => {
      send('client_to_server', { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'up', _meta: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` }, arguments: { blob: BIG } } });
      send('server_to_client', { jsonrpc: '2.0', id: 4, result: { content: [] } });
    });
    expect(spans[0]!.attributes['mcpwatch.parent.source']).toBe('traceparent');
    expect(spans[0]!.attributes['mcpwatch.arguments.fingerprint']).toBe(sha(JSON.stringify({ blob: BIG })));
  });

  it('parses a large tools/list result whole: the catalog needs its content', async () => {
    const tools = Array.from({ length: 300 }, (_, i) => ({ name: `tool_${i}`, description: 'd'.repeat(400), inputSchema: { type: 'object' } }));
    const { spans, stats } = await spansOf((send) => {
      send('client_to_server', { jsonrpc: '2.0', id: 1, method: 'tools/list' });
      send('server_to_client', { jsonrpc: '2.0', id: 1, result: { tools } });
    });
    expect(stats.largeFullParses).toBe(1);
    expect(spans[0]!.attributes['mcpwatch.catalog.count']).toBe(300);
    expect(JSON.stringify(tools).length).toBeGreaterThan(LARGE_MESSAGE_BYTES);
  });

  it('parses whole when content capture is on (the content is masked and recorded)', async () => {
    const { spans, stats } = await spansOf(
      (send) => {
        send('client_to_server', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: BIG } } });
        send('server_to_client', { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: BIG }] } });
      },
      { captureContent: true },
    );
    expect(stats.largeMessages).toBe(0);
    expect(stats.largeFullParses).toBe(2);
    expect(typeof spans[0]!.attributes['gen_ai.tool.call.result']).toBe('string');
  });

  it('parses a large batch whole (the scan reads single messages only)', async () => {
    const { spans, stats } = await spansOf((send) => {
      send('client_to_server', [
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a', arguments: { t: BIG } } },
        { jsonrpc: '2.0', id: 2, method: 'ping' },
      ]);
      send('server_to_client', { jsonrpc: '2.0', id: 2, result: {} });
      send('server_to_client', { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: BIG }] } });
    });
    expect(stats.largeFullParses).toBe(1);
    expect(stats.largeMessages).toBe(1);
    expect(spans.map((s) => s.name).sort()).toEqual(['ping', 'tools/call a']);
  });
});
