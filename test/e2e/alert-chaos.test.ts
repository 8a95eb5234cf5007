import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { spawnCli, waitForLog } from '../helpers/daemon.js';
import { freePort, LocalReceiver, RedisProcess, tempDir, waitFor } from '../helpers/alert-receivers.js';

/** The webhook sink's default deliveries in flight per daemon (src/alert/sinks/webhook.ts). */
const WEBHOOK_CONCURRENCY = 4;

/** How long alerts flow while Redis and the daemons are being killed. */
const CHAOS_MS = process.env.MCPWATCH_LONG_TESTS === '1' ? 60_000 : 12_000;

interface RunningDaemon {
  child: ChildProcessWithoutNullStreams;
  admin: string;
}

async function startDaemon(configFile: string): Promise<RunningDaemon> {
  const child = spawnCli(['start', '--config', configFile]);
  child.stderr.resume();
  const started = await waitForLog(child, (l) => l.msg === 'mcpwatch started', 30_000);
  child.stdout.resume();
  return { child, admin: `http://127.0.0.1:${(started.admin as { port: number }).port}` };
}

async function kill(d: RunningDaemon | undefined): Promise<void> {
  if (!d || d.child.exitCode !== null) return;
  const exited = new Promise((r) => d.child.once('exit', r));
  d.child.kill('SIGKILL');
  await exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (min: number, max: number) => min + Math.random() * (max - min);

describe('alert delivery under chaos', () => {
  it(`loses no acknowledged alert while Redis (AOF) and the daemons are SIGKILLed at random for ${CHAOS_MS / 1000} s; duplicates counted`, async () => {
    const redis = new RedisProcess(await freePort());
    await redis.start();
    const received = new Map<string, number>();
    const sink = new LocalReceiver((req) => {
      const body = req.body as { alerts?: { labels?: { tool?: string } }[] } | undefined;
      for (const a of body?.alerts ?? []) {
        const k = a.labels?.tool;
        if (k) received.set(k, (received.get(k) ?? 0) + 1);
      }
      return { status: 200 };
    });
    const sinkUrl = await sink.start();
    const configs = ['a', 'b'].map((name) => {
      const file = join(tempDir(), `${name}.yaml`);
      writeFileSync(
        file,
        stringify({
          receivers: { otlp: { endpoint: '127.0.0.1:0' } },
          admin: { endpoint: '127.0.0.1:0' },
          alerts: {
            queue: {
              redis: redis.url,
              prefix: 'chaos',
              outboxDir: tempDir(`mcpwatch-outbox-${name}-`),
              // Short enough for a quick takeover, long enough that a loaded machine's renewals keep up.
              lockSeconds: 5,
              enqueueTimeoutSeconds: 1,
              backoffBaseSeconds: 0.2,
              backoffMaxSeconds: 1,
              maxAttempts: 1000,
            },
            sinks: { hook: { type: 'webhook', url: `${sinkUrl}/hook`, timeoutSeconds: 2 } },
          },
        }),
      );
      return file;
    });
    const daemons: (RunningDaemon | undefined)[] = await Promise.all(configs.map((c) => startDaemon(c)));
    const acknowledged = new Set<string>();
    let attempts = 0;
    let refused = 0;
    const events: string[] = [];

    try {
      const end = Date.now() + CHAOS_MS;
      // Producer: alerts raised through POST /api/alerts on either daemon; 202 means durably recorded.
      // A refused alert is retried as the same alert (same key and time: same notification id).
      const producer = (async () => {
        let n = 0;
        const retry: number[] = [];
        while (Date.now() < end) {
          const batch = Array.from({ length: 4 }, () => retry.shift() ?? n++);
          await Promise.all(
            batch.map(async (i) => {
              // Either daemon; the other one while it is down (as a load balancer would).
              const d = daemons[i % 2] ?? daemons[(i + 1) % 2];
              attempts++;
              try {
                if (!d) throw new Error('down');
                const res = await fetch(`${d.admin}/api/alerts`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/json' },
                  body: JSON.stringify({ detector: 'exfiltration', severity: 'high', title: `chaos ${i}`, server: 'chaos', tool: `t${i}`, key: `k${i}`, time: 1_700_000_000_000 + i }),
                  signal: AbortSignal.timeout(5000),
                });
                await res.text();
                if (res.status !== 202) throw new Error(String(res.status));
                acknowledged.add(`t${i}`);
              } catch {
                refused++;
                retry.push(i);
              }
            }),
          );
          await sleep(15);
        }
      })();

      // Chaos: kill Redis at random moments (and bring it back) ...
      const redisChaos = (async () => {
        while (Date.now() < end - 1500) {
          await sleep(rand(400, 1500));
          await redis.kill();
          events.push(`redis killed at +${Date.now() - (end - CHAOS_MS)} ms`);
          await sleep(rand(200, 1200));
          await redis.start();
        }
      })();
      // ... and each daemon once, at a random moment of its third of the run. The other daemon keeps
      // delivering meanwhile, and takes over the jobs the dead one held (their locks expire).
      const daemonChaos = (async () => {
        for (const which of [0, 1]) {
          await sleep(rand(0.1, 0.3) * CHAOS_MS);
          await kill(daemons[which]);
          daemons[which] = undefined;
          events.push(`daemon ${which} killed at +${Date.now() - (end - CHAOS_MS)} ms`);
          await sleep(rand(500, 1500));
          daemons[which] = await startDaemon(configs[which]!);
        }
      })();
      const chaos = Promise.all([redisChaos, daemonChaos]);
      await Promise.all([producer, chaos]);
      // Everything acknowledged must arrive.
      try {
        await waitFor(() => [...acknowledged].every((k) => received.has(k)), 90_000, 'every acknowledged alert at the sink');
      } catch (err) {
        // Say which alerts never arrived and what the chaos did, so a rare failure can be diagnosed.
        const missing = [...acknowledged].filter((k) => !received.has(k));
        throw new Error(
          `${(err as Error).message}: ${missing.length} of ${acknowledged.size} acknowledged alerts missing (first: ${missing.slice(0, 10).join(', ')}); ${events.join('; ')}`,
        );
      }
      await sleep(1000);
    } finally {
      await Promise.all(daemons.map((d) => kill(d)));
      await redis.kill();
      await sink.stop();
    }
    const deliveries = [...acknowledged].reduce((s, k) => s + (received.get(k) ?? 0), 0);
    const duplicates = deliveries - acknowledged.size;
    const rate = duplicates / acknowledged.size;
    console.log(
      `alert chaos: ${acknowledged.size} alerts acknowledged (${attempts} attempts, ${refused} refused: daemon killed or restarting), ` +
        `${acknowledged.size} delivered, ${duplicates} duplicates (${(rate * 100).toFixed(2)}%); ${events.join('; ')}`,
    );
    expect(acknowledged.size).toBeGreaterThan(100);
    expect([...acknowledged].filter((k) => !received.has(k))).toEqual([]);
    expect(events.filter((e) => e.startsWith('daemon')).length).toBe(2);
    // A duplicate is a delivery whose completion the kill cut off: at most what was in flight when Redis or a
    // daemon died, i.e. each daemon's webhook deliveries (concurrency 4 by default) per kill. A rate cap (it
    // was 0.5%) failed on a loaded machine, where fewer alerts flow in the same 12 s for the same kills
    // (6 duplicates of 1,146); this bound still fails if alerts are delivered twice outside the kills.
    expect(duplicates).toBeLessThanOrEqual(events.length * 2 * WEBHOOK_CONCURRENCY);
  }, CHAOS_MS + 180_000);
});
