import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes as OtelAttributes, type HrTime } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../telemetry/logger.js';
import type { RecentStoreReader, StoredSpan, TraceNode } from '../store/types.js';
import type { AttributeValue } from '../receiver/otlp/span.js';
import type { TrackedAlert } from './types.js';

export interface AlertTraceExportOptions {
  endpoint: string;
  headers: Record<string, string>;
  reexportSpans: boolean;
  timeoutMs: number;
  logger: Logger;
  /** Where the received spans are held; without it only the alert spans are sent. */
  store?: RecentStoreReader;
}

/** Attribute names mcpwatch adds (its own namespace, never an OTel semconv name). */
export const ALERT_ATTR = {
  id: 'mcpwatch.alert.id',
  ids: 'mcpwatch.alert.ids',
  fingerprint: 'mcpwatch.alert.fingerprint',
  detector: 'mcpwatch.alert.detector',
  severity: 'mcpwatch.alert.severity',
  status: 'mcpwatch.alert.status',
  title: 'mcpwatch.alert.title',
  server: 'mcpwatch.alert.server',
  tool: 'mcpwatch.alert.tool',
} as const;

const TRACE_ID = /^[0-9a-f]{32}$/;
const MAX_SPANS_PER_TRACE = 500;
/** Spans already re-exported for an alert, remembered so a repeating alert does not resend them. */
const MAX_REMEMBERED = 50_000;

function hr(unixNano: number): HrTime {
  const s = Math.floor(unixNano / 1e9);
  return [s, Math.round(unixNano - s * 1e9)];
}

function toOtelAttributes(attrs: Record<string, AttributeValue>): OtelAttributes {
  const out: OtelAttributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = v as string[];
    else if (v !== null) out[k] = JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString('base64') : x));
  }
  return out;
}

/**
 * Sends alerts to a trace backend over OTLP/HTTP (`@opentelemetry/exporter-trace-otlp-http`): one span per
 * alert notification (`mcpwatch.alert`, in the alert's first trace, child of the span the evidence points
 * at), and optionally the spans of the alert's traces that the daemon still holds, re-exported with
 * `mcpwatch.alert.ids` added. Best effort: a failed export is logged, never retried, and never delays
 * alert delivery (the alert itself is delivered through the queue).
 */
export class AlertTraceExporter {
  private readonly exporter: OTLPTraceExporter;
  private readonly sent = new Set<string>();

  constructor(private readonly opts: AlertTraceExportOptions) {
    this.exporter = new OTLPTraceExporter({ url: opts.endpoint, headers: opts.headers, timeoutMillis: opts.timeoutMs });
  }

  /** The spans that `exportAlert` would send, for tests. */
  spansFor(alert: TrackedAlert, now: number = Date.now()): ReadableSpan[] {
    const spans: ReadableSpan[] = [];
    const traceIds = alert.traceIds.map((t) => t.toLowerCase()).filter((t) => TRACE_ID.test(t));
    if (this.opts.reexportSpans && this.opts.store) {
      for (const traceId of traceIds) {
        const trace = this.opts.store.getTrace(traceId);
        if (!trace) continue;
        for (const span of flatten(trace.roots).slice(0, MAX_SPANS_PER_TRACE)) {
          const key = `${alert.id}/${span.spanId}`;
          if (this.sent.has(key)) continue;
          this.remember(key);
          spans.push(this.storedToReadable(span, alert.id));
        }
      }
    }
    spans.push(this.alertSpan(alert, traceIds[0], now));
    return spans;
  }

  /** Exports the alert span (and re-exported spans); resolves when the backend answered or it failed. */
  async exportAlert(alert: TrackedAlert): Promise<boolean> {
    const spans = this.spansFor(alert);
    return new Promise<boolean>((resolve) => {
      this.exporter.export(spans, (result) => {
        if (result.code !== 0) {
          this.opts.logger.warn({ err: { message: result.error?.message }, alert: alert.id }, 'alert trace export failed');
        }
        resolve(result.code === 0);
      });
    });
  }

