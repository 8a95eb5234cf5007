import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startDaemon, testConfig } from '../helpers/daemon.js';
import { dropPrefix, LocalReceiver, requireRedis, tempDir, waitFor } from '../helpers/alert-receivers.js';

const TOKEN = 'admin-token-for-alert-tests';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const post = (url: string, body: unknown, token: string | undefined = TOKEN) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
const get = async <T>(url: string) => (await (await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as T;

describe.each(['in-process', 'redis'] as const)('alerts API and CLI (%s queue)', (kind) => {
  it('raises, lists with filters, acks, silences, dead-letters a permanent failure, and replays it', async () => {
    const redis = kind === 'redis' ? await requireRedis() : undefined;
    const prefix = `t${randomUUID().slice(0, 8)}`;
    let accept = false;
    const sink = new LocalReceiver(() => (accept ? { status: 200 } : { status: 410, body: 'channel_is_archived' }));
    const url = await sink.start();
    cleanups.push(() => sink.stop());
    const { daemon, adminUrl } = await startDaemon(
      testConfig({
        admin: { auth: { bearerToken: TOKEN } },
        alerts: {
          queue: { outboxDir: tempDir(), ...(redis && { redis, prefix }) },
          sinks: { hook: { type: 'webhook', url }, log: { type: 'log', minSeverity: 'critical' } },
          // The daemon's own detectors may raise alerts about this machine; only the test's go to the hook.
          routes: [{ detectors: ['dos', 'exfiltration'], sinks: ['hook'] }],
        },
      }),
    );
    cleanups.push(async () => {
      await daemon.shutdown();
      if (redis) await dropPrefix(redis, prefix);
    });
    const admin = adminUrl.replace('http://', '');
    const cli = (...args: string[]) => runCli(['alerts', ...args, '--admin', admin], { MCPWATCH_ADMIN_TOKEN: TOKEN });

    // Mutations need the token; bodies are validated.
    const alert = { detector: 'dos', severity: 'high', title: 'flood', summary: '500 req/s', server: 'weather', tool: 'get', key: 'x', traceIds: ['4bf92f3577b34da6a3ce929d0e0e4736'] };
    expect((await post(`${adminUrl}/api/alerts`, alert, '')).status).toBe(401);
    const bad = await post(`${adminUrl}/api/alerts`, { ...alert, severity: 'apocalyptic' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('severity');
    const raised = await post(`${adminUrl}/api/alerts`, alert);
    expect(raised.status).toBe(202);
    const { alert: a } = (await raised.json()) as { alert: { id: string } };
    await post(`${adminUrl}/api/alerts`, { ...alert, detector: 'exfiltration', severity: 'low', server: 'files' });

    // The webhook answers 410: permanent, straight to the dead-letter list (no retries).
    await waitFor(async () => (await get<{ count: number }>(`${adminUrl}/api/alerts/dead-letters`)).count === 2, 10_000, 'dead letters');
    expect(sink.requests).toHaveLength(2);
    const dl = await get<{ deadLetters: { sink: string; error: string }[] }>(`${adminUrl}/api/alerts/dead-letters`);
    expect(dl.deadLetters[0]).toMatchObject({ sink: 'hook', error: 'answered 410: channel_is_archived' });
    await waitFor(async () => /mcpwatch_alert_dead_letters\{sink="hook"\} 2/.test(await (await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()), 10_000, 'dead-letter metric');

    // Replay after the destination is fixed.
    accept = true;
    expect(await (await post(`${adminUrl}/api/alerts/replay`, { all: true })).json()).toEqual({ replayed: 2 });
    await waitFor(() => sink.requests.length === 4, 10_000, 'replayed deliveries');
    await waitFor(async () => (await get<{ count: number }>(`${adminUrl}/api/alerts/dead-letters`)).count === 0, 10_000, 'empty dead-letter list');

    // Filters.
    const high = await get<{ alerts: { detector: string }[] }>(`${adminUrl}/api/alerts?severity=high&detector=dos`);
    expect(high.alerts.map((x) => x.detector)).toEqual(['dos']);
    const byServer = await get<{ alerts: { server: string }[] }>(`${adminUrl}/api/alerts?server=files&status=firing&since=1h`);
    expect(byServer.alerts.map((x) => x.server)).toEqual(['files']);
    expect((await fetch(`${adminUrl}/api/alerts?colour=red`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(400);
    if (kind === 'redis') {
      // The CLI is the same whatever the queue; it is exercised once, below.
      const ack = await post(`${adminUrl}/api/alerts/${a.id}/ack`, { author: 'alice' });
      expect(ack.status).toBe(200);
      return;
    }

    // The CLI over the same routes.
    const [table, dlJson, ack, silence, noMatcher, noIds] = await Promise.all([
      cli('--detector', 'dos'),
      cli('dead-letters', '--json'),
      cli('ack', a.id, '--author', 'alice', '--comment', 'on it'),
      cli('silence', '--server', 'weather', '--duration', '2h', '--author', 'bob', '--json'),
      cli('silence', '--duration', '2h', '--author', 'bob'),
      cli('replay'),
    ]);
    expect(table.stdout).toMatch(/ID\s+STATUS\s+SEVERITY/);
    expect(table.stdout).toContain('flood');
    expect(JSON.parse(dlJson.stdout)).toEqual({ count: 0, deadLetters: [] });
    expect(ack.code).toBe(0);
    expect((await get<{ alert: { acknowledged: { author: string } } }>(`${adminUrl}/api/alerts/${a.id}`)).alert.acknowledged.author).toBe('alice');
    expect(noMatcher.code).toBe(2);
    expect(noIds.code).toBe(2);
    const sid = (JSON.parse(silence.stdout) as { silence: { id: string } }).silence.id;
    await post(`${adminUrl}/api/alerts`, { ...alert, key: 'y' });
    const silenced = await get<{ alerts: { silencedBy?: string }[] }>(`${adminUrl}/api/alerts?detector=dos&limit=1`);
    expect(silenced.alerts[0]!.silencedBy).toBe(sid);
    expect((await cli('silences')).stdout).toContain(sid);
    expect((await cli('expire-silence', sid, '--author', 'bob')).code).toBe(0);
    expect((await get<{ silences: unknown[] }>(`${adminUrl}/api/alerts/silences`)).silences).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.requests).toHaveLength(4);
  }, 60_000);
});
