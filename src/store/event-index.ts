/**
 * One of the recent store's event indexes (server id, server name, method, tool, kind): for each key, its
 * events newest first, as a chain through the event ring's link column (see `EventRing.link`).
 *
 * These were a FIFO queue per key: every stored event pushed a position onto five queues and every
 * evicted one shifted them off again, each time after a map look-up by key. Here a push looks a key up
 * only when it differs from the previous event's (a request's events share server and kind), and an
 * eviction looks up nothing: the row holds its entries.
 */

/** A key's events: the newest one's position, and how many are live (older ones follow the ring's links). */
export interface IndexEntry {
  readonly key: string;
  newest: number;
  count: number;
}

export class EventIndex {
  private readonly entries = new Map<string, IndexEntry>();
  /** The entry of the previous `entryFor`, tried first. */
  private last: IndexEntry | undefined;

  /** The entry of a key with live events, or undefined. */
  get(key: string): IndexEntry | undefined {
    return this.entries.get(key);
  }

  /** The entry to add an event under, created (with no events yet) if the key has none. */
  entryFor(key: string): IndexEntry {
    const last = this.last;
    if (last !== undefined && last.key === key) return last;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { key, newest: -1, count: 0 };
      this.entries.set(key, entry);
    }
    this.last = entry;
    return entry;
  }

  /** Counts off the oldest event of an entry, and forgets the key once it has none. */
  release(entry: IndexEntry): void {
    if (--entry.count > 0) return;
    this.entries.delete(entry.key);
    if (this.last === entry) this.last = undefined;
  }
}
