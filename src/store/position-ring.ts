/** Capacity of a new store ring; rings double from here up to their limit. */
const INITIAL_CAPACITY = 1024;

/** The typed columns a ring may have. */
export type TypedColumn = Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;

/**
 * What the recent store's rings share: items addressed by position (the count of items added before them),
 * live from `head` (oldest) to `tail - 1` (newest), each item a slot across the subclass's columns at
 * `position & mask`. Columns start small and double, up to the power of two at or above the ring's limit;
 * growing keeps every live item at `position & newMask`, so positions held elsewhere stay valid. Every ring
 * has the store's sequence number and accounted size of each item.
 */
export abstract class PositionRing {
  protected capacity: number;
  protected mask: number;
  /** Position of the oldest live item. */
  protected head = 0;
  /** Position the next item gets. */
  tail = 0;
  protected seqs: Float64Array;
  protected sizes: Float64Array;

  /**
   * @param limit the most items the caller keeps (it evicts before going past it)
   * @param initialCapacity slots before the first growth (a power of two; tests make rings grow early)
   */
  constructor(
    private readonly limit: number,
    initialCapacity = INITIAL_CAPACITY,
  ) {
    this.capacity = Math.min(initialCapacity, ceilPowerOfTwo(limit));
    this.mask = this.capacity - 1;
    this.seqs = new Float64Array(this.capacity);
    this.sizes = new Float64Array(this.capacity);
  }

  get size(): number {
    return this.tail - this.head;
  }

  /** Position of the oldest live item (meaningful when `size > 0`). */
  get oldest(): number {
    return this.head;
  }

  /** Store sequence number of the oldest item, or undefined when empty. */
  oldestSeq(): number | undefined {
    return this.size === 0 ? undefined : this.seqs[this.head & this.mask];
  }

  /** The position for a new item, after growing the columns if they are full. */
  protected nextPosition(): number {
    if (this.size === this.capacity) this.grow();
    return this.tail++;
  }

  /** Moves every column of the subclass to `capacity` slots (with `moveTyped` and `moveRefs`). */
  protected abstract growColumns(capacity: number, mask: number): void;

  /**
   * A typed column of `capacity * width` values (`next`, all zero) holding each live item's `width` values
   * at its new slot. Live items are at most three runs that are contiguous in both columns, each copied
   * with one `set`: the element-by-element copy this replaces went through a store that every column type
   * reached, and was 2.4-3.9% of the ingest profile while a fresh store filled.
   */
  protected moveTyped<T extends TypedColumn>(old: T, next: T, mask: number, width = 1): T {
    const oldSlots = this.mask + 1;
    const newSlots = mask + 1;
    for (let p = this.head, end = this.tail; p < end; ) {
      const from = p & this.mask;
      const to = p & mask;
      const n = Math.min(end - p, oldSlots - from, newSlots - to);
      next.set(old.subarray(from * width, (from + n) * width), to * width);
      p += n;
    }
    return next;
  }

  /**
   * A reference column of `capacity * width` slots holding each live item's `width` references at its new
   * slot, and `undefined` in every other slot (a dead slot must not keep an object alive).
   *
   * The column doubles, so an item at old slot `s` goes to `s` or `s + oldSlots`: the old column twice
   * over (one `concat`, a copy in C++) has every live item in its place, and what is not live there is one
   * run of slots from the tail's, which is cleared. That costs less than filling a new column and copying.
   */
  protected moveRefs<T>(old: (T | undefined)[], mask: number, width = 1): (T | undefined)[] {
    const newSlots = mask + 1;
    if (newSlots !== 2 * (this.mask + 1) || old.length !== (this.mask + 1) * width) throw new Error('store ring column moved to other than twice its slots');
    const next = old.concat(old);
    // The dead slots: from the tail's new slot on, wrapping, for as many as the new column has beyond the live items.
    const start = this.tail & mask;
    const dead = newSlots - this.size;
    const first = Math.min(dead, newSlots - start);
    clear(next, start * width, first * width);
    clear(next, 0, (dead - first) * width);
    return next;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    if (capacity > ceilPowerOfTwo(this.limit) * 2) throw new Error('store ring grown past its limit (the caller evicts first)');
    const mask = capacity - 1;
    this.seqs = this.moveTyped(this.seqs, new Float64Array(capacity), mask);
    this.sizes = this.moveTyped(this.sizes, new Float64Array(capacity), mask);
    this.growColumns(capacity, mask);
    this.capacity = capacity;
    this.mask = mask;
  }
}

/** A reference column of `n` empty slots. */
export function refColumn<T>(n: number): (T | undefined)[] {
  return new Array<T | undefined>(n).fill(undefined);
}

function ceilPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Empties `n` reference slots from `at` (a plain loop: monomorphic and without `fill`'s call). */
function clear(column: unknown[], at: number, n: number): void {
  for (let i = at, end = at + n; i < end; i++) column[i] = undefined;
}
