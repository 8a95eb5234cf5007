import type { Component, Host } from './component.js';

interface Entry {
  name: string;
  component: Component;
}

/**
 * Starts components in order and shuts them down in reverse order. `shutdown()` is memoised, so calling
 * it twice (SIGTERM then SIGINT, say) waits for the same work; every component is shut down even when an
 * earlier one fails, and the failures are reported together.
 */
export class Lifecycle {
  private readonly entries: Entry[] = [];
  private readonly started: Entry[] = [];
  private shuttingDown?: Promise<void>;

  add(name: string, component: Component): void {
    this.entries.push({ name, component });
  }

  async startAll(host: Host): Promise<void> {
    for (const entry of this.entries) {
      if (this.shuttingDown) throw new Error(`start aborted: shutdown began before ${entry.name} started`);
      this.started.push(entry);
      try {
        await entry.component.start(host);
      } catch (err) {
        throw new Error(`${entry.name} failed to start: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  shutdownAll(): Promise<void> {
    this.shuttingDown ??= this.runShutdown();
    return this.shuttingDown;
  }

  private async runShutdown(): Promise<void> {
    const failures: string[] = [];
    for (const entry of [...this.started].reverse()) {
      try {
        await entry.component.shutdown();
      } catch (err) {
        failures.push(`${entry.name}: ${(err as Error).message}`);
      }
    }
    if (failures.length > 0) throw new Error(`shutdown failed for ${failures.join('; ')}`);
  }
}

/** Wraps a shutdown body so it runs at most once and is safe without start. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => (pending ??= fn());
}
