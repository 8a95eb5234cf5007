import type { AlertInput, AlertPublisher } from '../alert/types.js';
import type { Consumer, CreateSettings, Factory } from '../component/component.js';
import type { McpEvent } from '../pipeline/events.js';
import { DetectorEngine } from './engine.js';
import { defaultDetectorsDirectory, discoverDetectors, loadDetectors } from './loader.js';
import { commonDetectorSettingsSchema, detectorsSectionSchema, ENGINE_KEY, resolveDetectorSettings, type DetectorsSection } from './settings.js';

/** Alert hand-off from a plain consumer (the conformance test's `SinkConsumer`) or a real `AlertPublisher`. */
export function publisherFrom(next: Consumer<AlertInput> | AlertPublisher): AlertPublisher {
  if ('fire' in next && typeof next.fire === 'function') return next;
  const consumer = next as Consumer<AlertInput>;
  return { fire: (input) => void consumer.consume([input]), resolve: () => undefined };
}

/**
 * The checks that need only the file system: the detectors folder and every manifest in it, detector
 * ids that exist, and the engine-handled `enabled` / `exceptions` settings. Detector-specific settings
 * need the detector's code: `validateDetectorSettings` checks those too.
 */
function validateSync(config: DetectorsSection, path: string): string[] {
  const problems: string[] = [];
  const dir = config[ENGINE_KEY].directory ?? defaultDetectorsDirectory();
  const found = discoverDetectors(dir);
  for (const p of found.problems) problems.push(p.startsWith(`${path}.`) ? p : `${path}.${ENGINE_KEY}.directory: ${p}`);
  const known = new Set(found.detectors.map((d) => d.id));
  for (const [key, value] of Object.entries(config)) {
    if (key === ENGINE_KEY) continue;
    if (!known.has(key)) {
      problems.push(`${path}.${key}: no such detector (known: ${[...known].sort().join(', ')})`);
      continue;
    }
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${path}.${key}: must be a mapping of settings`);
      continue;
    }
    const { enabled, exceptions } = value as Record<string, unknown>;
    const parsed = commonDetectorSettingsSchema.safeParse({ enabled, exceptions });
    if (!parsed.success) for (const issue of parsed.error.issues) problems.push(`${[path, key, ...issue.path.map(String)].join('.')}: ${issue.message}`);
  }
  return problems;
}

/**
 * Full validation of the `detectors` section, including each detector's own settings against its
 * module's schema (which needs the module imported, hence async). Used by `mcpwatch validate` and at
 * start-up, so a typo fails fast with exit 78 and a sentence such as `detectors.dos.windowSeconds: ...`.
 */
export async function validateDetectorSettings(config: DetectorsSection, path = 'detectors'): Promise<string[]> {
  const sync = validateSync(config, path);
  if (sync.some((p) => p.startsWith(`${path}.${ENGINE_KEY}.directory:`))) return sync;
  let loaded;
  try {
    loaded = await loadDetectors(config[ENGINE_KEY].directory ?? defaultDetectorsDirectory());
  } catch (err) {
    return [`${path}.${ENGINE_KEY}.directory: ${(err as Error).message}`];
  }
  // Unknown ids from the file-system pass; everything per detector (engine-handled and own settings) from its schema.
  const problems = sync.filter((p) => p.includes(': no such detector ('));
  for (const d of loaded) problems.push(...resolveDetectorSettings(d.manifest, d.module.configSchema, config[d.id]).problems);
  return problems;
}

/** The detector engine as a component: consumes `McpEvent`s, hands alerts to the next stage. */
export const detectorEngineFactory: Factory<DetectorsSection, McpEvent, AlertInput> = {
  type: 'detectors',
  kind: 'processor',
  schema: detectorsSectionSchema,
  createDefaultConfig: () => detectorsSectionSchema.parse({}),
  validate: validateSync,
  create(settings: CreateSettings, config: DetectorsSection, next: Consumer<AlertInput>): DetectorEngine {
    return new DetectorEngine({ section: config, publisher: publisherFrom(next), logger: settings.logger, metrics: settings.metrics });
  },
};
