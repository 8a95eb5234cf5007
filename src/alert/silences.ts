import { createHash, randomUUID } from 'node:crypto';
import type { SilenceConfig } from '../config/schema.js';
import type { Alert } from './types.js';

/** A silence: alerts matching every given matcher are not notified between `startsAt` and `endsAt`. */
export interface Silence {
  id: string;
  detector?: string;
  server?: string;
  tool?: string;
  /** RFC 3339. */
  startsAt: string;
  endsAt: string;
  author: string;
  comment: string;
  createdAt: string;
  /** `config` silences come from `alerts.silences`; `api` ones from `POST /api/alerts/silences`. */
  source: 'config' | 'api';
  /** Set when an operator ended the silence early. */
  expiredBy?: string;
}

/** What creating a silence needs; `startsAt` defaults to now. */
export type SilenceInput = Pick<Silence, 'detector' | 'server' | 'tool' | 'endsAt' | 'author' | 'comment'> & { startsAt?: string };

/** Most silences held; expired ones are dropped first. Silences come from operators, so this is generous. */
const MAX_SILENCES = 10_000;
/** Expired silences stay listed this long so an operator can see what recently stopped applying. */
const EXPIRED_RETENTION_MS = 24 * 3600 * 1000;

/**
 * The silences of one daemon: from configuration at start-up and from the API at run time. A silence
 * needs at least one matcher, so nobody silences everything by accident.
 */
export class SilenceRegistry {
  private readonly silences = new Map<string, Silence>();

  /** Loads `alerts.silences`; their ids are stable across restarts and daemons (derived from content). */
  constructor(config: readonly SilenceConfig[] = [], now: number = Date.now()) {
    config.forEach((c) => {
      const id = `cfg-${createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 12)}`;
      this.silences.set(id, {
        id,
        ...(c.detector !== undefined && { detector: c.detector }),
        ...(c.server !== undefined && { server: c.server }),
        ...(c.tool !== undefined && { tool: c.tool }),
        startsAt: c.startsAt ?? new Date(now).toISOString(),
        endsAt: new Date(c.endsAt).toISOString(),
        author: c.author,
        comment: c.comment,
        createdAt: new Date(now).toISOString(),
        source: 'config',
      });
    });
  }

  /** Adds a silence; throws a sentence when it has no matcher or ends before it starts. */
  add(input: SilenceInput, now: number = Date.now()): Silence {
    if (input.detector === undefined && input.server === undefined && input.tool === undefined) {
      throw new RangeError('a silence needs at least one of detector, server, tool');
    }
    const startsAt = input.startsAt ? Date.parse(input.startsAt) : now;
    const endsAt = Date.parse(input.endsAt);
    if (!Number.isFinite(startsAt) || !Number.isFinite(endsAt)) throw new RangeError('startsAt and endsAt must be RFC 3339 times');
    if (endsAt <= startsAt || endsAt <= now) throw new RangeError('endsAt must be in the future and after startsAt');
    this.prune(now);
    if (this.silences.size >= MAX_SILENCES) throw new RangeError(`too many silences (${MAX_SILENCES}); expire some first`);
    const silence: Silence = {
      id: randomUUID(),
      ...(input.detector !== undefined && { detector: input.detector }),
      ...(input.server !== undefined && { server: input.server }),
      ...(input.tool !== undefined && { tool: input.tool }),
      startsAt: new Date(startsAt).toISOString(),
      endsAt: new Date(endsAt).toISOString(),
      author: input.author,
      comment: input.comment,
      createdAt: new Date(now).toISOString(),
      source: 'api',
    };
    this.silences.set(silence.id, silence);
    return silence;
  }

  /**
   * Takes a silence another daemon created or changed (shared through Redis). The copy with the earlier
   * `endsAt` wins, so an expiry made anywhere sticks.
   */
  upsert(s: Silence): void {
    const mine = this.silences.get(s.id);
    if (!mine || Date.parse(s.endsAt) < Date.parse(mine.endsAt)) this.silences.set(s.id, { ...s });
  }

  /** Ends a silence now; returns it, or undefined when there is no such silence. */
  expire(id: string, author: string, now: number = Date.now()): Silence | undefined {
    const s = this.silences.get(id);
    if (!s) return undefined;
    if (Date.parse(s.endsAt) > now) {
      s.endsAt = new Date(now).toISOString();
      s.expiredBy = author;
    }
    return s;
  }

  /** Silences, active first; `includeExpired` adds the recently expired ones. */
  list(opts: { includeExpired?: boolean } = {}, now: number = Date.now()): Silence[] {
    this.prune(now);
    return [...this.silences.values()].filter((s) => opts.includeExpired || isActive(s, now));
  }

  /** The first active silence matching the alert. */
  match(alert: Pick<Alert, 'detector' | 'server' | 'tool'>, now: number = Date.now()): Silence | undefined {
    for (const s of this.silences.values()) {
      if (!isActive(s, now)) continue;
      if (s.detector !== undefined && s.detector !== alert.detector) continue;
      if (s.server !== undefined && s.server !== alert.server) continue;
      if (s.tool !== undefined && s.tool !== alert.tool) continue;
      return s;
    }
    return undefined;
  }

  private prune(now: number): void {
    for (const [id, s] of this.silences) {
      if (Date.parse(s.endsAt) + EXPIRED_RETENTION_MS < now) this.silences.delete(id);
    }
  }
}

function isActive(s: Silence, now: number): boolean {
  return Date.parse(s.startsAt) <= now && now < Date.parse(s.endsAt);
}
