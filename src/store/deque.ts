/**
 * A FIFO ring buffer with O(1) push at the tail, O(1) shift at the head and indexed reads from either end.
 * The backing array grows by doubling and shrinks by half when it is three-quarters empty, so a queue that
 * once held many items does not keep their slots forever (the store's per-key indexes rely on this to stay
 * within the memory the store's limits imply).
 */
export class Deque<T> {
  private buf: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(private readonly minCapacity = 8) {
    this.buf = new Array<T | undefined>(minCapacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.buf.length) this.resize(this.buf.length * 2);
    this.buf[(this.head + this.count) % this.buf.length] = item;
    this.count++;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.count--;
    if (this.buf.length > this.minCapacity && this.count < this.buf.length / 4) this.resize(this.buf.length / 2);
    return item;
  }

  /** The oldest item, without removing it. */
  peekOldest(): T | undefined {
    return this.count === 0 ? undefined : this.buf[this.head];
  }

  /** The `i`-th newest item (0 = newest). */
  fromNewest(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.buf[(this.head + this.count - 1 - i) % this.buf.length];
  }

  /** Items oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.buf[(this.head + i) % this.buf.length] as T;
  }

  clear(): void {
    this.buf = new Array<T | undefined>(this.minCapacity);
    this.head = 0;
    this.count = 0;
  }

  private resize(capacity: number): void {
    const next = new Array<T | undefined>(Math.max(capacity, this.minCapacity));
    for (let i = 0; i < this.count; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
    this.buf = next;
    this.head = 0;
  }
}
