/**
 * Tap overhead: ping-pong JSON-RPC round trips through `mcpwatch wrap` versus straight to the server,
 * with 1 KB and 1 MB results, after warm-up. Reports added latency (p50, p99) and each relay's CPU time
 * per 1,000 messages, with the daemon up (a separate `mcpwatch start` process) and down (nothing
 * listening on the endpoint).
 *
 *   npm run build && node --import tsx bench/tap-latency.ts [--json] [--sizes=1kb,1mb] [--tap-node-args="..."]
 *
 * The tap runs from the build (`dist/src/cli/bin.js`, as installed), so build first; the bench refuses a
 * build older than the tap's sources. The daemon runs from source.
 *
 * Floors: the same round trips through a relay that only forwards bytes, in Node (stdin/stdout piped to
 * the child, no observation) and in C (a poll/read/write loop, compiled here with the system C compiler
 * when there is one). They show what any extra process on the byte path costs on this machine, so the
 * tap's figures can be read against what is possible at all.
 *
 * Noise: the machine is shared, so the variants are not measured one after another (a neighbour's burst
 * would land on one of them only) but interleaved: every variant's server runs at once, and each round
 * goes through all variants in a rotating order. Percentiles are then compared within one window of time.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SERVER = join(ROOT, 'test', 'fixtures', 'servers', 'sized-result-server.mjs');
const SOURCE_CLI = join(ROOT, 'src', 'cli', 'bin.ts');
const BUILT_CLI = join(ROOT, 'dist', 'src', 'cli', 'bin.js');
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** The Node floor: the child's stdio piped through, nothing else. */
const NODE_RELAY = `
const { spawn } = require('node:child_process');
const [cmd, ...args] = process.argv.slice(1);
const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.pipe(child.stdin);
child.stdout.pipe(process.stdout);
child.on('exit', (code) => { process.exitCode = code ?? 1; });
`;

/** The non-Node floor: poll both directions, read up to 1 MiB, write it all, nothing else. */
const C_RELAY = `
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static char buf[1 << 20];
static int copy(int from, int to) {
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return -1;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w < 0) return -1;
    off += w;
  }
  return 0;
}
int main(int argc, char **argv) {
  int in[2], out[2];
  if (argc < 2 || pipe(in) || pipe(out)) return 2;
  signal(SIGPIPE, SIG_IGN);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0); dup2(out[1], 1);
    close(in[0]); close(in[1]); close(out[0]); close(out[1]);
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  close(in[0]); close(out[1]);
  struct pollfd fds[2] = {{0, POLLIN, 0}, {out[0], POLLIN, 0}};
  while (fds[1].fd >= 0) {
    if (poll(fds, 2, -1) < 0) break;
    if (fds[0].revents && copy(0, in[1]) < 0) { close(in[1]); fds[0].fd = -1; }
    if (fds[1].revents && copy(out[0], 1) < 0) fds[1].fd = -1;
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
`;

interface Variant {
  key: string;
  label: string;
  argv: (serverArgs: string[]) => string[];
  /** Whether its CPU time is the relay's (the first process), reported per 1,000 messages. */
  relay: boolean;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => join(dir, f));
}

