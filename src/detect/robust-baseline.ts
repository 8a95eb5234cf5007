/**
 * Median and MAD (median absolute deviation) over the last `capacity` samples: a baseline that one
 * outlier cannot drag, for quantities with heavy tails (latencies, response sizes) where an EWMA's
 * variance is blown up by the very spikes it should flag. Learning until `minSamples`, then armed.
 *
 * The ring is a plain array of at most `capacity` numbers; median/MAD sort a copy (capacity is small,
 * 32 by default, and they are computed when a window closes, not per event).
 */
export interface RobustState {
  samples: number[];
  /** Next slot to overwrite once the ring is full. */
  next: number;
  seen: number;
}

export interface RobustOptions {
  capacity: number;
  minSamples: number;
}

/** MAD scaled by this estimates the standard deviation of normal data. */
const MAD_TO_SIGMA = 1.4826;

export class MedianMadBaseline {
  private state: RobustState;

  constructor(
    private readonly opts: RobustOptions,
    initial?: RobustState,
  ) {
    this.state = initial && Array.isArray(initial.samples)
      ? { samples: initial.samples.slice(-opts.capacity), next: initial.next % opts.capacity, seen: initial.seen }
      : { samples: [], next: 0, seen: 0 };
  }

  get phase(): 'learning' | 'armed' {
    return this.state.seen >= this.opts.minSamples ? 'armed' : 'learning';
  }

  get samples(): number {
    return this.state.seen;
  }

  update(x: number): void {
    if (!Number.isFinite(x)) return;
    const s = this.state;
    if (s.samples.length < this.opts.capacity) s.samples.push(x);
    else s.samples[s.next] = x;
    s.next = (s.next + 1) % this.opts.capacity;
    s.seen += 1;
  }

  median(): number {
    return medianOf(this.state.samples);
  }

  /** Median absolute deviation, scaled to estimate a standard deviation. */
  mad(): number {
    const m = this.median();
    return medianOf(this.state.samples.map((v) => Math.abs(v - m))) * MAD_TO_SIGMA;
  }

  /** Robust z-score of `x`; `floor` keeps a constant baseline from making any change infinite. */
  score(x: number, floor: number): number {
    return (x - this.median()) / Math.max(this.mad(), floor);
  }

  snapshot(): RobustState {
    return { samples: [...this.state.samples], next: this.state.next, seen: this.state.seen };
  }
}

export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
