import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Evidence } from '../../src/alert/types.js';
import { assess, verdictEvidence } from '../../src/detect/assess.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import type { DetectorContext, DetectorModule } from '../../src/detect/detector.js';
import { eventRef, renderOutput } from '../../src/detect/evidence.js';
import { EwmaBaseline, type EwmaState } from '../../src/detect/ewma-baseline.js';
import { extractPaths, isSensitivePath } from '../../src/detect/sensitive-paths.js';
import { maskSecretsInString } from '../../src/pipeline/mask-secrets.js';
import type { FileEvent, McpEvent, McpTrafficEvent, NetworkEvent } from '../../src/pipeline/events.js';

const configSchema = z
  .object({
    /** How long after a sensitive read an egress counts as "followed by". */
    windowSeconds: z.number().int().min(1).max(86_400).default(300),
    /** Alert on secrets (masked or raw secret shapes) in tool arguments, whatever came before. */
    secretsInArguments: z.boolean().default(true),
    /** Outbound bytes per server per minute: absolute ceiling (holds while learning), baseline rule once armed. */
    volumeCeilingBytesPerMinute: z.number().int().positive().default(1024 * 1024 * 1024),
    volumeMinBytesPerMinute: z.number().int().positive().default(10 * 1024 * 1024),
    zThreshold: z.number().positive().default(6),
    alpha: z.number().gt(0).max(1).default(0.1),
    /** Minutes of traffic before a server's volume baseline is armed. */
    minSamples: z.number().int().positive().default(30),
    /** Destinations a server has used are learned (and persisted); a new one after a sensitive read is worse. */
    maxDestinationsPerServer: z.number().int().positive().default(256),
    maxServers: z.number().int().positive().default(5_000),
    maxFingerprints: z.number().int().positive().default(50_000),
    idleSeconds: z.number().int().positive().default(3600),
  })
  .strict();

type Config = z.infer<typeof configSchema>;

interface SensitiveRead {
  time: number;
  what: string;
  path?: string;
  server: string;
  ref: Pick<Evidence, 'eventId' | 'traceId' | 'spanId' | 'time'>;
}

interface ServerState {
  name: string;
  reads: SensitiveRead[];
  destinations: string[];
  minuteStart: number;
  minuteBytes: number;
  volume: EwmaBaseline;
}

const MASKED = /\[masked:sha256:([0-9a-f]{12})\]/g;
/** Not global: `test` on a global regex would carry `lastIndex` from one line to the next. */
const HAS_MASKED = /\[masked:sha256:[0-9a-f]{12}\]/;
const URL_HOST = /\bhttps?:\/\/(?:[^\s/@"'<>]*@)?(\[[0-9a-f:.]+\]|[^\s/:?#"'<>]+)/gi;
const EMAIL = /\b[A-Za-z0-9._%+-]{1,64}@([A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24})\b/g;
const SECRET_ENV_NAME = /(?:KEY|TOKEN|SECRET|PASSW|CREDENTIAL|DATABASE_URL|DSN|PRIVATE)/i;
const MAX_STRINGS = 2_000;
const MAX_LINES = 64;

/** Strings inside a JSON-like value, bounded (payloads are attacker-controlled). */
function stringsOf(value: unknown, out: string[] = [], keys: string[] = [], depth = 0): string[] {
  if (out.length >= MAX_STRINGS || depth > 16) return out;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsOf(v, out, keys, depth + 1);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (keys.length < MAX_STRINGS) keys.push(k);
      stringsOf(v, out, keys, depth + 1);
    }
  }
  return out;
}

/**
 * Content fingerprints: masked-secret hashes as they are, and (with `withLines`) a short hash of each
 * substantial line. Line hashes cost a SHA-256 per line: callers ask for them only when they can be used
 * (a sensitive read to remember them for, or remembered fingerprints to compare against).
 */
function fingerprints(strings: readonly string[], withLines: boolean): { secrets: string[]; lines: string[] } {
  const secrets = new Set<string>();
  const lines = new Set<string>();
  for (const raw of strings) {
    const s = maskSecretsInString(raw);
    if (s.includes('[masked:')) for (const m of s.matchAll(MASKED)) secrets.add(m[1]!);
    if (!withLines || lines.size >= MAX_LINES) continue;
    for (const line of s.split('\n')) {
      const t = line.trim();
      if (t.length < 16 || t.length > 4096 || HAS_MASKED.test(t)) continue;
      lines.add(createHash('sha256').update(t).digest('hex').slice(0, 16));
      if (lines.size >= MAX_LINES) break;
    }
  }
  return { secrets: [...secrets], lines: [...lines] };
}

function isPublicHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h.endsWith('.local') || h.endsWith('.internal')) return false;
  if (/^(?:127\.|10\.|192\.168\.|169\.254\.|0\.)/.test(h) || /^172\.(?:1[6-9]|2\d|3[01])\./.test(h)) return false;
  if (h === '::1' || h.startsWith('fe80:') || h.startsWith('fc') || h.startsWith('fd')) return false;
  return true;
}

class ExfiltrationDetector {
  private readonly servers: BoundedMap<ServerState>;
  /** Reads by client (an agent reads with one server and sends with another). */
  private readonly clients: BoundedMap<SensitiveRead[]>;
  /** Fingerprints of sensitive data seen in results: hash -> where it came from. */
  private readonly seen: BoundedMap<SensitiveRead>;
  private readonly windowMs: number;

  constructor(private readonly ctx: DetectorContext<Config>) {
    const c = ctx.config;
    const onEvict = () => ctx.countEviction();
    this.windowMs = c.windowSeconds * 1000;
    this.servers = new BoundedMap({ maxEntries: c.maxServers, ttlMs: c.idleSeconds * 1000 * 24, onEvict });
    this.clients = new BoundedMap({ maxEntries: c.maxServers, ttlMs: this.windowMs, onEvict });
    this.seen = new BoundedMap({ maxEntries: c.maxFingerprints, ttlMs: this.windowMs, onEvict });
  }

  onEvent(e: McpEvent): void {
    if (e.kind === 'file') this.onFile(e);
    else if (e.kind === 'network') this.onNetwork(e);
    else if (e.kind === 'mcp') this.onMcp(e);
  }

  onTick(now: number): void {
    for (const [, s] of this.servers.entries()) this.rollVolume(s, now);
    this.clients.sweep(now);
    this.seen.sweep(now);
    this.servers.sweep(now);
  }

  private server(e: McpEvent): ServerState {
    return this.servers.getOrCreate(
      e.server.id,
      () => ({ name: e.server.name, reads: [], destinations: [], minuteStart: Math.floor(e.time / 60_000) * 60_000, minuteBytes: 0, volume: this.newVolume() }),
      e.time,
    );
  }

  private newVolume(initial?: EwmaState): EwmaBaseline {
    return new EwmaBaseline({ alpha: this.ctx.config.alpha, minSamples: this.ctx.config.minSamples }, initial);
  }

  private markRead(e: McpEvent, what: string, path?: string): SensitiveRead {
    const read: SensitiveRead = { time: e.time, what, server: e.server.name, ref: eventRef(e), ...(path !== undefined ? { path } : {}) };
    const s = this.server(e);
    s.reads.push(read);
    if (s.reads.length > 4) s.reads.shift();
    if (e.kind === 'mcp' && e.client?.name !== undefined) {
      const list = this.clients.getOrCreate(e.client.name, () => [], e.time);
      list.push(read);
      if (list.length > 4) list.shift();
    }
    return read;
  }

  private recentRead(e: McpEvent): SensitiveRead | undefined {
    let best = this.latestIn(this.servers.get(e.server.id, e.time)?.reads, e.time);
    if (e.kind === 'mcp' && e.client?.name !== undefined) {
      const viaClient = this.latestIn(this.clients.get(e.client.name, e.time), e.time);
      if (viaClient && (!best || viaClient.time > best.time)) best = viaClient;
    }
    return best;
  }

  private latestIn(reads: readonly SensitiveRead[] | undefined, time: number): SensitiveRead | undefined {
    let best: SensitiveRead | undefined;
    for (const r of reads ?? []) if (time - r.time <= this.windowMs && time >= r.time - 1000 && (!best || r.time > best.time)) best = r;
    return best;
  }

  private onFile(e: FileEvent): void {
    if (e.action !== 'read' && e.action !== 'modify') return;
    const match = isSensitivePath(e.path);
    if (!e.sensitive && !e.canary && !match.sensitive) return;
    this.markRead(e, `${e.canary ? 'canary file' : 'sensitive file'} ${e.path} (${e.action})`, e.path);
  }

