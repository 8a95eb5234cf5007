import { lookup, reverse } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import type { Component, Consumer, CreateSettings } from '../../component/component.js';
import { once } from '../../component/lifecycle.js';
import type { NetworkReceiverConfig } from '../../config/schema.js';
import type { McpEvent, ServerIdentity } from '../../pipeline/events.js';
import { ServerRegistry } from '../../pipeline/server-registry.js';
import { LogOnce } from '../../telemetry/logger.js';
import { HostEmitter, identityOf, type HostEventDraft } from '../process/host-emitter.js';
import { ProcFs, socketInode } from '../process/procfs.js';
import { Ticker } from '../process/ticker.js';
import { classifyAddress, isUnspecified, METADATA_ADDRESSES, TCP_STATE, type AddressScope, type SocketEntry } from './sockets.js';
import { readTcpCounters, type TcpCounters } from './ss.js';

interface Connection {
  server: ServerIdentity;
  pid: number;
  entry: SocketEntry;
  scope: AddressScope;
  counters?: TcpCounters;
  reported?: TcpCounters;
}

/**
 * The network receiver (issue 4, point 4): per MCP server tree, every `intervalSeconds`, the sockets in its
 * processes' descriptors joined with the socket tables of their network namespace (`/proc/<pid>/net/*`).
 * Emits `connect` for each new connection, `new_destination` the first time a server reaches a remote
 * address and port, `traffic` with cumulative bytes per TCP connection when they changed (from `ss`), and
 * `close` with the final counts. Remote addresses are classified loopback / private / link_local / metadata
 * / public, and named from /etc/hosts, the configured metadata host names and (opt-in) reverse DNS.
 *
 * Limits: a connection opened and closed between two samples is not seen (its bytes still count in the
 * process's /proc/<pid>/io); `ss` answers for the daemon's own network namespace, so servers in another
 * namespace (containers) get connections and destinations but no byte counts.
 */
