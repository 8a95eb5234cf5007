import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, killSpawnedClis, spawnCli } from '../helpers/daemon.js';

/**
 * The child never outlives the tap: SIGKILL gives the tap no chance to kill its child, and a server that
 * ignores stdin EOF and SIGTERM would live on. On Linux the kernel kills it (setpriv --pdeathsig).
 */

const STUBBORN = join(REPO_ROOT, 'test', 'fixtures', 'servers', 'stubborn-server.mjs');
const orphans: number[] = [];

/** Alive and not a zombie (a zombie is dead, only not yet reaped by whatever adopted it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

afterEach(() => {
  killSpawnedClis();
  for (const pid of orphans.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe.runIf(process.platform === 'linux')('mcpwatch wrap: parent death', () => {
  it("a server that ignores stdin EOF and SIGTERM is killed when the tap is SIGKILLed, and the pid the tap spawned (the one spans report) is the server's own", async () => {
    const tap = spawnCli(['wrap', '--endpoint', '127.0.0.1:9', '--', process.execPath, STUBBORN]);
    const line = await new Promise<string>((resolve) => {
      let out = '';
      tap.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
    });
    const pid = (JSON.parse(line) as { params: { data: { pid: number } } }).params.data.pid;
    orphans.push(pid);
    // setpriv execs the server in place: the pid the tap spawned is the server's own (the one spans report).
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(STUBBORN);
    expect(Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])).toBe(tap.pid);

    tap.kill('SIGKILL');
    expect(await waitUntil(() => !alive(pid), 2000)).toBe(true);
  });
});
