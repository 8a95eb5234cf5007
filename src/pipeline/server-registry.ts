import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { basename } from 'node:path';
import type { Consumer } from '../component/component.js';
import type { RegisteredServerConfig } from '../config/schema.js';
import { classifyClientChild, classifyCommand, isClientProcess, type DiscoveryRules } from '../receiver/process/discovery.js';
import { ProcAccessError, type ProcFs, type ProcIo, type ProcStat } from '../receiver/process/procfs.js';
import { parseSocketTable, type SocketEntry } from '../receiver/network/sockets.js';
import { LogOnce, type Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { McpEvent, ServerIdentity } from './events.js';

/** How mcpwatch learned that a process is an MCP server. */
export type ServerSource = 'span' | 'config' | 'discovery' | 'manual';

/** A monitored MCP server: the root of a process tree, and who it is. */
export interface TrackedServer {
  identity: ServerIdentity;
  rootPid: number;
  /** Start time of the root (clock ticks after boot): tells a restarted server from pid reuse. */
  rootStartTicks: number;
  source: ServerSource;
  /** False for servers only discovery found: present in neither the `servers` config nor any telemetry. */
  registered: boolean;
  /** Declared roots (from the `servers` config): directories whose files the server is expected to touch. */
  roots: string[];
  discoveryReason?: string;
}

export interface ServerRegistryOptions {
  procfs: ProcFs;
  /** The trusted-server registry of the config. */
  servers?: readonly RegisteredServerConfig[];
  discovery?: DiscoveryRules & { enabled: boolean };
  /** Servers tracked at once; beyond it new ones are refused (counted, logged once). */
  maxServers?: number;
  /** Processes scanned per snapshot; a host with more is sampled partially (counted, logged once). */
  maxProcesses?: number;
  logger: Logger;
  metrics: Metrics;
}

interface SeenProcess {
  argv: string[];
  classified: boolean;
}

/**
 * Which processes are MCP servers (issue 4, point 1), and what their process trees look like now.
 *
 * Fed three ways: spans whose resource has `process.pid` (it is a `Consumer<McpEvent>` on the daemon's event
 * bus), the `servers` config (command line / executable), and discovery over new processes. Every receiver
 * asks it for a {@link HostSnapshot}; snapshots younger than the caller's `maxAgeMs` are shared, so receivers
 * ticking together scan /proc once.
 */
export class ServerRegistry implements Consumer<McpEvent> {
  private readonly servers = new Map<string, TrackedServer>();
  private readonly pending = new Map<number, { identity: ServerIdentity; source: ServerSource; roots: string[] }>();
  /** argv of processes seen, by `pid:startTicks`; replaced wholesale each scan, so bounded by the process count. */
  private seen = new Map<string, SeenProcess>();
  private last?: HostSnapshot;
  private readonly logOnce = new LogOnce();
  private readonly localHost = hostname();
  private readonly maxServers: number;
  private readonly maxProcesses: number;
  private readonly discovery: (DiscoveryRules & { enabled: boolean }) | undefined;

  constructor(private readonly opts: ServerRegistryOptions) {
    this.maxServers = opts.maxServers ?? 256;
    this.maxProcesses = opts.maxProcesses ?? 32_768;
    this.discovery = opts.discovery;
  }

  get procfs(): ProcFs {
    return this.opts.procfs;
  }

  /** Learns server pids from span resources; other events pass by. Never refuses (it is an observer). */
  consume(batch: readonly McpEvent[]): boolean {
    for (const event of batch) {
      if (event.kind !== 'mcp' || event.server.pid === undefined) continue;
      // A span recorded on another host names a pid of that host, not of ours.
      if (event.server.host !== undefined && event.server.host !== this.localHost) continue;
      this.register(event.server.pid, event.server, 'span');
    }
    return true;
  }

  /** Declares `pid` an MCP server; takes effect at the next snapshot (the process may not be visible yet). */
  register(pid: number, identity: ServerIdentity, source: ServerSource = 'manual', roots: string[] = []): void {
    const known = [...this.servers.values()].find((s) => s.rootPid === pid);
    if (known && known.source !== 'discovery' && known.identity.id === identity.id) return;
    if (this.pending.size >= this.maxServers) return;
    this.pending.set(pid, { identity: { ...identity, pid }, source, roots });
  }

  /** Servers tracked now. */
  list(): TrackedServer[] {
    return [...this.servers.values()];
  }

  /** The current host picture, rescanned when the last one is older than `maxAgeMs`. */
  snapshot(maxAgeMs = 0, now = Date.now()): HostSnapshot {
    if (this.last && now - this.last.time <= maxAgeMs && this.pending.size === 0) return this.last;
    this.last = this.scan(now);
    return this.last;
  }

  private scan(now: number): HostSnapshot {
    const { procfs, metrics, logger } = this.opts;
    const procs = new Map<number, ProcStat>();
    let pids: number[];
    try {
      pids = procfs.listPids();
    } catch (err) {
      metrics.hostProcReadErrors.inc({ reason: 'scan_failed' });
      if (this.logOnce.shouldLog('scan')) logger.warn({ err: (err as Error).message, root: procfs.root }, 'cannot list processes; host telemetry sees no processes');
      pids = [];
    }
    if (pids.length > this.maxProcesses) {
      if (this.logOnce.shouldLog('maxProcesses')) logger.warn({ processes: pids.length, maxProcesses: this.maxProcesses }, 'more processes than receivers.process.maxProcesses; scanning the first ones only');
      pids = pids.slice(0, this.maxProcesses);
    }
    for (const pid of pids) {
      try {
        const st = procfs.stat(pid);
        if (st) procs.set(pid, st);
      } catch (err) {
        this.denied(err, pid);
      }
    }
    const snap = new HostSnapshot(now, procs, procfs, (err, pid) => this.denied(err, pid));

    // Servers whose root is gone (or whose pid now belongs to another process) stop being tracked; the
    // process receiver, which remembers them, reports the exit.
    for (const [key, s] of this.servers) {
      const st = procs.get(s.rootPid);
      if (!st || st.startTicks !== s.rootStartTicks) this.servers.delete(key);
    }
    this.applyPending(snap);
    this.classifyNew(snap);
    snap.setServers([...this.servers.values()]);
    metrics.hostServers.reset();
    for (const s of this.servers.values()) metrics.hostServers.inc({ source: s.source, registered: String(s.registered) });
    return snap;
  }

  private applyPending(snap: HostSnapshot): void {
    pending: for (const [pid, p] of this.pending) {
      const st = snap.procs.get(pid);
      if (!st) continue; // not (yet) visible: a span may precede the scan, or come from a pid namespace we cannot see
      this.pending.delete(pid);
      // A span server inside a discovered tree (npx -> node) or above one (mcpwatch wrap -> server) takes
      // the discovered entry's place: telemetry and config name servers better than a command line does.
      for (const [key, s] of this.servers) {
        if (s.source !== 'discovery') continue;
        if (snap.isAncestor(s.rootPid, pid)) {
          s.identity = { ...p.identity, pid: s.rootPid };
          s.source = p.source;
          s.registered = true;
          s.roots = p.roots;
          this.servers.delete(key);
          this.servers.set(s.identity.id + ':' + s.rootPid, s);
          continue pending;
        }
        if (snap.isAncestor(pid, s.rootPid)) this.servers.delete(key);
      }
      const existing = [...this.servers.entries()].find(([, s]) => s.rootPid === pid);
      if (existing) this.servers.delete(existing[0]);
      this.track({ identity: p.identity, rootPid: pid, rootStartTicks: st.startTicks, source: p.source, registered: true, roots: p.roots });
    }
  }

  private track(s: TrackedServer): void {
    if (this.servers.size >= this.maxServers) {
      this.opts.metrics.hostProcReadErrors.inc({ reason: 'max_servers' });
      if (this.logOnce.shouldLog('maxServers')) this.opts.logger.warn({ maxServers: this.maxServers }, 'receivers.process.maxServers reached; further MCP servers are not monitored');
      return;
    }
    this.servers.set(s.identity.id + ':' + s.rootPid, s);
  }

  /** Config matching and discovery over processes not seen before (each process is read once). */
  private classifyNew(snap: HostSnapshot): void {
    const configured = this.opts.servers ?? [];
    const discover = this.discovery?.enabled === true;
    const next = new Map<string, SeenProcess>();
    const tracked = new Set([...this.servers.values()].map((s) => s.rootPid));
    for (const st of snap.procs.values()) {
      const key = `${st.pid}:${st.startTicks}`;
      let seen = this.seen.get(key);
      if (!seen) {
        seen = { argv: [], classified: false };
        try {
          seen.argv = this.opts.procfs.cmdline(st.pid) ?? [];
        } catch (err) {
          this.denied(err, st.pid);
        }
      }
      next.set(key, seen);
      if (seen.classified) continue;
      seen.classified = true;
      if (st.pid === process.pid || seen.argv.length === 0 || tracked.has(st.pid)) continue;
      if (configured.length === 0 && !discover) continue;
      // Inside a server's tree already: it is part of that server, not a server of its own.
      if (snap.hasAncestorIn(st.pid, tracked)) continue;
      const match = this.matchConfig(st.pid, seen.argv, configured);
      if (match) {
        const identity: ServerIdentity = {
          id: shortId('config', match.name),
          name: match.name,
          pid: st.pid,
          commandLine: seen.argv.join(' ').slice(0, 1024),
          registered: true,
          source: 'config',
        };
        this.track({ identity, rootPid: st.pid, rootStartTicks: st.startTicks, source: 'config', registered: true, roots: match.roots ?? [] });
        tracked.add(st.pid);
        continue;
      }
      if (!discover) continue;
      const rules = this.discovery!;
      let found = classifyCommand(seen.argv, rules);
      if (!found) {
        const parent = snap.procs.get(st.pid);
        const parentSeen = parent ? (next.get(`${parent.ppid}:${snap.procs.get(parent.ppid)?.startTicks}`) ?? this.seen.get(`${parent.ppid}:${snap.procs.get(parent.ppid)?.startTicks}`)) : undefined;
        if (parentSeen && isClientProcess(parentSeen.argv, rules)) {
          try {
            const fds = this.opts.procfs.fds(st.pid);
            found = classifyClientChild(seen.argv, parentSeen.argv, { stdin: fds?.get(0), stdout: fds?.get(1) }, rules);
          } catch (err) {
            this.denied(err, st.pid);
          }
        }
      }
      if (!found) continue;
      const commandLine = seen.argv.join(' ').slice(0, 1024);
      this.track({
        identity: { id: shortId(found.name, commandLine), name: found.name, pid: st.pid, commandLine, executable: seen.argv[0], registered: false, source: 'discovery' },
        rootPid: st.pid,
        rootStartTicks: st.startTicks,
        source: 'discovery',
        registered: false,
        roots: [],
        discoveryReason: found.reason,
      });
      tracked.add(st.pid);
    }
    this.seen = next;
  }

  private matchConfig(pid: number, argv: readonly string[], configured: readonly RegisteredServerConfig[]): RegisteredServerConfig | undefined {
    const line = argv.join(' ');
    const withBase = [basename(argv[0] ?? ''), ...argv.slice(1)].join(' ');
    let exe: string | undefined | null = null;
    for (const server of configured) {
      if (server.command === undefined && server.executable === undefined) continue;
      if (server.command !== undefined) {
        const cmd = server.command.trim().replace(/\s+/g, ' ');
        const ok = [line, withBase].some((l) => l === cmd || l.startsWith(cmd + ' '));
        if (!ok) continue;
      }
      if (server.executable !== undefined) {
        if (exe === null) {
          try {
            exe = this.opts.procfs.exe(pid);
          } catch {
            exe = undefined;
          }
        }
        const want = server.executable;
        const candidates = [exe, argv[0]].filter((x): x is string => x !== undefined);
        if (!candidates.some((c) => c === want || (!want.includes('/') && basename(c) === want))) continue;
      }
      return server;
    }
    return undefined;
  }

  private denied(err: unknown, pid: number): void {
    if (!(err instanceof ProcAccessError)) throw err;
    this.opts.metrics.hostProcReadErrors.inc({ reason: 'denied' });
    if (this.logOnce.shouldLog('denied')) {
      this.opts.logger.warn({ pid, path: err.path, code: err.code }, 'cannot read /proc entries of another user; run mcpwatch as that user or with CAP_SYS_PTRACE to see them');
    }
  }
}

/**
 * One scan of the host: every process's stat, the server trees, and memoised per-process reads (descriptors,
 * socket tables per network namespace, I/O counters) so receivers sharing a snapshot read each once.
 */
export class HostSnapshot {
  readonly children = new Map<number, number[]>();
  private readonly memberOf = new Map<number, TrackedServer | null>();
  private serverList: TrackedServer[] = [];
  private readonly fdMemo = new Map<number, Map<number, string> | undefined>();
  private readonly netMemo = new Map<string, Map<number, SocketEntry>>();
  private readonly ioMemo = new Map<number, ProcIo | undefined>();
  /** Processes whose descriptors we may not read, this snapshot. */
  readonly unreadable = new Set<number>();

  constructor(
    readonly time: number,
    readonly procs: ReadonlyMap<number, ProcStat>,
    private readonly procfs: ProcFs,
    private readonly onDenied: (err: unknown, pid: number) => void,
  ) {
    for (const st of procs.values()) {
      const list = this.children.get(st.ppid);
      if (list) list.push(st.pid);
      else this.children.set(st.ppid, [st.pid]);
    }
  }

  setServers(servers: TrackedServer[]): void {
    this.serverList = servers;
    this.memberOf.clear();
  }

  get servers(): readonly TrackedServer[] {
    return this.serverList;
  }

  /** Whether `ancestor` is `pid` or one of its ancestors. */
  isAncestor(ancestor: number, pid: number): boolean {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 0 && hops < 4096; hops++) {
      if (p === ancestor) return true;
      p = this.procs.get(p)?.ppid;
    }
    return false;
  }

  /** Whether a strict ancestor of `pid` is in `roots`. */
  hasAncestorIn(pid: number, roots: ReadonlySet<number>): boolean {
    let p = this.procs.get(pid)?.ppid;
    for (let hops = 0; p !== undefined && p > 0 && hops < 4096; hops++) {
      if (roots.has(p)) return true;
      p = this.procs.get(p)?.ppid;
    }
    return false;
  }

  /** The server `pid` belongs to: the nearest tracked ancestor-or-self. */
  serverOf(pid: number): TrackedServer | undefined {
    const cached = this.memberOf.get(pid);
    if (cached !== undefined) return cached ?? undefined;
    const roots = new Map(this.serverList.map((s) => [s.rootPid, s]));
    const path: number[] = [];
    let found: TrackedServer | undefined;
    for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 0 && hops < 4096; hops++) {
      const memo = this.memberOf.get(p);
      if (memo !== undefined) {
        found = memo ?? undefined;
        break;
      }
      path.push(p);
      const root = roots.get(p);
      if (root) {
        found = root;
        break;
      }
      p = this.procs.get(p)?.ppid;
    }
    for (const p of path) this.memberOf.set(p, found ?? null);
    return found;
  }

  /** The server's whole process tree, root first. */
  tree(server: TrackedServer): number[] {
    if (!this.procs.has(server.rootPid)) return [];
    const out: number[] = [];
    const stack = [server.rootPid];
    while (stack.length > 0) {
      const pid = stack.pop()!;
      out.push(pid);
      for (const child of this.children.get(pid) ?? []) {
        // A nested server's tree is its own.
        if (this.serverList.some((s) => s.rootPid === child)) continue;
        stack.push(child);
      }
    }
    return out;
  }

  fds(pid: number): Map<number, string> | undefined {
    if (this.fdMemo.has(pid)) return this.fdMemo.get(pid);
    let fds: Map<number, string> | undefined;
    try {
      fds = this.procfs.fds(pid);
    } catch (err) {
      this.unreadable.add(pid);
      this.onDenied(err, pid);
    }
    this.fdMemo.set(pid, fds);
    return fds;
  }

  io(pid: number): ProcIo | undefined {
    if (this.ioMemo.has(pid)) return this.ioMemo.get(pid);
    let io: ProcIo | undefined;
    try {
      io = this.procfs.io(pid);
    } catch (err) {
      this.unreadable.add(pid);
      this.onDenied(err, pid);
    }
    this.ioMemo.set(pid, io);
    return io;
  }

  /** Sockets of the network namespace `pid` lives in, by inode (each namespace read once per snapshot). */
  sockets(pid: number): Map<number, SocketEntry> {
    let ns: string | undefined;
    try {
      ns = this.procfs.netns(pid);
    } catch {
      ns = undefined;
    }
    const key = ns ?? 'self';
    const memo = this.netMemo.get(key);
    if (memo) return memo;
    const out = new Map<number, SocketEntry>();
    const source: number | 'self' = ns === undefined ? 'self' : pid;
    for (const table of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
      let text: string | undefined;
      try {
        text = this.procfs.netTable(source, table);
      } catch (err) {
        this.onDenied(err, pid);
      }
      if (text !== undefined) parseSocketTable(text, table.startsWith('tcp') ? 'tcp' : 'udp', out);
    }
    this.netMemo.set(key, out);
    return out;
  }
}

/** A short stable id from its parts (hex of SHA-256). */
export function shortId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}
