/**
 * Time windows over event time (Unix ms). Both keep a fixed, small amount of memory whatever the rate:
 * a sliding window is a ring of `buckets` sub-intervals (so "the last 10 s" is accurate to 10 s /
 * buckets), a tumbling window is one running interval that is handed to a callback when it closes.
 */

/** Count and sum over the last `windowMs`, in `buckets` sub-intervals. */
export class SlidingWindow {
  private readonly bucketMs: number;
  private readonly counts: number[];
  private readonly sums: number[];
  /** Index of the newest bucket, in bucket units since the epoch. */
  private head = -1;

  constructor(
    readonly windowMs: number,
    readonly buckets = 10,
  ) {
    if (!(windowMs > 0) || !(buckets >= 1)) throw new Error('SlidingWindow: windowMs and buckets must be positive');
    this.bucketMs = windowMs / buckets;
    this.counts = new Array<number>(buckets).fill(0);
    this.sums = new Array<number>(buckets).fill(0);
  }

  /** Records one observation (`value` is summed; a plain count uses 1). Late events land in their bucket if still in range. */
  add(time: number, value = 1): void {
    const idx = Math.floor(time / this.bucketMs);
    this.advance(idx);
    if (idx <= this.head - this.buckets) return; // older than the window
    const slot = ((idx % this.buckets) + this.buckets) % this.buckets;
    this.counts[slot]! += 1;
    this.sums[slot]! += value;
  }

  /** Observations in the window ending at `now`. */
  count(now: number): number {
    this.advance(Math.floor(now / this.bucketMs));
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  /** Sum of values in the window ending at `now`. */
  sum(now: number): number {
    this.advance(Math.floor(now / this.bucketMs));
    let s = 0;
    for (const v of this.sums) s += v;
    return s;
  }

  /** Events per second over the window ending at `now`. */
  rate(now: number): number {
    return this.count(now) / (this.windowMs / 1000);
  }

  private advance(idx: number): void {
    if (idx <= this.head) return;
    if (this.head >= 0) {
      const steps = Math.min(idx - this.head, this.buckets);
      for (let k = idx - steps + 1; k <= idx; k++) {
        const slot = ((k % this.buckets) + this.buckets) % this.buckets;
        this.counts[slot] = 0;
        this.sums[slot] = 0;
      }
    }
    this.head = idx;
  }
}

/** What a tumbling window reports when it closes. */
export interface ClosedWindow {
  start: number;
  end: number;
  count: number;
  sum: number;
  max: number;
}

/**
 * Fixed, non-overlapping intervals `[k*size, (k+1)*size)`. `add` and `closeUpTo` close every interval
 * that ended, calling `onClose` once per closed interval that saw data, and once with an empty interval
 * for each quiet interval up to `maxQuietReports` (a baseline of "how many per minute" must learn the
 * zeros too, but a detector asleep for a day must not replay 1440 of them).
 */
export class TumblingWindow {
  private start = Number.NaN;
  private count = 0;
  private sum = 0;
  private max = Number.NEGATIVE_INFINITY;

  constructor(
    readonly sizeMs: number,
    private readonly onClose: (w: ClosedWindow) => void,
    private readonly maxQuietReports = 3,
  ) {}

  add(time: number, value = 1): void {
    this.closeUpTo(time);
    if (Number.isNaN(this.start)) this.start = Math.floor(time / this.sizeMs) * this.sizeMs;
    if (time < this.start) return; // late event for a closed interval
    this.count += 1;
    this.sum += value;
    if (value > this.max) this.max = value;
  }

  /** The interval in progress, so far. */
  current(): ClosedWindow {
    return { start: this.start, end: this.start + this.sizeMs, count: this.count, sum: this.sum, max: this.count > 0 ? this.max : 0 };
  }

  /** Closes every interval that ended at or before `now`. */
  closeUpTo(now: number): void {
    if (Number.isNaN(this.start)) return;
    if (now < this.start + this.sizeMs) return;
    this.onClose(this.current());
    const next = Math.floor(now / this.sizeMs) * this.sizeMs;
    const quiet = Math.min((next - this.start) / this.sizeMs - 1, this.maxQuietReports);
    for (let i = 0; i < quiet; i++) {
      const s = this.start + (i + 1) * this.sizeMs;
      this.onClose({ start: s, end: s + this.sizeMs, count: 0, sum: 0, max: 0 });
    }
    this.start = next;
    this.count = 0;
    this.sum = 0;
    this.max = Number.NEGATIVE_INFINITY;
  }
}
