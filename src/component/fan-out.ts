import type { Consumer } from './component.js';

/**
 * Hands every batch to each consumer. The batch counts as taken when the first (primary) consumer takes
 * it; the others are best-effort observers (detectors, for instance) and count their own refusals.
 */
export class FanOutConsumer<T> implements Consumer<T> {
  constructor(private readonly consumers: Consumer<T>[]) {}

  add(consumer: Consumer<T>): void {
    this.consumers.push(consumer);
  }

  consume(batch: readonly T[]): boolean {
    let primary = true;
    let taken = true;
    for (const consumer of this.consumers) {
      let ok: boolean;
      try {
        ok = consumer.consume(batch);
      } catch {
        ok = false;
      }
      if (primary) taken = ok;
      primary = false;
    }
    return taken;
  }
}
