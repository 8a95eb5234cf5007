import { describe, expect, it } from 'vitest';
import protocolAbuse from '../../detectors/protocol_abuse/detector.js';
import { harness, mcp } from './fake-detector-context.js';

const t0 = Date.UTC(2026, 0, 2);

describe('protocol_abuse', () => {
  it('fires once on a sampling flood, and on includeContext allServers and tools inside sampling', () => {
    const h = harness('protocol_abuse', protocolAbuse, {}, t0);
    for (let i = 0; i < 40; i++) h.send(mcp({ method: 'sampling/createMessage', direction: 'server_to_client', time: t0 + i * 500 }));
    h.send(mcp({ method: 'sampling/createMessage', direction: 'server_to_client', time: t0 + 30_000, arguments: { content: { includeContext: 'allServers', tools: [{ name: 'x' }], messages: [] } } }));
    expect(h.fired.map((a) => a.key)).toEqual(['sampling_flood', 'sampling_all_servers', 'sampling_tools']);
  });

  it('fires on elicitation asking for a secret or sending the user to an unknown domain', () => {
    const h = harness('protocol_abuse', protocolAbuse, { elicitationDomains: ['login.example.com'] }, t0);
    h.send(
      mcp({ method: 'elicitation/create', direction: 'server_to_client', arguments: { content: { message: 'Please confirm', requestedSchema: { type: 'object', properties: { aws_secret_access_key: { type: 'string' } } } } } }),
      mcp({ method: 'elicitation/create', direction: 'server_to_client', arguments: { content: { mode: 'url', url: 'https://login.evil.example/oauth', message: 'Sign in' } } }),
      mcp({ method: 'elicitation/create', direction: 'server_to_client', arguments: { content: { mode: 'url', url: 'https://login.example.com/oauth', message: 'Sign in' } } }),
    );
    expect(h.fired.map((a) => a.key)).toEqual(['elicitation_secret', 'elicitation_url:login.evil.example']);
  });

  it('fires on roots/list polling, invalid JSON-RPC bursts, oversize messages and session reuse', () => {
    const h = harness('protocol_abuse', protocolAbuse, {}, t0);
    for (let i = 0; i < 25; i++) h.send(mcp({ method: 'roots/list', direction: 'server_to_client', time: t0 + i * 1000 }));
    for (let i = 0; i < 12; i++) h.send(mcp({ method: 'tools/call', outcome: 'error', jsonRpcErrorCode: -32700, time: t0 + i * 100 }));
    h.send(mcp({ method: 'tools/call', arguments: { size: 50 * 1024 * 1024 } }));
    h.send(mcp({ method: 'tools/call', sessionId: 'sess-1', client: { name: 'claude-code', address: '127.0.0.1' } }));
    h.send(mcp({ method: 'tools/call', sessionId: 'sess-1', client: { name: 'claude-code', address: '10.1.2.3' } }));
    expect(h.fired.map((a) => a.key)).toEqual(['roots_polling', 'invalid_jsonrpc', 'oversize:tools/call', 'session_reuse:sess-1']);
  });

  it('stays silent on ordinary sampling, a benign elicitation form, occasional roots/list and errors', () => {
    const h = harness('protocol_abuse', protocolAbuse, {}, t0);
    for (let i = 0; i < 10; i++) h.send(mcp({ method: 'sampling/createMessage', direction: 'server_to_client', time: t0 + i * 5000, arguments: { content: { includeContext: 'thisServer', messages: [] } } }));
    h.send(mcp({ method: 'elicitation/create', direction: 'server_to_client', arguments: { content: { message: 'Which branch should I deploy?', requestedSchema: { type: 'object', properties: { branch: { type: 'string' } } } } } }));
    for (let i = 0; i < 3; i++) h.send(mcp({ method: 'roots/list', direction: 'server_to_client', time: t0 + i * 20_000 }));
    h.send(mcp({ method: 'tools/call', outcome: 'error', jsonRpcErrorCode: -32602 }));
    h.send(mcp({ method: 'tools/call', sessionId: 'sess-2', client: { name: 'claude-code', address: '127.0.0.1' } }), mcp({ method: 'tools/call', sessionId: 'sess-2', client: { name: 'claude-code' } }));
    expect(h.fired).toEqual([]);
  });
});
