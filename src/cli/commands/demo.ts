import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Alert } from '../../alert/types.js';
import { configSchema } from '../../config/schema.js';
import { Daemon } from '../../daemon.js';
import type { DemoServerConfig } from '../../demo/malicious-server.js';
import { silentLogger } from '../../telemetry/logger.js';
import { Metrics } from '../../telemetry/metrics.js';
import { EXIT } from '../exit-codes.js';
import { sanitizeForTerminal } from '../sanitize.js';

/** The detectors the demo's attacks are for; the run succeeds when each has alerted. */
const EXPECTED = ['chain_drift', 'exfiltration', 'notification_spam', 'dos'] as const;
const ALERT_WAIT_MS = 20_000;

/**
 * `mcpwatch demo`: a daemon in this process on free loopback ports, with host receivers sampling fast and a
 * canary key in a temporary HOME; real MCP servers (server-everything, server-memory) and a small malicious
 * one (src/demo/malicious-server.ts) run under `mcpwatch wrap`; the SDK client drives benign traffic, then
 * the four attacks; alerts are printed as `GET /api/alerts` shows them. Everything is removed at the end.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Show mcpwatch catching attacks: start a daemon in-process, wrap real MCP servers and a small malicious\n' +
        'one, drive benign then malicious traffic with the MCP SDK client, and print alerts as they fire.\n' +
        'Everything runs on loopback and in a temporary HOME, and is removed at the end.',
    )
    .addHelpText(
      'after',
      '\nThe malicious server reads a decoy SSH key and sends it over TCP to a listener of the demo on this\n' +
        "host's own address (exfiltration), floods log notifications (notification_spam), grows its memory by\n" +
        '352 MB (dos) and starts calling a server it never used (chain_drift).\n' +
        'Needs Linux (host telemetry reads /proc) and the packages @modelcontextprotocol/sdk,\n' +
        '@modelcontextprotocol/server-everything and @modelcontextprotocol/server-memory.\n' +
        'Exit code 0 when each attack was detected, 1 otherwise.\n\nExample:\n  mcpwatch demo',
    )
    .action(async () => {
      process.exitCode = await runDemo((line) => process.stdout.write(`${line}\n`));
    });
}

/** How to start a sibling module of this package as a process: compiled `.js`, or `.ts` under the same loader (tsx). */
function moduleArgv(relative: string): string[] {
  const ext = extname(fileURLToPath(import.meta.url));
  const file = fileURLToPath(new URL(`${relative}${ext}`, import.meta.url));
  return [process.execPath, ...(ext === '.ts' ? process.execArgv : []), file];
}

/** The entry point of an installed MCP server package: its (only) `bin`. */
function resolveServer(require: NodeRequire, name: string): string | undefined {
  try {
    const manifest = require.resolve(`${name}/package.json`);
    const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: string | Record<string, string> };
    const entry = typeof bin === 'string' ? bin : bin ? Object.values(bin)[0] : undefined;
    return entry ? join(dirname(manifest), entry) : undefined;
  } catch {
    return undefined;
  }
}

/** An address of this host that is not loopback: traffic to loopback is not egress. */
function egressAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

