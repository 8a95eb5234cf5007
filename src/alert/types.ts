/**
 * The alert contract of DESIGN.md. Detectors raise `AlertInput`s through an `AlertPublisher`; the alert
 * manager turns them into `Alert`s (fingerprint, dedup, lifecycle) and hands them to the queue and sinks.
 */

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

/** Ordered from least to most severe, for "at least this severe" routing. */
export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

export function severityAtLeast(severity: Severity, minimum: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(minimum);
}

/** One piece of evidence: what was observed, and where to find it. Secrets are masked before sinks. */
export interface Evidence {
  /** Short description, e.g. "read ~/.ssh/id_rsa", "120 notifications/message in 10 s (baseline 3)". */
  description: string;
  /** The event the evidence comes from, when there is one. */
  eventId?: string;
  traceId?: string;
  spanId?: string;
  time?: number;
  /** Observed and expected values, for "observed versus baseline" evidence. */
  observed?: number | string;
  expected?: number | string;
  /** Free-form, JSON-serialisable details (untrusted text stays inside here). */
  details?: Record<string, unknown>;
}

export interface Alert {
  id: string;
  /** Same fingerprint = same alert: detector, server, tool and the detector's key. */
  fingerprint: string;
  status: 'firing' | 'resolved';
  /** Detector id (DESIGN.md list), also `labels.alertname` in Alertmanager bodies. */
  detector: string;
  severity: Severity;
  title: string;
  summary: string;
  server: string;
  tool?: string;
  session?: string;
  traceIds: string[];
  evidence: Evidence[];
  labels: Record<string, string>;
  /** RFC 3339. */
  startsAt: string;
  endsAt?: string;
  /** How many times this fingerprint fired since it started. */
  count: number;
}

/** What a detector raises; the manager fills id, fingerprint, status, timestamps and count. */
export interface AlertInput {
  detector: string;
  severity: Severity;
  title: string;
  summary: string;
  server: string;
  tool?: string;
  session?: string;
  /** The detector's own dedup key (e.g. the destination host); part of the fingerprint. */
  key?: string;
  traceIds?: string[];
  evidence: Evidence[];
  labels?: Record<string, string>;
  /** Event time (Unix ms) the alert is about; defaults to now. */
  time?: number;
}

/** The hand-off between detection and delivery. `resolve` ends a firing alert by its detector/key. */
export interface AlertPublisher {
  fire(input: AlertInput): void;
  resolve(input: Pick<AlertInput, 'detector' | 'server' | 'tool' | 'key'> & { time?: number }): void;
}

/** Who acknowledged a firing alert: repeat notifications stop until it resolves or fires anew. */
export interface Acknowledgement {
  author: string;
  comment: string;
  /** RFC 3339. */
  at: string;
}

/**
 * An alert as the manager keeps it for `/api/alerts`: the contract's fields plus delivery state. The
 * extra fields are optional so an `Alert` from elsewhere is still a `TrackedAlert`.
 */
export interface TrackedAlert extends Alert {
  /** Links into the trace backend, one per trace id (`alerts.traceLinkTemplate`). */
  traceLinks?: string[];
  acknowledged?: Acknowledgement;
  /** Id of the silence that held back its last notification. */
  silencedBy?: string;
  /** RFC 3339 time of the last notification handed to the queue. */
  lastNotifiedAt?: string;
}
