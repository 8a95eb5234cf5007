/**
 * Runs synchronous, CPU-bound tasks one after the other (FIFO), at most `sliceMs` of them per event-loop turn
 * (and at least one, so a task longer than a slice still runs), then yields the loop with `setImmediate`.
 *
 * Why a receiver needs this: libuv (since libuv/libuv#3696; Node 20 ships libuv 1.46) accepts at most one
 * connection per event-loop iteration, and a request can only be answered, even refused, when the loop
 * reaches its socket. If every ready request were decoded and stored in the turn that read it, a turn would
 * last as long as the whole backlog: under a 5x overload with 512 connections that was ~350 ms per turn, ~3 new connections
 * accepted per second, and exporters timing out in the kernel's accept queue before the daemon saw them.
 * With the work sliced, a turn stays short however much is waiting, so connections are accepted and
 * refusals answered while the accepted work proceeds.
 *
 * What a waiting task holds lives across turns, long enough to survive young-generation collections and be
 * promoted. That is cheap for heap objects but not for Buffers: their memory outside the heap is then freed
 * only by a full mark-compact, and V8 starts one for every 64 MiB of it. With request bodies waiting here
 * each in a Buffer of its own, JSON ingest was 15-20% slower with 2 ms slices than with 20 ms: V8 runs its
 * scavenges as tasks between turns, and with short turns they found the waiting bodies every time
 * (`--trace-incremental-marking`: a mark-compact for "external memory pressure" every ~2 s, none with 20 ms;
 * `--no-minor-gc-task` closed most of the gap). Hence the OTLP receiver's reused body buffers
 * (`BodyBufferPool`), with which the slice length no longer matters for throughput.
 */
export class TimeSlicedRunner {
  private readonly tasks: (() => void)[] = [];
  private scheduled = false;

  /**
   * @param sliceMs longest run of tasks in one turn, in milliseconds (checked between tasks).
   */
  constructor(private readonly sliceMs: number) {}

  /** Tasks waiting for their turn. */
  get pending(): number {
    return this.tasks.length;
  }

  /** Queues `task`; the promise settles with its result (or its error) once it has run. */
  run<T>(task: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.tasks.push(() => {
        try {
          resolve(task());
        } catch (err) {
          reject(err);
        }
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const started = performance.now();
    do {
      this.tasks.shift()!();
    } while (this.tasks.length > 0 && performance.now() - started < this.sliceMs);
    if (this.tasks.length > 0) this.schedule();
  }
}
