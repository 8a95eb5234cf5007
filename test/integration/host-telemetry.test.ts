import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SinkConsumer } from '../../src/component/component.js';
import { configSchema } from '../../src/config/schema.js';
import { Daemon } from '../../src/daemon.js';
import type { FileEvent, McpEvent, NetworkEvent, ProcessEvent } from '../../src/pipeline/events.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'host');
const SEND_BYTES = 12_345;

const REPO_ROOT = join(import.meta.dirname, '..', '..');

/**
 * Runs a fixture server under `mcpwatch wrap` (the stdio tap), as a user would run an MCP server; the tap's
 * spans carry the server's `process.pid`, which is how the registry learns it.
 */
function spawnWrapped(script: string, name: string, otlpPort: number, env: Record<string, string>): Promise<ChildProcessWithoutNullStreams> {
  const args = ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'bin.ts'), 'wrap', '--name', name, '--endpoint', `127.0.0.1:${otlpPort}`, '--', process.execPath, join(FIXTURES, script)];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: 'pipe' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`mcpwatch wrap exited with ${code}`)));
    child.stdout.once('data', () => resolve(child));
  });
}

/** A JSON-RPC notification through the tap: the tap records it as a span of this server. */
const INITIALIZED = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n';

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('host telemetry with real processes', () => {
  const home = mkdtempSync(join(tmpdir(), 'mcpwatch-host-home-'));
  const canaryPath = join(home, '.aws', 'credentials');
  const sink = new SinkConsumer<McpEvent>();
  let daemon: Daemon;
  let target: Server;
  let received = 0;
  let busy: ChildProcessWithoutNullStreams;
  let idle: ChildProcessWithoutNullStreams;
  let acts: { canaryBytes: number; shPid: number; listenPort: number };
  let targetPort = 0;
  /** The fixture's own pid (a child of `mcpwatch wrap`). */
  let fixturePid = 0;

  beforeAll(async () => {
    target = createServer((s) => s.on('data', (d: Buffer) => (received += d.length)));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    targetPort = (target.address() as { port: number }).port;
    daemon = new Daemon(
      configSchema.parse({
        receivers: {
          otlp: { endpoint: '127.0.0.1:0' },
          process: { intervalSeconds: 0.2, discovery: { enabled: false } },
          network: { intervalSeconds: 0.2 },
          file: { home, sampleIntervalSeconds: 0.2, canaries: [{ path: '~/.aws/credentials', kind: 'aws' }] },
        },
        admin: { endpoint: '127.0.0.1:0' },
      }),
      { logger: silentLogger(), metrics: new Metrics() },
    );
    daemon.events.add(sink);
    await daemon.start();
    const otlpPort = daemon.otlpAddress()!.port;
    busy = await spawnWrapped('fixture-server.mjs', 'host-fixture', otlpPort, { CANARY_PATH: canaryPath, TARGET_PORT: String(targetPort), SEND_BYTES: String(SEND_BYTES), HOME: home });
    idle = await spawnWrapped('idle-server.mjs', 'host-idle', otlpPort, { HOME: home });
    busy.stdin.write(INITIALIZED);
    idle.stdin.write(INITIALIZED);
    await until('both wrapped servers registered from the tap spans', () => (daemon.host!.registry.list().length === 2 ? true : undefined));
    const fixture = daemon.host!.registry.list().find((s) => s.identity.name === 'host-fixture')!;
    fixturePid = fixture.rootPid;
    // Both servers sampled once (their baseline) before the busy one acts.
    await until('first samples of both servers', () => {
      const sampled = new Set(sink.items.filter((e) => e.kind === 'process' && e.action === 'sample').map((e) => e.server.name));
      return sampled.has('host-fixture') && sampled.has('host-idle') ? true : undefined;
    });
    // The file receiver's I/O baseline must include both servers (and the idle one's read of the notification
    // relayed to its stdin) before the read it is to attribute.
    await new Promise((r) => setTimeout(r, 300));
    await daemon.host!.file!.sampleNow();
    const line = new Promise<string>((r) => busy.stdout.once('data', (d: Buffer) => r(d.toString())));
    busy.stdin.write('go\n');
    acts = JSON.parse(await line) as typeof acts;
  }, 90_000);

  afterAll(async () => {
    busy?.stdin.end();
    idle?.stdin.end();
    await daemon?.shutdown();
    target?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const of = (name: string) => sink.items.filter((e) => e.server.name === name && e.kind !== 'mcp');

  it('identifies both servers from the wrap tap spans (process.pid of the wrapped child), as registered', () => {
    const servers = daemon.host!.registry.list();
    expect(servers.map((s) => s.identity.name).sort()).toEqual(['host-fixture', 'host-idle']);
    for (const s of servers) expect([s.source, s.registered]).toEqual(['span', true]);
  });

  it('reports the sh -c exec of the busy server with pid, ppid, argv and uid', async () => {
    const exec = await until('exec event', () => of('host-fixture').find((e): e is ProcessEvent => e.kind === 'process' && e.action === 'exec' && e.pid === acts.shPid));
    expect(exec.ppid).toBe(fixturePid);
    expect(exec.argv).toEqual(['sh', '-c', 'sleep 4']);
    expect(exec.uid).toBe(process.getuid!());
    expect(exec.euid).toBe(process.geteuid!());
  });

  it('reports the 0.0.0.0 listener of the busy server', async () => {
    const listen = await until('listen event', () => of('host-fixture').find((e): e is ProcessEvent => e.kind === 'process' && e.action === 'listen' && e.listen?.port === acts.listenPort));
    expect(listen.listen).toEqual({ address: '0.0.0.0', port: acts.listenPort, protocol: 'tcp' });
    expect(listen.pid).toBe(fixturePid);
  });

  it('reports the connection, the new loopback destination and the exact bytes sent', async () => {
    const isTarget = (e: McpEvent): e is NetworkEvent => e.kind === 'network' && e.remote.port === targetPort;
    const traffic = await until('traffic event', () => of('host-fixture').find((e): e is NetworkEvent => isTarget(e) && e.action === 'traffic' && e.bytesSent === SEND_BYTES));
    expect(received).toBe(SEND_BYTES);
    expect(traffic.remote.address).toBe('127.0.0.1');
    expect(traffic.scope).toBe('loopback');
    expect(traffic.protocol).toBe('tcp');
    expect(traffic.pid).toBe(fixturePid);
    const actions = of('host-fixture').filter(isTarget).map((e) => e.action);
    expect(actions).toContain('connect');
    expect(actions).toContain('new_destination');
  });

  it('reports the canary read, attributed to the busy server by I/O timing', async () => {
    const read = await until('canary read', () => sink.items.find((e): e is FileEvent => e.kind === 'file' && e.canary === true && e.action === 'read'));
    expect(read.path).toBe(canaryPath);
    expect(read.sensitive).toBe(true);
    expect(read.server.name).toBe('host-fixture');
    expect(read.confidence).toBeGreaterThanOrEqual(0.6);
    expect(read.attribution).toBe('io_timing');
  });

  it('samples both servers: CPU, RSS, threads, descriptors, children', async () => {
    const sample = await until('sample with the sh child', () => of('host-fixture').find((e): e is ProcessEvent => e.kind === 'process' && e.action === 'sample' && (e.children ?? 0) >= 1));
    expect(sample.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(sample.threads).toBeGreaterThan(1);
    expect(sample.openFds).toBeGreaterThan(3);
    expect(sample.cpuPercent).toBeGreaterThanOrEqual(0);
  });

  it('reports nothing for the idle server beside it but samples (and root, when it runs as root)', async () => {
    // Give the receivers several more samples in which the idle server could misbehave.
    await new Promise((r) => setTimeout(r, 800));
    const actions = new Set(of('host-idle').map((e) => `${e.kind}:${e.kind === 'mcp' ? e.method : e.action}`));
    const allowed = new Set(['process:sample', ...(process.geteuid!() === 0 ? ['process:root'] : [])]);
    expect([...actions].filter((a) => !allowed.has(a))).toEqual([]);
    expect(actions.has('process:sample')).toBe(true);
  });

  it('shows host events in the admin API by kind', async () => {
    const res = await fetch(`http://127.0.0.1:${daemon.adminAddress().port}/api/events?kind=network&limit=1000`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('host-fixture');
    expect(text).not.toContain('host-idle');
  });
});
