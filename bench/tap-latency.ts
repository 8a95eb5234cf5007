/**
 * Tap overhead: ping-pong JSON-RPC round trips through `mcpwatch wrap` versus straight to the server,
 * with 1 KB and 1 MB results, after warm-up. Reports added latency (p50, p99) and each relay's CPU time
 * per 1,000 messages, with the daemon up (a separate `mcpwatch start` process) and down (nothing
 * listening on the endpoint).
 *
 *   npm run build && node --import tsx bench/tap-latency.ts [--json] [--sizes=1kb,1mb] [--tap-node-args="..."]
 *     [--variants=direct,floor-node,floor-c,tap-up,tap-down] [--block=10] [--compare-cli=OTHER/dist/src/cli/bin.js]
 *
 * `--variants` picks variants and their order; `--compare-cli` adds the taps of another build (e.g. a worktree
 * of the previous commit, built) as `cmp-up` / `cmp-down`, measured in the same interleaving: a before/after
 * comparison within one window of time.
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
 * goes through all variants in a rotating order, `--block` round trips each (10 by default). Percentiles
 * are then compared within one window of time. The first round trip of each visit is not counted: a tap
 * goes on working after it relayed a large message (hashing it, collecting garbage), and on two cores that
 * work slowed whichever variant came next. With one round trip per visit (`--block=0`, the old scheme)
 * each variant always followed the same one, so the tap measured after the other tap carried that tap's
 * leftovers: that, not the daemon, was the 1 MB "daemon down" gap (swapping the two taps' order swapped it).
 * Within a block, a tap's leftovers from its own previous round trip still count, as in real ping-pong.
 * The measuring client is a small C program when a compiler is there (see `C_CLIENT`).
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
/** Round trips measured per visit to a variant (after one unmeasured round trip); see "Noise" above. */
const DEFAULT_BLOCK = 10;

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

/**
 * The measuring client, when a C compiler is there: interleaved round trips over every variant's stdio
 * with blocking reads into one static buffer, so no garbage collector on the measuring side adds to the
 * tail (a Node client reading 1 MB per round trip collects often, and its pauses land on whichever
 * variant it is measuring). Without a compiler the bench measures with the Node client below.
 */
