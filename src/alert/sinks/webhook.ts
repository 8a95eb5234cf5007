import { createHmac } from 'node:crypto';
import type { z } from 'zod';
import type { webhookSinkSchema } from '../../config/schema.js';
import { maskAlert } from '../mask-alert.js';
import type { DeliveryJob } from '../queue/types.js';
import type { TrackedAlert } from '../types.js';
import { alertAnnotations, alertLabels, ZERO_TIME } from './alertmanager-format.js';
import { postJson } from './http-post.js';
import type { AlertSink } from './types.js';

export type WebhookSinkConfig = z.infer<typeof webhookSinkSchema>;

/** Header carrying `sha256=<hex HMAC-SHA256 of the raw body>` when the sink has a `secret`. */
export const SIGNATURE_HEADER = 'X-Mcpwatch-Signature';

/** `sha256=<hex>`: HMAC-SHA256 of the exact bytes sent, keyed with the sink's secret. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * The Alertmanager webhook v4 body (what Alertmanager itself POSTs to webhook receivers), so anything that
 * already consumes Alertmanager webhooks consumes mcpwatch. One body per notification.
 */
export function webhookV4Body(receiver: string, alerts: readonly TrackedAlert[], externalUrl = ''): Record<string, unknown> {
  const items = alerts.map((a) => ({
    status: a.status,
    labels: alertLabels(a),
    annotations: alertAnnotations(a),
    startsAt: a.startsAt,
    endsAt: a.endsAt ?? ZERO_TIME,
    generatorURL: externalUrl ? `${externalUrl.replace(/\/$/, '')}/api/alerts?detector=${encodeURIComponent(a.detector)}` : '',
    fingerprint: a.fingerprint,
  }));
  const common = <T extends Record<string, string>>(maps: T[]): Record<string, string> => {
    const [first, ...rest] = maps;
    if (!first) return {};
    return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((m) => m[k] === v)));
  };
  const commonLabels = common(items.map((i) => i.labels));
  const groupLabels: Record<string, string> = {};
  for (const k of ['alertname', 'server'] as const) if (commonLabels[k] !== undefined) groupLabels[k] = commonLabels[k];
  return {
    version: '4',
    groupKey: `{}:${JSON.stringify(groupLabels)}`,
    truncatedAlerts: 0,
    status: items.some((i) => i.status === 'firing') ? 'firing' : 'resolved',
    receiver,
    groupLabels,
    commonLabels,
    commonAnnotations: common(items.map((i) => i.annotations)),
    externalURL: externalUrl,
    alerts: items,
  };
}

/**
 * Generic webhook: POSTs the webhook v4 body, signed with `X-Mcpwatch-Signature` when a secret is set.
 * 2xx is delivered; 429 honours `Retry-After`; 408/5xx/network errors are retried; other 4xx dead-letter.
 */
export class WebhookSink implements AlertSink {
  readonly concurrency: number;
  constructor(
    readonly name: string,
    private readonly config: WebhookSinkConfig,
    private readonly externalUrl = '',
  ) {
    this.concurrency = config.concurrency ?? 4;
  }

  readonly deliver = async (job: DeliveryJob): Promise<void> => {
    const body = JSON.stringify(webhookV4Body(this.name, job.alerts.map((a) => maskAlert(a as TrackedAlert)), this.externalUrl));
    const headers: Record<string, string> = { 'x-mcpwatch-notification': job.id };
    if (this.config.secret) headers[SIGNATURE_HEADER] = signBody(this.config.secret, body);
    await postJson(this.config.url, body, headers, this.config.timeoutSeconds * 1000);
  };
}
