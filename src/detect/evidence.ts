import type { Evidence } from '../alert/types.js';
import type { McpEvent } from '../pipeline/events.js';

/** Where an event can be found again: id, trace, span, time (for `Evidence`). */
export function eventRef(event: McpEvent): Pick<Evidence, 'eventId' | 'traceId' | 'spanId' | 'time'> {
  const ref: Pick<Evidence, 'eventId' | 'traceId' | 'spanId' | 'time'> = { eventId: event.id, time: event.time };
  if (event.traceId !== undefined) ref.traceId = event.traceId;
  if (event.spanId !== undefined) ref.spanId = event.spanId;
  return ref;
}

/**
 * A small ring of the most recent trace ids behind an entity's alert (a flood has thousands of events;
 * the alert carries the last few, enough to open the traces).
 */
export class TraceSample {
  private readonly ids: string[] = [];
  constructor(private readonly capacity = 5) {}

  add(traceId: string | undefined): void {
    if (traceId === undefined || this.ids[this.ids.length - 1] === traceId) return;
    this.ids.push(traceId);
    if (this.ids.length > this.capacity) this.ids.shift();
  }

  list(): string[] {
    return [...new Set(this.ids)];
  }
}

/** The `{field}` template of a manifest's `output`, filled from `fields`; unknown fields stay as written. */
export function renderOutput(template: string, fields: Record<string, string | number | undefined>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = fields[name];
    return v === undefined ? whole : String(v);
  });
}
