import type { z } from 'zod';
import type { alertmanagerSinkSchema } from '../../config/schema.js';
import type { Logger } from '../../telemetry/logger.js';
import { maskAlert } from '../mask-alert.js';
import type { DeliveryJob } from '../queue/types.js';
import type { TrackedAlert } from '../types.js';
import { alertAnnotations, alertLabels } from './alertmanager-format.js';
import { postJson } from './http-post.js';
import type { AlertSink } from './types.js';

export type AlertmanagerSinkConfig = z.infer<typeof alertmanagerSinkSchema>;

/** Most firing alerts remembered for re-sending; beyond it the oldest is dropped (Alertmanager times it out). */
const MAX_TRACKED = 10_000;
/**
 * A firing alert's `endsAt` is this many resend intervals ahead, as Prometheus does: Alertmanager resolves
 * it by itself only if several re-sends in a row are missed (this daemon died), never between two re-sends.
 */
const ENDS_AT_INTERVALS = 4;

/** One element of Alertmanager's `postableAlerts` (OpenAPI v2). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

/**
 * Alertmanager `POST /api/v2/alerts`. Alertmanager expects firing alerts to be sent again and again
 * (otherwise it resolves them after `resolve_timeout`), so this sink remembers the firing alerts it
 * delivered and re-sends them every `resendIntervalSeconds`; a resolved alert is sent once with its
 * `endsAt` and forgotten.
 */
export class AlertmanagerSink implements AlertSink {
  readonly concurrency: number;
  private readonly firing = new Map<string, TrackedAlert>();
  private timer?: NodeJS.Timeout;
  private readonly endpoint: string;

  constructor(
    readonly name: string,
    private readonly config: AlertmanagerSinkConfig,
    private readonly logger: Logger,
    private readonly externalUrl = '',
  ) {
    this.concurrency = config.concurrency ?? 4;
    this.endpoint = `${config.url.replace(/\/$/, '')}/api/v2/alerts`;
  }

  start(): void {
    this.timer = setInterval(() => void this.resend(), this.config.resendIntervalSeconds * 1000);
    this.timer.unref();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
  }

  readonly deliver = async (job: DeliveryJob): Promise<void> => {
    const alerts = job.alerts.map((a) => maskAlert(a as TrackedAlert));
    await this.post(alerts);
    for (const a of alerts) {
      if (a.status === 'resolved') this.firing.delete(a.fingerprint);
      else {
        this.firing.delete(a.fingerprint);
        this.firing.set(a.fingerprint, a);
        if (this.firing.size > MAX_TRACKED) this.firing.delete(this.firing.keys().next().value!);
      }
    }
  };

  /** Firing alerts this daemon delivered, as re-sent on the interval. */
  tracked(): TrackedAlert[] {
    return [...this.firing.values()];
  }

  /** Sends every remembered firing alert again; a failure waits for the next interval. */
  async resend(): Promise<void> {
    if (this.firing.size === 0) return;
    try {
      await this.post([...this.firing.values()]);
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message }, sink: this.name }, 'alertmanager re-send failed; next try on the interval');
    }
  }

  /** The v2 body for these alerts, at time `now`. */
  body(alerts: readonly TrackedAlert[], now: number = Date.now()): PostableAlert[] {
    const endsAhead = new Date(now + ENDS_AT_INTERVALS * this.config.resendIntervalSeconds * 1000).toISOString();
    return alerts.map((a) => ({
      labels: alertLabels(a),
      annotations: alertAnnotations(a),
      startsAt: a.startsAt,
      endsAt: a.status === 'resolved' ? (a.endsAt ?? new Date(now).toISOString()) : endsAhead,
      ...(this.externalUrl && { generatorURL: `${this.externalUrl.replace(/\/$/, '')}/api/alerts?detector=${encodeURIComponent(a.detector)}` }),
    }));
  }

  private async post(alerts: readonly TrackedAlert[]): Promise<void> {
    await postJson(this.endpoint, JSON.stringify(this.body(alerts)), {}, this.config.timeoutSeconds * 1000);
  }
}
