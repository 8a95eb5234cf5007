import { describe, expect, it } from 'vitest';
import sensitiveAccess from '../../detectors/sensitive_access/detector.js';
import type { FileEvent } from '../../src/pipeline/events.js';
import { SERVER, harness, mcp } from './fake-detector-context.js';

const file = (path: string, over: Partial<FileEvent> = {}): FileEvent => ({
  kind: 'file', id: `f-${path}`, time: Date.UTC(2026, 0, 1, 1), server: SERVER, action: 'read', path, sensitive: false, confidence: 1, ...over,
});

describe('sensitive_access', () => {
  it('fires on a tool argument naming ~/.ssh/id_rsa (egress-bench mcp-input-ssh-key-006 shape) and on an AWS credentials resource', () => {
    const h = harness('sensitive_access', sensitiveAccess);
    h.send(
      mcp({ method: 'tools/call', tool: 'read_file', arguments: { content: { path: '~/.ssh/id_rsa' } } }),
      mcp({ method: 'resources/read', resourceUri: 'file:///home/dev/.aws/credentials' }),
    );
    expect(h.fired.map((a) => [a.key, a.labels?.['category']])).toEqual([
      ['sensitive:~/.ssh/id_rsa', 'ssh'],
      ['sensitive:file:///home/dev/.aws/credentials', 'cloud_credentials'],
    ]);
  });

  it('fires on path traversal (SAFE-T1105 shape: ../../../etc/passwd, encoded forms)', () => {
    const h = harness('sensitive_access', sensitiveAccess);
    h.send(mcp({ method: 'tools/call', tool: 'read_file', arguments: { content: { path: '/srv/docs/..%2f..%2fapp/config.yaml' } } }));
    expect(h.fired.map((a) => a.labels?.['reason'])).toEqual(['traversal']);
  });

  it('fires on a path outside the roots the client declared, and not on one inside', () => {
    const h = harness('sensitive_access', sensitiveAccess);
    h.send(
      mcp({ method: 'roots/list', direction: 'server_to_client', result: { content: { roots: [{ uri: 'file:///home/dev/project', name: 'project' }] } } }),
      mcp({ method: 'tools/call', tool: 'read_file', arguments: { content: { path: '/home/dev/project/src/index.ts' } } }),
      mcp({ method: 'tools/call', tool: 'read_file', arguments: { content: { path: '/home/dev/other/notes.txt' } } }),
    );
    expect(h.fired.map((a) => [a.key, a.severity])).toEqual([['outside_roots:/home/dev/other/notes.txt', 'medium']]);
  });

  it('fires on file events on sensitive and canary paths, critical for canaries, low when attribution is weak', () => {
    const h = harness('sensitive_access', sensitiveAccess);
    h.send(file('/home/dev/.ssh/id_ed25519'), file('/home/dev/project/.canary-token', { canary: true, sensitive: true }), file('/home/dev/.npmrc', { confidence: 0.2 }));
    expect(h.fired.map((a) => a.severity)).toEqual(['high', 'critical', 'low']);
  });

  it('stays silent on ordinary project files, URLs and non-path arguments (benign look-alikes)', () => {
    const h = harness('sensitive_access', sensitiveAccess);
    h.send(
      mcp({ method: 'tools/call', tool: 'read_file', arguments: { content: { path: '/home/dev/project/README.md', note: 'see .env.example docs' } } }),
      mcp({ method: 'tools/call', tool: 'fetch', arguments: { content: { url: 'https://example.com/a/../b' } } }),
      mcp({ method: 'resources/read', resourceUri: 'test://static/resource/1' }),
      file('/home/dev/project/src/main.ts'),
    );
    expect(h.fired).toEqual([]);
  });
});
