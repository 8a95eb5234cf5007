import { z } from 'zod';
import type { DetectorExceptions, DetectorManifest } from './manifest.js';

/**
 * The `detectors` config section: one key per detector id (`detectors.<id>`), plus the engine's own
 * settings under the reserved key `detectors.engine` (no detector may be called `engine`).
 *
 * Every detector accepts `enabled` and `exceptions` (handled by the engine, never by the detector); all
 * other keys are the detector's own settings, validated by its module's `configSchema`.
 */
export const ENGINE_KEY = 'engine';

export const engineSettingsSchema = z
  .object({
    /** Folder of detection content (`<id>/detector.yaml`, logic, README). Default: the packaged `detectors/`. */
    directory: z.string().min(1).optional(),
    /**
     * Where learned state (baselines, graphs) is written when no Redis is configured: one JSON file,
     * replaced atomically. Default: `$STATE_DIRECTORY` (systemd) or `~/.local/state/mcpwatch`.
     */
    stateDir: z.string().min(1).optional(),
    /** `redis://...`: keep learned state in this Redis (shared by daemons) instead of the local file. */
    redis: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
    /** Key under which learned state lives in Redis (a hash with one field per detector). */
    redisKey: z.string().min(1).default('mcpwatch:detector-state'),
    /** Turn persistence off (state is relearned after every restart). */
    persist: z.boolean().default(true),
    /** How often learned state is written while running; it is also written at shutdown. */
    persistIntervalSeconds: z.number().positive().default(60),
    /** How often detectors are ticked so windows close without traffic. */
    tickIntervalMs: z.number().int().min(10).max(60_000).default(1000),
  })
  .strict();

export type EngineSettings = z.infer<typeof engineSettingsSchema>;

export const detectorsSectionSchema = z
  .object({ [ENGINE_KEY]: engineSettingsSchema.default(engineSettingsSchema.parse({})) })
  .catchall(z.unknown());

export type DetectorsSection = z.infer<typeof detectorsSectionSchema>;

const exceptionList = z.array(z.string().min(1).max(1024)).max(10_000);

/** What users may set under `detectors.<id>` besides the detector's own settings. */
export const commonDetectorSettingsSchema = z.object({
  /** On or off. Default: on for `stable` detectors, off for `incubating` and `sandbox` ones. */
  enabled: z.boolean().optional(),
  /**
   * Allowlists added to the detector's own: events and alerts of these servers (name or id), tools, paths
   * (file paths and resource URIs) and destinations (host, address or host:port) are ignored. `*` matches
   * any run of characters.
   */
  exceptions: z
    .object({
      servers: exceptionList.default([]),
      tools: exceptionList.default([]),
      paths: exceptionList.default([]),
      destinations: exceptionList.default([]),
    })
    .strict()
    .optional(),
});

export interface ResolvedDetectorSettings {
  enabled: boolean;
  exceptions: DetectorExceptions;
  /** The detector's own settings, parsed by its `configSchema`. */
  config: unknown;
}

function issuePath(id: string, path: readonly PropertyKey[]): string {
  return ['detectors', id, ...path.map(String)].join('.');
}

/**
 * Splits `detectors.<id>` into engine-handled settings and the detector's own, and validates both. Each
 * problem is a sentence starting with its config path, e.g. `detectors.dos.windowSeconds: ...`.
 */
export function resolveDetectorSettings(
  manifest: DetectorManifest,
  configSchema: z.ZodType<unknown>,
  raw: unknown,
): { settings?: ResolvedDetectorSettings; problems: string[] } {
  const id = manifest.id;
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    return { problems: [`detectors.${id}: must be a mapping of settings`] };
  }
  const { enabled, exceptions, ...own } = (raw ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  const common = commonDetectorSettingsSchema.safeParse({ enabled, exceptions });
  if (!common.success) for (const issue of common.error.issues) problems.push(`${issuePath(id, issue.path)}: ${issue.message}`);
  const parsed = configSchema.safeParse(own);
  if (!parsed.success) for (const issue of parsed.error.issues) problems.push(`${issuePath(id, issue.path)}: ${issue.message}`);
  if (problems.length > 0 || !common.success || !parsed.success) return { problems };
  const user = common.data.exceptions;
  const merged: DetectorExceptions = {
    servers: [...manifest.exceptions.servers, ...(user?.servers ?? [])],
    tools: [...manifest.exceptions.tools, ...(user?.tools ?? [])],
    paths: [...manifest.exceptions.paths, ...(user?.paths ?? [])],
    destinations: [...manifest.exceptions.destinations, ...(user?.destinations ?? [])],
  };
  return {
    settings: { enabled: common.data.enabled ?? manifest.maturity === 'stable', exceptions: merged, config: parsed.data },
    problems,
  };
}
