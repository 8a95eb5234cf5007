import type { Alert } from '../types.js';

/**
 * One notification for one sink: what the queue records durably and a sink turns into one request.
 * `alerts` holds one alert, or several when a grouping window or a digest bundled them.
 */
export interface DeliveryJob {
  /** Idempotent id: the same notification enqueued twice (two daemons, an outbox drained twice) is one job. */
  id: string;
  /** Sink name (key of `alerts.sinks`). */
  sink: string;
  alerts: Alert[];
  /** Unix ms when the (first) alert was raised; delivery latency is measured from here. */
  raisedAt: number;
  /** Ids of queued jobs folded into this one by a digest; they count as delivered with it. */
  absorbed?: string[];
}

/** A notification that failed for good, waiting for an operator to look and replay it. */
export interface DeadLetter {
  id: string;
  sink: string;
  alerts: Alert[];
  /** RFC 3339. */
  failedAt: string;
  attempts: number;
  /** Why the last attempt failed. */
  error: string;
}

/** What a sink may ask of the queue while it delivers a job. */
export interface DeliveryContext {
  /** Notifications of the same sink waiting now (not counting this one). */
  backlog(): Promise<number>;
  /**
   * Folds up to `max` waiting notifications of the same sink into the job being delivered and returns the
   * merged job. The merge is recorded before the folded jobs leave the queue, so a crash in between can
   * duplicate an alert but never lose one.
   */
  absorbBacklog(max: number): Promise<DeliveryJob>;
}

/** Delivers one job; throws a `SinkError` (or anything: treated as retryable) when it could not. */
export type DeliverFn = (job: DeliveryJob, ctx: DeliveryContext) => Promise<void>;

/** How the queue runs the deliveries of one sink. */
export interface SinkWorkerSpec {
  name: string;
  /** Deliveries in flight at once in this daemon. */
  concurrency: number;
  /** Requests per second across every daemon sharing the queue (Slack: 1); unlimited when absent. */
  maxPerSecond?: number;
  deliver: DeliverFn;
}

/** Where `enqueue` recorded the jobs before answering. */
export type RecordedIn = 'redis' | 'outbox';

/** What happened to one delivery attempt, for metrics and tests. */
export type DeliveryOutcome = 'delivered' | 'retry' | 'rate_limited' | 'dead_lettered';

export interface DeliveryEvents {
  /** Called after every attempt; `job` as delivered (after any digest merge). */
  onOutcome?(job: DeliveryJob, outcome: DeliveryOutcome, error?: unknown): void;
}

/**
 * The queue between the alert manager and the sinks. The in-process and BullMQ implementations share
 * this interface. `enqueue` resolves only once every job is durably recorded (Redis, or the fsynced local
 * outbox); then delivery is at-least-once, with retries, `Retry-After`, and a dead-letter list.
 */
export interface DeliveryQueue {
  /** Starts the workers of these sinks and recovers what a previous run left behind. */
  start(sinks: readonly SinkWorkerSpec[]): Promise<void>;
  enqueue(jobs: readonly DeliveryJob[]): Promise<RecordedIn>;
  deadLetters(): Promise<DeadLetter[]>;
  /** Puts dead letters back in the queue with fresh attempts; all of them when `ids` is absent. Returns how many. */
  replay(ids?: readonly string[]): Promise<number>;
  /** Jobs held in the local outbox now. */
  outboxSize(): number;
  /** Stops workers (waiting for deliveries in flight) and closes connections. Idempotent. */
  close(): Promise<void>;
}

/** Backoff settings shared by both queues. */
export interface RetryPolicy {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/**
 * Exponential backoff with "equal jitter": half the exponential delay, plus a random part up to the other
 * half. The random half spreads retries of many notifications (and of several daemons) apart; the fixed
 * half keeps every retry from being immediate.
 */
export function backoffDelayMs(attemptsMade: number, policy: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>, random: () => number = Math.random): number {
  const exp = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/**
 * Milliseconds between request starts for a `maxPerSecond` sink. 10 % above the exact spacing: the limit
 * is what the destination observes on arrival, and a request that leaves late (a busy event loop) must not
 * land within the window of the next one.
 */
export function rateSpacingMs(maxPerSecond: number): number {
  return Math.ceil((1000 / maxPerSecond) * 1.1);
}
