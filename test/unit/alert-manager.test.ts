import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { alertsSchema } from '../../src/config/schema.js';
import { AlertManager } from '../../src/alert/manager.js';
import { alertFingerprint } from '../../src/alert/fingerprint.js';
import { AlertRouter } from '../../src/alert/routes.js';
import { SilenceRegistry } from '../../src/alert/silences.js';
import { Outbox } from '../../src/alert/queue/outbox.js';
import { backoffDelayMs, type DeliveryJob } from '../../src/alert/queue/types.js';
import type { AlertSink } from '../../src/alert/sinks/types.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import type { AlertInput } from '../../src/alert/types.js';
import { tempDir, waitFor } from '../helpers/alert-receivers.js';

class RecordingSink implements AlertSink {
  readonly jobs: DeliveryJob[] = [];
  readonly concurrency = 1;
  constructor(readonly name: string) {}
  readonly deliver = async (job: DeliveryJob) => {
    this.jobs.push(job);
  };
}

const managers: AlertManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.shutdown()));
});

async function manager(config: Record<string, unknown>, sinkNames = ['a']) {
  const sinks = sinkNames.map((n) => new RecordingSink(n));
  const m = new AlertManager({
    config: alertsSchema.parse({
      sinks: Object.fromEntries(sinkNames.map((n) => [n, { type: 'log' }])),
      ...config,
      queue: { outboxDir: tempDir(), ...(config.queue as object | undefined) },
    }),
    logger: silentLogger(),
    metrics: new Metrics(),
    sinks,
  });
  managers.push(m);
  await m.start();
  return { m, sinks };
}

const input = (over: Partial<AlertInput> = {}): AlertInput => ({
  detector: 'exfiltration',
  severity: 'high',
  title: 'large upload',
  summary: '10 MB to evil.example',
  server: 'filesystem',
  tool: 'read_file',
  key: 'evil.example',
  evidence: [{ description: 'sent 10 MB' }],
  traceIds: ['4bf92f3577b34da6a3ce929d0e0e4736'],
  time: 1_700_000_000_000,
  ...over,
});

describe('alert fingerprint', () => {
  it('is the same for the same detector, server, tool and key, and differs when any differs', () => {
    const base = { detector: 'dos', server: 's', tool: 't', key: 'k' };
    expect(alertFingerprint(base)).toBe(alertFingerprint({ ...base }));
    for (const change of [{ detector: 'x' }, { server: 'x' }, { tool: 'x' }, { key: 'x' }, { tool: undefined }]) {
      expect(alertFingerprint({ ...base, ...change })).not.toBe(alertFingerprint(base));
    }
    // Separators in names cannot make two alerts collide.
    expect(alertFingerprint({ detector: 'a', server: 'b|c' })).not.toBe(alertFingerprint({ detector: 'a|b', server: 'c' }));
  });
});

