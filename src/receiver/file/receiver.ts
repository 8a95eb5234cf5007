import { watch as chokidarWatch } from 'chokidar';
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Component, Consumer, CreateSettings } from '../../component/component.js';
import { once } from '../../component/lifecycle.js';
import type { FileReceiverConfig, RegisteredServerConfig } from '../../config/schema.js';
import type { McpEvent, ServerIdentity } from '../../pipeline/events.js';
import { ServerRegistry, type HostSnapshot, type TrackedServer } from '../../pipeline/server-registry.js';
import { LogOnce } from '../../telemetry/logger.js';
import { HostEmitter, identityOf, UNATTRIBUTED, type HostEventDraft } from '../process/host-emitter.js';
import { ProcFs } from '../process/procfs.js';
import { Ticker } from '../process/ticker.js';
import { armCanary, canaryWasRead, mountOptionsOf, plantCanary, type CanaryKind } from './canary.js';

/** The part of chokidar's FSWatcher this receiver uses; tests substitute a fake to inject faults (ENOSPC). */
export interface WatchBackend {
  add(paths: string | string[]): unknown;
  unwatch(paths: string | string[]): unknown;
  on(event: 'all', listener: (event: string, path: string) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  close(): Promise<void>;
}

export type UnwatchedReason = 'missing' | 'inotify_limit' | 'denied' | 'noatime' | 'canary_conflict' | 'error';
const REASONS: UnwatchedReason[] = ['missing', 'inotify_limit', 'denied', 'noatime', 'canary_conflict', 'error'];

interface WatchedPath {
  path: string;
  role: 'sensitive' | 'root' | 'canary';
  status: 'watching' | UnwatchedReason;
  canary?: { kind: CanaryKind; armedAtimeMs?: number };
}

interface Attribution {
  server: ServerIdentity;
  pid?: number;
  confidence: number;
  attribution: 'open_fd' | 'io_timing' | 'declared_root' | 'none';
}

export interface FileReceiverOptions {
  registry?: ServerRegistry;
  /** The `servers` config: declared roots are watched. */
  servers?: readonly RegisteredServerConfig[];
  /** Builds the watcher; chokidar by default. */
  watcherFactory?: (depth: number) => WatchBackend;
}

const ENV_FILE = /^\.env(\.[\w.-]+)?$/;

/**
 * The file receiver (issue 4, point 3).
 *
 * - Writes: chokidar (inotify) watches of the sensitive paths, the servers' declared roots and the canaries give
 *   `create` / `modify` / `delete`; the acting server is the one holding the file open (`/proc/<pid>/fd`,
 *   confidence 0.95), else the one whose I/O counters moved since the last sample (`io_timing`: 0.6 when it is
 *   the only one, 0.3 when several did), else the server whose declared root holds the file (0.3), else none.
 *   inotify cannot name the writer; this is the best a passive, unprivileged observer can do.
 * - Reads: inotify does not report who reads, and chokidar does not report reads at all. Two sources: every
 *   `sampleIntervalSeconds` the descriptors of every server tree are checked for sensitive files (confidence
 *   1, but only files held open across a sample), and canary files whose atime moves (see README.md).
 *
 * Faults degrade, never crash: a missing path is rechecked every sample and watched once it exists (its
 * re-creation is reported); inotify exhaustion (ENOSPC) and permission errors leave paths unwatched; each is
 * logged once and counted in `mcpwatch_file_unwatched_paths{reason}`.
 */
export class FileReceiver implements Component {
  readonly registry: ServerRegistry;
  private readonly emitter: HostEmitter;
  private readonly ticker: Ticker;
  private readonly logOnce = new LogOnce();
  private readonly home: string;
  private readonly paths = new Map<string, WatchedPath>();
  private watcher?: WatchBackend;
  /** I/O counters per server at the previous sample, for timing attribution. */
  private ioBaseline = new Map<string, { read: number; write: number }>();
  private openSeen = new Set<string>();
  /** Paths mcpwatch itself just touched (canary planting and re-arming), until this time. */
  private readonly selfTouched = new Map<string, number>();
  /** Folders mcpwatch created to plant canaries: their appearance is our act, never reported as a server's. */
  private readonly createdBySelf = new Set<string>();
  private started = false;
  readonly shutdown: () => Promise<void>;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: FileReceiverConfig,
    next: Consumer<McpEvent>,
    private readonly opts: FileReceiverOptions = {},
  ) {
    this.registry = opts.registry ?? new ServerRegistry({ procfs: new ProcFs(), logger: settings.logger, metrics: settings.metrics });
    this.emitter = new HostEmitter('file', next, settings.metrics, settings.logger);
    this.ticker = new Ticker('file', config.sampleIntervalSeconds * 1000, () => this.sample(), settings.metrics, settings.logger);
    this.home = resolve(config.home ?? homedir());
    for (const p of config.sensitivePaths) this.declare(this.expand(p), 'sensitive');
    if (config.watchServerRoots) for (const s of opts.servers ?? []) for (const r of s.roots ?? []) this.declare(this.expand(r), 'root');
    for (const c of config.canaries) this.declare(this.expand(c.path), 'canary', c.kind);
    this.shutdown = once(async () => {
      this.ticker.stop();
      const w = this.watcher;
      this.watcher = undefined;
      await w?.close().catch(() => undefined);
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.watcher = this.opts.watcherFactory?.(this.config.depth) ?? this.chokidar();
    this.watcher.on('all', (event, path) => this.onFsEvent(event, path));
    this.watcher.on('error', (err) => this.onWatchError(err));
    for (const p of this.paths.values()) {
      if (p.role === 'canary') this.plant(p);
      else this.tryWatch(p, false);
    }
    const missing = this.unwatched().filter((u) => u.reason === 'missing').map((u) => u.path);
    if (missing.length > 0) {
      this.settings.logger.warn({ paths: missing.slice(0, 50), count: missing.length }, 'watched paths that do not exist yet; they are rechecked every sample and watched once they appear');
    }
    this.publishUnwatched();
    this.ticker.start();
    setImmediate(() => void this.ticker.runOnce());
  }

  sampleNow(): Promise<void> {
    return this.ticker.runOnce();
  }

  /** Paths not watched now, with why (also exported as `mcpwatch_file_unwatched_paths`). */
  unwatched(): { path: string; reason: UnwatchedReason }[] {
    return [...this.paths.values()].filter((p) => p.status !== 'watching').map((p) => ({ path: p.path, reason: p.status as UnwatchedReason }));
  }

  private chokidar(): WatchBackend {
    return chokidarWatch([], {
      ignoreInitial: true,
      persistent: false,
      depth: this.config.depth,
      ignorePermissionErrors: false,
      // Dependency and VCS trees under a server root are large and never the point.
      ignored: (p: string) => /(^|\/)(node_modules|\.git)(\/|$)/.test(p),
    });
  }

  private expand(p: string): string {
    return resolve(p === '~' ? this.home : p.startsWith('~/') ? join(this.home, p.slice(2)) : p);
  }

  private declare(path: string, role: WatchedPath['role'], kind?: CanaryKind): void {
    if (this.paths.has(path) || this.paths.size >= this.config.maxWatchedPaths) return;
    this.paths.set(path, { path, role, status: 'missing', ...(kind ? { canary: { kind } } : {}) });
  }

  /** Watches `p` if it exists; `reappeared` reports a path that came back (deleted and recreated). */
  private tryWatch(p: WatchedPath, reappeared: boolean): void {
    if (!existsSync(p.path)) {
      p.status = 'missing';
      return;
    }
    try {
      this.watcher?.add(p.path);
      p.status = 'watching';
    } catch (err) {
      p.status = 'error';
      if (this.logOnce.shouldLog(`add:${p.path}`)) this.settings.logger.warn({ path: p.path, err: (err as Error).message }, 'cannot watch path');
      return;
    }
    if (reappeared && !this.createdBySelf.delete(p.path)) this.report('create', p.path, p.role === 'canary');
  }

  private plant(p: WatchedPath): void {
    const kind = p.canary?.kind ?? 'token';
    this.selfTouched.set(p.path, Date.now() + 2000);
    const res = plantCanary(p.path, kind);
    if (!res.ok) {
      p.status = res.reason;
      if (this.logOnce.shouldLog(`canary:${p.path}`)) this.settings.logger.warn({ path: p.path, reason: res.message }, 'canary not planted');
      return;
    }
    for (const dir of res.createdDirs) {
      this.selfTouched.set(dir, Date.now() + 2000);
      this.createdBySelf.add(dir);
    }
    p.canary = { kind, armedAtimeMs: res.armedAtimeMs };
    if (mountOptionsOf(p.path)?.includes('noatime')) {
      p.status = 'noatime';
      if (this.logOnce.shouldLog(`noatime:${p.path}`)) this.settings.logger.warn({ path: p.path }, 'canary is on a noatime filesystem: reads of it cannot be seen (writes and deletes still are)');
    } else {
      p.status = 'watching';
    }
    try {
      this.watcher?.add(p.path);
    } catch {
      // Reads are still caught through atime; only writes to the canary go unseen.
    }
  }

  private onWatchError(err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code;
    const reason: UnwatchedReason = code === 'ENOSPC' || code === 'EMFILE' ? 'inotify_limit' : code === 'EACCES' || code === 'EPERM' ? 'denied' : 'error';
    const path = (err as NodeJS.ErrnoException).path;
    const affected = [...this.paths.values()].filter((p) => p.status === 'watching' && p.role !== 'canary' && (path === undefined || path === p.path || path.startsWith(p.path + '/') || reason === 'inotify_limit'));
    for (const p of affected) p.status = reason;
    if (this.logOnce.shouldLog(`watch-error:${reason}`)) {
      this.settings.logger.warn(
        { code, reason, paths: affected.map((p) => p.path).slice(0, 20) },
        reason === 'inotify_limit'
          ? 'inotify watch limit reached (raise fs.inotify.max_user_watches); these paths are not watched, open-file sampling and canaries still run'
          : 'file watch failed; these paths are not watched',
      );
    }
    this.publishUnwatched();
  }

  private onFsEvent(event: string, path: string): void {
    const until = this.selfTouched.get(path);
    if (until !== undefined) {
      if (Date.now() < until) return;
      this.selfTouched.delete(path);
    }
    const top = this.paths.get(path);
    let action: 'create' | 'modify' | 'delete';
    if (event === 'add' || event === 'addDir') action = 'create';
    else if (event === 'change') action = 'modify';
    else if (event === 'unlink' || event === 'unlinkDir') action = 'delete';
    else return;
    if (action === 'delete' && top) {
      // A watched path itself went away: stop watching it and look for it again every sample.
      try {
        this.watcher?.unwatch(path);
      } catch {
        // already gone
      }
      top.status = 'missing';
      this.publishUnwatched();
    }
    this.report(action, path, top?.role === 'canary' || this.isCanary(path));
  }

  private report(action: 'create' | 'modify' | 'delete' | 'read', path: string, canary: boolean, minBytes = 1): void {
    const a = this.attribute(path, action === 'read' ? 'read' : 'write', minBytes);
    const e: HostEventDraft = { kind: 'file', action, time: Date.now(), server: a.server, path, sensitive: canary || this.isSensitive(path), confidence: a.confidence, attribution: a.attribution };
    if (canary) e.canary = true;
    if (a.pid !== undefined) e.pid = a.pid;
    this.emitter.emit([e]);
  }

  private isCanary(path: string): boolean {
    return this.paths.get(path)?.role === 'canary';
  }

  private isSensitive(path: string): boolean {
    if (ENV_FILE.test(basename(path))) return true;
    for (const p of this.paths.values()) {
      if (p.role === 'root') continue;
      if (path === p.path || path.startsWith(p.path + '/')) return true;
    }
    return false;
  }

  /** Who did it: open descriptor, else I/O timing, else declared root, else nobody. */
  /**
   * `minBytes`: I/O a process must have done to be a candidate by timing; a canary read needs at least the
   * canary's size (whole-file reads are what credential theft does), so a server that only read a message on
   * stdin in the same interval is not blamed.
   */
  private attribute(path: string, kind: 'read' | 'write', minBytes = 1): Attribution {
    const snap = this.registry.snapshot(200);
    for (const server of snap.servers) {
      for (const pid of snap.tree(server)) {
        let fds;
        try {
          fds = this.registry.procfs.fds(pid); // fresh: the descriptor may have been opened after the snapshot
        } catch {
          fds = undefined;
        }
        if (!fds) continue;
        for (const target of fds.values()) {
          if (target === path || target.startsWith(path + '/')) return { server: identityOf(server), pid, confidence: 0.95, attribution: 'open_fd' };
        }
      }
    }
    const moved: { server: TrackedServer; delta: number }[] = [];
    for (const server of snap.servers) {
      const now = this.ioOf(snap, server);
      const before = this.ioBaseline.get(serverKey(server));
      if (!now || !before) continue;
      const delta = kind === 'read' ? now.read - before.read : now.write - before.write;
      if (delta >= minBytes) moved.push({ server, delta });
    }
    if (moved.length > 0) {
      moved.sort((x, y) => y.delta - x.delta);
      return { server: identityOf(moved[0]!.server), confidence: moved.length === 1 ? 0.6 : 0.3, attribution: 'io_timing' };
    }
    for (const server of snap.servers) {
      if (server.roots.some((r) => path.startsWith(this.expand(r) + '/'))) return { server: identityOf(server), confidence: 0.3, attribution: 'declared_root' };
    }
    return { server: UNATTRIBUTED, confidence: 0, attribution: 'none' };
  }

  private ioOf(snap: HostSnapshot, server: TrackedServer): { read: number; write: number } | undefined {
    let read = 0;
    let write = 0;
    let any = false;
    for (const pid of snap.tree(server)) {
      // Read now, not from the snapshot's memo: a shared snapshot may be older than the act being attributed.
      let io;
      try {
        io = this.registry.procfs.io(pid);
      } catch {
        io = undefined;
      }
      if (!io) continue;
      any = true;
      read += io.readChars;
      write += io.writeChars;
    }
    return any ? { read, write } : undefined;
  }

  private sample(): void {
    // Canaries first: their attribution compares I/O counters with the previous sample's baseline.
    for (const p of this.paths.values()) {
      if (p.role !== 'canary' || p.canary?.armedAtimeMs === undefined || p.status === 'canary_conflict') continue;
      const read = canaryWasRead(p.path, p.canary.armedAtimeMs);
      if (read === undefined) {
        this.plant(p); // deleted: plant it again
        continue;
      }
      if (!read) continue;
      let size = 1;
      try {
        size = Math.max(1, statSync(p.path).size);
      } catch {
        // deleted right after the read: any I/O counts
      }
      this.report('read', p.path, true, size);
      this.selfTouched.set(p.path, Date.now() + 2000);
      try {
        p.canary.armedAtimeMs = armCanary(p.path);
      } catch {
        p.canary.armedAtimeMs = undefined;
      }
    }
    // Shared with the other receivers when they ticked within the last second.
    const snap = this.registry.snapshot(Math.min(1000, (this.config.sampleIntervalSeconds * 1000) / 2));
    this.sampleOpenFiles(snap);
    const baseline = new Map<string, { read: number; write: number }>();
    for (const server of snap.servers) {
      const io = this.ioOf(snap, server);
      if (io) baseline.set(serverKey(server), io);
    }
    this.ioBaseline = baseline;
    for (const p of this.paths.values()) {
      if (p.role === 'canary') continue;
      if (p.status === 'missing' || p.status === 'inotify_limit' || p.status === 'error') {
        // A path that was missing and exists now was created (or deleted and recreated): report it.
        this.tryWatch(p, p.status === 'missing');
      }
    }
    for (const [path, until] of this.selfTouched) if (Date.now() > until) this.selfTouched.delete(path);
    this.publishUnwatched();
  }

  /** Sensitive files held open by a server's processes: reported once per open descriptor. */
  private sampleOpenFiles(snap: HostSnapshot): void {
    const out: HostEventDraft[] = [];
    const now = Date.now();
    const seen = new Set<string>();
    for (const server of snap.servers) {
      for (const pid of snap.tree(server)) {
        const fds = snap.fds(pid);
        if (!fds) continue;
        for (const [fd, target] of fds) {
          if (!target.startsWith('/') || !this.isSensitive(target)) continue;
          const key = `${pid}:${fd}:${target}`;
          seen.add(key);
          if (this.openSeen.has(key)) continue;
          let access: 'read' | 'write' | 'readwrite' | undefined;
          try {
            access = this.registry.procfs.fdAccess(pid, fd);
          } catch {
            access = undefined;
          }
          out.push({ kind: 'file', action: access === 'write' || access === 'readwrite' ? 'modify' : 'read', time: now, server: identityOf(server), pid, path: target, sensitive: true, confidence: 1, attribution: 'open_fd', ...(this.isCanary(target) ? { canary: true } : {}) });
        }
      }
    }
    // Bounded by the descriptors open now: keys of closed descriptors are dropped each sample.
    this.openSeen = seen;
    this.emitter.emit(out);
  }

  private publishUnwatched(): void {
    const counts = new Map<UnwatchedReason, number>(REASONS.map((r) => [r, 0]));
    for (const p of this.paths.values()) if (p.status !== 'watching') counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
    for (const [reason, n] of counts) this.settings.metrics.fileUnwatchedPaths.set({ reason }, n);
    this.settings.metrics.hostTrackedItems.set({ receiver: 'file', kind: 'paths' }, this.paths.size);
  }
}

function serverKey(s: TrackedServer): string {
  return `${s.identity.id}:${s.rootPid}`;
}
