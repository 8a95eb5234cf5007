import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SinkConsumer } from '../../src/component/component.js';
import { fileReceiverSchema, processReceiverSchema } from '../../src/config/schema.js';
import type { FileEvent, McpEvent, ProcessEvent } from '../../src/pipeline/events.js';
import { ServerRegistry } from '../../src/pipeline/server-registry.js';
import { FileReceiver, type WatchBackend } from '../../src/receiver/file/receiver.js';
import { ProcAccessError, ProcFs } from '../../src/receiver/process/procfs.js';
import { ProcessReceiver } from '../../src/receiver/process/receiver.js';
import { Metrics } from '../../src/telemetry/metrics.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A logger whose warnings the test can count. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), warnings: () => lines.filter((l) => l.level === 40) };
}

/** A fake /proc tree: real files and symlinks in a temporary directory. */
class FakeProc {
  readonly root = mkdtempSync(join(tmpdir(), 'mcpwatch-fakeproc-'));
  constructor() {
    dirs.push(this.root);
    this.add(1, 0, ['/sbin/init']);
    mkdirSync(join(this.root, 'self', 'net'), { recursive: true });
    writeFileSync(join(this.root, 'self', 'stat'), '1 (self) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0');
  }

  add(pid: number, ppid: number, argv: string[], opts: { start?: number; uid?: number; euid?: number; fds?: string[] } = {}): void {
    const dir = join(this.root, String(pid));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'fd'), { recursive: true });
    mkdirSync(join(dir, 'net'), { recursive: true });
    const comm = (argv[0] ?? '?').split('/').pop()!.slice(0, 15);
    writeFileSync(join(dir, 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 0 0 0 0 0 5 5 0 0 20 0 3 0 ${opts.start ?? 1000} 1000000 2000`);
    this.setUid(pid, opts.uid ?? 1000, opts.euid ?? opts.uid ?? 1000);
    writeFileSync(join(dir, 'cmdline'), argv.join('\0') + '\0');
    writeFileSync(join(dir, 'io'), 'rchar: 0\nwchar: 0\n');
    for (const t of ['tcp', 'tcp6', 'udp', 'udp6']) writeFileSync(join(dir, 'net', t), '  sl  local_address rem_address   st\n');
    (opts.fds ?? ['/dev/null']).forEach((target, i) => symlinkSync(target, join(dir, 'fd', String(i))));
  }

  setUid(pid: number, uid: number, euid: number): void {
    writeFileSync(join(this.root, String(pid), 'status'), `Name:\tx\nUid:\t${uid}\t${euid}\t${euid}\t${euid}\nGid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
  }

  remove(pid: number): void {
    rmSync(join(this.root, String(pid)), { recursive: true, force: true });
  }
}

function processSetup(procfs: ProcFs, overrides: Record<string, unknown> = {}, servers: { name: string; command?: string }[] = []) {
  const metrics = new Metrics();
  const log = capturingLogger();
  const config = processReceiverSchema.parse({ intervalSeconds: 60, ...overrides });
  const registry = new ServerRegistry({ procfs, servers, discovery: config.discovery, logger: log.logger, metrics });
  const sink = new SinkConsumer<McpEvent>();
  const receiver = new ProcessReceiver({ path: 'receivers.process', logger: log.logger, metrics }, config, sink, registry);
  const events = (action: ProcessEvent['action']) => sink.items.filter((e): e is ProcessEvent => e.kind === 'process' && e.action === action);
  return { metrics, log, registry, sink, receiver, events };
}

