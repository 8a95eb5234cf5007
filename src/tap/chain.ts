import { readFileSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import type { Logger } from '../telemetry/logger.js';
import type { ParentRef } from './message-tracker.js';
import type { ParentResolver, ServedCall } from './tap-recorder.js';

/**
 * Composability chains without `_meta.traceparent` (DESIGN.md: client -> server A -> server B as one trace).
 *
 * Every tap answers "which calls are you serving right now?" on a Linux abstract Unix socket named after
 * its own pid (`\0mcpwatch-tap-<pid>`): no file to clean up, and no environment variable needed (MCP
 * clients such as the SDK's stdio transport pass servers only a few whitelisted variables, so a variable
 * set by A's tap would not reach B's).
 *
 * When B's tap sees a request that carries no traceparent, it looks for the nearest tap among the
 * ancestors of the process that sent it: for `wrap`, its own parent chain (B's tap is a descendant of A's
 * server, which is a child of A's tap); for `proxy`, the parent chain of the process owning the client
 * end of the TCP connection. It asks that tap for the calls it serves (in flight, and answered in the last
 * seconds: finding a socket's owner scans /proc and can outlast a quick call) and takes the newest one
 * that was in flight when B's request arrived (`callInFlightAt`), so B's span is contained in A's in time;
 * when A serves several calls at once, the newest is the best guess, and the span says how its parent was
 * found (`mcpwatch.parent.source`).
 *
 * Trust: any local process can listen on an abstract name, so a parent found this way is a hint for
 * correlation, never an authorisation decision. What a tap reveals is trace and span ids, nothing else.
 */

/** A call an upstream tap serves or served (`endMs` once answered). */
export type InFlightCall = ServedCall;

/** Deepest process ancestry walked. */
const MAX_ANCESTORS = 32;
const QUERY_TIMEOUT_MS = 250;
const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_CALLS_ANSWERED = 256;

/** Whether chains by process tree can work here (abstract sockets and /proc are Linux features). */
export const CHAIN_SUPPORTED = process.platform === 'linux';

export function chainSocketPath(pid: number): string {
  return `\0mcpwatch-tap-${pid}`;
}

/** The parent pid from `/proc/<pid>/stat`, or undefined (process gone, not Linux). */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** `pid`'s ancestors, nearest first, stopping before init. */
export function ancestors(pid: number): number[] {
  const out: number[] = [];
  let current: number | undefined = pid;
  while (out.length < MAX_ANCESTORS) {
    current = parentPid(current);
    if (current === undefined || current <= 1 || out.includes(current)) break;
    out.push(current);
  }
  return out;
}

/** Serves this tap's in-flight calls to descendant taps. */
export class ChainServer {
  private server: Server | undefined;

  constructor(
    private readonly calls: () => Promise<InFlightCall[]>,
    private readonly logger: Logger,
  ) {}

  /** Listens on this process's abstract socket; a failure only disables chaining. */
  start(pid = process.pid): Promise<void> {
    if (!CHAIN_SUPPORTED) return Promise.resolve();
    return new Promise((resolve) => {
      const server = createServer((socket) => {
        socket.setTimeout(QUERY_TIMEOUT_MS * 4, () => socket.destroy());
        socket.on('error', () => socket.destroy());
        socket.once('data', () => {
          this.calls().then(
            (calls) => socket.end(`${JSON.stringify({ calls: calls.slice(-MAX_CALLS_ANSWERED) })}\n`),
            () => socket.destroy(),
          );
        });
      });
      server.on('error', (err) => {
        this.logger.debug({ error: err.message }, 'chain socket unavailable; chains will rely on traceparent only');
        resolve();
      });
      server.listen(chainSocketPath(pid), () => {
        server.unref();
        this.server = server;
        resolve();
      });
    });
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
  }
}

/** Asks the tap listening for `pid` for its in-flight calls; undefined when there is none. */
export function queryTap(pid: number, timeoutMs = QUERY_TIMEOUT_MS): Promise<InFlightCall[] | undefined> {
  if (!CHAIN_SUPPORTED) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = createConnection(chainSocketPath(pid));
    let answer = '';
    let done = false;
    const finish = (v: InFlightCall[] | undefined) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(timeoutMs, () => finish(undefined));
    socket.on('error', () => finish(undefined));
    socket.on('connect', () => socket.write('inflight\n'));
    socket.on('data', (d: Buffer) => {
      answer += d.toString('utf8');
      if (answer.length > MAX_ANSWER_BYTES) finish(undefined);
    });
    socket.on('end', () => finish(parseCalls(answer)));
  });
}

