import { z } from 'zod';
import type { AdminRoute, Reply } from '../api/admin-server.js';
import { AdminApiError } from '../api/errors.js';
import { toSafeJson } from '../api/json.js';
import { parseDurationMs } from '../api/since.js';
import { limitParam, sinceParam } from '../api/query-params.js';
import { formatZodIssues } from '../config/load.js';
import type { AlertManager, AlertQuery } from './manager.js';
import { SEVERITIES, type Severity } from './types.js';

const severity = z.enum(['info', 'low', 'medium', 'high', 'critical']);
const name = z.string().min(1).max(256);

/** `POST /api/alerts`: raise an alert from outside (integrations, "test my sinks"). */
export const alertInputBody = z
  .object({
    detector: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a snake_case detector id'),
    severity,
    title: z.string().min(1).max(512),
    summary: z.string().max(8192).default(''),
    server: name,
    tool: name.optional(),
    session: name.optional(),
    key: name.optional(),
    traceIds: z.array(z.string().regex(/^[0-9a-f]{32}$/i, 'must be a 32-hex-digit trace id')).max(20).optional(),
    evidence: z
      .array(
        z
          .object({
            description: z.string().min(1).max(2048),
            eventId: z.string().max(256).optional(),
            traceId: z.string().max(64).optional(),
            spanId: z.string().max(32).optional(),
            time: z.number().optional(),
            observed: z.union([z.number(), z.string().max(1024)]).optional(),
            expected: z.union([z.number(), z.string().max(1024)]).optional(),
            details: z.record(z.string(), z.unknown()).optional(),
          })
          .strict(),
      )
      .max(20)
      .default([]),
    labels: z.record(z.string().max(128), z.string().max(1024)).optional(),
    time: z.number().int().positive().optional(),
  })
  .strict();

const resolveBody = alertInputBody.pick({ detector: true, server: true, tool: true, key: true, time: true }).strict();

const ackBody = z.object({ author: z.string().min(1).max(200), comment: z.string().max(2000).default('') }).strict();

const silenceBody = z
  .object({
    detector: z.string().min(1).max(256).optional(),
    server: name.optional(),
    tool: name.optional(),
    /** How long from now (`2h`, `30m`), or `endsAt`. */
    duration: z.string().regex(/^(\d{1,9}(ms|s|m|h|d))+$/, 'must be a duration such as 30m, 2h, 7d').optional(),
    endsAt: z.string().datetime({ offset: true }).optional(),
    author: z.string().min(1).max(200),
    comment: z.string().max(2000).default(''),
  })
  .strict()
  .refine((b) => (b.duration === undefined) !== (b.endsAt === undefined), { message: 'give exactly one of duration or endsAt' })
  .refine((b) => b.detector !== undefined || b.server !== undefined || b.tool !== undefined, {
    message: 'give at least one of detector, server, tool',
  });

const expireBody = z.object({ author: z.string().min(1).max(200) }).strict();
const replayBody = z.object({ ids: z.array(z.string().min(1).max(128)).min(1).max(1000).optional(), all: z.boolean().optional() }).strict()
  .refine((b) => (b.ids !== undefined) !== (b.all === true), { message: 'give ids, or all: true' });

const LIST_PARAMS = ['detector', 'server', 'severity', 'status', 'since', 'limit'] as const;
const MAX_LIMIT = 1000;

function reply(status: number, value: unknown): Reply {
  return { status, body: toSafeJson(value) };
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new AdminApiError('bad_request', formatZodIssues(r.error.issues).join('; '));
  return r.data;
}

/** Validates the query of `GET /api/alerts`; unknown or repeated parameters are errors, as for events. */
export function parseAlertQuery(query: URLSearchParams, now: number = Date.now()): AlertQuery & { limit: number } {
  const out: AlertQuery & { limit: number } = { limit: 100 };
  const seen = new Set<string>();
  for (const [key, value] of query) {
    if (!(LIST_PARAMS as readonly string[]).includes(key)) {
      throw new AdminApiError('bad_request', `${key.slice(0, 64)}: unknown parameter; accepted: ${LIST_PARAMS.join(', ')}`);
    }
    if (seen.has(key)) throw new AdminApiError('bad_request', `${key}: given more than once`);
    seen.add(key);
    if (value === '' || value.length > 1024) throw new AdminApiError('bad_request', `${key}: must be 1 to 1024 characters`);
    switch (key) {
      case 'detector':
      case 'server':
        out[key] = value;
        break;
      case 'severity':
        if (!(SEVERITIES as readonly string[]).includes(value)) throw new AdminApiError('bad_request', `severity: must be one of ${SEVERITIES.join(', ')}`);
        out.severity = value as Severity;
        break;
      case 'status':
        if (value !== 'firing' && value !== 'resolved') throw new AdminApiError('bad_request', 'status: must be firing or resolved');
        out.status = value;
        break;
      case 'since':
        out.since = sinceParam(value, now);
        break;
      case 'limit':
        out.limit = limitParam(value, MAX_LIMIT);
        break;
    }
  }
  return out;
}

