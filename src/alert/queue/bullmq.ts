import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { SinkError } from '../../component/errors.js';
import type { Logger } from '../../telemetry/logger.js';
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

export interface BullMqQueueOptions extends RetryPolicy, DeliveryEvents {
  /** `redis://` URL. */
  redisUrl: string;
  password?: string;
  /** BullMQ key prefix; daemons with the same prefix share the queues. */
  prefix: string;
  /** Where notifications wait while Redis is unreachable. */
  outboxDir: string;
  lockMs: number;
  enqueueTimeoutMs: number;
  /** How long delivered jobs stay in Redis, so the same job id is not delivered twice. */
  dedupRetentionSeconds: number;
  logger: Logger;
}

const JOB_NAME = 'deliver';
/** How often the outbox is offered to Redis while it holds jobs. */
const DRAIN_INTERVAL_MS = 500;
/** Most dead letters listed per sink. */
const MAX_DEAD_LISTED = 1000;

/**
 * The queue on Redis: one BullMQ queue per sink (`<prefix>:alerts-<sink>`), a worker per sink in every
 * daemon. Several daemons sharing the Redis share the work: a job is delivered by one of them, and if that
 * one dies mid-delivery its lock expires (`alerts.queue.lockSeconds`) and another takes the job over.
 *
 * Durability: `enqueue` resolves once Redis has the job (run Redis with AOF), or, when Redis does not
 * answer within `enqueueTimeoutSeconds`, once the job is fsynced to the local outbox, which is drained into
 * Redis when it answers again. Job ids are the notification ids, so a job added twice (a retry after a
 * timeout that did reach Redis, two daemons raising the same alert) exists once.
 *
 * Retries use exponential backoff with jitter (a custom BullMQ backoff strategy); a `Retry-After` from a
 * destination becomes `Queue.rateLimit` for that sink's queue, which every worker in every daemon honours,
 * and does not spend an attempt. Permanent failures and exhausted attempts stay in BullMQ's failed set:
 * that set is the dead-letter list.
 */
export class BullMqDeliveryQueue implements DeliveryQueue {
  private readonly outbox: Outbox;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private readonly connections: Redis[] = [];
  private producer?: Redis;
  private drainTimer?: NodeJS.Timeout;
  private draining = false;
  private closing?: Promise<void>;
  private lastRedisError = 0;

  constructor(private readonly opts: BullMqQueueOptions) {
    this.outbox = new Outbox(opts.outboxDir);
  }

