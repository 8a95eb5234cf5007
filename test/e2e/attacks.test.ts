import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/types.js';
import { configSchema } from '../../src/config/schema.js';
import { Daemon } from '../../src/daemon.js';
import type { DemoServerConfig } from '../../src/demo/malicious-server.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { EVERYTHING, MEMORY, stdioClient, wrapArgs } from '../helpers/tap-clients.js';

/**
 * Each attack of issue 5, performed for real by a malicious MCP server (test/fixtures/servers/malicious-server.mjs)
 * running under `mcpwatch wrap`, driven by the SDK client, watched by a daemon whose host receivers sample
 * every 250 ms. Nothing is simulated: the key is a canary the file receiver planted in a temporary HOME, the
 * egress is a TCP connection to a listener on this host's own non-loopback address (loopback is not egress),
 * the flood is 400 real `notifications/message`, the memory is 352 MB of touched pages, and the new downstream
 * server is server-everything started through a second `mcpwatch wrap`.
 *
 * The fixture's benign tool (`lookup`, which calls server-memory through its own tap: the chain the daemon
 * learns) must raise nothing; then each attack must raise its detector's alert within seconds.
 */

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'servers', 'malicious-server.mjs');
const CLI_NODE = ['--import', 'tsx'];
/** Detection deadline per attack, from the tool call returning. Samples are 250 ms apart; the rest is load headroom. */
const DETECT_WITHIN_MS = 10_000;

/** An address of this host that is not loopback: the egress target the network receiver classifies as leaving. */
function egressAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('attacks test: this host has no non-loopback IPv4 address to send the stolen key to (loopback traffic is not egress)');
}

/** SIGKILLs every process of this run (marked in its environment), whatever tree it ended up in. */
function killRun(marker: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) continue;
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // gone, or not ours
    }
  }
  return killed;
}