/** A path segment, percent-decoded; a malformed escape is a 400, not a 500. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AdminApiError('bad_request', 'the path holds a malformed percent-escape');
  }
}

function exact(path: string): (p: string) => Record<string, string> | undefined {
  return (p) => (p === path ? {} : undefined);
}

/**
 * The alert routes of the admin API. Reads are GET; changes are POST with a JSON body validated by zod
 * (400 naming the field). All of them need the admin bearer token when one is configured.
 *
 * - `GET  /api/alerts?detector&server&severity&status&since&limit`  alerts, newest first
 * - `POST /api/alerts`                       raise an alert; 202 once durably recorded
 * - `POST /api/alerts/resolve`               resolve by detector/server/tool/key
 * - `GET  /api/alerts/:id`                   one alert
 * - `POST /api/alerts/:id/ack`               `{author, comment?}`: no more repeats until it resolves
 * - `GET  /api/alerts/silences?expired=true` silences
 * - `POST /api/alerts/silences`              `{detector?, server?, tool?, duration | endsAt, author, comment?}`
 * - `POST /api/alerts/silences/:id/expire`   `{author}`
 * - `GET  /api/alerts/dead-letters`          notifications that failed for good
 * - `POST /api/alerts/replay`                `{ids}` or `{all: true}`: back into the queue
 */
export function alertRoutes(manager: AlertManager): AdminRoute[] {
  return [
    {
      template: '/api/alerts',
      public: false,
      methods: ['GET', 'HEAD', 'POST'],
      match: exact('/api/alerts'),
      handle: async (_p, q, body) => {
        if (body === undefined) {
          const query = parseAlertQuery(q);
          const alerts = manager.list(query);
          return reply(200, { count: alerts.length, limit: query.limit, alerts });
        }
        const input = parseBody(alertInputBody, body);
        try {
          const alert = await manager.fireDurably(input);
          return reply(202, { alert });
        } catch (err) {
          throw new AdminApiError('alert_not_recorded', `The alert could not be recorded durably: ${(err as Error).message}`);
        }
      },
    },
    {
      template: '/api/alerts/resolve',
      public: false,
      methods: ['POST'],
      match: exact('/api/alerts/resolve'),
      handle: async (_p, _q, body) => {
        const alert = await manager.resolveDurably(parseBody(resolveBody, body));
        if (!alert) throw new AdminApiError('alert_not_found', 'No firing alert has this detector, server, tool and key.');
        return reply(200, { alert });
      },
    },
    {
      template: '/api/alerts/dead-letters',
      public: false,
      match: exact('/api/alerts/dead-letters'),
      handle: async () => {
        const deadLetters = await manager.deadLetters();
        return reply(200, { count: deadLetters.length, deadLetters });
      },
    },
    {
      template: '/api/alerts/replay',
      public: false,
      methods: ['POST'],
      match: exact('/api/alerts/replay'),
      handle: async (_p, _q, body) => {
        const b = parseBody(replayBody, body);
        return reply(200, { replayed: await manager.replay(b.all ? undefined : b.ids) });
      },
    },
    {
      template: '/api/alerts/silences',
      public: false,
      methods: ['GET', 'HEAD', 'POST'],
      match: exact('/api/alerts/silences'),
      handle: (_p, q, body) => {
        if (body === undefined) {
          for (const [k, v] of q) {
            if (k !== 'expired' || (v !== 'true' && v !== 'false')) throw new AdminApiError('bad_request', `${k.slice(0, 64)}: the only parameter is expired=true|false`);
          }
          return reply(200, { silences: manager.silences.list({ includeExpired: q.get('expired') === 'true' }) });
        }
        const b = parseBody(silenceBody, body);
        const now = Date.now();
        const endsAt = b.endsAt ?? new Date(now + parseDurationMs(b.duration!)).toISOString();
        try {
          const silence = manager.addSilence(
            {
              ...(b.detector !== undefined && { detector: b.detector }),
              ...(b.server !== undefined && { server: b.server }),
              ...(b.tool !== undefined && { tool: b.tool }),
              endsAt,
              author: b.author,
              comment: b.comment,
            },
            now,
          );
          return reply(201, { silence });
        } catch (err) {
          if (err instanceof RangeError) throw new AdminApiError('bad_request', err.message);
          throw err;
        }
      },
    },
    {
      template: '/api/alerts/silences/:id/expire',
      public: false,
      methods: ['POST'],
      match: (p) => {
        const m = /^\/api\/alerts\/silences\/([^/]{1,128})\/expire$/.exec(p);
        return m ? { id: safeDecode(m[1]!) } : undefined;
      },
      handle: (p, _q, body) => {
        const silence = manager.expireSilence(p.id!, parseBody(expireBody, body).author);
        if (!silence) throw new AdminApiError('silence_not_found');
        return reply(200, { silence });
      },
    },
    {
      template: '/api/alerts/:id/ack',
      public: false,
      methods: ['POST'],
      match: (p) => {
        const m = /^\/api\/alerts\/([^/]{1,128})\/ack$/.exec(p);
        return m ? { id: safeDecode(m[1]!) } : undefined;
      },
      handle: (p, _q, body) => {
        const b = parseBody(ackBody, body);
        const alert = manager.acknowledge(p.id!, b.author, b.comment);
        if (!alert) throw new AdminApiError('alert_not_found');
        return reply(200, { alert });
      },
    },
    {
      template: '/api/alerts/:id',
      public: false,
      match: (p) => {
        const m = /^\/api\/alerts\/([^/]{1,128})$/.exec(p);
        return m ? { id: safeDecode(m[1]!) } : undefined;
      },
      handle: (p) => {
        const alert = manager.get(p.id!);
        if (!alert) throw new AdminApiError('alert_not_found');
        return reply(200, { alert });
      },
    },
  ];
}
