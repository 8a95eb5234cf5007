import type { DeliverFn } from '../queue/types.js';

/** A destination for notifications. The queue calls `deliver`; `start`/`shutdown` run sink-side timers. */
export interface AlertSink {
  readonly name: string;
  /** Deliveries in flight at once in one daemon. */
  readonly concurrency: number;
  /** Requests per second across all daemons (enforced by the queue). */
  readonly maxPerSecond?: number;
  readonly deliver: DeliverFn;
  start?(): void;
  shutdown?(): Promise<void>;
}
