import type { Component, Consumer, CreateSettings } from '../../component/component.js';
import { once } from '../../component/lifecycle.js';
import type { ProcessReceiverConfig } from '../../config/schema.js';
import type { McpEvent, ServerIdentity } from '../../pipeline/events.js';
import { ServerRegistry, type HostSnapshot, type TrackedServer } from '../../pipeline/server-registry.js';
import { isUnspecified, TCP_STATE } from '../network/sockets.js';
import { HostEmitter, identityOf, type HostEventDraft } from './host-emitter.js';
import { ProcAccessError, ProcFs, socketInode } from './procfs.js';
import { Ticker } from './ticker.js';

interface Member {
  pid: number;
  comm: string;
  uid?: number;
  euid?: number;
}

interface ServerState {
  identity: ServerIdentity;
  rootPid: number;
  members: Map<string, Member>;
  cpuTicks: number;
  time: number;
  listens: Set<string>;
  rootReported: boolean;
}

/**
 * The process receiver (issue 4, point 2): per MCP server tree, every `intervalSeconds`, a `sample` event (CPU,
 * RSS, threads, descriptors, children) and events for what changed: `exec` of new descendants (or a re-exec of
 * one), `exit`, `uid_change`, `root`, `listen`, `restart_loop`.
 *
 * Reads /proc directly (see `procfs.ts` for why not systeminformation). Short-lived descendants that start and
 * exit between two samples are not seen: catching every exec needs the kernel's proc connector or eBPF
 * (CAP_NET_ADMIN / CAP_BPF), which a passive daemon does not ask for.
 */
