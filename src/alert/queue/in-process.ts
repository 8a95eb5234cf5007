import { SinkError } from '../../component/errors.js';
import { Outbox } from './outbox.js';
import {
  backoffDelayMs,
  rateSpacingMs,
  type DeadLetter,
  type DeliveryEvents,
  type DeliveryJob,
  type DeliveryQueue,
  type RecordedIn,
  type RetryPolicy,
  type SinkWorkerSpec,
} from './types.js';

interface QueuedJob {
  job: DeliveryJob;
  attemptsMade: number;
  /** Unix ms before which the job is not tried (backoff). */
  notBefore: number;
}

interface SinkLane {
  spec: SinkWorkerSpec;
  waiting: QueuedJob[];
  active: number;
  /** Unix ms before which no request starts: `Retry-After`, and the per-second rate limit. */
  pausedUntil: number;
  nextStartAt: number;
  timer?: NodeJS.Timeout;
}

export interface InProcessQueueOptions extends RetryPolicy, DeliveryEvents {
  /** Directory of the fsynced outbox that makes this queue durable. */
  outboxDir: string;
}

/** Job ids remembered after delivery, so a job enqueued again soon after is not delivered twice. */
const RECENT_DONE = 10_000;

/**
 * The queue of the embedded defaults: one lane per sink in this process, made durable by the local outbox
 * (a job is fsynced before `enqueue` resolves and forgotten once delivered). Same behaviour as the BullMQ
 * queue: idempotent ids, exponential backoff with jitter, `Retry-After` pauses the sink's lane without
 * spending an attempt, a per-second rate limit, and a dead-letter list that survives restarts.
 */
