/**
 * Open-loop OTLP/HTTP load generator, run as its own process by bench/ingest.ts.
 *
 * Requests are scheduled by the clock (request i is due at `startAt + i / rate`), never by the previous
 * answer: a slow daemon does not slow the offered load down, it makes requests wait. Latency is taken from
 * the scheduled time (so waiting for a free socket counts, no coordinated omission) and, separately, from
 * the moment the request was handed to node:http.
 *
 * Usage: node --import tsx bench/load-generator.ts <plan.json>; prints one JSON line (LoadResult) at the end.
 */
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stampTraceIds, traceIdOffsets } from './unique-ids.js';

export interface LoadPlan {
  /** Full URL of `POST /v1/traces`. */
  url: string;
  encoding: 'protobuf' | 'json';
  /** Directory holding the body files, and their names (sent round-robin). */
  dir: string;
  files: string[];
  /** Offered requests per second. */
  rate: number;
  durationSeconds: number;
  /** Epoch milliseconds at which request 0 is due (lets the orchestrator align its measurement window). */
  startAt: number;
  /** Concurrent connections; requests beyond it wait in the agent (and their latency shows it). */
  maxSockets: number;
  /** A request without an answer after this long counts as a timeout. */
  timeoutMs: number;
  /** After the last send, how long to wait for outstanding answers before giving up on them. */
  graceMs: number;
}

export interface LoadResult {
  scheduled: number;
  /** Requests handed to node:http (all scheduled ones, unless the process fell behind the clock). */
  sent: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /** Requests that ended without an answer, by error code (timeout, ECONNRESET, ...). */
  errors: Record<string, number>;
  /** Still outstanding when the grace period ended: on a connection, or still waiting for a free socket. */
  unanswered: number;
  unansweredWaitingForSocket: number;
  /** Sent requests per second over the sending window, as achieved. */
  achievedRate: number;
  /** Latency of answered requests, ms: from the scheduled time, and from the send call. */
  latencyFromScheduleMs: Percentiles;
  latencyFromSendMs: Percentiles;
  /**
   * Latency by HTTP status, ms, from the moment the request got its socket (and wrote its body) to the answer:
   * what the daemon's side took (a new connection's wait in the accept queue included), without the wait for
   * a free socket in this process.
   */
  latencyFromSocketMsByStatus: Record<string, Percentiles>;
  /** CPU seconds this load generator used (it shares the machine with the daemon). */
  cpuSeconds: number;
  wallSeconds: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

async function run(plan: LoadPlan): Promise<LoadResult> {
  const bodies = plan.files.map((f) => readFileSync(join(plan.dir, f)));
  const idOffsets = bodies.map((b) => traceIdOffsets(plan.encoding, b));
  const url = new URL(plan.url);
  const agent = new Agent({ keepAlive: true, maxSockets: plan.maxSockets, maxFreeSockets: plan.maxSockets, scheduling: 'fifo' });
  const contentType = plan.encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json';
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const fromSchedule: number[] = [];
  const fromSend: number[] = [];
  const fromSocket: Record<string, number[]> = {};
  const total = Math.floor(plan.rate * plan.durationSeconds);
  const intervalMs = 1000 / plan.rate;
  let sent = 0;
  let outstanding = 0;
  let waitingForSocket = 0;
  let lastSendAt = 0;
  const cpuStart = process.cpuUsage();

  await new Promise<void>((r) => setTimeout(r, Math.max(0, plan.startAt - Date.now())));
  // performance.now() for intervals; startAt is only the shared epoch anchor.
  const t0 = performance.now() - Math.max(0, Date.now() - plan.startAt);
  const wallStart = performance.now();

  const send = (i: number) => {
    const template = bodies[i % bodies.length]!;
    const due = t0 + i * intervalMs;
    const sentAt = performance.now();
    outstanding++;
    waitingForSocket++;
    let done = false;
    let onSocket = false;
    let socketAt = NaN;
    const finish = (key: string, isStatus: boolean) => {
      if (done) return;
      done = true;
      outstanding--;
      if (!onSocket) {
        onSocket = true;
        waitingForSocket--;
      }
      const bucket = isStatus ? statuses : errors;
      bucket[key] = (bucket[key] ?? 0) + 1;
      if (isStatus) {
        const now = performance.now();
        fromSchedule.push(now - due);
        fromSend.push(now - sentAt);
        (fromSocket[key] ??= []).push(now - socketAt);
      }
    };
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { 'Content-Type': contentType, 'Content-Length': template.length },
        timeout: plan.timeoutMs,
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => finish(String(res.statusCode), true));
        res.on('error', () => finish(String(res.statusCode), true));
      },
    );
    req.once('socket', () => {
      socketAt = performance.now();
      // The body is copied and stamped only now: under overload most requests wait for a socket, and a
      // copy each at send time would make this process, not the daemon, the bottleneck. A copy at all,
      // because node:http may still hold an earlier send of the same body.
      const body = Buffer.from(template);
      stampTraceIds(plan.encoding, body, idOffsets[i % bodies.length]!, i + 1);
      req.end(body);
      if (onSocket) return;
      onSocket = true;
      waitingForSocket--;
    });
    req.on('timeout', () => {
      finish('timeout', false);
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message, false));
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      const due = Math.min(total, Math.floor(elapsed / intervalMs) + 1);
      while (sent < due) send(sent++);
      if (sent >= total || elapsed >= plan.durationSeconds * 1000) {
        lastSendAt = performance.now();
        resolve();
        return;
      }
      // A 1 ms timer is as fine as Node schedules; anything due meanwhile goes out in the next tick.
      setTimeout(tick, Math.min(1, Math.max(0, t0 + sent * intervalMs - performance.now())));
    };
    tick();
  });

  const graceEnd = performance.now() + plan.graceMs;
  while (outstanding > 0 && performance.now() < graceEnd) await new Promise((r) => setTimeout(r, 20));
  const unanswered = outstanding;
  const unansweredWaitingForSocket = waitingForSocket;
  const cpu = process.cpuUsage(cpuStart);
  agent.destroy();
  return {
    scheduled: total,
    sent,
    statuses,
    errors,
    unanswered,
    unansweredWaitingForSocket,
    achievedRate: sent / ((lastSendAt - wallStart) / 1000),
    latencyFromScheduleMs: percentiles(fromSchedule),
    latencyFromSendMs: percentiles(fromSend),
    latencyFromSocketMsByStatus: Object.fromEntries(Object.entries(fromSocket).map(([status, v]) => [status, percentiles(v)])),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: (performance.now() - wallStart) / 1000,
  };
}

const planPath = process.argv[2];
if (!planPath) {
  process.stderr.write('usage: load-generator.ts <plan.json>\n');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planPath, 'utf8')) as LoadPlan;
run(plan).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    // Sockets destroyed mid-request may still hold handles; the result is out, so leave now.
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`load generator failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
