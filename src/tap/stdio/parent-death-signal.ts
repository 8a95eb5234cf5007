import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Logger } from '../../telemetry/logger.js';

/**
 * "The child never outlives the tap", even when the tap is SIGKILLed and runs no exit handler: on Linux
 * the server is launched through util-linux `setpriv --pdeathsig SIGKILL -- CMD ARGS`, which sets
 * `PR_SET_PDEATHSIG` and then execs the server in place (same pid, so `process.pid` in spans is the
 * server's own). Without it, a killed tap only closes the server's stdin, and a server that ignores EOF
 * lives on.
 *
 * Limits, on purpose:
 * - The kernel sends the signal when the *thread* that forked the child exits. libuv forks from the
 *   thread that calls `spawn()`, which is the tap's main thread, whose end is the process's end.
 * - A tap killed in the instant between fork and `prctl` leaves the child unsignalled (setpriv does not
 *   re-check its parent); the stdin-close path still applies then.
 * - Without setpriv (other platforms, minimal images), the tap falls back to the plain launch and says so
 *   once.
 */

/** The launch to use: the command itself, or the command behind setpriv. */
export interface Launch {
  command: string;
  args: string[];
  /** Whether the child gets SIGKILL when the tap dies. */
  parentDeathSignal: boolean;
}

/** Looked up once per process (null: not yet). */
let setprivPath: string | undefined | null = null;
let warnedMissing = false;

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `name` resolved the way execvp would (PATH search unless it contains a slash); undefined if not found. */
export function resolveExecutable(name: string, pathEnv = process.env['PATH'] ?? ''): string | undefined {
  if (name.includes('/')) return isExecutableFile(name) ? name : undefined;
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function findSetpriv(): string | undefined {
  if (setprivPath === null) {
    // Also the usual places: an MCP client may start the tap with a PATH that lacks /usr/bin.
    setprivPath = resolveExecutable('setpriv') ?? ['/usr/bin/setpriv', '/bin/setpriv'].find(isExecutableFile);
  }
  return setprivPath;
}

/**
 * How to launch `command`: through setpriv when it is available and the command resolves (an
 * unresolvable command is launched directly, so that it fails the way a missing command always has: a
 * spawn error, not a setpriv exit status).
 */
export function launchWithParentDeathSignal(command: string, args: string[], log: Logger, opts: { disabled?: boolean } = {}): Launch {
  const plain: Launch = { command, args, parentDeathSignal: false };
  if (opts.disabled || process.platform !== 'linux') return plain;
  const setpriv = findSetpriv();
  if (!setpriv) {
    if (!warnedMissing) log.warn({}, 'setpriv (util-linux) not found: if the tap is SIGKILLed, the server only sees its stdin close (logged once)');
    warnedMissing = true;
    return plain;
  }
  if (resolveExecutable(command) === undefined) return plain;
  return { command: setpriv, args: ['--pdeathsig', 'SIGKILL', '--', command, ...args], parentDeathSignal: true };
}
