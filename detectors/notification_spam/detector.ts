import { z } from 'zod';
import type { Evidence } from '../../src/alert/types.js';
import { assess, verdictEvidence } from '../../src/detect/assess.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import type { DetectorContext, DetectorModule } from '../../src/detect/detector.js';
import { eventRef, renderOutput } from '../../src/detect/evidence.js';
import { EwmaBaseline, type EwmaState } from '../../src/detect/ewma-baseline.js';
import type { McpTrafficEvent } from '../../src/pipeline/events.js';

const CLASSES = ['message', 'progress', 'resources_updated', 'list_changed'] as const;
type NotificationClass = (typeof CLASSES)[number];

const perClass = (message: number, progress: number, resourcesUpdated: number, listChanged: number) =>
  z
    .object({
      message: z.number().int().positive().default(message),
      progress: z.number().int().positive().default(progress),
      resources_updated: z.number().int().positive().default(resourcesUpdated),
      list_changed: z.number().int().positive().default(listChanged),
    })
    .strict()
    .default({ message, progress, resources_updated: resourcesUpdated, list_changed: listChanged });

const configSchema = z
  .object({
    /** Length of the tumbling window the rates are counted in. */
    windowSeconds: z.number().int().min(1).max(3600).default(10),
    /**
     * Absolute ceilings per session and window; they hold while learning. Defaults sit far above
     * server-everything's periodic traffic (one log message per 5 s, one `resources/updated` per subscribed
     * URI per 5 s, a progress notification per step) and far below a flood.
     */
    ceilings: perClass(50, 200, 400, 20),
    /** `resources/updated` for one URI in one session and window; a URI updated 4x/s is a flood whatever the total. */
    perUriCeiling: z.number().int().positive().default(40),
    /** Deviations above the server's baseline (per class, per window, all sessions) that fire once armed. */
    zThreshold: z.number().positive().default(6),
    /** Counts per window below this never fire against the baseline (small numbers are noise). */
    minCount: z.number().int().positive().default(30),
    /** EWMA weight and windows needed before a server's baseline is armed (30 x 10 s = 5 minutes). */
    alpha: z.number().gt(0).max(1).default(0.1),
    minSamples: z.number().int().positive().default(30),
    /** Alert on progress that goes backwards or continues after completion. */
    progressOrder: z.boolean().default(true),
    /**
     * Stateless era (2026-07-28): a `notifications/message` is solicited only inside a request's response
     * stream or a `subscriptions/listen` stream. Alert on one that is neither, after this grace period.
     */
    unsolicitedLogs: z.boolean().default(true),
    unsolicitedGraceSeconds: z.number().min(0).max(300).default(5),
    /** Caps of per-entity state (LRU) and idle expiry. */
    maxSessions: z.number().int().positive().default(20_000),
    maxServers: z.number().int().positive().default(5_000),
    idleSeconds: z.number().int().positive().default(900),
  })
  .strict();

type Config = z.infer<typeof configSchema>;

function classOf(method: string): NotificationClass | undefined {
  switch (method) {
    case 'notifications/message':
      return 'message';
    case 'notifications/progress':
      return 'progress';
    case 'notifications/resources/updated':
      return 'resources_updated';
    case 'notifications/tools/list_changed':
    case 'notifications/prompts/list_changed':
    case 'notifications/resources/list_changed':
      return 'list_changed';
    default:
      return undefined;
  }
}

/** Per session: the current window's counts per class, which classes already fired in it, last event. */
interface SessionState {
  server: string;
  serverId: string;
  session: string;
  windowStart: number;
  counts: [number, number, number, number];
  fired: number;
  lastEventId: string;
  lastTraceId?: string;
}

/** Per server: a baseline per class over the server's total per window, and the current totals. */
interface ServerState {
  name: string;
  windowStart: number;
  totals: [number, number, number, number];
  baselines: EwmaBaseline[];
}

interface ProgressStream {
  last: number;
  total?: number;
  completed: boolean;
  reported: boolean;
}

interface PendingLog {
  event: McpTrafficEvent;
}

class NotificationSpamDetector {
  private readonly sessions: BoundedMap<SessionState>;
  private readonly servers: BoundedMap<ServerState>;
  private readonly progress: BoundedMap<ProgressStream>;
  private readonly perUri: BoundedMap<{ windowStart: number; count: number; fired: boolean }>;
  /** Traces that carried a client request to a server, and correlation keys with an open `subscriptions/listen`. */
  private readonly solicited: BoundedMap<true>;
  private readonly requestEnds: BoundedMap<number>;
  private pendingLogs: PendingLog[] = [];
  private readonly windowMs: number;

