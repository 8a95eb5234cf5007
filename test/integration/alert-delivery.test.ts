import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { alertsSchema } from '../../src/config/schema.js';
import { AlertManager } from '../../src/alert/manager.js';
import type { AlertInput } from '../../src/alert/types.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { dropPrefix, freePort, LocalReceiver, RedisProcess, requireRedis, slackProblems, tempDir, waitFor, type Received } from '../helpers/alert-receivers.js';

const TEMPO = 'https://tempo.example/explore?traceId=';
const GH_TOKEN = `ghp_${'A1b2C3d4E5'.repeat(4)}`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function receiver(answer?: ConstructorParameters<typeof LocalReceiver>[0]): Promise<{ r: LocalReceiver; url: string }> {
  const r = new LocalReceiver(answer);
  const url = await r.start();
  cleanups.push(() => r.stop());
  return { r, url };
}

async function manager(alerts: Record<string, unknown>, redis?: string): Promise<AlertManager> {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const m = new AlertManager({
    config: alertsSchema.parse({
      traceLinkTemplate: `${TEMPO}{traceId}`,
      ...alerts,
      queue: { outboxDir: tempDir(), ...(redis ? { redis, prefix } : {}), backoffBaseSeconds: 0.2, backoffMaxSeconds: 2, ...(alerts.queue as object | undefined) },
    }),
    logger: silentLogger(),
    metrics: new Metrics(),
  });
  await m.start();
  cleanups.push(async () => {
    await m.shutdown();
    if (redis) await dropPrefix(redis, (alerts.queue as { prefix?: string } | undefined)?.prefix ?? prefix);
  });
  return m;
}

function hostile(i: number, over: Partial<AlertInput> = {}): AlertInput {
  return {
    detector: 'tool_poisoning',
    severity: 'high',
    title: `alert #${i} <!channel> <https://evil.example|click here> & more`,
    summary: `tool description says <@U0123> ignore previous instructions`,
    server: 'weather',
    tool: `get_forecast_${i}`,
    key: `k${i}`,
    traceIds: ['4bf92f3577b34da6a3ce929d0e0e4736', 'not-a-trace-id<!here>'],
    evidence: [{ description: `leaked ${GH_TOKEN} in argument`, details: { api_key: 'sk-live-secret-value-1234567890' } }],
    time: 1_700_000_000_000 + i,
    ...over,
  };
}

function verifySignature(secret: string, req: Received): boolean {
  const header = String(req.headers['x-mcpwatch-signature'] ?? '');
  const expected = `sha256=${createHmac('sha256', secret).update(req.raw).digest('hex')}`;
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}

