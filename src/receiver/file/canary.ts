import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Text every planted canary contains; a file without it is never touched (it is not ours). */
export const CANARY_MARKER = 'mcpwatch-canary';

export type CanaryKind = 'aws' | 'ssh' | 'env' | 'token';

/** Decoy content that looks like what it imitates and is worth nothing. */
export function canaryContent(kind: CanaryKind): string {
  const hex = randomBytes(20).toString('hex');
  const upper = hex.toUpperCase();
  switch (kind) {
    case 'aws':
      return `# ${CANARY_MARKER}\n[default]\naws_access_key_id = AKIA${upper.slice(0, 16)}\naws_secret_access_key = ${randomBytes(30).toString('base64').slice(0, 40)}\n`;
    case 'ssh':
      return `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(180).toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n# ${CANARY_MARKER}\n`;
    case 'env':
      return `# ${CANARY_MARKER}\nDATABASE_URL=postgres://admin:${hex.slice(0, 16)}@db.internal:5432/prod\nAPI_KEY=sk_live_${hex}\n`;
    case 'token':
      return `# ${CANARY_MARKER}\ntoken=${hex}\n`;
  }
}

export type PlantResult =
  /** `createdDirs`: folders mcpwatch had to create for the canary, so their creation is not reported as an act. */
  | { ok: true; armedAtimeMs: number; createdDirs: string[] }
  | { ok: false; reason: 'canary_conflict' | 'error'; message: string };

/**
 * Plants a canary at `path` (unless a file mcpwatch did not plant is there) and arms it.
 *
 * Arming sets atime one second before mtime. Under `relatime` (the Linux default) a read updates atime only
 * when atime <= mtime or atime <= ctime, or atime is older than 24 h; an armed canary satisfies the first
 * condition, so the next read moves atime past mtime, and that is what {@link canaryWasRead} looks for.
 * `strictatime` updates on every read (also works); `noatime` never does (canaries are then useless, and
 * the receiver says so). See README.md in this folder.
 */
export function plantCanary(path: string, kind: CanaryKind): PlantResult {
  try {
    let existing: string | undefined;
    try {
      existing = readFileSync(path, 'utf8').slice(0, 64 * 1024);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (existing !== undefined && !existing.includes(CANARY_MARKER)) {
      return { ok: false, reason: 'canary_conflict', message: `${path} exists and is not an mcpwatch canary; it is left alone` };
    }
    const createdDirs: string[] = [];
    if (existing === undefined) {
      const first = mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // mkdirSync returns the first folder it created; every folder from there down to ours is new.
      for (let dir = dirname(path); first !== undefined; dir = dirname(dir)) {
        createdDirs.push(dir);
        if (dir === first || dir === dirname(dir)) break;
      }
      writeFileSync(path, canaryContent(kind), { mode: 0o600, flag: 'wx' });
    }
    return { ok: true, armedAtimeMs: armCanary(path), createdDirs };
  } catch (err) {
    return { ok: false, reason: 'error', message: (err as Error).message };
  }
}

/** Sets atime = mtime - 1 s (mtime unchanged); returns the armed atime in ms. */
export function armCanary(path: string): number {
  const st = statSync(path);
  const atime = new Date(st.mtimeMs - 1000);
  utimesSync(path, atime, st.mtime);
  return statSync(path).atimeMs;
}

/** Whether the canary's atime moved since it was armed. */
export function canaryWasRead(path: string, armedAtimeMs: number): boolean | undefined {
  try {
    return statSync(path).atimeMs > armedAtimeMs + 0.5;
  } catch {
    return undefined;
  }
}

/** Mount options of the filesystem holding `path`, from /proc/self/mountinfo (longest mount-point prefix). */
export function mountOptionsOf(path: string, mountinfo = '/proc/self/mountinfo'): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return undefined;
  }
  let best: { point: string; options: string[] } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const point = f[4]?.replace(/\\040/g, ' ');
    if (point === undefined || f[5] === undefined) continue;
    const under = point === '/' || path === point || path.startsWith(point + '/');
    if (under && (!best || point.length >= best.point.length)) best = { point, options: f[5].split(',') };
  }
  return best?.options;
}