  constructor(private readonly ctx: DetectorContext<Config>) {
    const c = ctx.config;
    const onEvict = () => ctx.countEviction();
    const ttlMs = c.idleSeconds * 1000;
    this.windowMs = c.windowSeconds * 1000;
    this.sessions = new BoundedMap({ maxEntries: c.maxSessions, ttlMs, onEvict });
    this.servers = new BoundedMap({ maxEntries: c.maxServers, ttlMs: ttlMs * 96, onEvict });
    this.progress = new BoundedMap({ maxEntries: c.maxSessions, ttlMs, onEvict });
    this.perUri = new BoundedMap({ maxEntries: c.maxSessions, ttlMs: this.windowMs * 2, onEvict });
    this.solicited = new BoundedMap({ maxEntries: c.maxSessions * 2, ttlMs: Math.max(ttlMs, 60_000), onEvict });
    this.requestEnds = new BoundedMap({ maxEntries: c.maxSessions, ttlMs: 120_000, onEvict });
  }

  onEvent(e: McpTrafficEvent): void {
    if (e.messageType === 'request') {
      this.noteRequest(e);
      return;
    }
    const cls = classOf(e.method);
    if (cls === undefined) return;
    const now = e.time;
    const idx = CLASSES.indexOf(cls);
    const sessionKey = `${e.server.id}\u001f${e.correlationKey}`;
    const s = this.sessions.getOrCreate(
      sessionKey,
      () => ({ server: e.server.name, serverId: e.server.id, session: e.sessionId ?? e.correlationKey, windowStart: this.windowOf(now), counts: [0, 0, 0, 0], fired: 0, lastEventId: e.id }),
      now,
    );
    this.rollSession(s, now);
    const count = s.counts[idx]! + 1;
    s.counts[idx] = count;
    s.lastEventId = e.id;
    if (e.traceId !== undefined) s.lastTraceId = e.traceId;
    const srv = this.serverState(e, now);
    this.rollServer(srv, now);
    srv.totals[idx] = srv.totals[idx]! + 1;

    // Ceilings fire as soon as they are crossed, not when the window closes: detection within seconds.
    const ceiling = this.ctx.config.ceilings[cls];
    if (count > ceiling && (s.fired & (1 << idx)) === 0) {
      s.fired |= 1 << idx;
      const verdict = assess(count, undefined, { ceiling, zThreshold: Infinity, minValue: 0 });
      if (verdict) this.fireRate(s, cls, e, verdictEvidence(`${e.method} in this session within ${this.ctx.config.windowSeconds} s`, '', verdict, eventRef(e)), 'session');
    }
    if (cls === 'resources_updated') this.checkUri(e, s);
    if (cls === 'progress' && this.ctx.config.progressOrder) this.checkProgress(e);
    if (cls === 'message' && e.era === 'stateless' && this.ctx.config.unsolicitedLogs) {
      if (this.pendingLogs.length < 10_000) this.pendingLogs.push({ event: e });
    }
  }

  onTick(now: number): void {
    for (const [, s] of this.sessions.entries()) this.rollSession(s, now);
    for (const [, srv] of this.servers.entries()) this.rollServer(srv, now);
    this.sessions.sweep(now);
    this.servers.sweep(now);
    this.progress.sweep(now);
    this.perUri.sweep(now);
    this.solicited.sweep(now);
    this.requestEnds.sweep(now);
    this.decidePendingLogs(now);
  }

  private windowOf(t: number): number {
    return Math.floor(t / this.windowMs) * this.windowMs;
  }

  private serverState(e: McpTrafficEvent, now: number): ServerState {
    return this.servers.getOrCreate(
      e.server.id,
      () => ({
        name: e.server.name,
        windowStart: this.windowOf(now),
        totals: [0, 0, 0, 0],
        baselines: CLASSES.map(() => new EwmaBaseline({ alpha: this.ctx.config.alpha, minSamples: this.ctx.config.minSamples })),
      }),
      now,
    );
  }

  private rollSession(s: SessionState, now: number): void {
    const w = this.windowOf(now);
    if (w <= s.windowStart) return;
    s.windowStart = w;
    s.counts = [0, 0, 0, 0];
    s.fired = 0;
  }

