import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import { SlidingWindow } from '../../src/detect/windows.js';
import type { McpTrafficEvent } from '../../src/pipeline/events.js';

export const protocolAbuseConfigSchema = z
  .object({
    /** `sampling/createMessage` requests per server per minute above which it is a flood. */
    maxSamplingPerMinute: z.number().int().positive().default(30),
    /** `roots/list` requests per server per minute above which it is polling. */
    maxRootsListPerMinute: z.number().int().positive().default(20),
    /** Invalid JSON-RPC answers (-32700 parse error, -32600 invalid request) per server per minute. */
    maxInvalidPerMinute: z.number().int().positive().default(10),
    /** A single message (arguments or result) larger than this is oversize. */
    maxMessageBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** Domains URL-mode elicitation may send users to (suffix match). Empty: every URL is reported. */
    elicitationDomains: z.array(z.string()).default([]),
    /** Servers and sessions tracked (LRU). */
    maxEntities: z.number().int().positive().default(20_000),
  })
  .strict();

export type ProtocolAbuseConfig = z.infer<typeof protocolAbuseConfigSchema>;

const SECRET_ASK = /\b(?:passwords?|passphrase|passcode|api[ _-]?keys?|access[ _-]?keys?|secret(?:s| key)?|tokens?|credentials?|private[ _-]?keys?|ssh[ _-]?keys?|seed phrase|mnemonic|2fa|otp|one[- ]time (?:code|password)|credit card|card number|cvv|social security|ssn)\b/i;
const URL_RE = /\bhttps?:\/\/[^\s"'<>]+/gi;

interface Counters {
  sampling: SlidingWindow;
  roots: SlidingWindow;
  invalid: SlidingWindow;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function strings(v: unknown, out: string[] = [], depth = 0): string[] {
  if (depth > 8 || out.length > 256) return out;
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out, depth + 1);
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
    out.push(k);
    strings(x, out, depth + 1);
  }
  return out;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

const protocolAbuse: DetectorModule<ProtocolAbuseConfig> = {
  configSchema: protocolAbuseConfigSchema,
  create(ctx) {
    const cfg = ctx.config;
    const counters = new BoundedMap<Counters>({ maxEntries: cfg.maxEntities, ttlMs: 3600_000, onEvict: () => ctx.countEviction() });
    const sessions = new BoundedMap<string>({ maxEntries: cfg.maxEntities, ttlMs: 24 * 3600_000, onEvict: () => ctx.countEviction() });
    const allowed = cfg.elicitationDomains.map((d) => d.toLowerCase().replace(/^\*?\.?/, ''));

    const fire = (e: McpTrafficEvent, severity: 'low' | 'medium' | 'high', key: string, title: string, observed: string | number, expected: string | number, details: Record<string, unknown> = {}): void => {
      ctx.fire({
        severity,
        title: `${e.server.name}: ${title}`,
        summary: `${e.server.name}: ${title} (${observed}; expected ${expected})`,
        server: e.server.name,
        ...(e.tool !== undefined ? { tool: e.tool } : {}),
        ...(e.sessionId !== undefined ? { session: e.sessionId } : {}),
        key,
        ...(e.traceId !== undefined ? { traceIds: [e.traceId] } : {}),
        time: e.time,
        labels: { method: e.method, abuse: key.split(':')[0]! },
        evidence: [{ description: title, eventId: e.id, ...(e.traceId !== undefined ? { traceId: e.traceId } : {}), time: e.time, observed, expected, details }],
      });
    };

    const windowed = (e: McpTrafficEvent, which: keyof Counters, limit: number, key: string, title: string): void => {
      const c = counters.getOrCreate(e.server.id, () => ({ sampling: new SlidingWindow(60_000), roots: new SlidingWindow(60_000), invalid: new SlidingWindow(60_000) }), ctx.now());
      c[which].add(e.time);
      const n = c[which].count(e.time);
      // Fire on crossing the limit, not on every request above it (the alert manager counts repeats).
      if (n === limit + 1) fire(e, 'medium', key, title, `${n} in 60 s`, `at most ${limit} per minute`);
    };

    const onSampling = (e: McpTrafficEvent): void => {
      windowed(e, 'sampling', cfg.maxSamplingPerMinute, 'sampling_flood', 'sampling/createMessage flood');
      const params = obj(e.arguments?.content);
      if (!params) return;
      if (params['includeContext'] === 'allServers') fire(e, 'high', 'sampling_all_servers', 'sampling asks for the context of all servers', 'includeContext: allServers', 'none or thisServer');
      const tools = params['tools'];
      if (Array.isArray(tools) && tools.length > 0) fire(e, 'medium', 'sampling_tools', 'sampling request hands tools to the model', `${tools.length} tools`, 'no tools in sampling');
    };

    const onElicitation = (e: McpTrafficEvent): void => {
      const params = obj(e.arguments?.content);
      if (!params) return;
      const message = typeof params['message'] === 'string' ? params['message'] : '';
      const schemaText = strings(params['requestedSchema']).join(' ');
      // Schema property names are snake_case or camelCase (`aws_secret_access_key`, `apiToken`): split them into words.
      const ask = SECRET_ASK.exec(`${message} ${schemaText}`.replace(/[_-]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2'));
      if (ask) fire(e, 'high', 'elicitation_secret', 'elicitation asks the user for a secret', ask[0], 'no secrets requested through elicitation', { message: message.slice(0, 300) });
      const urls = [...(typeof params['url'] === 'string' ? [params['url']] : []), ...(message.match(URL_RE) ?? [])].slice(0, 8);
      for (const url of urls) {
        const host = hostOf(url);
        if (host === undefined) continue;
        if (allowed.some((d) => host === d || host.endsWith(`.${d}`))) continue;
        fire(e, 'medium', `elicitation_url:${host}`, 'elicitation sends the user to a domain not on the allowlist', host, allowed.length ? allowed.join(', ') : 'an allowlisted domain (elicitationDomains)', { url: url.slice(0, 300) });
        break;
      }
    };

    const onSession = (e: McpTrafficEvent): void => {
      if (e.sessionId === undefined || e.client === undefined) return;
      const who = `${e.client.name ?? ''}@${e.client.address ?? ''}`;
      if (who === '@') return;
      const first = sessions.get(e.sessionId, ctx.now());
      if (first === undefined) {
        sessions.set(e.sessionId, who, ctx.now());
        return;
      }
      // The same client again (nearly every event of a session): equal strings split into equal parts.
      if (first === who) return;
      const [firstName, firstAddr] = first.split('@');
      const [name, addr] = who.split('@');
      const differs = (firstName && name && firstName !== name) || (firstAddr && addr && firstAddr !== addr);
      if (differs) fire(e, 'high', `session_reuse:${e.sessionId.slice(0, 128)}`, 'one session id used from two clients', who, first);
    };

    return {
      onEvent(e) {
        if (e.kind !== 'mcp') return;
        onSession(e);
        if (e.method === 'sampling/createMessage') onSampling(e);
        else if (e.method === 'elicitation/create') onElicitation(e);
        else if (e.method === 'roots/list') windowed(e, 'roots', cfg.maxRootsListPerMinute, 'roots_polling', 'roots/list polling');
        if (e.jsonRpcErrorCode === -32700 || e.jsonRpcErrorCode === -32600) {
          windowed(e, 'invalid', cfg.maxInvalidPerMinute, 'invalid_jsonrpc', 'invalid JSON-RPC messages');
        }
        const size = Math.max(e.arguments?.size ?? 0, e.result?.size ?? 0);
        if (size > cfg.maxMessageBytes) fire(e, 'medium', `oversize:${e.method}`, 'oversize message', `${size} bytes`, `at most ${cfg.maxMessageBytes} bytes`);
      },
      onTick(now) {
        counters.sweep(now);
        sessions.sweep(now);
      },
    };
  },
};

export default protocolAbuse;
