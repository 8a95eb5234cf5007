import type { z } from 'zod';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

/** Pipeline roles, after the OpenTelemetry Collector. */
export type ComponentKind = 'receiver' | 'processor' | 'exporter' | 'extension';

/** What a running component may use from the daemon that hosts it. */
export interface Host {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * The one lifecycle every component follows:
 * - `start()` returns quickly (bind, spawn timers; never wait for traffic);
 * - `shutdown()` is idempotent, safe without `start()`, and flushes what it holds.
 */
export interface Component {
  start(host: Host): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Stages talk only through consumers. `consume` is synchronous and answers at once whether the batch was
 * taken; `false` is back-pressure (the caller answers its sender with "retry later"), never data loss.
 */
export interface Consumer<T> {
  consume(batch: readonly T[], meta?: BatchMeta): boolean;
  /** Whether a batch of `n` items (`bytes` big) would be taken now; lets a receiver refuse before reading a body. */
  hasRoomFor?(n: number, bytes?: number): boolean;
}

/** What the producer knows about a batch that is costly to recompute downstream. */
export interface BatchMeta {
  /** Wire size of the batch (the decompressed request body), the basis of byte-bounded queues. */
  bytes?: number;
  /**
   * Called once by the `BoundedQueue` that takes the batch, when no stage holds it any more: handed on and
   * returned, refused, or dropped. The producer may then reuse memory the items refer to (a request body
   * that decoded spans are views of). Stages behind the queue must not keep such references past their
   * `consume` call: what they keep, they copy (the recent store copies span bytes, events hold none).
   */
  release?: () => void;
}

export interface CreateSettings {
  /** Config path of this component, e.g. `receivers.otlp`; used in messages and logs. */
  readonly path: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * Builds one kind of component. The default config is complete and valid: a daemon with no config file
 * runs on `createDefaultConfig()` of every enabled factory.
 */
export interface Factory<TConfig, TIn = unknown, TOut = unknown> {
  readonly type: string;
  readonly kind: ComponentKind;
  /** zod schema with defaults; parsing `{}` yields the default config. */
  readonly schema: z.ZodType<TConfig>;
  createDefaultConfig(): TConfig;
  /** Semantic checks beyond the schema. Each message is a sentence that starts with its config path. */
  validate(config: TConfig, path: string): string[];
  create(settings: CreateSettings, config: TConfig, next: Consumer<TOut>): Component & Partial<Consumer<TIn>>;
}

/** A consumer that keeps what it is given; the test double of STYLE.md (`Sink`). */
export class SinkConsumer<T> implements Consumer<T> {
  readonly items: T[] = [];
  refuse = false;
  consume(batch: readonly T[]): boolean {
    if (this.refuse) return false;
    this.items.push(...batch);
    return true;
  }
}

/** A consumer that accepts and discards. */
export const nopConsumer: Consumer<unknown> = { consume: () => true };