export class ProcessReceiver implements Component {
  readonly registry: ServerRegistry;
  private readonly emitter: HostEmitter;
  private readonly ticker: Ticker;
  private readonly state = new Map<string, ServerState>();
  /** Start times per server id, for restart loops; bounded by `maxServers` ids. */
  private readonly starts = new Map<string, number[]>();
  private freshNext = false;
  readonly shutdown: () => Promise<void>;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: ProcessReceiverConfig,
    next: Consumer<McpEvent>,
    registry?: ServerRegistry,
  ) {
    this.registry =
      registry ??
      new ServerRegistry({
        procfs: new ProcFs(config.procRoot),
        discovery: config.discovery,
        maxServers: config.maxServers,
        maxProcesses: config.maxProcesses,
        logger: settings.logger,
        metrics: settings.metrics,
      });
    this.emitter = new HostEmitter('process', next, settings.metrics, settings.logger);
    this.ticker = new Ticker('process', config.intervalSeconds * 1000, () => this.sample(), settings.metrics, settings.logger);
    this.shutdown = once(async () => {
      this.ticker.stop();
    });
  }

  async start(): Promise<void> {
    if (!this.registry.procfs.available()) {
      this.settings.logger.warn({ procRoot: this.registry.procfs.root }, 'no procfs here; the process receiver reports nothing');
      return;
    }
    this.ticker.start();
    setImmediate(() => void this.ticker.runOnce());
  }

  /** Takes one sample now, from a fresh scan. */
  sampleNow(): Promise<void> {
    this.freshNext = true;
    return this.ticker.runOnce();
  }

  private sample(now = Date.now()): void {
    // Receivers ticking together share one scan; an explicit sampleNow() always rescans.
    const snap = this.registry.snapshot(this.freshNext ? 0 : Math.min(1000, (this.config.intervalSeconds * 1000) / 2), now);
    this.freshNext = false;
    const out: HostEventDraft[] = [];
    const live = new Set<string>();
    for (const server of snap.servers) {
      const key = `${server.identity.id}:${server.rootPid}:${server.rootStartTicks}`;
      live.add(key);
      let state = this.state.get(key);
      const fresh = state === undefined;
      if (!state) {
        state = { identity: identityOf(server), rootPid: server.rootPid, members: new Map(), cpuTicks: 0, time: now, listens: new Set(), rootReported: false };
        this.state.set(key, state);
        this.noteStart(server, state.identity, now, out);
      }
      state.identity = identityOf(server);
      this.sampleServer(snap, server, state, fresh, now, out);
    }
    for (const [key, state] of this.state) {
      if (live.has(key)) continue;
      // The root is gone: the whole tree exited (or was re-parented away, which we cannot follow).
      for (const m of state.members.values()) out.push({ kind: 'process', action: 'exit', time: now, server: state.identity, pid: m.pid, executable: m.comm });
      this.state.delete(key);
    }
    this.settings.metrics.hostTrackedItems.set({ receiver: 'process', kind: 'servers' }, this.state.size);
    this.emitter.emit(out);
  }

  private sampleServer(snap: HostSnapshot, server: TrackedServer, state: ServerState, fresh: boolean, now: number, out: HostEventDraft[]): void {
    const procfs = this.registry.procfs;
    const tree = snap.tree(server);
    const seen = new Set<string>();
    let cpuTicks = 0;
    let rssPages = 0;
    let threads = 0;
    let openFds = 0;
    let unreadable = 0;
    for (const pid of tree) {
      const st = snap.procs.get(pid);
      if (!st) continue;
      cpuTicks += st.cpuTicks;
      rssPages += st.rssPages;
      threads += st.threads;
      const mkey = `${pid}:${st.startTicks}`;
      seen.add(mkey);
      let member = state.members.get(mkey);
      let status;
      try {
        status = procfs.status(pid);
      } catch (err) {
        if (!(err instanceof ProcAccessError)) throw err;
      }
      if (!member) {
        if (state.members.size >= this.config.maxProcessesPerServer) continue;
        member = { pid, comm: st.comm, uid: status?.uid, euid: status?.euid };
        state.members.set(mkey, member);
        if (!fresh) out.push(this.execEvent(snap, state.identity, pid, st.ppid, status, now));
      } else {
        if (member.comm !== st.comm) {
          // Same pid, new program: execve() replaced the image.
          member.comm = st.comm;
          out.push(this.execEvent(snap, state.identity, pid, st.ppid, status, now));
        }
        if (status && member.uid !== undefined && member.euid !== undefined && (status.uid !== member.uid || status.euid !== member.euid)) {
          out.push({ kind: 'process', action: 'uid_change', time: now, server: state.identity, pid, ppid: st.ppid, executable: st.comm, uid: status.uid, euid: status.euid, previous: { uid: member.uid, euid: member.euid } });
        }
        if (status) [member.uid, member.euid] = [status.uid, status.euid];
      }
      if (status?.euid === 0 && !state.rootReported) {
        state.rootReported = true;
        out.push({ kind: 'process', action: 'root', time: now, server: state.identity, pid, ppid: st.ppid, executable: st.comm, uid: status.uid, euid: 0 });
      }
      const fds = snap.fds(pid);
      if (!fds) {
        if (snap.unreadable.has(pid)) unreadable++;
        continue;
      }
      openFds += fds.size;
      this.listeners(snap, pid, fds, state, now, out);
    }
    for (const [mkey, m] of state.members) {
      if (seen.has(mkey)) continue;
      state.members.delete(mkey);
      out.push({ kind: 'process', action: 'exit', time: now, server: state.identity, pid: m.pid, executable: m.comm });
    }
    const seconds = (now - state.time) / 1000;
    const cpuPercent = fresh || seconds <= 0 ? undefined : Math.max(0, ((cpuTicks - state.cpuTicks) / ProcFs.CLOCK_TICKS_PER_SECOND / seconds) * 100);
    state.cpuTicks = cpuTicks;
    state.time = now;
    const sample: HostEventDraft = {
      kind: 'process',
      action: 'sample',
      time: now,
      server: state.identity,
      pid: server.rootPid,
      rssBytes: rssPages * procfs.pageSize,
      threads,
      openFds,
      children: Math.max(0, tree.length - 1),
    };
    if (cpuPercent !== undefined) sample.cpuPercent = Math.round(cpuPercent * 100) / 100;
    if (unreadable > 0) sample.unreadable = unreadable;
    out.push(sample);
  }

  private listeners(snap: HostSnapshot, pid: number, fds: Map<number, string>, state: ServerState, now: number, out: HostEventDraft[]): void {
    let sockets;
    for (const target of fds.values()) {
      const inode = socketInode(target);
      if (inode === undefined) continue;
      sockets ??= snap.sockets(pid);
      const s = sockets.get(inode);
      if (!s) continue;
      const listening = s.protocol === 'tcp' ? s.state === TCP_STATE.listen : s.state === TCP_STATE.close && isUnspecified(s.remote.address, s.remote.port) && s.local.port !== 0;
      if (!listening) continue;
      const key = `${s.protocol}|${s.local.address}|${s.local.port}`;
      if (state.listens.has(key) || state.listens.size >= 4096) continue;
      state.listens.add(key);
      out.push({ kind: 'process', action: 'listen', time: now, server: state.identity, pid, listen: { address: s.local.address, port: s.local.port, protocol: s.protocol } });
    }
  }

  private execEvent(snap: HostSnapshot, server: ServerIdentity, pid: number, ppid: number, status: { uid: number; euid: number } | undefined, now: number): HostEventDraft {
    const procfs = this.registry.procfs;
    const e: HostEventDraft = { kind: 'process', action: 'exec', time: now, server, pid, ppid };
    try {
      const exe = procfs.exe(pid);
      if (exe !== undefined) e.executable = exe;
    } catch {
      e.executable = snap.procs.get(pid)?.comm;
    }
    try {
      const argv = procfs.cmdline(pid);
      // argv is untrusted and can be huge: keep the first 64 arguments, each at most 1 KiB.
      if (argv) e.argv = argv.slice(0, 64).map((a) => a.slice(0, 1024));
    } catch {
      // Another user's process: the exec is still reported, without argv.
    }
    if (status) [e.uid, e.euid] = [status.uid, status.euid];
    return e;
  }

  private noteStart(server: TrackedServer, identity: ServerIdentity, now: number, out: HostEventDraft[]): void {
    const window = this.config.restartLoop.windowSeconds * 1000;
    const list = (this.starts.get(identity.id) ?? []).filter((t) => now - t <= window);
    list.push(now);
    this.starts.delete(identity.id);
    this.starts.set(identity.id, list.slice(-64));
    if (this.starts.size > this.config.maxServers * 4) {
      const oldest = this.starts.keys().next().value;
      if (oldest !== undefined) this.starts.delete(oldest);
    }
    if (list.length >= this.config.restartLoop.starts) {
      out.push({ kind: 'process', action: 'restart_loop', time: now, server: identity, pid: server.rootPid, restarts: { count: list.length, windowSeconds: this.config.restartLoop.windowSeconds } });
    }
  }
}