  /** Closes the server's window: compare each class total with the baseline, then learn from it. */
  private rollServer(srv: ServerState, now: number): void {
    const w = this.windowOf(now);
    if (w <= srv.windowStart) return;
    const c = this.ctx.config;
    CLASSES.forEach((cls, i) => {
      const value = srv.totals[i]!;
      const b = srv.baselines[i]!;
      const verdict = assess(value, { phase: b.phase, centre: () => b.mean, score: (x) => b.score(x, 1) }, { zThreshold: c.zThreshold, minValue: c.minCount });
      if (verdict?.kind === 'baseline') {
        const evidence = verdictEvidence(`${cls} notifications from ${srv.name} in ${c.windowSeconds} s (all sessions)`, '', verdict, { time: srv.windowStart });
        this.ctx.fire({
          title: `Notification flood: ${cls}`,
          summary: renderOutput(this.ctx.manifest.output, { server: srv.name, count: value, class: cls, window: c.windowSeconds, basis: `baseline ${Math.round(verdict.expected)}` }),
          server: srv.name,
          key: `baseline:${cls}`,
          evidence: [evidence],
          labels: { class: cls },
          time: srv.windowStart + this.windowMs,
        });
      }
      // A flood is not learned as normal: only windows within the threshold update the baseline.
      if (!verdict) b.update(value);
      // Quiet windows count too (a server that is silent for minutes has a low baseline), up to 3.
    });
    const quiet = Math.min((w - srv.windowStart) / this.windowMs - 1, 3);
    for (let q = 0; q < quiet; q++) for (const b of srv.baselines) b.update(0);
    srv.windowStart = w;
    srv.totals = [0, 0, 0, 0];
  }

  private checkUri(e: McpTrafficEvent, s: SessionState): void {
    const uri = e.notification?.uri ?? e.resourceUri;
    if (uri === undefined) return;
    const key = `${e.server.id}\u001f${e.correlationKey}\u001f${uri}`;
    const w = this.windowOf(e.time);
    const u = this.perUri.getOrCreate(key, () => ({ windowStart: w, count: 0, fired: false }), e.time);
    if (u.windowStart !== w) {
      u.windowStart = w;
      u.count = 0;
      u.fired = false;
    }
    u.count += 1;
    if (u.count > this.ctx.config.perUriCeiling && !u.fired) {
      u.fired = true;
      this.ctx.fire({
        title: 'Notification flood: one resource updated over and over',
        summary: `${e.server.name} sent ${u.count} notifications/resources/updated for one URI in ${this.ctx.config.windowSeconds} s (session ${s.session})`,
        server: e.server.name,
        session: s.session,
        key: `uri:${s.session}`,
        traceIds: e.traceId ? [e.traceId] : [],
        evidence: [
          {
            description: `${u.count} resources/updated for the same URI within ${this.ctx.config.windowSeconds} s (ceiling ${this.ctx.config.perUriCeiling})`,
            observed: u.count,
            expected: `<= ${this.ctx.config.perUriCeiling}`,
            details: { uri },
            ...eventRef(e),
          },
        ],
        labels: { class: 'resources_updated' },
      });
    }
  }

  private checkProgress(e: McpTrafficEvent): void {
    const p = e.notification?.progress;
    if (p === undefined) return;
    const key = `${e.server.id}\u001f${e.correlationKey}\u001f${e.traceId ?? ''}`;
    const stream = this.progress.get(key, e.time);
    const end = e.traceId !== undefined ? this.requestEnds.get(e.traceId, e.time) : undefined;
    const session = e.sessionId ?? e.correlationKey;
    const fire = (what: string, evidence: Evidence) =>
      this.ctx.fire({
        title: `Progress notifications ${what}`,
        summary: `${e.server.name} sent notifications/progress ${what} (session ${session})`,
        server: e.server.name,
        session,
        key: `progress:${session}:${e.traceId ?? ''}`,
        traceIds: e.traceId ? [e.traceId] : [],
        evidence: [evidence],
        labels: { class: 'progress' },
      });
    if (end !== undefined && e.time > end + 1000) {
      fire('after the request completed', { description: `progress ${p} sent ${e.time - end} ms after the request it reports on had answered`, observed: p, ...eventRef(e) });
    }
    if (!stream) {
      this.progress.set(key, { last: p, total: e.notification?.total, completed: e.notification?.total !== undefined && p >= e.notification.total, reported: false }, e.time);
      return;
    }
    if (!stream.reported && p < stream.last) {
      stream.reported = true;
      fire('going backwards', { description: `progress went from ${stream.last} to ${p}; the spec requires it to increase`, observed: p, expected: `> ${stream.last}`, ...eventRef(e) });
    } else if (!stream.reported && stream.completed) {
      stream.reported = true;
      fire('after completion', { description: `progress ${p} after progress had reached its total ${stream.total}`, observed: p, expected: 'no progress after completion', ...eventRef(e) });
    }
    stream.last = Math.max(stream.last, p);
    if (e.notification?.total !== undefined) stream.total = e.notification.total;
    if (stream.total !== undefined && p >= stream.total) stream.completed = true;
  }

