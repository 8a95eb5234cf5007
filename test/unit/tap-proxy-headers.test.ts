import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { McpProxy, forwardableHeaders } from '../../src/tap/http/proxy.js';
import type { TapSpan } from '../../src/tap/span-emitter.js';
import { silentLogger } from '../../src/telemetry/logger.js';

/**
 * The proxy's header handling (RFC 9110 section 7.6.1): hop-by-hop fields, and those the `Connection`
 * header names, stop at the proxy in both directions; everything else is forwarded, `Authorization`
 * included, but `Authorization` is never recorded (only its presence) while `Mcp-Session-Id` is.
 */

describe('forwardableHeaders', () => {
  it('drops the fixed hop-by-hop fields and keeps end-to-end ones', () => {
    const out = forwardableHeaders({
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic eA==',
      'proxy-authenticate': 'Basic',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      authorization: 'Bearer t',
      'mcp-session-id': 's-1',
      'mcp-protocol-version': '2025-06-18',
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    });
    expect(out).toEqual({
      authorization: 'Bearer t',
      'mcp-session-id': 's-1',
      'mcp-protocol-version': '2025-06-18',
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    });
  });

  it('drops the fields the Connection header names, case-insensitively, in a list or repeated', () => {
    const single: IncomingHttpHeaders = { connection: 'close, X-Hop ,x-other', 'x-hop': '1', 'x-other': '2', 'x-kept': '3' };
    expect(forwardableHeaders(single)).toEqual({ 'x-kept': '3' });
    const repeated = { connection: ['X-A', 'x-b'], 'x-a': '1', 'x-b': '2', 'x-c': '3' } as unknown as IncomingHttpHeaders;
    expect(forwardableHeaders(repeated)).toEqual({ 'x-c': '3' });
  });

  it('never drops Authorization or Mcp-Session-Id unless Connection names them', () => {
    expect(forwardableHeaders({ authorization: 'Bearer t', 'mcp-session-id': 's' })).toEqual({ authorization: 'Bearer t', 'mcp-session-id': 's' });
  });
});

describe('McpProxy headers end to end', () => {
  let upstream: Server | undefined;
  let proxy: McpProxy | undefined;
  afterEach(async () => {
    await proxy?.shutdown();
    proxy = undefined;
    if (upstream) await new Promise((r) => upstream!.close(r));
    upstream = undefined;
  });

  it('forwards Authorization and the session id, strips Connection-listed fields both ways, records the session but not the token', async () => {
    let seen: IncomingHttpHeaders = {};
    upstream = createServer((req, res) => {
      seen = req.headers;
      req.resume();
      req.on('end', () => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'mcp-session-id': 'sess-42',
          connection: 'x-upstream-hop',
          'x-upstream-hop': 'must not reach the client',
          'x-upstream-kept': 'reaches the client',
        });
        res.end('{"jsonrpc":"2.0","id":1,"result":{"content":[]}}');
      });
    });
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const spans: TapSpan[] = [];
    proxy = new McpProxy({
      upstream: new URL(`http://127.0.0.1:${upstreamPort}/mcp`),
      host: '127.0.0.1',
      port: 0,
      endpoint: 'http://127.0.0.1:9/v1/traces',
      captureContent: false,
      logger: silentLogger(),
      sink: { record: (s) => spans.push(s) },
    });
    const address = await proxy.start();

    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}';
    const response = await new Promise<{ headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: address.port,
          path: '/mcp',
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: 'Bearer s3cret-token',
            'mcp-session-id': 'sess-42',
            connection: 'x-client-hop',
            'x-client-hop': 'must not reach upstream',
            'x-client-kept': 'reaches upstream',
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ headers: res.headers, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

    expect(response.body).toBe('{"jsonrpc":"2.0","id":1,"result":{"content":[]}}');
    expect(seen['authorization']).toBe('Bearer s3cret-token');
    expect(seen['mcp-session-id']).toBe('sess-42');
    expect(seen['x-client-kept']).toBe('reaches upstream');
    expect(seen['x-client-hop']).toBeUndefined();
    expect(seen['host']).toBe(`127.0.0.1:${upstreamPort}`);
    expect(response.headers['x-upstream-kept']).toBe('reaches the client');
    expect(response.headers['x-upstream-hop']).toBeUndefined();
    expect(response.headers['mcp-session-id']).toBe('sess-42');

    // The span is recorded once the parent look-up (socket owner, asynchronous) has answered.
    const deadline = Date.now() + 10_000;
    while (!spans.some((s) => s.name === 'tools/call echo') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const call = spans.find((s) => s.name === 'tools/call echo');
    expect(call?.attributes['mcp.session.id']).toBe('sess-42');
    expect(call?.attributes['mcpwatch.http.authorization_present']).toBe(true);
    expect(JSON.stringify(spans)).not.toContain('s3cret-token');
  });
});
