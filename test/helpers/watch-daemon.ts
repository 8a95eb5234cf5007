import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.js';
import type { Alert } from '../../src/alert/types.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { REPO_ROOT } from './daemon.js';

/** Every detector shipped in `detectors/` (a folder with a `detector.yaml`), whatever its maturity. */
export function allDetectorIds(): string[] {
  const dir = join(REPO_ROOT, 'detectors');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'detector.yaml')))
    .map((d) => d.name)
    .sort();
}

/**
 * `../shared/corpora` beside the repository (never copied into it). Missing in CI is a failure, not a skip:
 * the real-material tests are only worth something when they run on the real material.
 */
export function corpusDir(): string {
  const dir = join(REPO_ROOT, '..', 'shared', 'corpora');
  if (!existsSync(dir)) {
    throw new Error(`the public MCP corpora are missing: expected them at ${dir} (../shared/corpora next to the repository)${process.env['CI'] === 'true' ? '; CI must provide them' : ''}`);
  }
  return dir;
}

export interface WatchedDaemonOptions {
  /** Fake home of the file receiver (`~` in its sensitive paths and canaries). */
  home: string;
  /** Sections merged over the defaults below (receivers one level deeper). */
  receivers?: Record<string, Record<string, unknown>>;
  servers?: unknown[];
  store?: Record<string, unknown>;
  /** `detectors.<id>` settings merged over `{ enabled: true }` for every shipped detector. */
  detectors?: Record<string, Record<string, unknown>>;
}

/**
 * A daemon as an operator runs it next to real servers: OTLP and admin on ephemeral loopback ports, every
 * shipped detector on (stable, incubating and sandbox alike), host receivers sampling fast, and all state
 * (alert outbox, learned detector state, watched home) in a private temp folder so tests never see each
 * other's alerts or pins. Host discovery is off: on a shared test host it would report other test runs'
 * MCP servers, which this daemon was never meant to watch.
 */
export async function startWatchedDaemon(opts: WatchedDaemonOptions) {
  const state = mkdtempSync(join(tmpdir(), 'mcpwatch-watched-'));
  mkdirSync(join(state, 'outbox'));
  const detectors: Record<string, unknown> = { engine: { stateDir: join(state, 'detectors'), tickIntervalMs: 100 } };
  for (const id of allDetectorIds()) detectors[id] = { enabled: true, ...opts.detectors?.[id] };
  // Test runners in containers run every process as root, which says nothing about the servers under test.
  if (process.geteuid?.() === 0) detectors['process_anomaly'] = { allowRoot: true, ...(detectors['process_anomaly'] as object) };
  const r = opts.receivers ?? {};
  const config: Config = configSchema.parse({
    receivers: {
      otlp: { endpoint: '127.0.0.1:0' },
      process: { intervalSeconds: 0.5, discovery: { enabled: false }, ...r['process'] },
      network: { intervalSeconds: 0.5, ...r['network'] },
      file: { home: opts.home, sampleIntervalSeconds: 0.5, ...r['file'] },
    },
    admin: { endpoint: '127.0.0.1:0' },
    alerts: { queue: { outboxDir: join(state, 'outbox') } },
    detectors,
    servers: opts.servers ?? [],
    store: opts.store ?? {},
  });
  const daemon = new Daemon(config, { logger: silentLogger(), metrics: new Metrics() });
  await daemon.start();
  const adminUrl = `http://127.0.0.1:${daemon.adminAddress().port}`;
  return {
    daemon,
    adminUrl,
    otlpUrl: `http://127.0.0.1:${daemon.otlpAddress()!.port}/v1/traces`,
    async shutdown() {
      await daemon.shutdown();
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/** `GET /api/alerts` of the daemon, newest first. */
export async function listAlerts(adminUrl: string): Promise<Alert[]> {
  const res = await fetch(`${adminUrl}/api/alerts?limit=1000`);
  if (res.status !== 200) throw new Error(`GET /api/alerts answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { alerts: Alert[] }).alerts;
}

/** Polls `GET /api/alerts` until one matches, or fails listing what was there. */
export async function waitForAlert(adminUrl: string, predicate: (a: Alert) => boolean, timeoutMs = 20_000): Promise<Alert> {
  const deadline = Date.now() + timeoutMs;
  let seen: Alert[] = [];
  while (Date.now() < deadline) {
    seen = await listAlerts(adminUrl);
    const hit = seen.find(predicate);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no matching alert within ${timeoutMs} ms; alerts: ${JSON.stringify(seen.map((a) => ({ detector: a.detector, title: a.title })))}`);
}

/** One line per alert, for assertion messages that say what fired. */
export function describeAlerts(alerts: Alert[]): string {
  return alerts.map((a) => `${a.detector} [${a.severity}] ${a.title}`).join('\n');
}