const C_CLIENT = `
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define MAXV 16
static char buf[1 << 22];
static int to[MAXV], from[MAXV];
static pid_t pids[MAXV];
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static long ticks(pid_t pid) {
  char path[64], stat[4096]; snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r"); if (!f) return -1;
  size_t n = fread(stat, 1, sizeof stat - 1, f); fclose(f); stat[n] = 0;
  char *p = strrchr(stat, ')'); if (!p) return -1;
  long ut = 0, st = 0; int field = 2;
  for (char *tok = strtok(p + 2, " "); tok; tok = strtok(NULL, " ")) {
    field++;
    if (field == 14) ut = atol(tok);
    if (field == 15) { st = atol(tok); break; }
  }
  return ut + st;
}
static double round_trip(int v, long id) {
  char req[256];
  int len = snprintf(req, sizeof req, "{\\"jsonrpc\\":\\"2.0\\",\\"id\\":%ld,\\"method\\":\\"tools/call\\",\\"params\\":{\\"name\\":\\"bench\\",\\"arguments\\":{\\"n\\":%ld}}}\\n", id, id);
  double t0 = now_us();
  if (write(to[v], req, (size_t)len) != len) { perror("write"); exit(1); }
  for (;;) {
    ssize_t n = read(from[v], buf, sizeof buf);
    if (n <= 0) { fprintf(stderr, "pingpong: command %d closed its stdout\\n", v); exit(1); }
    if (memchr(buf, '\\n', (size_t)n)) break;
  }
  return now_us() - t0;
}
int main(int argc, char **argv) {
  if (argc < 5) return 2;
  long count = atol(argv[1]), warmup = atol(argv[2]), block = atol(argv[3]);
  int nv = 0;
  signal(SIGPIPE, SIG_IGN);
  for (int i = 4; i < argc && nv < MAXV;) {
    int end = i; while (end < argc && strcmp(argv[end], "::") != 0) end++;
    argv[end < argc ? end : argc] = NULL;
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return 2;
    pid_t pid = fork();
    if (pid == 0) { dup2(in[0], 0); dup2(out[1], 1); close(in[0]); close(in[1]); close(out[0]); close(out[1]); execvp(argv[i], argv + i); _exit(127); }
    close(in[0]); close(out[1]);
    to[nv] = in[1]; from[nv] = out[0]; pids[nv] = pid; nv++;
    i = end + 1;
  }
  double *samples = malloc(sizeof(double) * (size_t)(count * nv));
  long id = 0;
  for (long i = 0; i < warmup; i++) for (int k = 0; k < nv; k++) round_trip((int)((i + k) % nv), id++);
  long t0[MAXV], filled[MAXV], trips[MAXV];
  for (int v = 0; v < nv; v++) { t0[v] = ticks(pids[v]); filled[v] = 0; trips[v] = 0; }
  if (block <= 0) {
    for (long i = 0; i < count; i++) for (int k = 0; k < nv; k++) { int v = (int)((i + k) % nv); samples[v * count + i] = round_trip(v, id++); }
    for (int v = 0; v < nv; v++) trips[v] = count;
  } else {
    for (long i = 0; filled[0] < count; i++) for (int k = 0; k < nv; k++) {
      int v = (int)((i + k) % nv);
      round_trip(v, id++);
      trips[v]++;
      for (long j = 0; j < block && filled[v] < count; j++) { samples[v * count + filled[v]++] = round_trip(v, id++); trips[v]++; }
    }
  }
  for (int v = 0; v < nv; v++) printf("cpu %d %ld %ld\\n", v, ticks(pids[v]) - t0[v], trips[v]);
  for (int v = 0; v < nv; v++) { printf("rt %d", v); for (long i = 0; i < count; i++) printf(" %.1f", samples[v * count + i]); printf("\\n"); }
  fflush(stdout);
  for (int v = 0; v < nv; v++) close(to[v]);
  for (int v = 0; v < nv; v++) waitpid(pids[v], NULL, 0);
  return 0;
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

/** Compiles a C program into `dir`; undefined when there is no C compiler. */
function buildC(dir: string, name: string, source: string): string | undefined {
  const src = join(dir, `${name}.c`);
  const bin = join(dir, name);
  writeFileSync(src, source);
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
  trips = 0;
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

interface Measured {
  variant: Variant;
  p50: number;
  p99: number;
  cpuMsPer1000Messages: number;
}

/** `trips`: every round trip the CPU time covers, the unmeasured first one of each block included. */
function summarise(variant: Variant, samples: number[], cpuSeconds: number, trips: number): Measured {
  const sorted = [...samples].sort((a, b) => a - b);
  // Each round trip is two messages (request and response) through the relay.
  return { variant, p50: percentile(sorted, 50), p99: percentile(sorted, 99), cpuMsPer1000Messages: (cpuSeconds * 1e6) / (2 * trips) };
}

/** Measures with the C client: one process drives every variant. */
async function measureWithC(client: string, variants: Variant[], bytes: number, count: number, warmup: number, block: number): Promise<Measured[]> {
  const argv: string[] = [String(count), String(warmup), String(block)];
  variants.forEach((v, i) => argv.push(...(i > 0 ? ['::'] : []), ...v.argv([SERVER, String(bytes)])));
  const proc = spawn(client, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  if (code !== 0) throw new Error(`the C client failed (exit ${code})`);
  const cpu = new Map<number, { seconds: number; trips: number }>();
  const samples = new Map<number, number[]>();
  for (const line of out.split('\n')) {
    const [kind, index, ...rest] = line.split(' ');
    if (kind === 'cpu') cpu.set(Number(index), { seconds: Number(rest[0]) / CLOCK_TICKS, trips: Number(rest[1]) });
    if (kind === 'rt') samples.set(Number(index), rest.map(Number));
  }
  return variants.map((v, i) => summarise(v, samples.get(i) ?? [], cpu.get(i)?.seconds ?? 0, cpu.get(i)?.trips ?? count));
}

async function measureWithNode(variants: Variant[], bytes: number, count: number, warmup: number, block: number): Promise<Measured[]> {
  const clients = variants.map((v) => new LineClient(v, spawn(v.argv([SERVER, String(bytes)])[0]!, v.argv([SERVER, String(bytes)]).slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })));
  try {
    const n = clients.length;
    let id = 0;
    for (let i = 0; i < warmup; i++) for (let k = 0; k < n; k++) await clients[(i + k) % n]!.roundTrip(id++);
    for (const c of clients) c.startCpu();
    for (let i = 0; clients[0]!.samples.length < count; i++) {
      for (let k = 0; k < n; k++) {
        const c = clients[(i + k) % n]!;
        if (block > 0) {
          await c.roundTrip(id++);
          c.trips++;
        }
        for (let j = 0; j < Math.max(1, block) && c.samples.length < count; j++) {
          c.samples.push(await c.roundTrip(id++));
          c.trips++;
        }
      }
    }
    for (const c of clients) c.stopCpu();
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return clients.map((c) => summarise(c.variant, c.samples, c.cpuSeconds, c.trips));
}

async function main() {
  const json = process.argv.includes('--json');
  const sizesArg = process.argv.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length) ?? '1kb,1mb';
  const variantsArg = process.argv.find((a) => a.startsWith('--variants='))?.slice('--variants='.length);
  const block = Number(process.argv.find((a) => a.startsWith('--block='))?.slice('--block='.length) ?? DEFAULT_BLOCK);
  const compareCli = process.argv.find((a) => a.startsWith('--compare-cli='))?.slice('--compare-cli='.length);
  const tapNodeArgs = (process.argv.find((a) => a.startsWith('--tap-node-args='))?.slice('--tap-node-args='.length) ?? '').split(' ').filter(Boolean);
  assertBuildFresh();
  const tmp = mkdtempSync(join(tmpdir(), 'mcpwatch-bench-'));
  const otlpPort = await freePort();
  const adminPort = await freePort();
  const deadPort = await freePort();
  const loadBefore = loadavg();
  const cRelay = buildC(tmp, 'relay', C_RELAY);
  const cClient = buildC(tmp, 'pingpong', C_CLIENT);

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
    const wrap =
      (port: number, cli = BUILT_CLI) =>
      (server: string[]) =>
        node([...tapNodeArgs, cli, 'wrap', '--endpoint', `127.0.0.1:${port}`, '--', process.execPath, ...server]);
    const allVariants: Variant[] = [
      { key: 'direct', label: 'direct', argv: (s) => node(s), relay: false },
      { key: 'floor-node', label: 'floor: bare Node relay', argv: (s) => node(['-e', NODE_RELAY, process.execPath, ...s]), relay: true },
      ...(cRelay ? [{ key: 'floor-c', label: 'floor: C relay', argv: (s: string[]) => [cRelay, process.execPath, ...s], relay: true }] : []),
      { key: 'tap-up', label: 'wrap, daemon up', argv: wrap(otlpPort), relay: true },
      { key: 'tap-down', label: 'wrap, daemon down', argv: wrap(deadPort), relay: true },
      ...(compareCli
        ? [
            { key: 'cmp-up', label: 'compare build, daemon up', argv: wrap(otlpPort, compareCli), relay: true },
            { key: 'cmp-down', label: 'compare build, daemon down', argv: wrap(deadPort, compareCli), relay: true },
          ]
        : []),
    ];
    // `--variants=a,b,...` picks variants and their order in a round (direct, the baseline, is added first if missing).
    const picked = variantsArg ? variantsArg.split(',') : allVariants.map((v) => v.key);
    if (!picked.includes('direct')) picked.unshift('direct');
    const variants = picked.map((k) => {
      const v = allVariants.find((x) => x.key === k);
      if (!v) throw new Error(`unknown variant ${k} (known: ${allVariants.map((x) => x.key).join(', ')})`);
      return v;
    });
    const sizes = [
      { key: '1kb', label: '1 KB', bytes: 1024, count: 5000, warmup: 500 },
      { key: '1mb', label: '1 MB', bytes: 1024 * 1024, count: 1000, warmup: 50 },
    ].filter((s) => sizesArg.split(',').includes(s.key));
    for (const s of sizes) {
      const results = cClient ? await measureWithC(cClient, variants, s.bytes, s.count, s.warmup, block) : await measureWithNode(variants, s.bytes, s.count, s.warmup, block);
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
  const client = cClient ? 'C' : 'Node';
  if (json) process.stdout.write(`${JSON.stringify({ load, client, cRelay: cRelay !== undefined, rows }, null, 2)}\n`);
  else {
    console.log(`load average (1 / 5 / 15 min): ${load.before} before, ${load.after} after; client: ${client}; C floor ${cRelay ? 'built' : 'skipped (no C compiler)'}`);
    console.table(rows);
  }
}

await main();