describe('alert manager', () => {
  it('follows the component lifecycle: shutdown is safe without start and idempotent', async () => {
    const m = new AlertManager({ config: alertsSchema.parse({ queue: { outboxDir: tempDir() } }), logger: silentLogger(), metrics: new Metrics() });
    await m.shutdown();
    await m.shutdown();
    await expect(m.start()).rejects.toThrow(/after shutdown/);
    const started = new AlertManager({ config: alertsSchema.parse({ queue: { outboxDir: tempDir() } }), logger: silentLogger(), metrics: new Metrics() });
    await started.start();
    await Promise.all([started.shutdown(), started.shutdown()]);
  });

  it('deduplicates a repeated alert: one notification, count and trace ids grow', async () => {
    const { m, sinks } = await manager({});
    await m.fireDurably(input());
    await m.fireDurably(input({ traceIds: ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'] }));
    const third = await m.fireDurably(input());
    await waitFor(() => sinks[0]!.jobs.length >= 1, 2000, 'delivery');
    await new Promise((r) => setTimeout(r, 100));
    expect(sinks[0]!.jobs).toHaveLength(1);
    expect(third.count).toBe(3);
    expect(third.traceIds).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']);
    expect(m.list()).toHaveLength(1);
  });

  it('notifies again after the repeat interval, at once when severity rises, and not after an ack', async () => {
    const { m, sinks } = await manager({ repeatIntervalSeconds: 0.2 });
    const a = await m.fireDurably(input({ severity: 'medium' }));
    await m.fireDurably(input({ severity: 'medium' })); // within the interval: deduplicated
    await m.fireDurably(input({ severity: 'critical' })); // escalation
    await new Promise((r) => setTimeout(r, 250));
    await m.fireDurably(input({ severity: 'critical' })); // repeat interval passed
    m.acknowledge(a.id, 'alice', 'looking');
    await new Promise((r) => setTimeout(r, 250));
    await m.fireDurably(input({ severity: 'critical' })); // acknowledged: quiet
    await waitFor(() => sinks[0]!.jobs.length >= 3, 2000, 'three notifications');
    await new Promise((r) => setTimeout(r, 100));
    expect(sinks[0]!.jobs.map((j) => j.alerts[0]!.severity)).toEqual(['medium', 'critical', 'critical']);
    expect(new Set(sinks[0]!.jobs.map((j) => j.id)).size).toBe(3);
    expect(m.get(a.id)?.acknowledged?.author).toBe('alice');
  });

  it('moves firing -> resolved, notifies the resolution, and a new firing is a new alert', async () => {
    const { m, sinks } = await manager({});
    const first = await m.fireDurably(input());
    const resolved = await m.resolveDurably({ detector: 'exfiltration', server: 'filesystem', tool: 'read_file', key: 'evil.example', time: 1_700_000_060_000 });
    expect(resolved?.status).toBe('resolved');
    expect(resolved?.endsAt).toBe(new Date(1_700_000_060_000).toISOString());
    expect(await m.resolveDurably({ detector: 'exfiltration', server: 'filesystem' })).toBeUndefined();
    const again = await m.fireDurably(input({ time: 1_700_000_100_000 }));
    expect(again.id).not.toBe(first.id);
    await waitFor(() => sinks[0]!.jobs.length === 3, 2000, 'three notifications');
    expect(sinks[0]!.jobs.map((j) => j.alerts[0]!.status)).toEqual(['firing', 'resolved', 'firing']);
    expect(m.list({ status: 'firing' }).map((a) => a.id)).toEqual([again.id]);
  });

  it('holds back silenced alerts (config and API silences), and notifies again once the silence is expired', async () => {
    const { m, sinks } = await manager({
      silences: [{ server: 'quiet', endsAt: new Date(Date.now() + 3600_000).toISOString(), author: 'ops' }],
    });
    const quiet = await m.fireDurably(input({ server: 'quiet' }));
    expect(quiet.silencedBy).toMatch(/^cfg-[0-9a-f]{12}$/);
    const s = m.silences.add({ detector: 'dos', endsAt: new Date(Date.now() + 60_000).toISOString(), author: 'bob', comment: 'load test' });
    await m.fireDurably(input({ detector: 'dos', key: 'x' }));
    await m.fireDurably(input({ key: 'other' }));
    await waitFor(() => sinks[0]!.jobs.length >= 1, 2000, 'delivery');
    await new Promise((r) => setTimeout(r, 100));
    expect(sinks[0]!.jobs.map((j) => j.alerts[0]!.fingerprint)).toEqual([alertFingerprint(input({ key: 'other' }))]);
    expect(m.silences.expire(s.id, 'bob')?.expiredBy).toBe('bob');
    expect(m.silences.list().map((x) => x.id)).toEqual([quiet.silencedBy]);
    expect(m.silences.list({ includeExpired: true })).toHaveLength(2);
  });

  it('routes by detector, server and severity; each sink applies its minSeverity', async () => {
    const { m, sinks } = await manager(
      {
        sinks: { pager: { type: 'log', minSeverity: 'critical' }, sec: { type: 'log' }, all: { type: 'log', minSeverity: 'medium' } },
        routes: [
          { detectors: ['exfiltration'], sinks: ['sec', 'pager'], continue: true },
          { servers: ['filesystem'], minSeverity: 'low', sinks: ['all'] },
        ],
      },
      ['pager', 'sec', 'all'],
    );
    const [pager, sec, all] = sinks as [RecordingSink, RecordingSink, RecordingSink];
    await m.fireDurably(input({ severity: 'high' })); // sec, all (pager: too low)
    await m.fireDurably(input({ severity: 'critical', key: 'k2' })); // sec, pager, all
    await m.fireDurably(input({ detector: 'dos', severity: 'info', key: 'k3' })); // all? info < low route: nowhere
    await m.fireDurably(input({ detector: 'dos', severity: 'medium', key: 'k4' })); // all
    await waitFor(() => all.jobs.length === 3 && sec.jobs.length === 2 && pager.jobs.length === 1, 2000, 'routing');
    expect(pager.jobs[0]!.alerts[0]!.severity).toBe('critical');
  });

  it('groups notifications of one detector and server inside the grouping window', async () => {
    const { m, sinks } = await manager({ groupWaitSeconds: 0.2 });
    await Promise.all([m.fireDurably(input({ key: '1' })), m.fireDurably(input({ key: '2' })), m.fireDurably(input({ key: '3', server: 'other' }))]);
    await waitFor(() => sinks[0]!.jobs.length === 2, 2000, 'two grouped notifications');
    expect(sinks[0]!.jobs.map((j) => j.alerts.length).sort()).toEqual([1, 2]);
  });

  it('builds trace links from the template', async () => {
    const { m } = await manager({ traceLinkTemplate: 'https://tempo.example/explore?traceId={traceId}' });
    const a = await m.fireDurably(input());
    expect(a.traceLinks).toEqual(['https://tempo.example/explore?traceId=4bf92f3577b34da6a3ce929d0e0e4736']);
  });
});

describe('alert routes and silences config', () => {
  it('reports routes that name unknown sinks', () => {
    expect(AlertRouter.validate([{ sinks: ['nope'], minSeverity: 'info', continue: false }], { log: { type: 'log', minSeverity: 'info' } })).toEqual([
      'alerts.routes.0.sinks.0: no sink named "nope" in alerts.sinks (have: log)',
    ]);
    expect(alertsSchema.safeParse({ routes: [{ sinks: ['nope'] }] }).success).toBe(false);
  });

  it('refuses a silence without matcher or already over', () => {
    const r = new SilenceRegistry();
    expect(() => r.add({ endsAt: new Date(Date.now() + 1000).toISOString(), author: 'a', comment: '' })).toThrow(/at least one/);
    expect(() => r.add({ server: 's', endsAt: new Date(Date.now() - 1000).toISOString(), author: 'a', comment: '' })).toThrow(/future/);
  });
});

describe('backoff', () => {
  it('grows exponentially, is capped, and is jittered within [half, full]', () => {
    const p = { backoffBaseMs: 1000, backoffMaxMs: 8000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, p, () => 0))).toEqual([500, 1000, 2000, 4000, 4000]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, p, () => 1))).toEqual([1000, 2000, 4000, 8000, 8000]);
    const samples = new Set(Array.from({ length: 20 }, () => backoffDelayMs(3, p)));
    expect(samples.size).toBeGreaterThan(1);
  });
});

