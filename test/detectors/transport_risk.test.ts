import { describe, expect, it } from 'vitest';
import transportRisk from '../../detectors/transport_risk/detector.js';
import type { NetworkEvent } from '../../src/pipeline/events.js';
import { SERVER, harness, mcp } from './fake-detector-context.js';

let n = 0;
const net = (address: string, scope: NetworkEvent['scope'], port = 80): NetworkEvent => ({
  kind: 'network', id: `n-${(n += 1)}`, time: Date.UTC(2026, 0, 3) + n, server: SERVER, action: 'connect', protocol: 'tcp', pid: 4242, remote: { address, port }, scope,
});

describe('transport_risk', () => {
  it('fires on the cloud metadata service (agent-egress-bench ssrf-cloud-metadata-007 target) and link-local addresses, once per destination', () => {
    const h = harness('transport_risk', transportRisk);
    h.send(net('169.254.169.254', 'metadata'), net('169.254.169.254', 'metadata'), net('169.254.10.1', 'link_local'));
    expect(h.fired.map((a) => [a.key, a.severity])).toEqual([
      ['ssrf:169.254.169.254:80', 'critical'],
      ['ssrf:169.254.10.1:80', 'high'],
    ]);
  });

  it('fires on the SSE transport and a remote session over plain http', () => {
    const h = harness('transport_risk', transportRisk);
    h.send(mcp({ method: 'tools/list', transport: 'sse' }), mcp({ method: 'initialize', transport: 'http', client: { name: 'c', address: '203.0.113.9' } }));
    expect(h.fired.map((a) => [a.key, a.severity])).toEqual([
      ['sse', 'low'],
      ['remote:203.0.113.9', 'high'],
    ]);
  });

  it('stays silent on stdio, loopback HTTP clients, public and (by default) private destinations', () => {
    const h = harness('transport_risk', transportRisk);
    h.send(
      mcp({ method: 'initialize', transport: 'pipe' }),
      mcp({ method: 'initialize', transport: 'tcp', client: { name: 'c', address: '127.0.0.1' } }),
      net('93.184.216.34', 'public', 443),
      net('10.0.0.5', 'private', 5432),
    );
    expect(h.fired).toEqual([]);
  });

  it('reports private ranges when asked', () => {
    const h = harness('transport_risk', transportRisk, { privateRanges: true });
    h.send(net('10.0.0.5', 'private', 5432));
    expect(h.fired.map((a) => a.severity)).toEqual(['medium']);
  });
});
