import { Redis } from 'ioredis';
import type { Logger } from '../telemetry/logger.js';
import type { Silence } from './silences.js';
import type { Acknowledgement } from './types.js';

/** How often a daemon reads the silences and acknowledgements the others wrote. */
export const SHARED_SYNC_INTERVAL_MS = 2000;
/** Entries older than this (silences past their end, acks) are dropped from Redis. */
const RETENTION_MS = 7 * 24 * 3600 * 1000;

/**
 * Silences and acknowledgements shared by every daemon on one Redis (same `alerts.queue.prefix`): an
 * operator silences or acknowledges through any daemon's API and every daemon honours it within
 * `SHARED_SYNC_INTERVAL_MS`. Two Redis hashes, `<prefix>:alert-silences` (id -> silence) and
 * `<prefix>:alert-acks` (alert id -> acknowledgement); alert ids are derived from the alert, so the same
 * alert has the same id in every daemon. Best effort while Redis is away: local state still applies.
 */
export class SharedAlertState {
  private readonly redis: Redis;
  private readonly silencesKey: string;
  private readonly acksKey: string;

  constructor(
    url: string,
    password: string | undefined,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.redis = new Redis(url, {
      ...(password !== undefined && { password }),
      // Operator actions are rare: a write made while Redis is reconnecting waits for it.
      maxRetriesPerRequest: 3,
      retryStrategy: (times) => Math.min(1000, 50 * times),
    });
    this.redis.on('error', () => undefined); // the queue already reports Redis being away
    this.silencesKey = `${prefix}:alert-silences`;
    this.acksKey = `${prefix}:alert-acks`;
  }

  async saveSilence(s: Silence): Promise<void> {
    await this.redis.hset(this.silencesKey, s.id, JSON.stringify(s)).catch((err: Error) => this.warn(err));
  }

  async saveAck(alertId: string, ack: Acknowledgement): Promise<void> {
    await this.redis.hset(this.acksKey, alertId, JSON.stringify(ack)).catch((err: Error) => this.warn(err));
  }

  /** Everything shared now; empty maps while Redis is away. Old entries are pruned on the way. */
  async load(now: number = Date.now()): Promise<{ silences: Silence[]; acks: Map<string, Acknowledgement> }> {
    if (this.redis.status !== 'ready') return { silences: [], acks: new Map() };
    try {
      const [rawSilences, rawAcks] = await Promise.all([this.redis.hgetall(this.silencesKey), this.redis.hgetall(this.acksKey)]);
      const silences: Silence[] = [];
      const stale: string[] = [];
      for (const [id, json] of Object.entries(rawSilences)) {
        const s = JSON.parse(json) as Silence;
        if (Date.parse(s.endsAt) + RETENTION_MS < now) stale.push(id);
        else silences.push(s);
      }
      if (stale.length) await this.redis.hdel(this.silencesKey, ...stale);
      const acks = new Map<string, Acknowledgement>();
      const staleAcks: string[] = [];
      for (const [id, json] of Object.entries(rawAcks)) {
        const a = JSON.parse(json) as Acknowledgement;
        if (Date.parse(a.at) + RETENTION_MS < now) staleAcks.push(id);
        else acks.set(id, a);
      }
      if (staleAcks.length) await this.redis.hdel(this.acksKey, ...staleAcks);
      return { silences, acks };
    } catch (err) {
      this.warn(err as Error);
      return { silences: [], acks: new Map() };
    }
  }

  close(): void {
    this.redis.disconnect();
  }

  private warn(err: Error): void {
    this.logger.debug({ err: { message: err.message } }, 'shared alert state: Redis unavailable');
  }
}
