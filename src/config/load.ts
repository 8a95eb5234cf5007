import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ZodObject, type z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { validateConfig } from './validate.js';

/** Invalid configuration: the CLI prints each problem and exits 78 (EX_CONFIG). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export interface LoadOptions {
  /** Config files, merged in order (later wins). */
  files?: string[];
  /** `key.path=value` overrides from `--set`, applied last. */
  set?: string[];
  /** Environment for `${env:...}` expansion and `MCPWATCH_*` overrides. */
  env?: NodeJS.ProcessEnv;
}

type Tree = Record<string, unknown>;

const ENV_PREFIX = 'MCPWATCH_';
const ENV_REF = /\$(\$?)\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const FILE_SUFFIX = '_file';

/**
 * Builds the effective config: files merged in order, `${env:VAR[:-default]}` expanded, `*_file` secrets
 * read, `MCPWATCH_SECTION__KEY=value` overrides, then `--set` overrides, then schema validation. Every
 * problem names its config path; all problems are reported at once.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  let tree: Tree = {};
  for (const file of opts.files ?? []) {
    tree = deepMerge(tree, readConfigFile(file, problems));
  }
  tree = expandEnv(tree, env, '', problems) as Tree;
  applyEnvOverrides(tree, env, problems);
  for (const assignment of opts.set ?? []) applySet(tree, assignment, problems);
  resolveSecretFiles(tree, '', problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const config = parseConfig(tree);
  const semantic = validateConfig(config);
  if (semantic.length > 0) throw new ConfigError(semantic);
  return config;
}

/** Validates a plain object against the schema; problems name their config path. */
export function parseConfig(tree: unknown): Config {
  const result = configSchema.safeParse(tree);
  if (!result.success) throw new ConfigError(formatZodIssues(result.error.issues));
  return result.data;
}

export function formatZodIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path === '(top level)' ? k : `${path}.${k}`));
      return `${keys.join(', ')}: unknown setting${keys.length > 1 ? 's' : ''}`;
    }
    return `${path}: ${issue.message}`;
  });
}

function readConfigFile(file: string, problems: string[]): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${file}: cannot read config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return {};
  }
  try {
    const doc: unknown = parseYaml(text, { maxAliasCount: 100 });
    if (doc === null || doc === undefined) return {};
    if (!isTree(doc)) {
      problems.push(`${file}: the top level must be a mapping of sections (receivers, store, admin, ...)`);
      return {};
    }
    return doc;
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    problems.push(`${file}: not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
    return {};
  }
}

function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (whole, escaped: string, name: string, fallback: string | undefined) => {
      if (escaped) return whole.slice(1);
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${path || '(top level)'}: environment variable ${name} is not set and has no default (\${env:${name}:-default})`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${path}.${i}`, problems));
  if (isTree(value)) {
    const out: Tree = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, env, path ? `${path}.${k}` : k, problems);
    return out;
  }
  return value;
}

/** `MCPWATCH_RECEIVERS__OTLP__ENDPOINT=0.0.0.0:4318`: `__` separates path segments, case-insensitive. */
function applyEnvOverrides(tree: Tree, env: NodeJS.ProcessEnv, problems: string[]): void {
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || !name.includes('__')) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    const path = resolveSegments(segments, tree);
    setPath(tree, path, parseScalar(raw), `environment variable ${name}`, problems);
  }
}

function applySet(tree: Tree, assignment: string, problems: string[]): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) {
    problems.push(`--set ${assignment}: expected key.path=value`);
    return;
  }
  const path = assignment.slice(0, eq).split('.');
  setPath(tree, path, parseScalar(assignment.slice(eq + 1)), `--set ${assignment.slice(0, eq)}`, problems);
}

/** Matches each upper-case env segment to a known setting (from the schema or the file), ignoring case. */
function resolveSegments(segments: string[], tree: Tree): string[] {
  const path: string[] = [];
  let node: unknown = tree;
  let schema: z.ZodType | undefined = configSchema;
  for (const seg of segments) {
    const shape = objectShape(schema);
    const candidates = [...(isTree(node) ? Object.keys(node) : []), ...Object.keys(shape ?? {})];
    const lower = seg.toLowerCase();
    // `..._FILE` names the file variant of a setting: match the setting, keep the suffix.
    const base = lower.endsWith(FILE_SUFFIX) ? lower.slice(0, -FILE_SUFFIX.length) : undefined;
    const key =
      candidates.find((k) => k.toLowerCase() === lower) ??
      (base !== undefined ? candidates.find((k) => k.toLowerCase() === base)?.concat(FILE_SUFFIX) : undefined) ??
      lower;
    path.push(key);
    node = isTree(node) ? node[key] : undefined;
    schema = shape?.[key];
  }
  return path;
}

/** The fields of an object schema, looking through defaults and optionals. */
function objectShape(schema: z.ZodType | undefined): Record<string, z.ZodType> | undefined {
  let s: unknown = schema;
  for (let i = 0; i < 5 && s; i++) {
    if (s instanceof ZodObject) return s.shape as Record<string, z.ZodType>;
    s = (s as { _zod?: { def?: { innerType?: unknown } } })._zod?.def?.innerType;
  }
  return undefined;
}

function setPath(tree: Tree, path: string[], value: unknown, origin: string, problems: string[]): void {
  let node: Tree = tree;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    if (isForbiddenKey(key)) return void problems.push(`${origin}: invalid key ${key}`);
    const child = node[key];
    if (child === undefined) node[key] = {};
    else if (!isTree(child)) {
      problems.push(`${origin}: ${path.slice(0, i + 1).join('.')} is not a section`);
      return;
    }
    node = node[key] as Tree;
  }
  const last = path[path.length - 1]!;
  if (isForbiddenKey(last)) return void problems.push(`${origin}: invalid key ${last}`);
  node[last] = value;
}

/** `bearerToken_file: /run/secrets/otlp` reads the secret from a file (trailing newline removed). */
function resolveSecretFiles(tree: Tree, path: string, problems: string[]): void {
  for (const [key, value] of Object.entries(tree)) {
    const here = path ? `${path}.${key}` : key;
    if (isTree(value)) {
      resolveSecretFiles(value, here, problems);
      continue;
    }
    if (!key.endsWith(FILE_SUFFIX) || typeof value !== 'string') continue;
    const target = key.slice(0, -FILE_SUFFIX.length);
    const targetPath = path ? `${path}.${target}` : target;
    delete tree[key];
    if (tree[target] !== undefined) {
      problems.push(`${here}: set either ${targetPath} or ${here}, not both`);
      continue;
    }
    try {
      tree[target] = readFileSync(value, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${here}: cannot read secret file ${value} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}

function parseScalar(raw: string): unknown {
  try {
    return parseYaml(raw) ?? raw;
  } catch {
    return raw;
  }
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (isForbiddenKey(k)) continue;
    const prev = out[k];
    out[k] = isTree(prev) && isTree(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const SECRET_KEY = /(token|secret|password|passwd|apikey|api_key|api-key|webhook|credentials?|authorization)$/i;
/** Settings whose every value is a secret: HTTP headers carry credentials under any name. */
const ALL_SECRET_KEYS = /^headers$/i;

/** A copy of `value` with every secret-looking setting replaced, for `print-config` and logs. */
export function maskSecrets(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null && value !== '') return '********';
  if (ALL_SECRET_KEYS.test(key) && isTree(value)) {
    return Object.fromEntries(Object.keys(value).map((k) => [k, '********']));
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v));
  if (isTree(value)) {
    const out: Tree = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskSecrets(v, k);
    return out;
  }
  return value;
}