  private noteRequest(e: McpTrafficEvent): void {
    if (e.traceId !== undefined) {
      // Only stateless-era logs are judged solicited or not; session-era requests need no record of it.
      if (e.era !== 'session' && this.ctx.config.unsolicitedLogs) this.solicited.set(`t:${e.traceId}`, true, e.time);
      if (e.durationMs !== undefined) this.requestEnds.set(e.traceId, e.time + e.durationMs, e.time);
    }
    if (e.method === 'subscriptions/listen') this.solicited.set(`c:${e.server.id}\u001f${e.correlationKey}`, true, e.time);
  }

  private decidePendingLogs(now: number): void {
    if (this.pendingLogs.length === 0) return;
    const graceMs = this.ctx.config.unsolicitedGraceSeconds * 1000;
    const keep: PendingLog[] = [];
    for (const pending of this.pendingLogs) {
      const e = pending.event;
      if (now - e.time < graceMs) {
        keep.push(pending);
        continue;
      }
      const inRequest = e.traceId !== undefined && this.solicited.get(`t:${e.traceId}`, now) !== undefined;
      const inListen = this.solicited.get(`c:${e.server.id}\u001f${e.correlationKey}`, now) !== undefined;
      if (inRequest || inListen) continue;
      this.ctx.fire({
        title: 'Log notification nobody asked for (stateless MCP)',
        summary: `${e.server.name} sent notifications/message outside any request or subscriptions/listen stream (protocol 2026-07-28)`,
        server: e.server.name,
        session: e.correlationKey,
        key: `unsolicited:${e.correlationKey}`,
        severity: 'low',
        traceIds: e.traceId ? [e.traceId] : [],
        evidence: [
          {
            description: 'notifications/message with no request in its trace and no subscriptions/listen from this client',
            observed: e.notification?.level ?? 'message',
            expected: 'logs only inside a request or a subscriptions/listen stream',
            ...eventRef(e),
          },
        ],
        labels: { class: 'message' },
      });
    }
    this.pendingLogs = keep;
  }

  private fireRate(s: SessionState, cls: NotificationClass, e: McpTrafficEvent, evidence: Evidence, scope: string): void {
    const c = this.ctx.config;
    this.ctx.fire({
      title: `Notification flood: ${cls}`,
      summary: renderOutput(this.ctx.manifest.output, { server: s.server, count: s.counts[CLASSES.indexOf(cls)], class: cls, window: c.windowSeconds, basis: `ceiling ${c.ceilings[cls]}` }),
      server: s.server,
      session: s.session,
      key: `${scope}:${cls}:${s.session}`,
      traceIds: s.lastTraceId ? [s.lastTraceId] : [],
      evidence: [evidence],
      labels: { class: cls },
      time: e.time,
    });
  }

  stats() {
    let learning = 0;
    let armed = 0;
    for (const [, srv] of this.servers.entries()) for (const b of srv.baselines) b.phase === 'armed' ? armed++ : learning++;
    return { learning, armed, none: this.sessions.size + this.progress.size + this.perUri.size };
  }

  snapshot(): unknown {
    const servers: Record<string, { name: string; baselines: EwmaState[] }> = {};
    for (const [id, srv] of this.servers.entries()) servers[id] = { name: srv.name, baselines: srv.baselines.map((b) => b.snapshot()) };
    return { version: 1, servers };
  }

  restore(state: unknown): void {
    const parsed = snapshotSchema.safeParse(state);
    if (!parsed.success) return;
    const now = this.ctx.now();
    for (const [id, s] of Object.entries(parsed.data.servers)) {
      this.servers.set(
        id,
        {
          name: s.name,
          windowStart: this.windowOf(now),
          totals: [0, 0, 0, 0],
          baselines: CLASSES.map((_, i) => new EwmaBaseline({ alpha: this.ctx.config.alpha, minSamples: this.ctx.config.minSamples }, s.baselines[i])),
        },
        now,
      );
    }
  }
}

const ewmaSchema = z.object({ mean: z.number(), variance: z.number(), samples: z.number() });
const snapshotSchema = z.object({ version: z.literal(1), servers: z.record(z.string(), z.object({ name: z.string(), baselines: z.array(ewmaSchema) })) });

const notificationSpam: DetectorModule<Config> = {
  configSchema,
  create(ctx) {
    const d = new NotificationSpamDetector(ctx);
    return {
      onEvent: (e) => {
        if (e.kind === 'mcp') d.onEvent(e);
      },
      onTick: (now) => d.onTick(now),
      snapshot: () => d.snapshot(),
      restore: (s) => d.restore(s),
      stats: () => d.stats(),
    };
  },
};

export default notificationSpam;