describe('process receiver faults and detections (fake /proc)', () => {
  it('survives a descendant that exits mid-sample, then reports its exit', async () => {
    const proc = new FakeProc();
    proc.add(100, 1, ['node', 'server.js']);
    proc.add(101, 100, ['sh', '-c', 'x']);
    class Vanishing extends ProcFs {
      vanish = false;
      override status(pid: number) {
        if (this.vanish && pid === 101) proc.remove(101); // exits between stat and status
        return super.status(pid);
      }
    }
    const procfs = new Vanishing(proc.root);
    const t = processSetup(procfs);
    t.registry.register(100, { id: 's1', name: 'srv' });
    await t.receiver.sampleNow();
    procfs.vanish = true;
    await t.receiver.sampleNow();
    await t.receiver.sampleNow();
    expect(t.events('sample')).toHaveLength(3);
    expect(t.events('exit').map((e) => e.pid)).toEqual([101]);
  });

  it('degrades on /proc entries of another user: warns once, counts, marks the sample', async () => {
    const proc = new FakeProc();
    proc.add(200, 1, ['node', 'a.js']);
    proc.add(201, 200, ['node', 'b.js']);
    class Denying extends ProcFs {
      override fds(pid: number) {
        if (pid === 201) throw new ProcAccessError(`${this.root}/201/fd`, 'EACCES');
        return super.fds(pid);
      }
    }
    const t = processSetup(new Denying(proc.root));
    t.registry.register(200, { id: 's2', name: 'srv' });
    await t.receiver.sampleNow();
    await t.receiver.sampleNow();
    const samples = t.events('sample');
    expect(samples.map((s) => s.unreadable)).toEqual([1, 1]);
    expect(t.log.warnings().filter((w) => String(w.msg).includes('another user'))).toHaveLength(1);
    const metric = await t.metrics.registry.getSingleMetricAsString('mcpwatch_host_proc_read_errors_total');
    expect(metric).toMatch(/reason="denied"} [1-9]/);
  });

  it('reports a uid change with the previous ids, and root once; not for a steady unprivileged server', async () => {
    const proc = new FakeProc();
    proc.add(300, 1, ['node', 'changes.js'], { uid: 1000 });
    proc.add(310, 1, ['node', 'steady.js'], { uid: 1000 });
    const t = processSetup(new ProcFs(proc.root));
    t.registry.register(300, { id: 'changer', name: 'changer' });
    t.registry.register(310, { id: 'steady', name: 'steady' });
    await t.receiver.sampleNow();
    proc.setUid(300, 1000, 0);
    await t.receiver.sampleNow();
    await t.receiver.sampleNow();
    expect(t.events('uid_change').map((e) => [e.server.id, e.previous, e.uid, e.euid])).toEqual([['changer', { uid: 1000, euid: 1000 }, 1000, 0]]);
    expect(t.events('root').map((e) => e.server.id)).toEqual(['changer']);
  });

  it('reports a restart loop at the configured number of starts, not before', async () => {
    const proc = new FakeProc();
    const t = processSetup(new ProcFs(proc.root), { restartLoop: { windowSeconds: 300, starts: 3 } });
    for (let i = 0; i < 3; i++) {
      proc.add(400 + i, 1, ['node', 'flaky.js'], { start: 5000 + i });
      t.registry.register(400 + i, { id: 'flaky', name: 'flaky' });
      await t.receiver.sampleNow();
      proc.remove(400 + i);
      await t.receiver.sampleNow();
      expect(t.events('restart_loop')).toHaveLength(i < 2 ? 0 : 1);
    }
    expect(t.events('restart_loop')[0]?.restarts).toEqual({ count: 3, windowSeconds: 300 });
  });

  it('discovers unregistered MCP servers and matches configured ones; ignores other processes and server children', async () => {
    const proc = new FakeProc();
    proc.add(500, 1, ['npx', '-y', '@modelcontextprotocol/server-filesystem', '/data']);
    proc.add(501, 500, ['node', '/root/.npm/_npx/1/node_modules/.bin/mcp-server-filesystem', '/data']);
    proc.add(510, 1, ['/usr/bin/python3', '-m', 'http.server']);
    proc.add(520, 1, ['/opt/tools/weather', '--stdio']);
    const t = processSetup(new ProcFs(proc.root), {}, [{ name: 'weather', command: 'weather --stdio' }]);
    t.registry.snapshot();
    const servers = t.registry.list().map((s) => [s.rootPid, s.identity.name, s.source, s.registered]);
    expect(servers.sort()).toEqual([
      [500, '@modelcontextprotocol/server-filesystem', 'discovery', false],
      [520, 'weather', 'config', true],
    ]);
    await t.receiver.sampleNow();
    const discovered = t.events('sample').find((e) => e.pid === 500);
    expect(discovered?.server).toMatchObject({ registered: false, source: 'discovery' });
    expect(discovered?.children).toBe(1);
  });

  it('lets a span registration take over a discovered tree (npx -> node)', () => {
    const proc = new FakeProc();
    proc.add(600, 1, ['npx', '-y', '@modelcontextprotocol/server-memory']);
    proc.add(601, 600, ['node', '/x/node_modules/@modelcontextprotocol/server-memory/dist/index.js']);
    const t = processSetup(new ProcFs(proc.root));
    t.registry.snapshot();
    t.registry.consume([{ kind: 'mcp', server: { id: 'mem', name: 'memory', pid: 601 } } as McpEvent]);
    t.registry.snapshot();
    expect(t.registry.list().map((s) => [s.rootPid, s.identity.id, s.source, s.registered])).toEqual([[600, 'mem', 'span', true]]);
  });
});

class FakeWatcher extends EventEmitter implements WatchBackend {
  added: string[] = [];
  add(paths: string | string[]) {
    this.added.push(...[paths].flat());
  }
  unwatch() {}
  async close() {}
}

function fileSetup(home: string, overrides: Record<string, unknown> = {}, watcher?: FakeWatcher) {
  const metrics = new Metrics();
  const log = capturingLogger();
  const proc = new FakeProc();
  const registry = new ServerRegistry({ procfs: new ProcFs(proc.root), logger: log.logger, metrics });
  const sink = new SinkConsumer<McpEvent>();
  const config = fileReceiverSchema.parse({ home, sampleIntervalSeconds: 60, sensitivePaths: ['~/.ssh', '~/.netrc'], ...overrides });
  const receiver = new FileReceiver({ path: 'receivers.file', logger: log.logger, metrics }, config, sink, { registry, ...(watcher ? { watcherFactory: () => watcher } : {}) });
  const unwatched = async (reason: string) => {
    const text = await metrics.registry.getSingleMetricAsString('mcpwatch_file_unwatched_paths');
    return Number(new RegExp(`reason="${reason}"} (\\d+)`).exec(text)?.[1]);
  };
  const files = () => sink.items.filter((e): e is FileEvent => e.kind === 'file');
  return { metrics, log, receiver, sink, unwatched, files };
}

