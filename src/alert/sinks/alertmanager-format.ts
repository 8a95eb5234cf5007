import type { TrackedAlert } from '../types.js';

/**
 * Alertmanager's label and annotation view of an alert, shared by the generic webhook (webhook v4 body)
 * and the Alertmanager sink (`POST /api/v2/alerts`). `alertname` is the detector id (DESIGN.md). Labels
 * identify the alert (Alertmanager fingerprints on them), annotations carry the text.
 */
export function alertLabels(alert: TrackedAlert): Record<string, string> {
  return {
    ...alert.labels,
    alertname: alert.detector,
    severity: alert.severity,
    server: alert.server,
    ...(alert.tool !== undefined && { tool: alert.tool }),
    mcpwatch_fingerprint: alert.fingerprint,
  };
}

export function alertAnnotations(alert: TrackedAlert): Record<string, string> {
  return {
    summary: alert.title,
    description: alert.summary,
    alert_id: alert.id,
    count: String(alert.count),
    ...(alert.session !== undefined && { session: alert.session }),
    ...(alert.traceIds.length > 0 && { trace_ids: alert.traceIds.join(',') }),
    ...(alert.traceLinks?.[0] !== undefined && { trace_url: alert.traceLinks[0] }),
    ...(alert.evidence.length > 0 && { evidence: JSON.stringify(alert.evidence).slice(0, 16_384) }),
  };
}

/** Alertmanager's "zero time" for an alert that has not ended. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';
