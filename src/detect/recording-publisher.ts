import type { AlertInput, AlertPublisher, Severity } from '../alert/types.js';
import type { Logger } from '../telemetry/logger.js';

/** An alert as the recording publisher keeps it: the input plus status, times and a repeat count. */
export interface RecordedAlert {
  fingerprint: string;
  status: 'firing' | 'resolved';
  detector: string;
  severity: Severity;
  title: string;
  summary: string;
  server: string;
  tool?: string;
  session?: string;
  key?: string;
  traceIds: string[];
  evidence: AlertInput['evidence'];
  labels: Record<string, string>;
  startsAt: string;
  lastFiredAt: string;
  endsAt?: string;
  count: number;
}

export function alertFingerprint(a: Pick<AlertInput, 'detector' | 'server' | 'tool' | 'key'>): string {
  return [a.detector, a.server, a.tool ?? '', a.key ?? ''].join('\u001f');
}

const LOG_LEVEL: Record<Severity, 'info' | 'warn' | 'error'> = { info: 'info', low: 'info', medium: 'warn', high: 'error', critical: 'error' };

/**
 * The engine's alert hand-off while no alert manager runs: keeps the last `capacity` alerts in memory
 * (for `GET /api/alerts` and `mcpwatch alerts`) and logs each alert when it starts firing, so alerts are
 * visible in the log at once. Same fingerprint = same alert: a repeat only bumps `count`.
 */
export class RecordingAlertPublisher implements AlertPublisher {
  private readonly alerts = new Map<string, RecordedAlert>();
  /** Every `fire` call, including repeats. */
  fired = 0;

  constructor(
    private readonly opts: { capacity: number; logger?: Logger; onRecord?: (alert: RecordedAlert) => void },
  ) {}

  fire(input: AlertInput): void {
    this.fired += 1;
    const fingerprint = alertFingerprint(input);
    const at = new Date(input.time ?? Date.now()).toISOString();
    const existing = this.alerts.get(fingerprint);
    if (existing && existing.status === 'firing') {
      existing.count += 1;
      existing.lastFiredAt = at;
      existing.evidence = input.evidence;
      existing.summary = input.summary;
      existing.traceIds = [...new Set([...existing.traceIds, ...(input.traceIds ?? [])])].slice(-20);
      this.alerts.delete(fingerprint);
      this.alerts.set(fingerprint, existing);
      return;
    }
    const alert: RecordedAlert = {
      fingerprint,
      status: 'firing',
      detector: input.detector,
      severity: input.severity,
      title: input.title,
      summary: input.summary,
      server: input.server,
      traceIds: input.traceIds ?? [],
      evidence: input.evidence,
      labels: input.labels ?? {},
      startsAt: at,
      lastFiredAt: at,
      count: 1,
    };
    if (input.tool !== undefined) alert.tool = input.tool;
    if (input.session !== undefined) alert.session = input.session;
    if (input.key !== undefined) alert.key = input.key;
    this.alerts.delete(fingerprint);
    this.alerts.set(fingerprint, alert);
    while (this.alerts.size > this.opts.capacity) this.alerts.delete(this.alerts.keys().next().value as string);
    this.opts.logger?.[LOG_LEVEL[alert.severity]]({ alert }, `alert ${alert.detector}: ${alert.summary}`);
    this.opts.onRecord?.(alert);
  }

  resolve(input: Pick<AlertInput, 'detector' | 'server' | 'tool' | 'key'> & { time?: number }): void {
    const alert = this.alerts.get(alertFingerprint(input));
    if (!alert || alert.status !== 'firing') return;
    alert.status = 'resolved';
    alert.endsAt = new Date(input.time ?? Date.now()).toISOString();
    this.opts.logger?.info({ alert: { detector: alert.detector, server: alert.server, tool: alert.tool, key: alert.key } }, `alert ${alert.detector} resolved`);
  }

  /** Newest first. */
  list(filter: { detector?: string; server?: string; status?: 'firing' | 'resolved'; limit?: number } = {}): RecordedAlert[] {
    const out: RecordedAlert[] = [];
    const all = [...this.alerts.values()].reverse();
    for (const a of all) {
      if (filter.detector !== undefined && a.detector !== filter.detector) continue;
      if (filter.server !== undefined && a.server !== filter.server) continue;
      if (filter.status !== undefined && a.status !== filter.status) continue;
      out.push(a);
      if (filter.limit !== undefined && out.length >= filter.limit) break;
    }
    return out;
  }
}