async function waitFor(probe: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!probe()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('file receiver faults', () => {
  it('counts a missing path, watches it once created, and again after delete and re-create', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcpwatch-home-'));
    dirs.push(home);
    const t = fileSetup(home);
    await t.receiver.start();
    try {
      expect(await t.unwatched('missing')).toBe(2);
      expect(t.log.warnings().filter((w) => String(w.msg).includes('do not exist'))).toHaveLength(1);
      writeFileSync(join(home, '.netrc'), 'machine x login y password z\n');
      await t.receiver.sampleNow();
      expect(await t.unwatched('missing')).toBe(1);
      expect(t.files().map((e) => [e.action, e.path, e.sensitive])).toEqual([['create', join(home, '.netrc'), true]]);
      await new Promise((r) => setTimeout(r, 200));
      rmSync(join(home, '.netrc'));
      await waitFor(() => t.files().some((e) => e.action === 'delete'));
      expect(await t.unwatched('missing')).toBe(2);
      writeFileSync(join(home, '.netrc'), 'again\n');
      await t.receiver.sampleNow();
      expect(t.files().filter((e) => e.action === 'create')).toHaveLength(2);
      expect(await t.unwatched('missing')).toBe(1);
    } finally {
      await t.receiver.shutdown();
    }
  });

  it('reports inotify exhaustion (ENOSPC) once, as unwatched paths, and keeps sampling', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcpwatch-home-'));
    dirs.push(home);
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.netrc'), 'x');
    const watcher = new FakeWatcher();
    const t = fileSetup(home, {}, watcher);
    await t.receiver.start();
    try {
      expect(await t.unwatched('inotify_limit')).toBe(0);
      const enospc = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
      watcher.emit('error', enospc);
      watcher.emit('error', enospc);
      expect(await t.unwatched('inotify_limit')).toBe(2);
      expect(t.log.warnings().filter((w) => String(w.msg).includes('inotify watch limit'))).toHaveLength(1);
      await t.receiver.sampleNow();
      expect(t.receiver.unwatched().length).toBe(0);
    } finally {
      await t.receiver.shutdown();
    }
  });

  it('never overwrites a real file where a canary was configured', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcpwatch-home-'));
    dirs.push(home);
    mkdirSync(join(home, '.aws'));
    writeFileSync(join(home, '.aws', 'credentials'), 'REAL\n');
    const t = fileSetup(home, { canaries: [{ path: '~/.aws/credentials', kind: 'aws' }] });
    await t.receiver.start();
    try {
      expect(readFileSync(join(home, '.aws', 'credentials'), 'utf8')).toBe('REAL\n');
      expect(await t.unwatched('canary_conflict')).toBe(1);
    } finally {
      await t.receiver.shutdown();
    }
  });

  it('does not report the folders it creates to plant a canary as acts of a server', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcpwatch-home-'));
    dirs.push(home);
    const t = fileSetup(home, { canaries: [{ path: '~/.ssh/id_ed25519', kind: 'ssh' }] });
    await t.receiver.start();
    try {
      expect(existsSync(join(home, '.ssh', 'id_ed25519'))).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      await t.receiver.sampleNow();
      expect(t.files().filter((e) => e.path === join(home, '.ssh') || e.path.startsWith(join(home, '.ssh') + '/'))).toEqual([]);
      // A folder created by someone else afterwards is still reported.
      mkdirSync(join(home, '.ssh', 'keys.d'));
      await new Promise((r) => setTimeout(r, 500));
      await t.receiver.sampleNow();
      expect(t.files().map((e) => [e.action, e.path])).toContainEqual(['create', join(home, '.ssh', 'keys.d')]);
    } finally {
      await t.receiver.shutdown();
    }
  });

  it('reports a canary read, and nothing for a canary nobody reads', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mcpwatch-home-'));
    dirs.push(home);
    const t = fileSetup(home, { canaries: [{ path: '~/.aws/credentials', kind: 'aws' }, { path: '~/.config/untouched.env', kind: 'env' }] });
    await t.receiver.start();
    try {
      const content = readFileSync(join(home, '.aws', 'credentials'), 'utf8');
      expect(content).toMatch(/aws_access_key_id = AKIA/);
      await t.receiver.sampleNow();
      const reads = t.files().filter((e) => e.action === 'read');
      expect(reads.map((e) => [e.path, e.canary, e.server.id, e.confidence])).toEqual([[join(home, '.aws', 'credentials'), true, 'unattributed', 0]]);
      // Re-armed: a second sample without another read reports nothing new.
      await t.receiver.sampleNow();
      expect(t.files().filter((e) => e.action === 'read')).toHaveLength(1);
    } finally {
      await t.receiver.shutdown();
    }
  });
});
