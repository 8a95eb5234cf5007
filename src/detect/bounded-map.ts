/**
 * Per-entity detector state with a hard cap: least-recently-used entries go first, entries idle for
 * longer than `ttlMs` expire, and every eviction is counted so `/metrics` shows state pressure. A Map
 * keeps insertion order, so re-inserting on access makes the first key the least recently used.
 */
export interface BoundedMapOptions<V> {
  maxEntries: number;
  /** Idle time after which an entry expires (checked on access and by `sweep`). */
  ttlMs?: number;
  /** Called for every entry that leaves by eviction or expiry (not by `delete`). */
  onEvict?: (key: string, value: V, reason: 'capacity' | 'ttl') => void;
}

interface Slot<V> {
  value: V;
  touched: number;
}

export class BoundedMap<V> {
  private readonly map = new Map<string, Slot<V>>();
  /** Entries removed to stay within `maxEntries` or `ttlMs` since creation. */
  evictions = 0;

  constructor(private readonly opts: BoundedMapOptions<V>) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, now = Date.now()): V | undefined {
    const slot = this.map.get(key);
    if (!slot) return undefined;
    if (this.expired(slot, now)) {
      this.evict(key, slot, 'ttl');
      return undefined;
    }
    slot.touched = now;
    this.map.delete(key);
    this.map.set(key, slot);
    return slot.value;
  }

  /** The value for `key`, created by `make` (and possibly evicting the LRU entry) when absent. */
  getOrCreate(key: string, make: () => V, now = Date.now()): V {
    const found = this.get(key, now);
    if (found !== undefined) return found;
    const value = make();
    this.set(key, value, now);
    return value;
  }

  set(key: string, value: V, now = Date.now()): void {
    this.map.delete(key);
    this.map.set(key, { value, touched: now });
    while (this.map.size > this.opts.maxEntries) {
      const oldest = this.map.keys().next().value as string;
      this.evict(oldest, this.map.get(oldest)!, 'capacity');
    }
  }

  delete(key: string): boolean {
    return this.map.delete(key);
  }

  /** Expires idle entries; call from a detector's tick. Stops at the first fresh entry (LRU order). */
  sweep(now = Date.now()): void {
    if (this.opts.ttlMs === undefined) return;
    for (const [key, slot] of this.map) {
      if (!this.expired(slot, now)) break;
      this.evict(key, slot, 'ttl');
    }
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [key, slot] of this.map) yield [key, slot.value];
  }

  private expired(slot: Slot<V>, now: number): boolean {
    return this.opts.ttlMs !== undefined && now - slot.touched > this.opts.ttlMs;
  }

  private evict(key: string, slot: Slot<V>, reason: 'capacity' | 'ttl'): void {
    this.map.delete(key);
    this.evictions += 1;
    this.opts.onEvict?.(key, slot.value, reason);
  }
}
