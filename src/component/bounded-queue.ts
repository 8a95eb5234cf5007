import type { BatchMeta, Consumer } from './component.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface BoundedQueueOptions<T> {
  /** Name used in the `queue` label of the queue metrics. */
  name: string;
  /** Most items held at once; a batch that would exceed it is refused whole. */
  capacity: number;
  /**
   * Most bytes held at once, counted from each batch's `meta.bytes` (batches without it count 0). Item
   * counts alone do not bound memory when item sizes vary a hundredfold.
   */
  capacityBytes?: number;
  /** How many items a batch counts for (a span batch counts its spans). */
  sizeOf?: (batch: readonly T[]) => number;
  /**
   * When nothing is waiting, hand a batch to the next stage at once, in the caller's turn, and pass its
   * refusal back, instead of queueing it. For stages whose items are costly to hold: decoded spans that wait
   * in a queue outlive young-generation collections and are then promoted and collected by full GCs
   * (measured in-process: holding 150 decoded requests, what 64 MiB of bodies allows, cut decode + normalize
   * + store from ~65k to ~27k spans per CPU second). The caller's own budget (the receiver's in-flight
   * limit) then bounds the work in progress.
   */
  passThroughWhenIdle?: boolean;
  metrics: Metrics;
}

/**
 * The bounded hand-off between two pipeline stages. `consume` enqueues or refuses at once (never blocks,
 * never grows past `capacity`); a drain loop on `setImmediate` hands batches to the next stage so the
 * HTTP handler that produced them can answer before the work is done.
 *
 * Counters (`mcpwatch_queue_*_total{queue}`): accepted and refused at the door, dropped when the next
 * stage refuses or throws, or when shutdown's deadline passes with items still queued.
 */
export class BoundedQueue<T> implements Consumer<T> {
  private readonly batches: { items: readonly T[]; n: number; bytes: number; release: (() => void) | undefined }[] = [];
  private held = 0;
  private heldBytes = 0;
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly sizeOf: (batch: readonly T[]) => number;

  constructor(
    private readonly opts: BoundedQueueOptions<T>,
    private readonly next: Consumer<T>,
  ) {
    this.sizeOf = opts.sizeOf ?? ((b) => b.length);
    opts.metrics.queueCapacity.set({ queue: opts.name }, opts.capacity);
  }

  /** Items currently waiting. */
  get size(): number {
    return this.held;
  }

  /** Bytes currently waiting (as declared by producers). */
  get sizeBytes(): number {
    return this.heldBytes;
  }

  hasRoomFor(n: number, bytes = 0): boolean {
    return !this.closed && this.fits(n, bytes);
  }

  consume(batch: readonly T[], meta?: BatchMeta): boolean {
    const n = this.sizeOf(batch);
    const bytes = meta?.bytes ?? 0;
    const labels = { queue: this.opts.name };
    if (this.closed || !this.fits(n, bytes)) {
      this.opts.metrics.queueRefused.inc(labels, n);
      meta?.release?.();
      return false;
    }
    if (this.opts.passThroughWhenIdle && this.batches.length === 0) {
      let taken = false;
      try {
        taken = this.next.consume(batch, meta);
      } catch {
        taken = false;
      } finally {
        meta?.release?.();
      }
      (taken ? this.opts.metrics.queueAccepted : this.opts.metrics.queueRefused).inc(labels, n);
      return taken;
    }
    this.batches.push({ items: batch, n, bytes, release: meta?.release });
    this.held += n;
    this.heldBytes += bytes;
    this.opts.metrics.queueAccepted.inc(labels, n);
    this.opts.metrics.queueSize.set(labels, this.held);
    this.schedule();
    return true;
  }

  /** Stops accepting, then resolves when everything queued has been handed on or the deadline passed. */
  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    if (this.held === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const drained = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([drained, expired]);
    clearTimeout(timer);
    if (this.held > 0) {
      this.opts.metrics.queueDropped.inc({ queue: this.opts.name }, this.held);
      for (const dropped of this.batches) dropped.release?.();
      this.batches.length = 0;
      this.held = 0;
      this.heldBytes = 0;
      this.opts.metrics.queueSize.set({ queue: this.opts.name }, 0);
    }
  }

  private fits(n: number, bytes: number): boolean {
    if (this.held + n > this.opts.capacity) return false;
    // An empty queue takes any one batch, so a batch larger than the byte budget is not refused forever.
    return this.opts.capacityBytes === undefined || this.heldBytes === 0 || this.heldBytes + bytes <= this.opts.capacityBytes;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const labels = { queue: this.opts.name };
    // Bound the work per turn so HTTP handlers and timers keep running under a backlog.
    const started = performance.now();
    while (this.batches.length > 0 && performance.now() - started < 20) {
      const { items, n, bytes, release } = this.batches.shift()!;
      this.held -= n;
      this.heldBytes -= bytes;
      let taken = false;
      try {
        taken = this.next.consume(items, { bytes });
      } catch {
        taken = false;
      } finally {
        release?.();
      }
      if (!taken) this.opts.metrics.queueDropped.inc(labels, n);
    }
    this.opts.metrics.queueSize.set(labels, this.held);
    if (this.batches.length > 0) this.schedule();
    else for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
