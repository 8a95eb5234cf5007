/**
 * Tap overhead: ping-pong JSON-RPC round trips through `mcpwatch wrap` versus straight to the server,
 * with 1 KB and 1 MB results, after warm-up. Reports added latency (p50, p99) and the tap's CPU time per
 * 1,000 messages, with the daemon up (a separate `mcpwatch start` process) and down (nothing listening).
 *
 *   node --import tsx bench/tap-latency.ts [--json]
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SERVER = join(ROOT, 'test', 'fixtures', 'servers', 'sized-result-server.mjs');
const CLI = join(ROOT, 'src', 'cli', 'bin.ts');
const CLOCK_TICKS = 100; // USER_HZ on Linux

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

class LineClient {
  private buffer: Buffer[] = [];
  private waiter: ((line: void) => void) | undefined;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.includes(0x0a)) {
        this.buffer = [];
        const w = this.waiter;
        this.waiter = undefined;
        w?.();
      } else {
        this.buffer.push(d);
      }
    });
  }
  /** One request, waits for the response line; returns the round trip in microseconds. */
  async roundTrip(id: number): Promise<number> {
    const start = process.hrtime.bigint();
    const done = new Promise<void>((r) => (this.waiter = r));
    this.child.stdin!.write(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"bench","arguments":{"n":${id}}}}\n`);
    await done;
    return Number(process.hrtime.bigint() - start) / 1000;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(args: string[], count: number, warmup: number, cpuPid?: () => number) {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const client = new LineClient(child);
  for (let i = 0; i < warmup; i++) await client.roundTrip(i);
  const pid = cpuPid ? cpuPid() : child.pid!;
  const cpu0 = cpuSeconds(pid);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await client.roundTrip(warmup + i));
  const cpu = cpuSeconds(pid) - cpu0;
  child.stdin!.end();
  await new Promise((r) => child.once('exit', r));
  samples.sort((a, b) => a - b);
  // Each round trip is two messages (request and response) through the tap.
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), cpuMsPer1000Messages: (cpu * 1000 * 1000) / (2 * count) };
}

async function main() {
  const json = process.argv.includes('--json');
  const otlpPort = await freePort();
  const adminPort = await freePort();
  const sizes = [
    { label: '1 KB', bytes: 1024, count: 3000, warmup: 500 },
    { label: '1 MB', bytes: 1024 * 1024, count: 300, warmup: 50 },
  ];
  const rows: Array<Record<string, string | number>> = [];
  for (const daemonState of ['up', 'down'] as const) {
    let daemon: ChildProcessWithoutNullStreams | undefined;
    if (daemonState === 'up') {
      daemon = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--set', `receivers.otlp.endpoint=127.0.0.1:${otlpPort}`, '--set', `admin.endpoint=127.0.0.1:${adminPort}`]);
      daemon.stdout.resume();
      for (;;) {
        const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
        if (ready) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const s of sizes) {
      const server = [SERVER, String(s.bytes)];
      const direct = await measure(server, s.count, s.warmup);
      const tapArgs = ['--import', 'tsx', CLI, 'wrap', '--endpoint', `127.0.0.1:${otlpPort}`, '--', process.execPath, ...server];
      const tapped = await measure(tapArgs, s.count, s.warmup);
      rows.push({
        daemon: daemonState,
        result: s.label,
        'direct p50 us': Math.round(direct.p50),
        'tap p50 us': Math.round(tapped.p50),
        'added p50 us': Math.round(tapped.p50 - direct.p50),
        'direct p99 us': Math.round(direct.p99),
        'tap p99 us': Math.round(tapped.p99),
        'added p99 us': Math.round(tapped.p99 - direct.p99),
        'tap CPU ms / 1000 msgs': Number(tapped.cpuMsPer1000Messages.toFixed(1)),
      });
    }
    daemon?.kill('SIGTERM');
    if (daemon) await new Promise((r) => daemon!.once('exit', r));
  }
  if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else console.table(rows);
}

await main();