describe('attacks through mcpwatch wrap with a real malicious server', () => {
  const marker = `MCPWATCH_ATTACKS_RUN=${randomUUID()}`;
  const home = mkdtempSync(join(tmpdir(), 'mcpwatch-attacks-home-'));
  const keyPath = join(home, '.ssh', 'id_ed25519');
  let daemon: Daemon;
  let adminUrl: string;
  let listener: Server;
  let stolen = '';
  let exfilDestination = '';
  let client: Client;

  beforeAll(async () => {
    // A home with an ~/.ssh directory, as real ones have; the file receiver plants the decoy key in it.
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    const host = egressAddress();
    listener = createServer((s) => s.on('data', (d: Buffer) => (stolen += d.toString())));
    await new Promise<void>((r) => listener.listen(0, host, r));
    const port = (listener.address() as { port: number }).port;
    exfilDestination = `${host}:${port}`;

    daemon = new Daemon(
      configSchema.parse({
        receivers: {
          otlp: { endpoint: '127.0.0.1:0' },
          process: { intervalSeconds: 0.25, discovery: { enabled: false } },
          network: { intervalSeconds: 0.25 },
          file: { home, sampleIntervalSeconds: 0.25, canaries: [{ path: '~/.ssh/id_ed25519', kind: 'ssh' }] },
        },
        admin: { endpoint: '127.0.0.1:0' },
        detectors: {
          engine: { persist: false, tickIntervalMs: 100 },
          // Learned chains: armed after three chains (the benign phase), at once. A chain is judged once its trace
          // settled (3 s without spans): the caller's span comes after the callee's, when the call returns.
          chain_drift: { learningSeconds: 0, minChains: 3 },
          // Containers where everything runs as root (like some CI runners): being root says nothing here.
          process_anomaly: { allowRoot: process.geteuid?.() === 0 },
          // Starting a downstream server grows the fixture's tree by up to ~220 MB for a moment (its `mcpwatch wrap`
          // under tsx, and the server until its tap registers it as a server of its own); eating 352 MB is above.
          // Samples come every 0.25 s here (20 times the default): 12 in a row is 3 s, longer than the start-up burst
          // of a downstream server's tap (its relay and span-export threads start together, ~1.8 cores for <1 s).
          dos: { process: { maxRssGrowthBytes: 256 * 1024 * 1024, growthWindowSeconds: 5, sustainedSamples: 12 } },
        },
      }),
      { logger: silentLogger(), metrics: new Metrics() },
    );
    await daemon.start();
    adminUrl = `http://127.0.0.1:${daemon.adminAddress().port}`;
    const otlpUrl = `http://127.0.0.1:${daemon.otlpAddress()!.port}/v1/traces`;

    const serverConfig: DemoServerConfig = {
      keyPath,
      exfil: { host, port },
      knownDownstream: [process.execPath, ...wrapArgs('notes', otlpUrl, [MEMORY])],
      knownTool: { name: 'search_nodes', arguments: { query: '{query}' } },
      novelDownstream: [process.execPath, ...wrapArgs('reports', otlpUrl, [EVERYTHING, 'stdio'])],
      novelTool: { name: 'echo', arguments: { message: 'report on {query}' } },
    };
    const [markerName, markerValue] = marker.split('=') as [string, string];
    ({ client } = await stdioClient(process.execPath, wrapArgs('workspace', otlpUrl, [...CLI_NODE, FIXTURE]), {
      HOME: home,
      MEMORY_FILE_PATH: join(home, 'notes.jsonl'),
      MCPWATCH_DEMO_SERVER: JSON.stringify(serverConfig),
      [markerName]: markerValue,
    }));
  }, 60_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    killRun(marker);
    await daemon?.shutdown();
    listener?.close();
    rmSync(home, { recursive: true, force: true });
  });

  async function alerts(): Promise<Alert[]> {
    const res = await fetch(`${adminUrl}/api/alerts?limit=1000`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { alerts: Alert[] }).alerts;
  }

  /** Waits for an alert of `detector` matching `pred`; returns it and how long it took. */
  async function detected(detector: string, pred: (a: Alert) => boolean, since: number): Promise<{ alert: Alert; ms: number }> {
    const deadline = since + DETECT_WITHIN_MS;
    for (;;) {
      const found = (await alerts()).find((a) => a.detector === detector && pred(a));
      if (found) return { alert: found, ms: Date.now() - since };
      if (Date.now() > deadline) {
        throw new Error(`no ${detector} alert within ${DETECT_WITHIN_MS} ms; alerts: ${JSON.stringify((await alerts()).map((a) => [a.detector, a.server, a.summary]))}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('benign: lookup through server-memory, five times, raises nothing (and teaches chain_drift the chain)', async () => {
    for (let i = 0; i < 5; i++) {
      const result = await client.callTool({ name: 'lookup', arguments: { query: `topic ${i}` } });
      expect(result.isError).toBeFalsy();
    }
    // Long enough for the chains to settle (3 s), host samples of the grown tree, and a file sample.
    await new Promise((r) => setTimeout(r, 4500));
    expect(await alerts()).toEqual([]);
    const chain = daemon.detectors.detector('chain_drift')!.stats!();
    expect(chain.armed).toBe(1);
  }, 60_000);

  it('exfiltration: the server reads the canary key and sends it to a new destination over TCP', async () => {
    const t0 = Date.now();
    const result = await client.callTool({ name: 'sync_settings', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'settings synced' }]);
    const { alert } = await detected('exfiltration', (a) => a.server === 'workspace' && a.labels['rule'] === 'read_then_egress', t0);
    // The listener got the key the daemon planted: a real theft of a real (decoy) file.
    expect(stolen).toContain('BEGIN OPENSSH PRIVATE KEY');
    expect(stolen).toContain('mcpwatch-canary');
    expect(alert.severity).toBe('critical');
    expect(alert.labels['destination']).toBe(exfilDestination);
    expect(alert.labels['path']).toBe(keyPath);
    expect(alert.summary).toContain(exfilDestination);
  }, 30_000);

  it('notification_spam: the server floods notifications/message', async () => {
    const t0 = Date.now();
    const result = await client.callTool({ name: 'tail_logs', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: '400 log lines' }]);
    const { alert } = await detected('notification_spam', (a) => a.server === 'workspace', t0);
    expect(alert.summary).toMatch(/notifications\/message|message/);
    expect(JSON.stringify(alert.evidence)).toMatch(/ceiling|50/);
  }, 30_000);

  it('dos: the server eats memory (RSS up by 352 MB)', async () => {
    const t0 = Date.now();
    const result = await client.callTool({ name: 'build_index', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'indexed (352 MB)' }]);
    const { alert } = await detected('dos', (a) => a.server === 'workspace', t0);
    // Raised by this attack, not earlier (the benign phase started a downstream server, which grows the tree too).
    expect(Date.parse(alert.startsAt)).toBeGreaterThanOrEqual(t0 - 500);
    // Growth within the window (any phase), or RSS far above the server's learned baseline (armed after 30 samples).
    expect(['process_rss_growth', 'process_rssBytes']).toContain(alert.labels['rule']);
    expect(alert.evidence[0]!.observed).toBeGreaterThan(256 * 1024 * 1024);
  }, 30_000);

  it('chain_drift: the server starts calling a downstream server it never used (server-everything)', async () => {
    const t0 = Date.now();
    const result = await client.callTool({ name: 'fetch_report', arguments: { topic: 'q3' } });
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: report on q3' }]);
    const { alert } = await detected('chain_drift', (a) => a.server === 'workspace' && a.labels['rule'] === 'new_server', t0);
    expect(alert.summary).toContain('reports');
    expect(alert.traceIds).toHaveLength(1);
    expect(JSON.stringify(alert.evidence)).toContain('workspace.fetch_report -> reports.echo');
    expect(JSON.stringify(alert.evidence)).toContain('workspace.lookup -> notes.search_nodes');
    // One finding per trace: the new server's initialize and echo are not also reported as new edges.
    expect((await alerts()).filter((a) => a.detector === 'chain_drift').map((a) => a.labels['rule'])).toEqual(['new_server']);
  }, 30_000);

  it('raises nothing it should not: every alert is one of the attacks, on the malicious server', async () => {
    // Detectors of issue 6 name the server by id in `alert.server`, the four of issue 5 by name.
    const res = await fetch(`${adminUrl}/api/events?kind=mcp&server=workspace&limit=1`);
    const workspace = ((await res.json()) as { events: { server: { id: string; name: string } }[] }).events[0]!.server;
    const all = await alerts();
    const expected = new Set(['chain_drift', 'exfiltration', 'sensitive_access', 'notification_spam', 'dos']);
    const unexpected = all.filter((a) => (a.server !== workspace.name && a.server !== workspace.id) || !expected.has(a.detector));
    expect(unexpected.map((a) => [a.detector, a.server, a.summary])).toEqual([]);
  });
});
