import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { DetectorModule } from './detector.js';
import { detectorManifestSchema, type DetectorManifest } from './manifest.js';
import { ENGINE_KEY } from './settings.js';

/** A detector folder read from disk: its manifest, README and (once imported) its module. */
export interface DiscoveredDetector {
  id: string;
  manifest: DetectorManifest;
  readme: string;
  /** The folder holding detector.yaml and README.md. */
  directory: string;
  /** The file the module is imported from (detector.ts under tsx/vitest, detector.js when compiled). */
  moduleFile: string;
}

export interface LoadedDetector extends DiscoveredDetector {
  module: DetectorModule<unknown>;
}

export class DetectorLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot load detectors: ${problems.join('; ')}`);
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));
const RUNNING_FROM_TS = import.meta.url.endsWith('.ts');

/**
 * The packaged `detectors/` folder. From source (`src/detect/`) it is `../../detectors`; from the build
 * (`dist/src/detect/`) the YAML and READMEs are still in the package's `detectors/` (`../../../detectors`)
 * while the compiled logic is in `dist/detectors/`.
 */
export function defaultDetectorsDirectory(): string {
  const source = resolve(HERE, '..', '..', 'detectors');
  if (RUNNING_FROM_TS) return source;
  return resolve(HERE, '..', '..', '..', 'detectors');
}

/** Where the compiled logic of a packaged detector lives when running from the build. */
function compiledModuleFile(id: string): string {
  return resolve(HERE, '..', '..', 'detectors', id, 'detector.js');
}

/**
 * Reads every `<dir>/<id>/` synchronously (manifest validated by the schema, id equal to the folder name,
 * README present, logic present). Problems are sentences naming the file. Folders starting with `.` or
 * `_`, and folders without a detector.yaml, are skipped (listed in `skipped`).
 */
export function discoverDetectors(dir: string): { detectors: DiscoveredDetector[]; problems: string[]; skipped: string[] } {
  const problems: string[] = [];
  const skipped: string[] = [];
  const detectors: DiscoveredDetector[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    return { detectors, skipped, problems: [`detectors.engine.directory: cannot read ${dir} (${(err as Error).message})`] };
  }
  for (const name of names) {
    if (name.startsWith('.') || name.startsWith('_')) continue;
    const folder = join(dir, name);
    if (!statSync(folder).isDirectory()) continue;
    const yamlFile = join(folder, 'detector.yaml');
    // A folder without a manifest is not a detector (yet): content being written, or shared helpers.
    if (!existsSync(yamlFile)) {
      skipped.push(folder);
      continue;
    }
    let manifest: DetectorManifest;
    try {
      const parsed = detectorManifestSchema.safeParse(parseYaml(readFileSync(yamlFile, 'utf8')));
      if (!parsed.success) {
        for (const issue of parsed.error.issues) problems.push(`${yamlFile}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
        continue;
      }
      manifest = parsed.data;
    } catch (err) {
      problems.push(`${yamlFile}: ${(err as Error).message}`);
      continue;
    }
    if (manifest.id !== name) {
      problems.push(`${yamlFile}: id "${manifest.id}" must equal the folder name "${name}"`);
      continue;
    }
    if (manifest.id === ENGINE_KEY) {
      problems.push(`${yamlFile}: id "${ENGINE_KEY}" is reserved for the engine's settings`);
      continue;
    }
    const readmeFile = join(folder, 'README.md');
    if (!existsSync(readmeFile)) {
      problems.push(`${readmeFile}: missing (what the detector catches, cannot catch, false positives, tuning)`);
      continue;
    }
    const moduleFile = [join(folder, 'detector.js'), ...(RUNNING_FROM_TS ? [join(folder, 'detector.ts')] : []), compiledModuleFile(name)].find(
      (f) => existsSync(f),
    );
    if (!moduleFile) {
      problems.push(`${folder}: no detector logic (detector.ts, or detector.js when compiled)`);
      continue;
    }
    detectors.push({ id: name, manifest, readme: readFileSync(readmeFile, 'utf8'), directory: folder, moduleFile });
  }
  return { detectors, problems, skipped };
}

function isDetectorModule(value: unknown): value is DetectorModule<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<DetectorModule<unknown>> & { configSchema?: Partial<z.ZodType<unknown>> };
  return typeof m.create === 'function' && typeof m.configSchema?.safeParse === 'function';
}

/** Discovers and imports every detector in `dir`; throws `DetectorLoadError` listing every problem. */
export async function loadDetectors(dir: string = defaultDetectorsDirectory()): Promise<LoadedDetector[]> {
  const { detectors, problems } = discoverDetectors(dir);
  const loaded: LoadedDetector[] = [];
  for (const d of detectors) {
    try {
      const mod = (await import(pathToFileURL(d.moduleFile).href)) as { default?: unknown };
      if (!isDetectorModule(mod.default)) {
        problems.push(`${d.moduleFile}: the default export must be a DetectorModule ({ configSchema, create })`);
        continue;
      }
      loaded.push({ ...d, module: mod.default });
    } catch (err) {
      problems.push(`${d.moduleFile}: cannot import (${(err as Error).message})`);
    }
  }
  if (problems.length > 0) throw new DetectorLoadError(problems);
  return loaded;
}