/** Refuses a build older than the tap's sources: the bench would measure old code. */
function assertBuildFresh(): void {
  const built = (() => {
    try {
      return statSync(BUILT_CLI).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const sources = [...filesUnder(join(ROOT, 'src', 'tap'), '.ts'), join(ROOT, 'src', 'cli', 'commands', 'wrap.ts')];
  for (const src of sources) {
    const out = join(ROOT, 'dist', relative(ROOT, src)).replace(/\.ts$/, '.js');
    let outMs = 0;
    try {
      outMs = statSync(out).mtimeMs;
    } catch {
      // missing
    }
    if (built === 0 || outMs < statSync(src).mtimeMs) {
      throw new Error(`the build is older than ${relative(ROOT, src)}: run \`npm run build\` first`);
    }
  }
}

/** Compiles the C floor relay into `dir`; undefined when there is no C compiler. */
function buildCRelay(dir: string): string | undefined {
  const src = join(dir, 'relay.c');
  const bin = join(dir, 'relay');
  writeFileSync(src, C_RELAY);
  try {
    execFileSync(process.env['CC'] ?? 'cc', ['-O2', '-o', bin, src], { stdio: 'ignore' });
    return bin;
  } catch {
    return undefined;
  }
}

class LineClient {
  private waiter: (() => void) | undefined;
  readonly samples: number[] = [];
  private cpu0 = 0;
  cpuSeconds = 0;
  constructor(
    readonly variant: Variant,
    readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.includes(0x0a)) {
        const w = this.waiter;
        this.waiter = undefined;
        w?.();
      }
    });
  }
  /** One request, waits for the response line; returns the round trip in microseconds. */
  async roundTrip(id: number): Promise<number> {
    const done = new Promise<void>((r) => (this.waiter = r));
    const start = process.hrtime.bigint();
    this.child.stdin!.write(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"bench","arguments":{"n":${id}}}}\n`);
    await done;
    return Number(process.hrtime.bigint() - start) / 1000;
  }
  startCpu(): void {
    this.cpu0 = cpuSeconds(this.child.pid!);
  }
  stopCpu(): void {
    this.cpuSeconds = cpuSeconds(this.child.pid!) - this.cpu0;
  }
  async close(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode === null && this.child.signalCode === null) await new Promise((r) => this.child.once('exit', r));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measureSize(variants: Variant[], bytes: number, count: number, warmup: number) {
  const clients = variants.map((v) => new LineClient(v, spawn(v.argv([SERVER, String(bytes)])[0]!, v.argv([SERVER, String(bytes)]).slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })));
  try {
    const n = clients.length;
    let id = 0;
    for (let i = 0; i < warmup; i++) for (let k = 0; k < n; k++) await clients[(i + k) % n]!.roundTrip(id++);
    for (const c of clients) c.startCpu();
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < n; k++) {
        const c = clients[(i + k) % n]!;
        c.samples.push(await c.roundTrip(id++));
      }
    }
    for (const c of clients) c.stopCpu();
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return clients.map((c) => {
    const sorted = [...c.samples].sort((a, b) => a - b);
    // Each round trip is two messages (request and response) through the relay.
    return { variant: c.variant, p50: percentile(sorted, 50), p99: percentile(sorted, 99), cpuMsPer1000Messages: (c.cpuSeconds * 1e6) / (2 * count) };
  });
}

async function main() {
  const json = process.argv.includes('--json');
  const sizesArg = process.argv.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length) ?? '1kb,1mb';
  const tapNodeArgs = (process.argv.find((a) => a.startsWith('--tap-node-args='))?.slice('--tap-node-args='.length) ?? '').split(' ').filter(Boolean);
  assertBuildFresh();
  const tmp = mkdtempSync(join(tmpdir(), 'mcpwatch-bench-'));
  const otlpPort = await freePort();
  const adminPort = await freePort();
  const deadPort = await freePort();
  const loadBefore = loadavg();
  const cRelay = buildCRelay(tmp);

  const daemon = spawn(process.execPath, ['--import', 'tsx', SOURCE_CLI, 'start', '--set', `receivers.otlp.endpoint=127.0.0.1:${otlpPort}`, '--set', `admin.endpoint=127.0.0.1:${adminPort}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const rows: Array<Record<string, string | number>> = [];
  try {
    for (let tries = 0; ; tries++) {
      const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      if (tries > 300 || daemon.exitCode !== null) throw new Error('the daemon did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const node = (args: string[]) => [process.execPath, ...args];
    const wrap = (port: number) => (server: string[]) => node([...tapNodeArgs, BUILT_CLI, 'wrap', '--endpoint', `127.0.0.1:${port}`, '--', process.execPath, ...server]);
    const variants: Variant[] = [
      { key: 'direct', label: 'direct', argv: (s) => node(s), relay: false },
      { key: 'floor-node', label: 'floor: bare Node relay', argv: (s) => node(['-e', NODE_RELAY, process.execPath, ...s]), relay: true },
      ...(cRelay ? [{ key: 'floor-c', label: 'floor: C relay', argv: (s: string[]) => [cRelay, process.execPath, ...s], relay: true }] : []),
      { key: 'tap-up', label: 'wrap, daemon up', argv: wrap(otlpPort), relay: true },
      { key: 'tap-down', label: 'wrap, daemon down', argv: wrap(deadPort), relay: true },
    ];
    const sizes = [
      { key: '1kb', label: '1 KB', bytes: 1024, count: 5000, warmup: 500 },
      { key: '1mb', label: '1 MB', bytes: 1024 * 1024, count: 1000, warmup: 50 },
    ].filter((s) => sizesArg.split(',').includes(s.key));
    for (const s of sizes) {
      const results = await measureSize(variants, s.bytes, s.count, s.warmup);
      const direct = results.find((r) => r.variant.key === 'direct')!;
      for (const r of results) {
        rows.push({
          result: s.label,
          path: r.variant.label,
          'p50 us': Math.round(r.p50),
          'added p50 us': r === direct ? '' : Math.round(r.p50 - direct.p50),
          'p99 us': Math.round(r.p99),
          'added p99 us': r === direct ? '' : Math.round(r.p99 - direct.p99),
          'CPU ms / 1000 msgs': r.variant.relay ? Number(r.cpuMsPer1000Messages.toFixed(1)) : '',
        });
      }
    }
  } finally {
    daemon.kill('SIGTERM');
    if (daemon.exitCode === null) await new Promise((r) => daemon.once('exit', r));
    rmSync(tmp, { recursive: true, force: true });
  }
  const load = { before: loadBefore.map((l) => l.toFixed(2)).join(' / '), after: loadavg().map((l) => l.toFixed(2)).join(' / ') };
  if (json) process.stdout.write(`${JSON.stringify({ load, cRelay: cRelay !== undefined, rows }, null, 2)}\n`);
  else {
    console.log(`load average (1 / 5 / 15 min): ${load.before} before, ${load.after} after; C floor ${cRelay ? 'built' : 'skipped (no C compiler)'}`);
    console.table(rows);
  }
}

await main();
