import type { Logger } from '../../telemetry/logger.js';
import { LogOnce } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';

/**
 * Runs one host receiver's sample every `intervalMs`: timed into `mcpwatch_host_sample_duration_seconds`,
 * never overlapping itself, and never crashing the daemon (a throwing sample is logged once and the next one
 * runs as usual). The timer is unref'd so a forgotten receiver never holds a process open.
 */
export class Ticker {
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly logOnce = new LogOnce();

  constructor(
    private readonly receiver: string,
    private readonly intervalMs: number,
    private readonly sample: () => void | Promise<void>,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample now (tests and the first sample after start call it directly). */
  async runOnce(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const t0 = performance.now();
    try {
      await this.sample();
    } catch (err) {
      if (this.logOnce.shouldLog('sample')) this.logger.warn({ receiver: this.receiver, err: (err as Error).stack ?? String(err) }, 'host receiver sample failed; it keeps sampling');
    } finally {
      this.running = false;
      this.metrics.hostSampleDuration.observe({ receiver: this.receiver }, (performance.now() - t0) / 1000);
    }
  }
}
