/** Capacity of a new store ring; rings double from here up to their limit. */
const INITIAL_CAPACITY = 1024;

type Column = Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array | unknown[];

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

  /** @param limit the most items the caller keeps (it evicts before going past it) */
  constructor(private readonly limit: number) {
    this.capacity = Math.min(INITIAL_CAPACITY, ceilPowerOfTwo(limit));
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

  /** Moves every column of the subclass to `capacity` slots (with `move`). */
  protected abstract growColumns(capacity: number, mask: number): void;

  /** A column of `capacity * width` values holding each live item's `width` values at its new slot. */
  protected move<T extends Column>(old: T, next: T, mask: number, width = 1): T {
    const src = old as unknown as ArrayLike<unknown>;
    const dst = next as unknown as { [index: number]: unknown };
    for (let p = this.head; p < this.tail; p++) {
      const from = (p & this.mask) * width;
      const to = (p & mask) * width;
      for (let i = 0; i < width; i++) dst[to + i] = src[from + i];
    }
    return next;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    if (capacity > ceilPowerOfTwo(this.limit) * 2) throw new Error('store ring grown past its limit (the caller evicts first)');
    const mask = capacity - 1;
    this.seqs = this.move(this.seqs, new Float64Array(capacity), mask);
    this.sizes = this.move(this.sizes, new Float64Array(capacity), mask);
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
