import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/**
 * A config on ephemeral loopback ports, with overrides merged one level deep per section (two for
 * `receivers`). Host telemetry is off unless a test turns a receiver on: tests run in parallel, and a
 * daemon that scans /proc would see the MCP servers of other tests and report them.
 */
export function testConfig(overrides: Record<string, Record<string, unknown>> = {}): Config {
  const receivers = (overrides.receivers ?? {}) as Record<string, object | undefined>;
  return configSchema.parse({
    ...overrides,
    receivers: {
      otlp: { endpoint: '127.0.0.1:0', ...receivers.otlp },
      process: { enabled: false, ...receivers.process },
      file: { enabled: false, ...receivers.file },
      network: { enabled: false, ...receivers.network },
    },
    admin: { endpoint: '127.0.0.1:0', ...overrides.admin },
  });
}

/** An in-process daemon on ephemeral ports; stop it with `daemon.shutdown()`. */
export async function startDaemon(config: Config = testConfig()) {
  const daemon = new Daemon(config, { logger: silentLogger(), metrics: new Metrics() });
  await daemon.start();
  const admin = daemon.adminAddress();
  const otlp = daemon.otlpAddress()!;
  return {
    daemon,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    otlpUrl: `http://127.0.0.1:${otlp.port}/v1/traces`,
  };
}

const liveChildren = new Set<ChildProcessWithoutNullStreams>();

/** Runs the real CLI entry point (`src/cli/bin.ts`) through tsx, as a user would run `mcpwatch`. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'bin.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/** SIGKILLs every CLI process a test spawned and left running (call from `afterEach`), so a failed assertion leaks no daemon. */
export function killSpawnedClis(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  liveChildren.clear();
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Waits until a JSON log line matching `predicate` appears on the child's stdout. */
export function waitForLog(child: ChildProcessWithoutNullStreams, predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; got:\n${buffer}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      for (const line of buffer.split('\n')) {
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (predicate(parsed)) {
            clearTimeout(timer);
            child.stdout.off('data', onData);
            resolve(parsed);
            return;
          }
        } catch {
          // partial or non-JSON line
        }
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited with ${code} before the log line; output:\n${buffer}`)));
  });
}