describe('outbox', () => {
  const job = (id: string): DeliveryJob => ({ id, sink: 'a', alerts: [], raisedAt: 1 });

  it('survives a restart with pending and dead jobs, and ignores a torn last line', async () => {
    const dir = tempDir();
    const o = new Outbox(dir);
    await o.open();
    await o.add([job('j1'), job('j2'), job('j3')]);
    await o.done(['j1']);
    await o.dead({ id: 'j3', sink: 'a', alerts: [], failedAt: 'x', attempts: 3, error: 'gone' });
    // Simulate a crash mid-write (no close, a half line at the end).
    appendFileSync(join(dir, 'outbox.jsonl'), '{"op":"add","job":{"id":"j4"');
    const o2 = new Outbox(dir);
    await o2.open();
    expect(o2.pending().map((j) => j.id)).toEqual(['j2']);
    expect(o2.deadLetters().map((d) => d.id)).toEqual(['j3']);
    expect((await o2.revive(['j3'])).map((j) => j.id)).toEqual(['j3']);
    await o2.done(['j2', 'j3']);
    await o2.close();
    // Nothing left to deliver: the file is compacted to nothing.
    expect(readFileSync(join(dir, 'outbox.jsonl'), 'utf8')).toBe('');
    await o.close();
  });

  it('refuses a directory another live process owns', async () => {
    const dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'outbox.lock'), String(process.ppid));
    await expect(new Outbox(dir).open()).rejects.toThrow(/in use by process/);
  });
});