  private onNetwork(e: NetworkEvent): void {
    const s = this.server(e);
    const dest = e.remote.hostname ?? e.remote.address;
    const destination = `${dest}:${e.remote.port}`;
    if (e.bytesSent !== undefined && e.bytesSent > 0) {
      this.rollVolume(s, e.time);
      s.minuteBytes += e.bytesSent;
    }
    if (e.scope === 'loopback') return;
    const known = s.destinations.includes(destination);
    if (!known) {
      s.destinations.push(destination);
      if (s.destinations.length > this.ctx.config.maxDestinationsPerServer) s.destinations.shift();
    }
    const read = this.recentRead(e);
    const sends = e.action === 'connect' || e.action === 'new_destination' || (e.bytesSent ?? 0) > 0;
    if (!read || !sends || (known && e.scope !== 'public')) return;
    const kind = known ? 'public' : e.scope === 'public' ? 'new public' : 'new';
    this.fireChain(e, read, destination, [
      {
        description: `${e.bytesSent ?? 0} bytes sent to ${kind} destination ${destination} (${e.scope}) ${Math.round((e.time - read.time) / 1000)} s after the read`,
        observed: destination,
        expected: known ? 'no egress to public destinations after a sensitive read' : `a known destination (${s.destinations.length - 1} learned)`,
        details: { scope: e.scope, bytesSent: e.bytesSent ?? 0, newDestination: !known },
        ...eventRef(e),
      },
    ]);
  }

  private onMcp(e: McpTrafficEvent): void {
    if (e.messageType !== 'request' || e.direction !== 'client_to_server') return;
    if (e.resourceUri !== undefined && isSensitivePath(e.resourceUri).sensitive) this.markRead(e, `resource ${e.resourceUri}`, e.resourceUri);
    const argStrings: string[] = [];
    const argKeys: string[] = [];
    if (e.arguments?.content !== undefined) stringsOf(e.arguments.content, argStrings, argKeys);
    const resultStrings = e.result?.content !== undefined ? stringsOf(e.result.content) : [];

    // Egress first: a send in this call is checked against reads that happened before it.
    const fp = fingerprints(argStrings, this.seen.size > 0);
    this.checkSameData(e, fp);
    this.checkToolEgress(e, argStrings);
    if (this.ctx.config.secretsInArguments && fp.secrets.length > 0) {
      this.ctx.fire({
        title: 'Secret sent in tool arguments',
        summary: `${e.server.name}: ${fp.secrets.length} secret(s) in the arguments of ${e.tool ?? e.method}`,
        server: e.server.name,
        tool: e.tool,
        session: e.sessionId,
        key: `secret_in_arguments:${fp.secrets[0]}`,
        severity: 'high',
        traceIds: e.traceId ? [e.traceId] : [],
        evidence: [
          {
            description: `tool arguments carry secret-shaped values (shown as fingerprints only)`,
            observed: fp.secrets.map((h) => `sha256:${h}`).join(', '),
            expected: 'no credentials in tool arguments',
            ...eventRef(e),
          },
        ],
        labels: { rule: 'secret_in_arguments' },
      });
    }

    // Then what this call read: sensitive paths named in its arguments, secrets in its result.
    let read: SensitiveRead | undefined;
    for (const p of argStrings.flatMap((s) => extractPaths(s, 8))) {
      if (isSensitivePath(p).sensitive) {
        read = this.markRead(e, `${e.tool ?? e.method} on ${p}`, p);
        break;
      }
    }
    if (!read && /env/i.test(e.tool ?? '') && argStrings.some((s) => SECRET_ENV_NAME.test(s))) read = this.markRead(e, `${e.tool} of a secret-named variable`);
    const resultSecrets = fingerprints(resultStrings, false).secrets;
    if (!read && resultSecrets.length > 0) read = this.markRead(e, `secret(s) in the result of ${e.tool ?? e.method}`);
    if (read) for (const h of [...resultSecrets, ...fingerprints(resultStrings, true).lines]) this.seen.set(h, read, e.time);
  }

  private checkSameData(e: McpTrafficEvent, fp: { secrets: string[]; lines: string[] }): void {
    for (const h of [...fp.secrets, ...fp.lines]) {
      const origin = this.seen.get(h, e.time);
      if (!origin || origin.server === e.server.name) continue;
      this.ctx.fire({
        title: 'Sensitive data read from one server sent to another',
        summary: `${e.server.name}: arguments of ${e.tool ?? e.method} carry data read through ${origin.server} (${origin.what})`,
        server: e.server.name,
        tool: e.tool,
        session: e.sessionId,
        key: `same_data:${origin.server}`,
        severity: 'critical',
        traceIds: [...new Set([origin.ref.traceId, e.traceId].filter((t): t is string => t !== undefined))],
        evidence: [
          { description: `read: ${origin.what} via ${origin.server}`, ...origin.ref },
          { description: `sent: the same content (fingerprint ${h}) in the arguments of ${e.tool ?? e.method} on ${e.server.name}`, observed: `fingerprint ${h}`, expected: 'no sensitive content leaving through another server', ...eventRef(e) },
        ],
        labels: { rule: 'same_data', ...(origin.path !== undefined ? { path: origin.path } : {}) },
      });
      return;
    }
  }

