import { mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * Where detectors' learned state (baselines, learned graphs) survives a restart: one JSON value per
 * detector id. Local file by default; Redis when configured, so daemons behind one Collector share what
 * they learned (last writer wins per detector: each daemon learns from the same kind of traffic).
 */
export interface DetectorStateStore {
  readonly description: string;
  load(): Promise<Record<string, unknown>>;
  save(state: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/** `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), else `~/.local/state/mcpwatch`. */
export function defaultStateDir(): string {
  const systemd = process.env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  const xdg = process.env.XDG_STATE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.local', 'state'), 'mcpwatch');
}

interface FileFormat {
  version: 1;
  savedAt: string;
  detectors: Record<string, unknown>;
}

/**
 * `<dir>/detector-state.json`, replaced atomically: written to a temporary file in the same directory,
 * then renamed over the old one, so a crash mid-write leaves the previous state, never half a file.
 */
export class FileStateStore implements DetectorStateStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = join(dir, 'detector-state.json');
  }

  get description(): string {
    return `file ${this.file}`;
  }

  async load(): Promise<Record<string, unknown>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    const parsed = JSON.parse(text) as Partial<FileFormat>;
    if (parsed.version !== 1 || typeof parsed.detectors !== 'object' || parsed.detectors === null) {
      throw new Error(`${this.file}: not a detector state file of version 1`);
    }
    return parsed.detectors;
  }

  async save(state: Record<string, unknown>): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const body: FileFormat = { version: 1, savedAt: new Date().toISOString(), detectors: state };
    const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify(body), { mode: 0o600 });
      await rename(tmp, this.file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {}
}

/** A Redis hash `key` with one field per detector id (JSON). */
export class RedisStateStore implements DetectorStateStore {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly key: string,
  ) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true, connectTimeout: 5000 });
    // Connection problems surface as rejected load/save calls; the error event must not crash the daemon.
    this.redis.on('error', () => undefined);
  }

  get description(): string {
    return `redis hash ${this.key}`;
  }

  async load(): Promise<Record<string, unknown>> {
    const fields = await this.redis.hgetall(this.key);
    const out: Record<string, unknown> = {};
    for (const [id, json] of Object.entries(fields)) {
      try {
        out[id] = JSON.parse(json);
      } catch {
        // A corrupt field costs that detector its learning, not the others theirs.
      }
    }
    return out;
  }

  async save(state: Record<string, unknown>): Promise<void> {
    const entries = Object.entries(state);
    if (entries.length === 0) return;
    await this.redis.hset(this.key, Object.fromEntries(entries.map(([id, v]) => [id, JSON.stringify(v)])));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/** Keeps state in memory: tests, and `persist: false`. */
export class MemoryStateStore implements DetectorStateStore {
  readonly description = 'memory';
  state: Record<string, unknown> = {};
  saves = 0;
  async load(): Promise<Record<string, unknown>> {
    return structuredClone(this.state);
  }
  async save(state: Record<string, unknown>): Promise<void> {
    this.state = structuredClone(state);
    this.saves += 1;
  }
  async close(): Promise<void> {}
}
