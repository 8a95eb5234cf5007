import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Reads Linux `/proc` directly.
 *
 * Why not systeminformation here: `si.processes()` reads every process's stat, status and cmdline, then
 * runs `ps` (one fork+exec per call) and computes fields we never use; `bench/host-telemetry.ts` measures it
 * at tens of milliseconds per call against well under a millisecond for the stat-only scan below. The
 * receivers need the parent of every process (to build server trees) but everything else only for the few
 * processes in server trees, so they read `/proc/<pid>/stat` for all and the rest on demand.
 *
 * Every read answers `undefined` when the process is gone (it exited mid-sample: ENOENT, ESRCH) and throws a
 * {@link ProcAccessError} when it is there but not ours to read (EACCES, EPERM: another user's process
 * without CAP_SYS_PTRACE). Callers decide how to degrade; nothing here logs.
 */
export class ProcFs {
  /** `sysconf(_SC_CLK_TCK)`: 100 on every Linux architecture Node.js supports. */
  static readonly CLOCK_TICKS_PER_SECOND = 100;
  readonly pageSize: number;

  constructor(readonly root = '/proc') {
    // Node has no sysconf; 4 KiB pages cover x86-64 and the default arm64 kernels.
    this.pageSize = 4096;
  }

  /** Whether this looks like a Linux procfs at all (false on macOS, or with a wrong root). */
  available(): boolean {
    try {
      return this.readText(join(this.root, 'self', 'stat')) !== undefined || this.listPids().length > 0;
    } catch {
      return false;
    }
  }

  /** Every numeric entry of the proc root. */
  listPids(): number[] {
    const out: number[] = [];
    for (const name of readdirSync(this.root)) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      if (Number.isSafeInteger(pid)) out.push(pid);
    }
    return out;
  }

  stat(pid: number): ProcStat | undefined {
    const text = this.readText(join(this.root, String(pid), 'stat'));
    return text === undefined ? undefined : parseStat(text);
  }

  status(pid: number): ProcStatus | undefined {
    const text = this.readText(join(this.root, String(pid), 'status'));
    return text === undefined ? undefined : parseStatus(text);
  }

  /** argv as the process set it; empty for kernel threads and zombies. */
  cmdline(pid: number): string[] | undefined {
    const text = this.readText(join(this.root, String(pid), 'cmdline'));
    if (text === undefined) return undefined;
    const parts = text.split('\0');
    if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
    return parts;
  }

  /** Target of `/proc/<pid>/exe`; `undefined` when gone or a kernel thread. */
  exe(pid: number): string | undefined {
    return this.readLink(join(this.root, String(pid), 'exe'));
  }

  /** The network namespace link, e.g. `net:[4026531840]`: processes sharing it share socket tables. */
  netns(pid: number): string | undefined {
    return this.readLink(join(this.root, String(pid), 'ns', 'net'));
  }

  /** Open descriptors as fd number -> link target (`/path`, `socket:[123]`, `pipe:[9]`). */
  fds(pid: number): Map<number, string> | undefined {
    const dir = join(this.root, String(pid), 'fd');
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      return this.gone(err, dir);
    }
    const out = new Map<number, string>();
    for (const name of names) {
      // A descriptor closed between readdir and readlink is simply skipped.
      const target = this.readLink(join(dir, name));
      if (target !== undefined) out.set(Number(name), target);
    }
    return out;
  }

  /** Access mode of one open descriptor from `fdinfo` (`flags` is octal): read, write or both. */
  fdAccess(pid: number, fd: number): 'read' | 'write' | 'readwrite' | undefined {
    const text = this.readText(join(this.root, String(pid), 'fdinfo', String(fd)));
    if (text === undefined) return undefined;
    const m = /^flags:\s*([0-7]+)/m.exec(text);
    if (!m?.[1]) return undefined;
    const mode = parseInt(m[1], 8) & 3;
    return mode === 0 ? 'read' : mode === 1 ? 'write' : 'readwrite';
  }

  /** `/proc/<pid>/io` character counters (every read/write syscall, files and sockets alike). */
  io(pid: number): ProcIo | undefined {
    const text = this.readText(join(this.root, String(pid), 'io'));
    if (text === undefined) return undefined;
    const get = (key: string) => {
      const m = new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(text);
      return m?.[1] ? Number(m[1]) : 0;
    };
    return { readChars: get('rchar'), writeChars: get('wchar') };
  }

  /** A socket table of the namespace `pid` lives in: `tcp`, `tcp6`, `udp` or `udp6`. */
  netTable(pid: number | 'self', table: 'tcp' | 'tcp6' | 'udp' | 'udp6'): string | undefined {
    return this.readText(join(this.root, String(pid), 'net', table));
  }

  readText(path: string): string | undefined {
    try {
      return readFileSync(path, 'latin1');
    } catch (err) {
      return this.gone(err, path);
    }
  }

  readLink(path: string): string | undefined {
    try {
      return readlinkSync(path);
    } catch (err) {
      return this.gone(err, path);
    }
  }

  private gone(err: unknown, path: string): undefined {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new ProcAccessError(path, code);
    // ENOENT/ESRCH: exited mid-sample; EINVAL: not a link (kernel thread exe); ENOTDIR: raced with reuse.
    return undefined;
  }
}

/** A /proc entry that exists but belongs to someone we may not inspect. */
export class ProcAccessError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`${code}: cannot read ${path}`);
    this.name = 'ProcAccessError';
  }
}

export interface ProcStat {
  pid: number;
  /** `comm`: the executable name, at most 15 characters, attacker-controlled. */
  comm: string;
  state: string;
  ppid: number;
  /** User + system CPU time of this process, clock ticks. */
  cpuTicks: number;
  threads: number;
  /** Start time after boot, clock ticks: with the pid, identifies a process across pid reuse. */
  startTicks: number;
  rssPages: number;
}

export interface ProcStatus {
  uid: number;
  euid: number;
  gid: number;
  egid: number;
}

export interface ProcIo {
  readChars: number;
  writeChars: number;
}

/**
 * Parses `/proc/<pid>/stat` (proc(5)). `comm` sits in parentheses and may itself contain `)` and spaces, so
 * the fields after it are found from the last `)`.
 */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field n is f[n - 3].
  const num = (field: number) => Number(f[field - 3] ?? NaN);
  const stat: ProcStat = {
    pid,
    comm: text.slice(open + 1, close),
    state: f[0] ?? '?',
    ppid: num(4),
    cpuTicks: num(14) + num(15),
    threads: num(20),
    startTicks: num(22),
    rssPages: num(24),
  };
  return Number.isFinite(stat.ppid) && Number.isFinite(stat.startTicks) ? stat : undefined;
}

/** Real and effective ids from `/proc/<pid>/status` (`Uid: real effective saved fs`). */
export function parseStatus(text: string): ProcStatus | undefined {
  const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(text);
  const gid = /^Gid:\s+(\d+)\s+(\d+)/m.exec(text);
  if (!uid?.[1] || !uid[2]) return undefined;
  return { uid: Number(uid[1]), euid: Number(uid[2]), gid: Number(gid?.[1] ?? -1), egid: Number(gid?.[2] ?? -1) };
}

/** The inode of a `socket:[123]` descriptor target. */
export function socketInode(target: string): number | undefined {
  if (!target.startsWith('socket:[')) return undefined;
  const n = Number(target.slice(8, -1));
  return Number.isSafeInteger(n) ? n : undefined;
}
