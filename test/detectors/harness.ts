import { z } from 'zod';
import type { McpEvent } from '../../src/pipeline/events.js';
import { DetectorEngine } from '../../src/detect/engine.js';
import { defaultDetectorsDirectory, loadDetectors, type LoadedDetector } from '../../src/detect/loader.js';
import { RecordingAlertPublisher } from '../../src/detect/recording-publisher.js';
import { detectorsSectionSchema } from '../../src/detect/settings.js';
import { MemoryStateStore, type DetectorStateStore } from '../../src/detect/state-store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';

/**
 * Test harness for detection content: compact event specs (as written in `cases/<id>.yaml`) expanded to
 * full `McpEvent`s, and an engine on a manual clock that ticks once per second of event time.
 */

const payload = z.object({ size: z.number().optional(), fingerprint: z.string().optional(), content: z.unknown().optional() }).strict();

/** One event in a case: the fields of an `McpEvent` with defaults filled in, plus `at` and `repeat`. */
export const eventSpecSchema = z
  .object({
    /** Milliseconds after the case's start. */
    at: z.number().min(0).default(0),
    /** Emit this event `repeat` times, `every` ms apart (floods, learning periods). */
    repeat: z.number().int().min(1).max(1_000_000).default(1),
    every: z.number().min(0).default(1000),
    /** With `repeat`: each copy is its own trace (`traceId`, `spanId` and `parentSpanId` get `-<i>` appended). */
    traceEach: z.boolean().default(false),
    kind: z.enum(['mcp', 'process', 'file', 'network']).default('mcp'),
    /** Server name (the id is the name unless `serverId` is given). */
    server: z.string().default('srv'),
    serverId: z.string().optional(),
    traceId: z.string().optional(),
    spanId: z.string().optional(),
    parentSpanId: z.string().optional(),
    // mcp
    method: z.string().optional(),
    tool: z.string().optional(),
    side: z.enum(['client', 'server', 'unknown']).optional(),
    direction: z.enum(['client_to_server', 'server_to_client']).optional(),
    session: z.string().optional(),
    era: z.enum(['session', 'stateless', 'unknown']).optional(),
    client: z.string().optional(),
    resourceUri: z.string().optional(),
    durationMs: z.number().optional(),
    outcome: z.enum(['ok', 'error', 'tool_error']).optional(),
    arguments: payload.optional(),
    result: payload.optional(),
    notification: z
      .object({ level: z.string().optional(), logger: z.string().optional(), progress: z.number().optional(), total: z.number().optional(), uri: z.string().optional() })
      .strict()
      .optional(),
    // process
    action: z.string().optional(),
    pid: z.number().optional(),
    /** The server's own (root) pid when it differs from the event's `pid` (a child process); default `pid`. */
    serverPid: z.number().optional(),
    executable: z.string().optional(),
    cpuPercent: z.number().optional(),
    rssBytes: z.number().optional(),
    threads: z.number().optional(),
    openFds: z.number().optional(),
    children: z.number().optional(),
    exitCode: z.number().optional(),
    // file
    path: z.string().optional(),
    sensitive: z.boolean().optional(),
    canary: z.boolean().optional(),
    // network
    remote: z.object({ address: z.string(), port: z.number(), hostname: z.string().optional() }).strict().optional(),
    scope: z.enum(['loopback', 'private', 'link_local', 'metadata', 'public']).optional(),
    bytesSent: z.number().optional(),
    bytesReceived: z.number().optional(),
    /** Per-repeat increments, e.g. `{ rssBytes: 10000000 }` for growth. */
    grow: z.record(z.string(), z.number()).optional(),
  })
  .strict();

export type EventSpec = z.input<typeof eventSpecSchema>;

let seq = 0;

/** Expands one spec into its events (times relative to `start`). */
export function expandSpec(input: EventSpec, start: number): McpEvent[] {
  const spec = eventSpecSchema.parse(input);
  const out: McpEvent[] = [];
  for (let i = 0; i < spec.repeat; i++) {
    const time = start + spec.at + i * spec.every;
    const grown: Record<string, number> = {};
    for (const [k, step] of Object.entries(spec.grow ?? {})) grown[k] = ((spec as Record<string, unknown>)[k] as number | undefined ?? 0) + step * i;
    out.push(buildEvent({ ...spec, ...grown }, time, i));
  }
  return out;
}

