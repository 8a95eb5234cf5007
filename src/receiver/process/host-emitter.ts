import { randomBytes } from 'node:crypto';
import type { Consumer } from '../../component/component.js';
import type { McpEvent, ServerIdentity } from '../../pipeline/events.js';
import type { TrackedServer } from '../../pipeline/server-registry.js';
import { LogOnce, type Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';

type HostEvent = Exclude<McpEvent, { kind: 'mcp' }>;
/** An event as a receiver builds it; the emitter adds the id. */
export type HostEventDraft = HostEvent extends infer E ? (E extends HostEvent ? Omit<E, 'id'> : never) : never;

/**
 * Hands a host receiver's events to the event bus: unique ids, per-action counters, and refusals counted and
 * logged once (a sample cannot be re-read from /proc later, so a refused batch is dropped, never retried).
 */
export class HostEmitter {
  private readonly prefix = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly logOnce = new LogOnce();

  constructor(
    private readonly receiver: 'process' | 'file' | 'network',
    private readonly next: Consumer<McpEvent>,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  emit(drafts: HostEventDraft[]): void {
    if (drafts.length === 0) return;
    const batch = drafts.map((d) => ({ ...d, id: `${this.receiver}-${this.prefix}-${(this.seq++).toString(36)}` }) as McpEvent);
    let taken: boolean;
    try {
      taken = this.next.consume(batch);
    } catch {
      taken = false;
    }
    if (!taken) {
      this.metrics.hostDroppedEvents.inc({ receiver: this.receiver }, batch.length);
      if (this.logOnce.shouldLog('refused')) this.logger.warn({ receiver: this.receiver, events: batch.length }, 'event bus refused host events; they are dropped');
      return;
    }
    for (const e of drafts) this.metrics.hostEvents.inc({ receiver: this.receiver, action: e.action });
  }
}

/** The identity an event carries: the tracked identity plus how it was found. */
export function identityOf(server: TrackedServer): ServerIdentity {
  return { ...server.identity, pid: server.rootPid, registered: server.registered, source: server.source };
}

/** Attribution target when no server can be named. */
export const UNATTRIBUTED: ServerIdentity = { id: 'unattributed', name: 'unattributed' };
