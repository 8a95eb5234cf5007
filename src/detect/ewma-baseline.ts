/**
 * An exponentially weighted mean and variance of one measured quantity (a rate, a latency, a size) with
 * an explicit learning state: the baseline is `learning` until it has seen `minSamples` samples, then
 * `armed`. Detectors compare against it only when armed; absolute ceilings apply in both states.
 *
 * West's incremental EWMA: mean += a*d; var = (1-a)*(var + a*d^2), d = x - mean.
 */
export interface EwmaState {
  mean: number;
  variance: number;
  samples: number;
}

export interface EwmaOptions {
  /** Weight of each new sample, 0 < alpha <= 1 (0.05 ~ the last ~40 samples dominate). */
  alpha: number;
  /** Samples needed before the baseline is armed. */
  minSamples: number;
}

export class EwmaBaseline {
  private state: EwmaState;

  constructor(
    private readonly opts: EwmaOptions,
    initial?: EwmaState,
  ) {
    this.state = initial ? { ...initial } : { mean: 0, variance: 0, samples: 0 };
  }

  get phase(): 'learning' | 'armed' {
    return this.state.samples >= this.opts.minSamples ? 'armed' : 'learning';
  }

  get mean(): number {
    return this.state.mean;
  }

  get stddev(): number {
    return Math.sqrt(this.state.variance);
  }

  get samples(): number {
    return this.state.samples;
  }

  update(x: number): void {
    if (!Number.isFinite(x)) return;
    if (this.state.samples === 0) {
      this.state = { mean: x, variance: 0, samples: 1 };
      return;
    }
    const a = this.opts.alpha;
    const d = x - this.state.mean;
    this.state.mean += a * d;
    this.state.variance = (1 - a) * (this.state.variance + a * d * d);
    this.state.samples += 1;
  }

  /**
   * How many standard deviations `x` lies above the mean. `floor` keeps a near-constant baseline from
   * turning tiny wobbles into huge scores (a stddev of 0 would make any change infinite).
   */
  score(x: number, floor: number): number {
    return (x - this.state.mean) / Math.max(this.stddev, floor);
  }

  /** Serialisable state, for persistence across restarts. */
  snapshot(): EwmaState {
    return { ...this.state };
  }
}