/** SIGKILLs what is left of the demo's processes (each carries the run's marker in its environment). */
function killRun(marker: string): void {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone, or not ours
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDemo(print: (line: string) => void): Promise<number> {
  const require = createRequire(import.meta.url);
  const everything = resolveServer(require, '@modelcontextprotocol/server-everything');
  const memory = resolveServer(require, '@modelcontextprotocol/server-memory');
  // The SDK and the servers are development dependencies of mcpwatch: loaded on use, with a clear message if absent.
  const sdk = await Promise.all([import('@modelcontextprotocol/sdk/client/index.js'), import('@modelcontextprotocol/sdk/client/stdio.js')]).then(
    ([client, stdio]) => ({ Client: client.Client, StdioClientTransport: stdio.StdioClientTransport }),
    () => undefined,
  );
  if (!everything || !memory || !sdk) {
    process.stderr.write('mcpwatch demo: needs @modelcontextprotocol/sdk, @modelcontextprotocol/server-everything and @modelcontextprotocol/server-memory; install them with\n  npm install @modelcontextprotocol/sdk @modelcontextprotocol/server-everything @modelcontextprotocol/server-memory\n');
    return EXIT.failure;
  }
  if (process.platform !== 'linux') {
    process.stderr.write('mcpwatch demo: host telemetry (files, sockets, memory of servers) reads /proc; run the demo on Linux\n');
    return EXIT.failure;
  }

  const runId = randomUUID();
  const marker = `MCPWATCH_DEMO_RUN=${runId}`;
  const home = mkdtempSync(join(tmpdir(), 'mcpwatch-demo-'));
  mkdirSync(join(home, '.ssh'), { mode: 0o700 });
  const keyPath = join(home, '.ssh', 'id_ed25519');
  const host = egressAddress();
  const clients: Client[] = [];
  let daemon: Daemon | undefined;
  let listener: Server | undefined;
  let poller: NodeJS.Timeout | undefined;
  const seen = new Set<string>();
  const fired = new Set<string>();

  try {
    if (!host) print('note: this host has no non-loopback IPv4 address; the stolen key goes to loopback, which is not egress, so exfiltration will not alert');
    listener = createServer((s) => s.resume());
    await new Promise<void>((r) => listener!.listen(0, host ?? '127.0.0.1', r));
    const exfilPort = (listener.address() as { port: number }).port;

    daemon = new Daemon(
      configSchema.parse({
        receivers: {
          otlp: { endpoint: '127.0.0.1:0' },
          process: { intervalSeconds: 0.25, discovery: { enabled: false } },
          network: { intervalSeconds: 0.25 },
          file: { home, sampleIntervalSeconds: 0.25, canaries: [{ path: '~/.ssh/id_ed25519', kind: 'ssh' }] },
        },
        admin: { endpoint: '127.0.0.1:0' },
        alerts: { queue: { outboxDir: join(home, 'outbox') } },
        detectors: {
          engine: { persist: false, tickIntervalMs: 100 },
          // Learn quickly: three chains arm the graph (a real deployment learns for an hour).
          chain_drift: { learningSeconds: 0, minChains: 3 },
          // Starting a downstream server grows a tree by up to ~220 MB for a moment; eating 352 MB is above.
          // Host samples come every 0.25 s (20 times the default): 12 in a row is 3 s, longer than the start-up burst
          // of a downstream server's tap (its relay and span-export threads start together, ~1.8 cores for <1 s).
          dos: { process: { maxRssGrowthBytes: 256 * 1024 * 1024, growthWindowSeconds: 5, sustainedSamples: 12 } },
          // Being root says nothing in containers where everything is root.
          process_anomaly: { allowRoot: process.geteuid?.() === 0 },
        },
      }),
      { logger: silentLogger(), metrics: new Metrics() },
    );
    await daemon.start();
    const adminUrl = `http://127.0.0.1:${daemon.adminAddress().port}`;
    const otlpUrl = `http://127.0.0.1:${daemon.otlpAddress()!.port}/v1/traces`;
    print(`mcpwatch demo: daemon on OTLP ${otlpUrl}, admin ${adminUrl} (alerts: ${adminUrl}/api/alerts)`);

    poller = setInterval(() => {
      void fetch(`${adminUrl}/api/alerts?limit=1000`)
        .then((res) => res.json() as Promise<{ alerts: Alert[] }>)
        .then(({ alerts }) => {
          for (const a of [...alerts].reverse()) {
            if (seen.has(a.id)) continue;
            seen.add(a.id);
            fired.add(a.detector);
            print(`ALERT ${sanitizeForTerminal(a.severity).padEnd(8)} ${sanitizeForTerminal(a.detector).padEnd(17)} ${sanitizeForTerminal(a.server)}: ${sanitizeForTerminal(a.summary).slice(0, 300)}`);
          }
        })
        .catch(() => undefined);
    }, 200);

    const wrap = (name: string, server: string[]) => [...moduleArgv('../bin'), 'wrap', '--name', name, '--endpoint', otlpUrl, '--', ...server];
    const env: Record<string, string> = { ...(process.env as Record<string, string>), HOME: home, MEMORY_FILE_PATH: join(home, 'memory.jsonl'), MCPWATCH_DEMO_RUN: runId };
    const connect = async (argv: string[], extraEnv: Record<string, string> = {}) => {
      const [command, ...args] = argv;
      const client = new sdk.Client({ name: 'mcpwatch-demo', version: '1.0.0' });
      await client.connect(new sdk.StdioClientTransport({ command: command!, args, env: { ...env, ...extraEnv }, stderr: 'ignore' }));
      clients.push(client);
      return client;
    };
    const serverConfig: DemoServerConfig = {
      keyPath,
      exfil: { host: host ?? '127.0.0.1', port: exfilPort },
      knownDownstream: wrap('notes', [process.execPath, memory]),
      knownTool: { name: 'search_nodes', arguments: { query: '{query}' } },
      novelDownstream: wrap('reports', [process.execPath, everything, 'stdio']),
      novelTool: { name: 'echo', arguments: { message: 'report on {query}' } },
    };

    print('starting servers under mcpwatch wrap: everything (server-everything), memory (server-memory), workspace (malicious)');
    const [ev, mem, workspace] = await Promise.all([
      connect(wrap('everything', [process.execPath, everything, 'stdio'])),
      connect(wrap('memory', [process.execPath, memory]), { MEMORY_FILE_PATH: join(home, 'graph.jsonl') }),
      connect(wrap('workspace', [...moduleArgv('../../demo/malicious-server')]), { MCPWATCH_DEMO_SERVER: JSON.stringify(serverConfig) }),
    ]);

    print('benign: everything: tools/list, echo, get-sum');
    await ev.listTools();
    await ev.callTool({ name: 'echo', arguments: { message: 'hello from the demo' } });
    await ev.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
    print('benign: memory: create_entities, read_graph');
    await mem.callTool({ name: 'create_entities', arguments: { entities: [{ name: 'demo', entityType: 'note', observations: ['benign traffic'] }] } });
    await mem.callTool({ name: 'read_graph', arguments: {} });
    print('benign: workspace: lookup x4 (each asks server-memory through its own tap: the chain mcpwatch learns)');
    for (let i = 0; i < 4; i++) await workspace.callTool({ name: 'lookup', arguments: { query: `topic ${i}` } });
    // Chains are judged once their trace settles (3 s without spans).
    await sleep(4000);
    print(`benign phase done: ${fired.size === 0 ? 'no alerts' : `alerts from ${[...fired].join(', ')}`}`);

    print(`attack: workspace.sync_settings reads ${keyPath} (a canary) and sends it to ${host ?? '127.0.0.1'}:${exfilPort}`);
    await workspace.callTool({ name: 'sync_settings', arguments: {} });
    print('attack: workspace.tail_logs floods 400 notifications/message');
    await workspace.callTool({ name: 'tail_logs', arguments: {} });
    print('attack: workspace.build_index grows its memory by 352 MB');
    await workspace.callTool({ name: 'build_index', arguments: {} });
    print('attack: workspace.fetch_report starts calling a server it never used (server-everything as "reports")');
    await workspace.callTool({ name: 'fetch_report', arguments: { topic: 'q3' } });

    const deadline = Date.now() + ALERT_WAIT_MS;
    while (Date.now() < deadline && !EXPECTED.every((d) => fired.has(d))) await sleep(200);
    await sleep(500);
    const missing = EXPECTED.filter((d) => !fired.has(d));
    print(missing.length === 0 ? `done: every attack detected (${EXPECTED.join(', ')}); ${seen.size} alerts in all` : `done: not detected within ${ALERT_WAIT_MS / 1000} s: ${missing.join(', ')}`);
    return missing.length === 0 ? EXIT.ok : EXIT.failure;
  } catch (err) {
    process.stderr.write(`mcpwatch demo: ${sanitizeForTerminal((err as Error).message)}\n`);
    return EXIT.failure;
  } finally {
    clearInterval(poller);
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    killRun(marker);
    await daemon?.shutdown();
    listener?.close();
    rmSync(home, { recursive: true, force: true });
  }
}
