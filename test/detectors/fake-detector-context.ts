import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { AlertInput } from '../../src/alert/types.js';
import type { Detector, DetectorContext, DetectorModule } from '../../src/detect/detector.js';
import { detectorManifestSchema } from '../../src/detect/manifest.js';
import type { McpEvent, McpTrafficEvent, ServerIdentity } from '../../src/pipeline/events.js';
import { createLogger } from '../../src/telemetry/logger.js';

/** A detector driven by hand: events in, alerts recorded, clock set by the test. */
export interface Harness {
  detector: Detector;
  fired: AlertInput[];
  resolved: { server: string; tool?: string; key?: string }[];
  evictions: number;
  clock: { now: number };
  send(...events: McpEvent[]): void;
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CORPORA = resolve(REPO_ROOT, '../shared/corpora');

export function harness<T>(id: string, module: DetectorModule<T>, config: unknown = {}, start = Date.UTC(2026, 0, 1)): Harness {
  const manifest = detectorManifestSchema.parse(parseYaml(readFileSync(join(REPO_ROOT, 'detectors', id, 'detector.yaml'), 'utf8')));
  const h = { fired: [] as AlertInput[], resolved: [] as Harness['resolved'], evictions: 0, clock: { now: start } } as Harness;
  const ctx: DetectorContext<T> = {
    manifest,
    config: module.configSchema.parse(config),
    logger: createLogger({ level: 'silent' }),
    now: () => h.clock.now,
    fire: (a) => h.fired.push({ detector: id, severity: a.severity ?? manifest.severity, ...a }),
    resolve: (a) => h.resolved.push(a),
    countEviction: (n = 1) => {
      h.evictions += n;
    },
  };
  h.detector = module.create(ctx);
  h.send = (...events) => {
    for (const e of events) {
      h.clock.now = Math.max(h.clock.now, e.time);
      h.detector.onEvent(e);
    }
  };
  return h;
}

let seq = 0;
export const SERVER: ServerIdentity = { id: 'srv-1', name: 'fixture-server', pid: 4242 };

export function mcp(over: Partial<McpTrafficEvent> & { method: string }): McpTrafficEvent {
  seq += 1;
  return {
    kind: 'mcp',
    id: `ev-${seq}`,
    time: Date.UTC(2026, 0, 1) + seq * 1000,
    server: SERVER,
    flavour: 'otel',
    messageType: 'request',
    side: 'server',
    direction: 'client_to_server',
    correlationKey: 'corr-1',
    era: 'session',
    outcome: 'ok',
    ...over,
  };
}

/** A `tools/list` event carrying the taps' catalog metadata. */
export function toolsList(tools: unknown[], over: Partial<McpTrafficEvent> = {}): McpTrafficEvent {
  return mcp({ method: 'tools/list', ...over, ...({ catalog: { kind: 'tools', items: tools } } as object) });
}
