import { describe, expect, it } from 'vitest';
import unregisteredServer from '../../detectors/unregistered_server/detector.js';
import { harness, mcp } from './fake-detector-context.js';

const registry = [{ name: 'filesystem', command: 'npx -y @modelcontextprotocol/server-filesystem /srv', packageVersion: '2025.7.1' }];

describe('unregistered_server', () => {
  it('fires once for a server not in the registry', () => {
    const h = harness('unregistered_server', unregisteredServer, { registry });
    h.send(mcp({ method: 'tools/list', server: { id: 'x1', name: 'shadow-fs' } }), mcp({ method: 'tools/call', server: { id: 'x1', name: 'shadow-fs' } }));
    expect(h.fired.map((a) => [a.key, a.severity])).toEqual([['unregistered', 'high']]);
  });

  it('fires when a registered server runs another command or version', () => {
    const h = harness('unregistered_server', unregisteredServer, { registry });
    h.send(mcp({ method: 'tools/list', server: { id: 'fs', name: 'filesystem', commandLine: 'npx -y @modelcontextprotocol/server-filesystem /', version: '2025.3.28' } }));
    expect(h.fired).toHaveLength(1);
    expect(h.fired[0]!.evidence.map((e) => e.description)).toEqual(['launch command differs from the registry', 'package version differs from the registry']);
  });

  it('fires on host discovery marking a server unregistered even with an empty registry', () => {
    const h = harness('unregistered_server', unregisteredServer);
    h.send(mcp({ method: 'tools/list', server: { id: 'd1', name: 'mystery', registered: false, source: 'discovery' } }));
    expect(h.fired.map((a) => a.key)).toEqual(['unregistered']);
  });

  it('stays silent for a registered server as registered, for unknown peers, and with an empty registry', () => {
    const h = harness('unregistered_server', unregisteredServer, { registry });
    h.send(
      mcp({ method: 'tools/list', server: { id: 'fs', name: 'filesystem', commandLine: 'npx  -y @modelcontextprotocol/server-filesystem /srv', version: '2025.7.1' } }),
      mcp({ method: 'tools/list', server: { id: 'u', name: 'unknown' } }),
    );
    const empty = harness('unregistered_server', unregisteredServer);
    empty.send(mcp({ method: 'tools/list', server: { id: 'y', name: 'anything' } }));
    expect([...h.fired, ...empty.fired]).toEqual([]);
  });
});
