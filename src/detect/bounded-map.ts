/**
 * Per-entity detector state with a hard cap: least-recently-used entries go first, entries idle for
 * longer than `ttlMs` expire, and every eviction is counted so `/metrics` shows state pressure.
 *
 * Recency is a doubly linked list beside the Map (head = least recently used). Re-inserting into a Map on
 * every access would be shorter, but V8 leaves a hole per deleted entry until the table is rebuilt, and
 * finding the oldest key (`keys().next()`) walks over those holes: with tens of thousands of entries that
 * made eviction the most expensive line of the engine (bench/detectors.ts, BENCHMARKS.md).
 */
export interface BoundedMapOptions<V> {
  maxEntries: number;
  /** Idle time after which an entry expires (checked on access and by `sweep`). */
  ttlMs?: number;
  /** Called for every entry that leaves by eviction or expiry (not by `delete`). */
  onEvict?: (key: string, value: V, reason: 'capacity' | 'ttl') => void;
}

interface Slot<V> {
  key: string;
  value: V;
  touched: number;
  /** Less recently used neighbour. */
  prev?: Slot<V>;
  /** More recently used neighbour. */
  next?: Slot<V>;
}

export class BoundedMap<V> {
  private readonly map = new Map<string, Slot<V>>();
  /** Least recently used. */
  private head?: Slot<V>;
  /** Most recently used. */
  private tail?: Slot<V>;
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
      this.evict(slot, 'ttl');
      return undefined;
    }
    slot.touched = now;
    this.toTail(slot);
    return slot.value;
  }

  /**
   * The value for `key`, created by `make` (and possibly evicting the LRU entry) when absent. `make` gets
   * `now`, so a caller can pass one function made once instead of a closure per call.
   */
  getOrCreate(key: string, make: (now: number) => V, now = Date.now()): V {
    const slot = this.map.get(key);
    if (slot !== undefined) {
      if (!this.expired(slot, now)) {
        slot.touched = now;
        this.toTail(slot);
        if (slot.value !== undefined) return slot.value;
        const value = make(now);
        this.set(key, value, now);
        return value;
      }
      this.evict(slot, 'ttl');
    }
    // Absent (or just expired): a new slot without the second lookup `set` would make; most callers miss on
    // every event for keys that come and go (traces, requests).
    const value = make(now);
    this.insert(key, value, now);
    return value;
  }

  set(key: string, value: V, now = Date.now()): void {
    const existing = this.map.get(key);
    if (existing) {
      existing.value = value;
      existing.touched = now;
      this.toTail(existing);
      return;
    }
    this.insert(key, value, now);
  }

  private insert(key: string, value: V, now: number): void {
    const slot: Slot<V> = { key, value, touched: now };
    this.map.set(key, slot);
    this.append(slot);
    while (this.map.size > this.opts.maxEntries && this.head) this.evict(this.head, 'capacity');
  }

  delete(key: string): boolean {
    const slot = this.map.get(key);
    if (!slot) return false;
    this.unlink(slot);
    return this.map.delete(key);
  }

  /** Expires idle entries; call from a detector's tick. Stops at the first fresh entry (LRU order). */
  sweep(now = Date.now()): void {
    if (this.opts.ttlMs === undefined) return;
    while (this.head && this.expired(this.head, now)) this.evict(this.head, 'ttl');
  }

  /** Entries from least to most recently used; deleting the current entry while iterating is safe. */
  *entries(): IterableIterator<[string, V]> {
    for (let slot = this.head; slot; ) {
      const next = slot.next;
      yield [slot.key, slot.value];
      slot = next;
    }
  }

  private expired(slot: Slot<V>, now: number): boolean {
    return this.opts.ttlMs !== undefined && now - slot.touched > this.opts.ttlMs;
  }

  private evict(slot: Slot<V>, reason: 'capacity' | 'ttl'): void {
    this.unlink(slot);
    this.map.delete(slot.key);
    this.evictions += 1;
    this.opts.onEvict?.(slot.key, slot.value, reason);
  }

  private append(slot: Slot<V>): void {
    slot.prev = this.tail;
    slot.next = undefined;
    if (this.tail) this.tail.next = slot;
    else this.head = slot;
    this.tail = slot;
  }

  private unlink(slot: Slot<V>): void {
    if (slot.prev) slot.prev.next = slot.next;
    else if (this.head === slot) this.head = slot.next;
    if (slot.next) slot.next.prev = slot.prev;
    else if (this.tail === slot) this.tail = slot.prev;
  }

  private toTail(slot: Slot<V>): void {
    if (this.tail === slot) return;
    this.unlink(slot);
    this.append(slot);
  }
}