  private checkToolEgress(e: McpTrafficEvent, argStrings: readonly string[]): void {
    if (argStrings.length === 0) return;
    // The read first: it is a lookup, where scanning every argument for URLs and addresses is two regexes a string.
    const read = this.recentRead(e);
    if (!read) return;
    let host: string | undefined;
    for (const s of argStrings) {
      for (const m of s.matchAll(URL_HOST)) if (isPublicHost(m[1]!)) host ??= m[1]!.toLowerCase();
      for (const m of s.matchAll(EMAIL)) if (isPublicHost(m[1]!)) host ??= m[1]!.toLowerCase();
      if (host) break;
    }
    if (!host) return;
    this.fireChain(e, read, host, [
      {
        description: `${e.tool ?? e.method} called with a public destination ${host} ${Math.round((e.time - read.time) / 1000)} s after the read`,
        observed: host,
        expected: 'no outbound call after a sensitive read',
        ...eventRef(e),
      },
    ]);
  }

  private fireChain(e: McpEvent, read: SensitiveRead, destination: string, egress: Evidence[]): void {
    const tool = e.kind === 'mcp' ? e.tool : undefined;
    this.ctx.fire({
      title: 'Sensitive read followed by egress',
      summary: renderOutput(this.ctx.manifest.output, { server: e.server.name, read: read.what, destination, seconds: Math.round((e.time - read.time) / 1000) }),
      server: e.server.name,
      tool,
      session: e.kind === 'mcp' ? e.sessionId : undefined,
      key: `read_then_egress:${destination}`,
      severity: 'critical',
      traceIds: [...new Set([read.ref.traceId, e.traceId].filter((t): t is string => t !== undefined))],
      evidence: [{ description: `read: ${read.what} on ${read.server}`, ...read.ref }, ...egress],
      labels: { rule: 'read_then_egress', destination, ...(read.path !== undefined ? { path: read.path } : {}) },
    });
  }

  private rollVolume(s: ServerState, now: number): void {
    const minute = Math.floor(now / 60_000) * 60_000;
    if (minute <= s.minuteStart) return;
    const c = this.ctx.config;
    const bytes = s.minuteBytes;
    const verdict = assess(bytes, { phase: s.volume.phase, centre: () => s.volume.mean, score: (x) => s.volume.score(x, 64 * 1024) }, { ceiling: c.volumeCeilingBytesPerMinute, zThreshold: c.zThreshold, minValue: c.volumeMinBytesPerMinute });
    if (verdict) {
      this.ctx.fire({
        title: 'Outbound volume far above baseline',
        summary: `${s.name} sent ${bytes} bytes in one minute (${verdict.kind === 'ceiling' ? `ceiling ${verdict.limit}` : `baseline ${Math.round(verdict.expected)}`})`,
        server: s.name,
        key: 'volume',
        severity: 'high',
        evidence: [verdictEvidence('outbound bytes per minute', ' B', verdict, { time: s.minuteStart })],
        labels: { rule: 'volume' },
        time: minute,
      });
    } else {
      s.volume.update(bytes);
    }
    s.minuteStart = minute;
    s.minuteBytes = 0;
  }

  stats() {
    let learning = 0;
    let armed = 0;
    for (const [, s] of this.servers.entries()) s.volume.phase === 'armed' ? armed++ : learning++;
    return { learning, armed, none: this.seen.size + this.clients.size };
  }

  snapshot(): unknown {
    const servers: Record<string, { name: string; destinations: string[]; volume: EwmaState }> = {};
    for (const [id, s] of this.servers.entries()) servers[id] = { name: s.name, destinations: s.destinations, volume: s.volume.snapshot() };
    return { version: 1, servers };
  }

  restore(state: unknown): void {
    const parsed = snapshotSchema.safeParse(state);
    if (!parsed.success) return;
    const now = this.ctx.now();
    for (const [id, s] of Object.entries(parsed.data.servers)) {
      this.servers.set(id, { name: s.name, reads: [], destinations: s.destinations.slice(-this.ctx.config.maxDestinationsPerServer), minuteStart: Math.floor(now / 60_000) * 60_000, minuteBytes: 0, volume: this.newVolume(s.volume) }, now);
    }
  }
}

const snapshotSchema = z.object({
  version: z.literal(1),
  servers: z.record(z.string(), z.object({ name: z.string(), destinations: z.array(z.string()), volume: z.object({ mean: z.number(), variance: z.number(), samples: z.number() }) })),
});

const exfiltration: DetectorModule<Config> = {
  configSchema,
  create(ctx) {
    const d = new ExfiltrationDetector(ctx);
    return { onEvent: (e) => d.onEvent(e), onTick: (now) => d.onTick(now), snapshot: () => d.snapshot(), restore: (s) => d.restore(s), stats: () => d.stats() };
  },
};

export default exfiltration;
