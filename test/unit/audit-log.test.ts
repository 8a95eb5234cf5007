import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditLogSchema } from '../../src/audit/audit-config.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { configSchema } from '../../src/config/schema.js';
import type { McpEvent, McpTrafficEvent } from '../../src/pipeline/events.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mcpwatch-audit-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let n = 0;
function call(over: Partial<McpTrafficEvent> = {}): McpTrafficEvent {
  n += 1;
  return {
    kind: 'mcp', id: `e${n}`, time: Date.UTC(2026, 0, 5, 10, 0, n), server: { id: 'fs-1', name: 'filesystem' }, flavour: 'otel', method: 'tools/call',
    messageType: 'request', side: 'server', direction: 'client_to_server', correlationKey: 'k', era: 'session', outcome: 'ok',
    tool: 'read_file', traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sessionId: 'sess-1',
    client: { name: 'claude-code', version: '1.0.0' }, durationMs: 12,
    arguments: { size: 40, content: { path: '/srv/a.txt', token: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789' } },
    result: { size: 10, content: { text: 'hello' } },
    ...over,
  };
}

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('AuditLog', () => {
  it('defaults to off under store.audit, and the config keeps the documented defaults', () => {
    const cfg = configSchema.parse({});
    expect(cfg.store.audit).toMatchObject({ enabled: false, includeContent: false, maxFileBytes: 104857600, maxFileAgeHours: 24, retainFiles: 30, retainDays: 90 });
  });

  it('writes one JSON line per MCP action with the audit fields, and no content when capture is off', async () => {
    const dir = tempDir();
    const log = new AuditLog({ config: auditLogSchema.parse({ path: join(dir, 'audit.jsonl'), includeContent: true }), captureContent: false });
    await log.start();
    const file: McpEvent = { kind: 'file', id: 'f', time: 0, server: { id: 's', name: 's' }, action: 'read', path: '/x', sensitive: false, confidence: 1 };
    const ev = call();
    log.consume([ev, call({ method: 'resources/read', tool: undefined, resourceUri: 'file:///srv/b.txt', outcome: 'error', errorType: 'NotFound' }), file]);
    await log.shutdown();
    const [first, second, ...rest] = lines(join(dir, 'audit.jsonl'));
    expect(rest).toEqual([]);
    expect(first).toEqual({
      timestamp: new Date(ev.time).toISOString(),
      server: 'filesystem', server_id: 'fs-1',
      action: { method: 'tools/call', tool: 'read_file', type: 'request', direction: 'client_to_server' },
      result: 'ok', trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', session: 'sess-1',
      client: { name: 'claude-code', version: '1.0.0' }, duration_ms: 12, arguments_size: 40, result_size: 10,
    });
    expect(second).toMatchObject({ action: { method: 'resources/read' }, resource: 'file:///srv/b.txt', result: 'error', error_type: 'NotFound' });
  });

  it('writes content only when capture and includeContent are both on, with secrets masked', async () => {
    const dir = tempDir();
    const log = new AuditLog({ config: auditLogSchema.parse({ path: join(dir, 'audit.jsonl'), includeContent: true }), captureContent: true });
    await log.start();
    log.consume([call()]);
    await log.shutdown();
    const text = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(text).not.toContain('ghp_abcdefghijklmnopqrstuvwxyz0123456789');
    expect(lines(join(dir, 'audit.jsonl'))[0]).toMatchObject({ arguments: { path: '/srv/a.txt', token: expect.stringMatching(/^\[masked:sha256:[0-9a-f]{12}\]$/) }, result_content: { text: 'hello' } });
  });

  it('rotates by size without losing or splitting lines, and keeps only retainFiles rotated files', async () => {
    const dir = tempDir();
    let now = Date.UTC(2026, 0, 5);
    const log = new AuditLog({ config: auditLogSchema.parse({ path: join(dir, 'audit.jsonl'), maxFileBytes: 1200, retainFiles: 2 }), captureContent: false, now: () => (now += 1000) });
    await log.start();
    for (let i = 0; i < 20; i++) {
      log.consume([call()]);
      await log.flush();
    }
    await log.shutdown();
    const files = readdirSync(dir).sort();
    expect(files).toContain('audit.jsonl');
    const rotated = files.filter((f) => f !== 'audit.jsonl');
    expect(rotated).toHaveLength(2);
    for (const f of files) {
      const size = readFileSync(join(dir, f)).length;
      expect(size).toBeLessThanOrEqual(1200);
      expect(lines(join(dir, f)).every((l) => l['server'] === 'filesystem')).toBe(true);
    }
    expect(log.counters.written).toBe(20);
    expect(log.counters.rotated).toBeGreaterThanOrEqual(3);
    expect(log.counters.deleted).toBe(log.counters.rotated - 2);
  });

  it('rotates by age and deletes rotated files older than retainDays', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const old = join(dir, 'audit.jsonl.20250101T000000000Z');
    writeFileSync(old, '{"old":true}\n');
    utimesSync(old, new Date(Date.UTC(2025, 0, 1)), new Date(Date.UTC(2025, 0, 1)));
    let now = Date.UTC(2026, 0, 5);
    const log = new AuditLog({ config: auditLogSchema.parse({ path: file, maxFileAgeHours: 1, retainDays: 30 }), captureContent: false, now: () => now });
    await log.start();
    log.consume([call()]);
    await log.flush();
    now += 2 * 3600_000;
    log.consume([call()]);
    await log.shutdown();
    const files = readdirSync(dir).sort();
    expect(files).not.toContain('audit.jsonl.20250101T000000000Z');
    expect(files.filter((f) => f.startsWith('audit.jsonl.'))).toHaveLength(1);
    expect(lines(file)).toHaveLength(1);
  });

  it('drops and counts lines beyond the buffer instead of blocking, and shutdown is idempotent and safe without start', async () => {
    const dir = tempDir();
    const log = new AuditLog({ config: auditLogSchema.parse({ path: join(dir, 'audit.jsonl'), maxBufferedLines: 3 }), captureContent: false });
    expect(log.consume([call(), call(), call(), call(), call()])).toBe(true);
    expect(log.counters.dropped).toBe(2);
    await Promise.all([log.shutdown(), log.shutdown()]);
    expect(lines(join(dir, 'audit.jsonl'))).toHaveLength(3);
    const never = new AuditLog({ config: auditLogSchema.parse({ path: join(dir, 'never.jsonl') }), captureContent: false });
    await never.shutdown();
  });
});