function buildEvent(spec: z.output<typeof eventSpecSchema>, time: number, i: number): McpEvent {
  seq += 1;
  const id = `ev-${seq}`;
  const base = {
    id,
    time,
    server: { id: spec.serverId ?? spec.server, name: spec.server, ...((spec.serverPid ?? spec.pid) !== undefined ? { pid: spec.serverPid ?? spec.pid } : {}) },
    traceId: spec.traceId ?? (spec.kind === 'mcp' ? `${seq.toString(16).padStart(32, '0')}` : undefined),
    spanId: spec.spanId ?? seq.toString(16).padStart(16, '0'),
  };
  if (spec.traceEach) {
    if (spec.traceId !== undefined) base.traceId = `${spec.traceId}-${i}`;
    if (spec.spanId !== undefined) base.spanId = `${spec.spanId}-${i}`;
    if (spec.parentSpanId !== undefined) spec = { ...spec, parentSpanId: `${spec.parentSpanId}-${i}` };
  } else if (spec.traceId !== undefined && spec.repeat > 1 && spec.spanId !== undefined) base.spanId = `${spec.spanId}-${i}`;
  switch (spec.kind) {
    case 'mcp': {
      const method = spec.method ?? 'tools/call';
      const notification = method.startsWith('notifications/');
      const ev: McpEvent = {
        ...base,
        kind: 'mcp',
        flavour: 'otel',
        method,
        messageType: notification ? 'notification' : 'request',
        side: spec.side ?? 'server',
        direction: spec.direction ?? (notification && method !== 'notifications/initialized' && method !== 'notifications/cancelled' && method !== 'notifications/roots/list_changed' ? 'server_to_client' : 'client_to_server'),
        correlationKey: spec.session ?? `corr-${spec.server}`,
        era: spec.era ?? 'session',
        outcome: spec.outcome ?? 'ok',
      };
      if (spec.tool !== undefined) ev.tool = spec.tool;
      if (spec.session !== undefined) ev.sessionId = spec.session;
      if (spec.client !== undefined) ev.client = { name: spec.client };
      if (spec.resourceUri !== undefined) ev.resourceUri = spec.resourceUri;
      if (spec.durationMs !== undefined) ev.durationMs = spec.durationMs;
      if (spec.arguments !== undefined) ev.arguments = spec.arguments;
      if (spec.result !== undefined) ev.result = spec.result;
      if (spec.notification !== undefined) ev.notification = spec.notification;
      if (spec.parentSpanId !== undefined) ev.parentSpanId = spec.parentSpanId;
      return ev;
    }
    case 'process': {
      const ev: McpEvent = { ...base, kind: 'process', action: (spec.action ?? 'sample') as 'sample', pid: spec.pid ?? 4242 };
      for (const k of ['executable', 'cpuPercent', 'rssBytes', 'threads', 'openFds', 'children', 'exitCode'] as const) {
        if (spec[k] !== undefined) (ev as unknown as Record<string, unknown>)[k] = spec[k];
      }
      return ev;
    }
    case 'file':
      return { ...base, kind: 'file', action: (spec.action ?? 'read') as 'read', path: spec.path ?? '/tmp/x', sensitive: spec.sensitive ?? false, ...(spec.canary !== undefined ? { canary: spec.canary } : {}), confidence: 1 };
    case 'network': {
      const ev: McpEvent = {
        ...base,
        kind: 'network',
        action: (spec.action ?? 'traffic') as 'traffic',
        protocol: 'tcp',
        remote: spec.remote ?? { address: '203.0.113.7', port: 443 },
        scope: spec.scope ?? 'public',
      };
      if (spec.bytesSent !== undefined) ev.bytesSent = spec.bytesSent;
      if (spec.bytesReceived !== undefined) ev.bytesReceived = spec.bytesReceived;
      return ev;
    }
  }
}

let cachedDetectors: Promise<LoadedDetector[]> | undefined;

/** The packaged detectors, loaded once per test file. */
export function packagedDetectors(): Promise<LoadedDetector[]> {
  cachedDetectors ??= loadDetectors(defaultDetectorsDirectory());
  return cachedDetectors;
}

export interface Harness {
  engine: DetectorEngine;
  alerts: RecordingAlertPublisher;
  metrics: Metrics;
  clock: { now: number };
  /** Feeds events in time order, ticking the engine at every whole second of event time crossed. */
  feed(events: McpEvent[]): void;
  /** Advances the clock to `time`, ticking once per second on the way. */
  advanceTo(time: number): void;
}

/** An engine running only `ids` (all enabled), on a manual clock, with in-memory state. */
export async function harness(
  ids: string[],
  settings: Record<string, unknown> = {},
  opts: { stateStore?: DetectorStateStore; start?: number; detectors?: LoadedDetector[] } = {},
): Promise<Harness> {
  const all = opts.detectors ?? (await packagedDetectors());
  const chosen = all.filter((d) => ids.includes(d.id));
  if (chosen.length !== ids.length) throw new Error(`unknown detector among ${ids.join(', ')}`);
  const section = detectorsSectionSchema.parse({
    engine: { persist: false },
    ...Object.fromEntries(ids.map((id) => [id, { enabled: true, ...(settings[id] as object | undefined) }])),
  });
  const clock = { now: opts.start ?? 1_750_000_000_000 };
  const alerts = new RecordingAlertPublisher({ capacity: 10_000 });
  const metrics = new Metrics();
  const engine = new DetectorEngine({
    section,
    publisher: alerts,
    logger: silentLogger(),
    metrics,
    detectors: chosen,
    stateStore: opts.stateStore ?? new MemoryStateStore(),
    clock: () => clock.now,
    timers: false,
  });
  await engine.start();
  const advanceTo = (time: number): void => {
    while (Math.floor(clock.now / 1000) < Math.floor(time / 1000)) {
      clock.now = (Math.floor(clock.now / 1000) + 1) * 1000;
      engine.tick(clock.now);
    }
    if (time > clock.now) clock.now = time;
  };
  return {
    engine,
    alerts,
    metrics,
    clock,
    advanceTo,
    feed(events) {
      const sorted = [...events].sort((a, b) => a.time - b.time);
      for (const ev of sorted) {
        advanceTo(ev.time);
        engine.process(ev);
      }
    },
  };
}