export class NetworkReceiver implements Component {
  readonly registry: ServerRegistry;
  private readonly emitter: HostEmitter;
  private readonly ticker: Ticker;
  private readonly logOnce = new LogOnce();
  private readonly connections = new Map<number, Connection>();
  private readonly destinations = new Map<string, Map<string, number>>();
  private readonly names = new Map<string, string>();
  private readonly metadata = new Set(METADATA_ADDRESSES);
  private ssAvailable: boolean;
  private stopped = false;
  private freshNext = false;
  readonly shutdown: () => Promise<void>;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: NetworkReceiverConfig,
    next: Consumer<McpEvent>,
    registry?: ServerRegistry,
  ) {
    this.registry = registry ?? new ServerRegistry({ procfs: new ProcFs(), logger: settings.logger, metrics: settings.metrics });
    this.emitter = new HostEmitter('network', next, settings.metrics, settings.logger);
    this.ticker = new Ticker('network', config.intervalSeconds * 1000, () => this.sample(), settings.metrics, settings.logger);
    this.ssAvailable = config.byteCounters === 'ss';
    this.shutdown = once(async () => {
      this.stopped = true;
      this.ticker.stop();
    });
  }

  async start(): Promise<void> {
    if (!this.registry.procfs.available()) {
      this.settings.logger.warn({ procRoot: this.registry.procfs.root }, 'no procfs here; the network receiver reports nothing');
      return;
    }
    this.loadHostsFile();
    // Resolved in the background: start() returns at once, and an unresolvable name only costs its entry.
    for (const host of this.config.metadataHosts) {
      lookup(host, { all: true })
        .then((addrs) => addrs.forEach((a) => this.metadata.add(a.address.toLowerCase())))
        .catch(() => undefined);
    }
    this.ticker.start();
    setImmediate(() => void this.ticker.runOnce());
  }

  sampleNow(): Promise<void> {
    this.freshNext = true;
    return this.ticker.runOnce();
  }

  private async sample(now = Date.now()): Promise<void> {
    // Receivers ticking together share one scan; an explicit sampleNow() always rescans.
    const snap = this.registry.snapshot(this.freshNext ? 0 : Math.min(1000, (this.config.intervalSeconds * 1000) / 2), now);
    this.freshNext = false;
    const out: HostEventDraft[] = [];
    const live = new Set<number>();
    for (const server of snap.servers) {
      const identity = identityOf(server);
      for (const pid of snap.tree(server)) {
        const fds = snap.fds(pid);
        if (!fds) continue;
        let table: Map<number, SocketEntry> | undefined;
        for (const target of fds.values()) {
          const inode = socketInode(target);
          if (inode === undefined) continue;
          table ??= snap.sockets(pid);
          const entry = table.get(inode);
          if (!entry || !isConnection(entry)) continue;
          live.add(inode);
          const known = this.connections.get(inode);
          if (known) {
            known.entry = entry;
            continue;
          }
          if (this.connections.size >= this.config.maxConnections) {
            if (this.logOnce.shouldLog('maxConnections')) this.settings.logger.warn({ maxConnections: this.config.maxConnections }, 'receivers.network.maxConnections reached; new connections are not reported');
            continue;
          }
          const conn: Connection = { server: identity, pid, entry, scope: classifyAddress(entry.remote.address, this.metadata) };
          this.connections.set(inode, conn);
          out.push(this.event(conn, 'connect', now));
          if (this.rememberDestination(identity.id, `${entry.protocol}|${entry.remote.address}|${entry.remote.port}`, now)) out.push(this.event(conn, 'new_destination', now));
        }
      }
    }
    if (this.ssAvailable && [...this.connections.values()].some((c) => c.entry.protocol === 'tcp')) {
      try {
        const counters = await readTcpCounters();
        for (const [inode, conn] of this.connections) {
          const c = counters.get(inode);
          if (c) conn.counters = c;
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') this.ssAvailable = false;
        if (this.logOnce.shouldLog('ss')) this.settings.logger.warn({ err: (err as Error).message }, code === 'ENOENT' ? '`ss` (iproute2) not found; per-connection byte counts are off' : '`ss` failed; byte counts skipped this sample');
      }
    }
    if (this.stopped) return;
    for (const [inode, conn] of this.connections) {
      if (!live.has(inode)) {
        out.push(this.event(conn, 'close', now));
        this.connections.delete(inode);
        continue;
      }
      const c = conn.counters;
      if (c && (c.bytesSent !== conn.reported?.bytesSent || c.bytesReceived !== conn.reported?.bytesReceived) && (c.bytesSent > 0 || c.bytesReceived > 0)) {
        conn.reported = { ...c };
        out.push(this.event(conn, 'traffic', now));
      }
    }
    this.settings.metrics.hostTrackedItems.set({ receiver: 'network', kind: 'connections' }, this.connections.size);
    this.settings.metrics.hostTrackedItems.set({ receiver: 'network', kind: 'destinations' }, [...this.destinations.values()].reduce((n, m) => n + m.size, 0));
    this.emitter.emit(out);
  }

  private event(conn: Connection, action: 'connect' | 'new_destination' | 'traffic' | 'close', now: number): HostEventDraft {
    const { entry } = conn;
    const remote: { address: string; port: number; hostname?: string } = { ...entry.remote };
    const name = this.hostnameOf(entry.remote.address);
    if (name !== undefined) remote.hostname = name;
    const e: HostEventDraft = { kind: 'network', action, time: now, server: conn.server, pid: conn.pid, protocol: entry.protocol, local: { ...entry.local }, remote, scope: conn.scope, inode: entry.inode };
    if (conn.counters && (action === 'traffic' || action === 'close')) [e.bytesSent, e.bytesReceived] = [conn.counters.bytesSent, conn.counters.bytesReceived];
    return e;
  }

  /** True when `dest` is new for this server; least recently seen destinations are forgotten first. */
  private rememberDestination(serverId: string, dest: string, now: number): boolean {
    let seen = this.destinations.get(serverId);
    if (!seen) {
      if (this.destinations.size >= 4096) {
        const oldest = this.destinations.keys().next().value;
        if (oldest !== undefined) this.destinations.delete(oldest);
      }
      seen = new Map();
      this.destinations.set(serverId, seen);
    }
    const isNew = !seen.has(dest);
    seen.delete(dest);
    seen.set(dest, now);
    if (seen.size > this.config.maxDestinationsPerServer) {
      const oldest = seen.keys().next().value;
      if (oldest !== undefined) seen.delete(oldest);
    }
    return isNew;
  }

  private hostnameOf(address: string): string | undefined {
    const known = this.names.get(address);
    if (known !== undefined) return known || undefined;
    if (!this.config.reverseDns || this.names.size >= 4096) return undefined;
    // Reverse lookups run in the background; the name shows on this connection's later events.
    this.names.set(address, '');
    reverse(address)
      .then((names) => {
        if (names[0] !== undefined) this.names.set(address, names[0]);
      })
      .catch(() => undefined);
    return undefined;
  }

  private loadHostsFile(): void {
    let text: string;
    try {
      text = readFileSync('/etc/hosts', 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      const [addr, name] = line.replace(/#.*/, '').trim().split(/\s+/);
      if (addr && name && !this.names.has(addr) && this.names.size < 1024) this.names.set(addr.toLowerCase(), name);
    }
  }
}

/** A socket with a peer: connected TCP (not listening) or connected UDP. */
function isConnection(e: SocketEntry): boolean {
  if (isUnspecified(e.remote.address, e.remote.port) || e.remote.port === 0) return false;
  return e.protocol === 'udp' || e.state !== TCP_STATE.listen;
}