export class InProcessDeliveryQueue implements DeliveryQueue {
  private readonly outbox: Outbox;
  private readonly lanes = new Map<string, SinkLane>();
  private readonly recentDone = new Set<string>();
  private closing?: Promise<void>;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly opts: InProcessQueueOptions) {
    this.outbox = new Outbox(opts.outboxDir);
  }

  async start(sinks: readonly SinkWorkerSpec[]): Promise<void> {
    await this.outbox.open();
    for (const spec of sinks) this.lanes.set(spec.name, { spec, waiting: [], active: 0, pausedUntil: 0, nextStartAt: 0 });
    // Recover what a previous run acknowledged but did not deliver.
    for (const job of this.outbox.pending()) this.lanes.get(job.sink)?.waiting.push({ job, attemptsMade: 0, notBefore: 0 });
    for (const lane of this.lanes.values()) this.pump(lane);
  }

  async enqueue(jobs: readonly DeliveryJob[]): Promise<RecordedIn> {
    if (this.closing) throw new Error('alert queue is closed');
    const fresh = jobs.filter((j) => !this.outbox.has(j.id) && !this.recentDone.has(j.id));
    await this.outbox.add(fresh);
    for (const job of fresh) {
      const lane = this.lanes.get(job.sink);
      if (!lane) continue;
      lane.waiting.push({ job, attemptsMade: 0, notBefore: 0 });
      this.pump(lane);
    }
    return 'outbox';
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return this.outbox.deadLetters();
  }

  async replay(ids?: readonly string[]): Promise<number> {
    const targets = ids ?? this.outbox.deadLetters().map((d) => d.id);
    const revived = await this.outbox.revive(targets);
    for (const job of revived) {
      const lane = this.lanes.get(job.sink);
      if (!lane) continue;
      lane.waiting.push({ job, attemptsMade: 0, notBefore: 0 });
      this.pump(lane);
    }
    return revived.length;
  }

  outboxSize(): number {
    return this.outbox.size;
  }

  /** Waits for deliveries in flight; undelivered jobs stay in the outbox for the next start. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const lane of this.lanes.values()) clearTimeout(lane.timer);
      await Promise.allSettled([...this.inflight]);
      await this.outbox.close();
    })();
    return this.closing;
  }

  private pump(lane: SinkLane): void {
    if (this.closing) return;
    clearTimeout(lane.timer);
    lane.timer = undefined;
    const now = Date.now();
    while (lane.active < lane.spec.concurrency) {
      const gate = Math.max(lane.pausedUntil, lane.nextStartAt);
      if (gate > now) return this.wake(lane, gate - now);
      const i = lane.waiting.findIndex((q) => q.notBefore <= now);
      if (i < 0) {
        const soonest = Math.min(...lane.waiting.map((q) => q.notBefore));
        if (Number.isFinite(soonest)) this.wake(lane, soonest - now);
        return;
      }
      const [queued] = lane.waiting.splice(i, 1);
      if (lane.spec.maxPerSecond) lane.nextStartAt = now + rateSpacingMs(lane.spec.maxPerSecond);
      lane.active++;
      const run = this.attempt(lane, queued!).finally(() => {
        lane.active--;
        this.inflight.delete(run);
        this.pump(lane);
      });
      this.inflight.add(run);
    }
  }

  private wake(lane: SinkLane, ms: number): void {
    lane.timer = setTimeout(() => this.pump(lane), Math.max(1, ms));
    lane.timer.unref();
  }

  private async attempt(lane: SinkLane, queued: QueuedJob): Promise<void> {
    const ctx = {
      backlog: async () => lane.waiting.length,
      absorbBacklog: async (max: number) => {
        const taken = lane.waiting.splice(0, max);
        if (taken.length > 0) {
          queued.job = {
            ...queued.job,
            alerts: [...queued.job.alerts, ...taken.flatMap((t) => t.job.alerts)],
            raisedAt: Math.min(queued.job.raisedAt, ...taken.map((t) => t.job.raisedAt)),
            absorbed: [...(queued.job.absorbed ?? []), ...taken.flatMap((t) => [t.job.id, ...(t.job.absorbed ?? [])])],
          };
        }
        return queued.job;
      },
    };
    try {
      await lane.spec.deliver(queued.job, ctx);
    } catch (err) {
      if (this.closing) {
        // Shutting down: it stays in the outbox and is tried again on the next start.
        return;
      }
      const sinkErr = err instanceof SinkError ? err : undefined;
      if (sinkErr?.retryAfterMs !== undefined) {
        // `Retry-After` pauses the whole lane (the destination said so) and is not a failed attempt.
        lane.pausedUntil = Math.max(lane.pausedUntil, Date.now() + sinkErr.retryAfterMs);
        lane.waiting.unshift(queued);
        this.opts.onOutcome?.(queued.job, 'rate_limited', err);
        return;
      }
      queued.attemptsMade++;
      const permanent = sinkErr !== undefined && !sinkErr.retryable;
      if (permanent || queued.attemptsMade >= this.opts.maxAttempts) {
        await this.outbox
          .dead({
            id: queued.job.id,
            sink: queued.job.sink,
            alerts: queued.job.alerts,
            failedAt: new Date().toISOString(),
            attempts: queued.attemptsMade,
            error: (err as Error).message ?? String(err),
          })
          .catch(() => undefined);
        this.opts.onOutcome?.(queued.job, 'dead_lettered', err);
        return;
      }
      queued.notBefore = Date.now() + backoffDelayMs(queued.attemptsMade, this.opts);
      lane.waiting.push(queued);
      this.opts.onOutcome?.(queued.job, 'retry', err);
      return;
    }
    const ids = [queued.job.id, ...(queued.job.absorbed ?? [])];
    for (const id of ids) this.rememberDone(id);
    await this.outbox.done(ids).catch(() => undefined);
    this.opts.onOutcome?.(queued.job, 'delivered');
  }

  private rememberDone(id: string): void {
    this.recentDone.add(id);
    if (this.recentDone.size > RECENT_DONE) {
      const oldest = this.recentDone.values().next().value;
      if (oldest !== undefined) this.recentDone.delete(oldest);
    }
  }
}