function parseCalls(text: string): InFlightCall[] | undefined {
  try {
    const v = JSON.parse(text) as { calls?: unknown };
    if (!Array.isArray(v.calls)) return undefined;
    return v.calls.filter(
      (c): c is InFlightCall =>
        c !== null &&
        typeof c === 'object' &&
        /^[\da-f]{32}$/.test(String((c as InFlightCall).traceId)) &&
        /^[\da-f]{16}$/.test(String((c as InFlightCall).spanId)) &&
        typeof (c as InFlightCall).startMs === 'number' &&
        ((c as InFlightCall).endMs === undefined || typeof (c as InFlightCall).endMs === 'number'),
    );
  } catch {
    return undefined;
  }
}

/**
 * A parent resolver for requests sent by `originPid` or its descendants: finds the nearest ancestor
 * (`originPid` itself included when `includeOrigin`) that runs a tap, once, then asks it per request.
 */
export function processTreeResolver(originPid: number, source: ParentRef['source'], includeOrigin = false): ParentResolver {
  let tapPid: Promise<number | undefined> | undefined;
  const findTap = async (): Promise<number | undefined> => {
    const candidates = includeOrigin ? [originPid, ...ancestors(originPid)] : ancestors(originPid);
    for (const pid of candidates) {
      if (pid === process.pid) continue;
      if ((await queryTap(pid)) !== undefined) return pid;
    }
    return undefined;
  };
  // Once the search found no upstream tap, the answer is given at once: no promise per request.
  let noTap = !CHAIN_SUPPORTED;
  const lookUp = async (atMs: number): Promise<ParentRef | undefined> => {
    tapPid ??= findTap();
    const pid = await tapPid;
    if (pid === undefined) {
      noTap = true;
      return undefined;
    }
    const calls = await queryTap(pid);
    const parent = callInFlightAt(calls ?? [], atMs);
    return parent ? { traceId: parent.traceId, spanId: parent.spanId, source } : undefined;
  };
  return (atMs) => (noTap ? undefined : lookUp(atMs));
}

/**
 * Time containment: of the calls that were in flight at `atMs` (started before it, not answered before
 * it), the newest. The look-up may finish after the parent call was answered, so answered calls count
 * as long as they ended after `atMs`.
 */
export function callInFlightAt(calls: InFlightCall[], atMs: number): InFlightCall | undefined {
  let best: InFlightCall | undefined;
  for (const c of calls) {
    if (c.startMs > atMs || (c.endMs !== undefined && c.endMs < atMs)) continue;
    if (best === undefined || c.startMs >= best.startMs) best = c;
  }
  return best;
}

/**
 * The pid owning the client end of a loopback TCP connection (`clientPort` -> `serverPort`), from
 * /proc/net/tcp{,6} and the owners' fd tables. Only processes this user may inspect are found.
 */
export async function socketOwnerPid(clientPort: number, serverPort: number): Promise<number | undefined> {
  if (!CHAIN_SUPPORTED) return undefined;
  // Asynchronous on purpose: a scan of every fd table must not stall the relay on the event loop.
  const inode = await connectionInode(clientPort, serverPort);
  if (inode === undefined) return undefined;
  const target = `socket:[${inode}]`;
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if ((await readlink(`/proc/${pid}/fd/${fd}`)) === target) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

async function connectionInode(clientPort: number, serverPort: number): Promise<string | undefined> {
  const local = clientPort.toString(16).toUpperCase().padStart(4, '0');
  const remote = serverPort.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length < 10) continue;
      if (f[1]?.endsWith(`:${local}`) && f[2]?.endsWith(`:${remote}`)) return f[9];
    }
  }
  return undefined;
}