  async start(sinks: readonly SinkWorkerSpec[]): Promise<void> {
    await this.outbox.open();
    // The producer fails fast when Redis is away (no offline queue), so an alert goes to the outbox at once
    // instead of waiting in memory where a crash would lose it.
    this.producer = this.connect({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    for (const spec of sinks) {
      const queue = new Queue(this.queueName(spec.name), { connection: this.producer, prefix: this.opts.prefix });
      queue.on('error', (err) => this.redisError(err));
      this.queues.set(spec.name, queue);
      const worker = new Worker(this.queueName(spec.name), (job: Job) => this.process(spec, queue, job), {
        connection: this.connect({ maxRetriesPerRequest: null }),
        prefix: this.opts.prefix,
        concurrency: spec.concurrency,
        lockDuration: this.opts.lockMs,
        stalledInterval: Math.max(500, Math.floor(this.opts.lockMs / 2)),
        // A job whose daemon died is taken over, however often that happens: never dead-letter for it.
        maxStalledCount: 1_000_000,
        ...(spec.maxPerSecond ? { limiter: { max: 1, duration: rateSpacingMs(spec.maxPerSecond) } } : {}),
        settings: { backoffStrategy: (attemptsMade: number) => backoffDelayMs(attemptsMade, this.opts) },
      });
      worker.on('error', (err) => this.redisError(err));
      worker.on('failed', (job, err) => {
        if (!job) return;
        const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
        if (err.message === 'bullmq:rateLimitExceeded') return;
        this.opts.onOutcome?.(job.data as DeliveryJob, final ? 'dead_lettered' : 'retry', err);
      });
      this.workers.push(worker);
    }
    this.drainTimer = setInterval(() => void this.drainOutbox(), DRAIN_INTERVAL_MS);
    this.drainTimer.unref();
    void this.drainOutbox();
  }

  async enqueue(jobs: readonly DeliveryJob[]): Promise<RecordedIn> {
    if (this.closing) throw new Error('alert queue is closed');
    // Known to be away: no point waiting for the timeout, the outbox is the record until it is back.
    if (this.producer?.status !== 'ready') {
      await this.outbox.add(jobs);
      return 'outbox';
    }
    try {
      await this.addToRedis(jobs);
      return 'redis';
    } catch (err) {
      this.redisError(err as Error);
      await this.outbox.add(jobs);
      return 'outbox';
    }
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [...this.outbox.deadLetters()];
    for (const [sink, queue] of this.queues) {
      const failed = await queue.getFailed(0, MAX_DEAD_LISTED - 1);
      for (const job of failed) {
        const data = job.data as DeliveryJob;
        out.push({
          id: job.id ?? data.id,
          sink,
          alerts: data.alerts,
          failedAt: new Date(job.finishedOn ?? job.timestamp).toISOString(),
          attempts: job.attemptsMade,
          error: job.failedReason,
        });
      }
    }
    return out;
  }

  async replay(ids?: readonly string[]): Promise<number> {
    let n = 0;
    const wanted = ids ? new Set(ids) : undefined;
    for (const queue of this.queues.values()) {
      const failed = await queue.getFailed(0, MAX_DEAD_LISTED - 1);
      for (const job of failed) {
        if (wanted && !wanted.has(job.id ?? '')) continue;
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        n++;
      }
    }
    return n;
  }

  outboxSize(): number {
    return this.outbox.size;
  }

  /** Returns the number of dead letters per sink (for the metric). */
  async deadLetterCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [sink, queue] of this.queues) out[sink] = await queue.getFailedCount();
    return out;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.drainTimer);
      const results = await Promise.allSettled([
        ...this.workers.map((w) => w.close()),
        ...[...this.queues.values()].map((q) => q.close()),
      ]);
      for (const c of this.connections) c.disconnect();
      await this.outbox.close();
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) this.opts.logger.warn({ err: (failed as PromiseRejectedResult).reason as Error }, 'alert queue closed with errors');
    })();
    return this.closing;
  }

  private queueName(sink: string): string {
    return `alerts-${sink}`;
  }

  private connect(extra: RedisOptions): Redis {
    const conn = new Redis(this.opts.redisUrl, {
      ...(this.opts.password !== undefined && { password: this.opts.password }),
      // Keep retrying for ever, quickly: Redis coming back must be noticed within a second.
      retryStrategy: (times) => Math.min(1000, 50 * times),
      connectTimeout: 2000,
      lazyConnect: false,
      ...extra,
    });
    conn.on('error', (err) => this.redisError(err));
    this.connections.push(conn);
    return conn;
  }

  private async addToRedis(jobs: readonly DeliveryJob[]): Promise<void> {
    const bySink = new Map<string, DeliveryJob[]>();
    for (const job of jobs) bySink.set(job.sink, [...(bySink.get(job.sink) ?? []), job]);
    const adds = [...bySink].map(([sink, list]) => {
      const queue = this.queues.get(sink);
      if (!queue) return Promise.resolve([]);
      return queue.addBulk(
        list.map((job) => ({
          name: JOB_NAME,
          data: job,
          opts: {
            jobId: job.id,
            attempts: this.opts.maxAttempts,
            backoff: { type: 'custom' },
            removeOnComplete: { age: this.opts.dedupRetentionSeconds },
            removeOnFail: false,
          },
        })),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not record the alert within ${this.opts.enqueueTimeoutMs} ms`)), this.opts.enqueueTimeoutMs);
    });
    try {
      await Promise.race([Promise.all(adds), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Moves outbox jobs into Redis; ids make a job added twice (crash between add and `done`) one job. */
  private async drainOutbox(): Promise<void> {
    if (this.draining || this.closing) return;
    const pending = this.outbox.pending();
    if (pending.length === 0 || this.producer?.status !== 'ready') return;
    this.draining = true;
    try {
      for (let i = 0; i < pending.length; i += 500) {
        const batch = pending.slice(i, i + 500);
        await this.addToRedis(batch);
        await this.outbox.done(batch.map((j) => j.id));
      }
      this.opts.logger.info({ jobs: pending.length }, 'alert outbox drained into Redis');
    } catch {
      // Redis still away: try again on the next tick.
    } finally {
      this.draining = false;
    }
  }

  private async process(spec: SinkWorkerSpec, queue: Queue, job: Job): Promise<void> {
    let current = job.data as DeliveryJob;
    const ctx = {
      backlog: () => queue.getWaitingCount(),
      absorbBacklog: async (max: number) => {
        const waiting = await queue.getWaiting(0, max - 1);
        const candidates = waiting.filter((w) => w.id !== job.id);
        if (candidates.length === 0) return current;
        const merged: DeliveryJob = {
          ...current,
          alerts: [...current.alerts, ...candidates.flatMap((c) => (c.data as DeliveryJob).alerts)],
          raisedAt: Math.min(current.raisedAt, ...candidates.map((c) => (c.data as DeliveryJob).raisedAt)),
          absorbed: [...(current.absorbed ?? []), ...candidates.map((c) => c.id ?? '')],
        };
        // Record the merge first: if we die after this, the folded jobs are delivered twice, never lost.
        await job.updateData(merged);
        const removed: string[] = [];
        for (const c of candidates) {
          // A job another worker took meanwhile cannot be removed (it is locked): leave it to that worker.
          const ok = await c.remove().then(
            () => true,
            () => false,
          );
          if (ok) removed.push(c.id ?? '');
        }
        const removedSet = new Set(removed);
        current = {
          ...current,
          alerts: [...current.alerts, ...candidates.filter((c) => removedSet.has(c.id ?? '')).flatMap((c) => (c.data as DeliveryJob).alerts)],
          raisedAt: merged.raisedAt,
          absorbed: [...(current.absorbed ?? []), ...removed],
        };
        if (removed.length !== candidates.length) await job.updateData(current);
        return current;
      },
    };
    try {
      await spec.deliver(current, ctx);
    } catch (err) {
      if (err instanceof SinkError && err.retryAfterMs !== undefined) {
        this.opts.onOutcome?.(current, 'rate_limited', err);
        await queue.rateLimit(Math.max(1, err.retryAfterMs));
        throw Worker.RateLimitError();
      }
      if (err instanceof SinkError && !err.retryable) throw new UnrecoverableError(err.message);
      throw err;
    }
    this.opts.onOutcome?.(current, 'delivered');
  }

  private redisError(err: Error): void {
    // Redis going away produces a storm of identical errors; log once every 10 s.
    const now = Date.now();
    if (now - this.lastRedisError < 10_000) return;
    this.lastRedisError = now;
    this.opts.logger.warn({ err: { message: err.message } }, 'alert queue: Redis error (alerts go to the local outbox until it answers)');
  }
}