  async shutdown(): Promise<void> {
    await this.exporter.shutdown().catch(() => undefined);
  }

  private remember(key: string): void {
    this.sent.add(key);
    if (this.sent.size > MAX_REMEMBERED) this.sent.delete(this.sent.values().next().value!);
  }

  private alertSpan(alert: TrackedAlert, traceId: string | undefined, now: number): ReadableSpan {
    const parentSpanId = alert.evidence.find((e) => e.spanId && /^[0-9a-f]{16}$/.test(e.spanId) && e.traceId === traceId)?.spanId;
    const start = Date.parse(alert.startsAt) * 1e6;
    const end = Math.max(start, now * 1e6);
    const attributes: OtelAttributes = {
      [ALERT_ATTR.id]: alert.id,
      [ALERT_ATTR.fingerprint]: alert.fingerprint,
      [ALERT_ATTR.detector]: alert.detector,
      [ALERT_ATTR.severity]: alert.severity,
      [ALERT_ATTR.status]: alert.status,
      [ALERT_ATTR.title]: alert.title,
      [ALERT_ATTR.server]: alert.server,
      ...(alert.tool !== undefined && { [ALERT_ATTR.tool]: alert.tool }),
    };
    return this.readable({
      name: `mcpwatch.alert ${alert.detector}`,
      traceId: traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      ...(parentSpanId !== undefined && traceId !== undefined && { parentSpanId }),
      kind: SpanKind.INTERNAL,
      start,
      end,
      attributes,
      status: alert.status === 'firing' ? SpanStatusCode.ERROR : SpanStatusCode.OK,
      resource: { 'service.name': 'mcpwatch' },
      scope: { name: 'mcpwatch.alert' },
    });
  }

  private storedToReadable(span: StoredSpan, alertId: string): ReadableSpan {
    const attributes = toOtelAttributes(span.attributes);
    const ids = attributes[ALERT_ATTR.ids];
    attributes[ALERT_ATTR.ids] = [...(Array.isArray(ids) ? (ids as string[]) : []), alertId];
    return this.readable({
      name: span.name,
      traceId: span.traceId,
      spanId: span.spanId,
      ...(span.parentSpanId !== undefined && { parentSpanId: span.parentSpanId }),
      kind: Math.max(0, span.kind - 1) as SpanKind, // OTLP kinds start at 1 (INTERNAL); the API's at 0
      start: span.startTimeUnixNano,
      end: span.endTimeUnixNano,
      attributes,
      status: span.status.code as SpanStatusCode,
      resource: toOtelAttributes(span.resource),
      scope: span.scope,
    });
  }

  private readable(s: {
    name: string;
    traceId: string;
    spanId: string;
    parentSpanId?: string;
    kind: SpanKind;
    start: number;
    end: number;
    attributes: OtelAttributes;
    status: SpanStatusCode;
    resource: OtelAttributes;
    scope: { name: string; version?: string };
  }): ReadableSpan {
    const ctx = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED };
    return {
      name: s.name,
      kind: s.kind,
      spanContext: () => ctx,
      ...(s.parentSpanId !== undefined && { parentSpanContext: { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED } }),
      startTime: hr(s.start),
      endTime: hr(s.end),
      duration: hr(Math.max(0, s.end - s.start)),
      status: { code: s.status },
      attributes: s.attributes,
      links: [],
      events: [],
      ended: true,
      resource: resourceFromAttributes(s.resource),
      instrumentationScope: s.scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }
}

function flatten(nodes: readonly TraceNode[]): StoredSpan[] {
  const out: StoredSpan[] = [];
  const stack = [...nodes];
  while (stack.length) {
    const n = stack.pop()!;
    out.push(n.span);
    stack.push(...n.children);
  }
  return out;
}