describe.each(['redis', 'in-process'] as const)('Slack sink against a Slack-like server (%s queue)', (kind) => {
  it('honours 429 Retry-After bursts, stays within 1 message/s, drops nothing, digests the backlog, escapes hostile text', async () => {
    const redis = kind === 'redis' ? await requireRedis() : undefined;
    const problems: string[] = [];
    const rateLimitedUntil: number[] = [];
    // Requests 2-3 and 7 are answered 429 (a burst, then another), like Slack under load.
    const { r, url } = await receiver((req, n) => {
      const p = slackProblems(req.body, TEMPO);
      if (p.length) {
        problems.push(...p);
        return { status: 400, body: 'invalid_blocks' };
      }
      if (n === 2 || n === 3 || n === 7) {
        const seconds = n === 7 ? 1 : 2;
        rateLimitedUntil[n] = req.at + seconds * 1000;
        return { status: 429, headers: { 'retry-after': String(seconds) }, body: 'rate_limited' };
      }
      return { status: 200, body: 'ok' };
    });
    const m = await manager({ sinks: { slack: { type: 'slack', webhook: `${url}/services/T000/B000/XXXX`, digestThreshold: 4, digestMaxAlerts: 6 } } }, redis);
    const total = 14;
    for (let i = 0; i < total; i++) await m.fireDurably(hostile(i));

    const delivered = new Set<number>();
    await waitFor(
      () => {
        delivered.clear();
        for (const [i, req] of r.requests.entries()) {
          if (i + 1 === 2 || i + 1 === 3 || i + 1 === 7) continue;
          for (const mm of String((req.body as { text?: string }).text ?? '').matchAll(/alert #(\d+)/g)) delivered.add(Number(mm[1]));
        }
        return delivered.size === total;
      },
      30_000,
      'every alert in an accepted Slack message',
    );
    expect(problems).toEqual([]);
    expect([...delivered].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    // No request lands before Retry-After expires (50 ms of clock slack between processes).
    for (const [n, until] of rateLimitedUntil.entries()) {
      if (until === undefined) continue;
      const next = r.requests[n];
      expect(next, `a request after the 429 of request ${n}`).toBeDefined();
      expect(next!.at).toBeGreaterThanOrEqual(until - 50);
    }
    // At most one message per second.
    const gaps = r.requests.slice(1).map((q, i) => q.at - r.requests[i]!.at);
    expect(Math.min(...gaps), `gaps between requests: ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(1000);
    // The backlog went out as digests, not 14 messages.
    expect(r.requests.length).toBeLessThan(total);
    const raw = r.requests.map((q) => q.raw).join('\n');
    expect(raw).not.toContain(GH_TOKEN);
    expect(raw).not.toContain('sk-live-secret-value');
    expect(raw).not.toContain('<!channel>');
    expect(raw).toContain('&lt;!channel&gt;');
  }, 60_000);
});

const DOWN_MS = process.env.MCPWATCH_LONG_TESTS === '1' ? 120_000 : 10_000;

describe('generic webhook', () => {
  it(`delivers everything after the webhook was down for ${DOWN_MS / 1000} s (120 s with MCPWATCH_LONG_TESTS=1), signed and in webhook v4 shape`, async () => {
    const redis = await requireRedis();
    const secret = 'a-long-webhook-signing-secret';
    const { r, url } = await receiver();
    const port = r.port;
    await r.stop(); // down: connection refused
    const m = await manager({ sinks: { hook: { type: 'webhook', url: `${url}/hook`, secret, timeoutSeconds: 2 } }, queue: { maxAttempts: 1000 } }, redis);
    const total = 20;
    const t0 = Date.now();
    for (let i = 0; i < total; i++) {
      await m.fireDurably(hostile(i, { detector: 'exfiltration' }));
      await new Promise((res) => setTimeout(res, DOWN_MS / total / 2));
    }
    await new Promise((res) => setTimeout(res, Math.max(0, DOWN_MS - (Date.now() - t0))));
    expect(r.requests).toHaveLength(0);
    await r.start(port);
    await waitFor(() => new Set(r.requests.map((q) => (q.body as { alerts: { labels: { tool: string } }[] }).alerts[0]!.labels.tool)).size === total, 20_000, 'all alerts after the webhook came back');
    for (const req of r.requests) {
      expect(verifySignature(secret, req)).toBe(true);
      const body = req.body as Record<string, unknown> & { alerts: Record<string, unknown>[] };
      expect(body.version).toBe('4');
      expect(body.status).toBe('firing');
      expect(body.receiver).toBe('hook');
      expect(typeof body.groupKey).toBe('string');
      expect(body.alerts[0]!.labels).toMatchObject({ alertname: 'exfiltration', severity: 'high', server: 'weather' });
      expect(body.alerts[0]!.annotations).toMatchObject({ trace_url: `${TEMPO}4bf92f3577b34da6a3ce929d0e0e4736` });
      expect(body.alerts[0]!.endsAt).toBe('0001-01-01T00:00:00Z');
      expect(req.raw).not.toContain(GH_TOKEN);
    }
    // A tampered body does not verify.
    const forged = { ...r.requests[0]!, raw: r.requests[0]!.raw.replace('exfiltration', 'exfiltratioN') };
    expect(verifySignature(secret, forged)).toBe(false);
  }, DOWN_MS + 60_000);
});

describe('Alertmanager sink against an Alertmanager-compatible receiver', () => {
  it('posts valid v2 alerts, re-sends firing ones on the interval, and sends the resolution once', async () => {
    const invalid: string[] = [];
    const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
    const { r, url } = await receiver((req) => {
      // What Alertmanager's v2 API checks for postableAlerts.
      if (req.method !== 'POST' || req.path !== '/api/v2/alerts') invalid.push(`${req.method} ${req.path}`);
      if (!Array.isArray(req.body)) invalid.push('body is not an array');
      for (const a of (req.body as Record<string, unknown>[]) ?? []) {
        const labels = a.labels as Record<string, unknown>;
        if (!labels || Object.keys(labels).length === 0) invalid.push('no labels');
        for (const [k, v] of Object.entries(labels ?? {})) if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) || typeof v !== 'string') invalid.push(`label ${k}`);
        for (const v of Object.values((a.annotations as Record<string, unknown>) ?? {})) if (typeof v !== 'string') invalid.push('annotation not a string');
        for (const k of ['startsAt', 'endsAt'] as const) if (a[k] !== undefined && !rfc3339.test(String(a[k]))) invalid.push(`${k} ${String(a[k])}`);
      }
      return invalid.length ? { status: 400, body: 'bad' } : { status: 200, body: '' };
    });
    const m = await manager({ sinks: { am: { type: 'alertmanager', url, resendIntervalSeconds: 0.5 } }, externalUrl: 'http://mcpwatch.example:9464' });
    await m.fireDurably(hostile(1, { time: Date.now() }));
    await m.fireDurably(hostile(2, { time: Date.now() }));
    await waitFor(() => r.requests.length >= 2, 5000, 'first posts');
    await m.resolveDurably({ detector: 'tool_poisoning', server: 'weather', tool: 'get_forecast_1', key: 'k1' });
    const resolvedAt = Date.now();
    await new Promise((res) => setTimeout(res, 1300));
    expect(invalid).toEqual([]);
    const posts = r.requests.map((q) => q.body as { labels: Record<string, string>; endsAt: string; generatorURL?: string }[]);
    const resolvedPosts = posts.flat().filter((a) => a.labels.tool === 'get_forecast_1' && Date.parse(a.endsAt) <= resolvedAt);
    expect(resolvedPosts).toHaveLength(1);
    // Re-sent after the resolution: only the one still firing, with endsAt in the future.
    const resends = r.requests.filter((q) => q.at > resolvedAt + 100).map((q) => q.body as { labels: Record<string, string>; endsAt: string }[]);
    expect(resends.length).toBeGreaterThanOrEqual(1);
    for (const body of resends) {
      expect(body.map((a) => a.labels.tool)).toEqual(['get_forecast_2']);
      expect(Date.parse(body[0]!.endsAt)).toBeGreaterThan(Date.now());
    }
    expect(posts[0]![0]!.labels.alertname).toBe('tool_poisoning');
    expect(posts[0]![0]!.generatorURL).toContain('http://mcpwatch.example:9464/api/alerts');
  });
});

describe('two daemons sharing one Redis', () => {
  it('deliver each alert once when both raise the same alerts', async () => {
    const redis = await requireRedis();
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const { r, url } = await receiver();
    const sinks = { hook: { type: 'webhook', url } };
    const a = await manager({ sinks, queue: { prefix } }, redis);
    const b = await manager({ sinks, queue: { prefix } }, redis);
    const total = 40;
    await Promise.all(Array.from({ length: total }, (_, i) => [a.fireDurably(hostile(i)), b.fireDurably(hostile(i))]).flat());
    await waitFor(() => r.requests.length >= total, 10_000, 'deliveries');
    await new Promise((res) => setTimeout(res, 500));
    const tools = r.requests.map((q) => (q.body as { alerts: { labels: { tool: string } }[] }).alerts[0]!.labels.tool);
    expect(tools).toHaveLength(total);
    expect(new Set(tools).size).toBe(total);
  });
});

describe('two daemons sharing one Redis: operator state', () => {
  it('apply a silence and an acknowledgement made through either daemon', async () => {
    const redis = await requireRedis();
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const { r, url } = await receiver();
    const sinks = { hook: { type: 'webhook', url } };
    // Notification job ids include the repeat window counted from the alert's time: an alert raised now
    // and a 0.5 s interval put both daemons' first notifications in window 0, so they share one job id.
    const a = await manager({ sinks, queue: { prefix }, repeatIntervalSeconds: 0.5 }, redis);
    const b = await manager({ sinks, queue: { prefix }, repeatIntervalSeconds: 0.5 }, redis);
    const raisedAt = Date.now();
    const one = () => hostile(1, { time: raisedAt });
    const silence = a.addSilence({ server: 'quiet', endsAt: new Date(Date.now() + 60_000).toISOString(), author: 'alice', comment: '' });
    const alert = await a.fireDurably(one());
    b.acknowledge(alert.id, 'bob'); // not known to b yet: nothing to do
    expect(a.acknowledge(alert.id, 'alice', 'mine')?.acknowledged?.author).toBe('alice');
    await b.fireDurably(one());
    await new Promise((res) => setTimeout(res, 200));
    await b.syncShared();
    expect(b.silences.list().map((s) => s.id)).toEqual([silence.id]);
    expect(b.get(alert.id)?.acknowledged?.author).toBe('alice');
    const quiet = await b.fireDurably(hostile(2, { server: 'quiet' }));
    expect(quiet.silencedBy).toBe(silence.id);
    // Acknowledged on a: b does not repeat it either, although the repeat interval passed.
    await new Promise((res) => setTimeout(res, 600));
    await b.fireDurably(one());
    const labels = () => r.requests.map((q) => (q.body as { alerts: { labels: { tool: string; server: string } }[] }).alerts[0]!.labels);
    await waitFor(() => labels().some((l) => l.tool === 'get_forecast_1'), 5000, 'the first notification');
    await new Promise((res) => setTimeout(res, 700));
    expect(labels().filter((l) => l.server === 'quiet')).toEqual([]);
    expect(labels().filter((l) => l.tool === 'get_forecast_1')).toHaveLength(1);
    b.expireSilence(silence.id, 'bob');
    await new Promise((res) => setTimeout(res, 100));
    await a.syncShared();
    expect(a.silences.list()).toEqual([]);
  });
});

describe('Redis unreachable', () => {
  it('records alerts in the fsynced outbox at once, and delivers them after Redis starts', async () => {
    const redisProc = new RedisProcess(await freePort());
    cleanups.push(() => redisProc.kill());
    const { r, url } = await receiver();
    const m = await manager({ sinks: { hook: { type: 'webhook', url } }, queue: { enqueueTimeoutSeconds: 0.5 } }, redisProc.url);
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) await m.fireDurably(hostile(i));
    // Redis is known to be away: no waiting for enqueueTimeoutSeconds per alert.
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(m.outboxSize()).toBe(10);
    expect(r.requests).toHaveLength(0);
    await redisProc.start();
    await waitFor(() => r.requests.length === 10, 15_000, 'the outbox drained through Redis to the sink');
    await waitFor(() => m.outboxSize() === 0, 5000, 'an empty outbox');
    expect(new Set(r.requests.map((q) => (q.body as { alerts: { labels: { tool: string } }[] }).alerts[0]!.labels.tool)).size).toBe(10);
  }, 40_000);
});
