import { createServer } from 'node:net';
import { Command, CommanderError } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../../src/api/admin-server.js';
import { registerQueryCommands } from '../../src/cli/commands/query.js';
import { adminSchema, storeSchema } from '../../src/config/schema.js';
import { RecentStore } from '../../src/store/recent-store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { hexId, mcpEvent, processEvent, span, T0_MS } from '../helpers/store-items.js';

const TRACE = hexId(0xc0ffee, 32);
const OTHER_TRACE = hexId(0xbeef, 32);
const TOKEN = 'cli-test-token-0123456789';
/** A tool name from the wild: retitles the terminal, then reverses the rest of the line. */
const HOSTILE_TOOL = 'evil\x1b]0;pwned\x07\u202Etxt.exe\x9b2J';

interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const metrics = new Metrics();
let server: AdminServer;
let securedServer: AdminServer;
let admin: string;
let securedAdmin: string;

function populatedStore(): RecentStore {
  const store = new RecentStore(storeSchema.parse({}), metrics);
  const ns = (ms: number) => (T0_MS + ms) * 1e6;
  store.addSpans([
    span({ traceId: TRACE, spanId: hexId(1, 16), name: 'tools/call get_weather', startTimeUnixNano: ns(0), endTimeUnixNano: ns(40), status: { code: 1 } }),
    span({ traceId: TRACE, spanId: hexId(2, 16), parentSpanId: hexId(1, 16), name: 'geocode', startTimeUnixNano: ns(2), endTimeUnixNano: ns(12) }),
    span({ traceId: TRACE, spanId: hexId(3, 16), parentSpanId: hexId(2, 16), name: 'dns lookup', startTimeUnixNano: ns(3), endTimeUnixNano: ns(4) }),
    span({
      traceId: TRACE,
      spanId: hexId(4, 16),
      parentSpanId: hexId(1, 16),
      name: 'GET api.weather.example',
      startTimeUnixNano: ns(15),
      endTimeUnixNano: ns(35),
      status: { code: 2, message: 'upstream 502' },
    }),
  ]);
  store.addEvents([
    mcpEvent({ id: 'e1', time: T0_MS, traceId: TRACE, spanId: hexId(1, 16), durationMs: 40 }),
    mcpEvent({ id: 'e2', time: T0_MS + 1000, traceId: OTHER_TRACE, spanId: hexId(9, 16), tool: HOSTILE_TOOL, outcome: 'tool_error' }),
    processEvent({ id: 'p1', time: T0_MS + 2000 }),
    mcpEvent({ id: 'f1', time: T0_MS + 3000, server: { id: 'srv-files', name: 'files', pid: 777 }, tool: 'read_file', traceId: hexId(0xf, 32) }),
  ]);
  return store;
}

async function startAdmin(token?: string): Promise<AdminServer> {
  const s = new AdminServer({
    config: adminSchema.parse({ endpoint: '127.0.0.1:0', ...(token ? { auth: { bearerToken: token } } : {}) }),
    store: populatedStore(),
    metrics,
    logger: silentLogger(),
    readiness: () => ({ ready: true, reasons: [] }),
  });
  await s.start();
  return s;
}

/** Runs `mcpwatch <args>` in-process, the way bin/main does, and captures what it prints. */
async function mcpwatch(...args: string[]): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const program = new Command('mcpwatch')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  registerQueryCommands(program);
  process.exitCode = undefined;
  let exitCode = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
    exitCode = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    exitCode = err.exitCode;
  } finally {
    process.exitCode = undefined;
  }
  return { stdout, stderr, exitCode };
}

/** Start column of each header, to check that every row lines up under it. */
function columnStarts(header: string, names: string[]): number[] {
  return names.map((n) => header.indexOf(n));
}

beforeAll(async () => {
  server = await startAdmin();
  securedServer = await startAdmin(TOKEN);
  admin = `127.0.0.1:${server.address().port}`;
  securedAdmin = `127.0.0.1:${securedServer.address().port}`;
});

afterAll(async () => {
  await server.shutdown();
  await securedServer.shutdown();
  metrics.close();
});

afterEach(() => {
  delete process.env.MCPWATCH_ADMIN_URL;
  delete process.env.MCPWATCH_ADMIN_TOKEN;
});

describe('mcpwatch servers', () => {
  it('prints an aligned table of server summaries', async () => {
    const { stdout, stderr, exitCode } = await mcpwatch('servers', '--admin', admin);
    expect(exitCode).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const header = lines[0]!;
    expect(header).toMatch(/^NAME\s+ID\s+PID\s+MCP\s+PROC\s+FILE\s+NET\s+ERRORS\s+TOP TOOLS\s+LAST SEEN$/);
    const [nameAt, idAt] = columnStarts(header, ['NAME', 'ID']);
    const files = lines.find((l) => l.startsWith('files'))!;
    const weather = lines.find((l) => l.startsWith('weather'))!;
    expect(files.indexOf('srv-files')).toBe(idAt);
    expect(weather.indexOf('srv-weather')).toBe(idAt);
    expect(nameAt).toBe(0);
    // Right-aligned numbers end where their header ends.
    const mcpEnd = header.indexOf('MCP') + 'MCP'.length;
    expect(weather.slice(mcpEnd - 1, mcpEnd)).toBe('2');
    expect(weather).toContain('get_weather(1)');
  });

  it('prints the daemon JSON with --json', async () => {
    const { stdout, exitCode } = await mcpwatch('servers', '--admin', admin, '--json');
    expect(exitCode).toBe(0);
    const body = JSON.parse(stdout);
    expect(body.servers.map((s: { id: string }) => s.id).sort()).toEqual(['srv-files', 'srv-weather']);
  });

  it('finds the daemon through MCPWATCH_ADMIN_URL and the token through MCPWATCH_ADMIN_TOKEN', async () => {
    process.env.MCPWATCH_ADMIN_URL = `http://${securedAdmin}`;
    const denied = await mcpwatch('servers');
    expect(denied.exitCode).toBe(1);
    expect(denied.stderr).toMatch(/^mcpwatch: daemon answered 401: A valid bearer token is required/);
    process.env.MCPWATCH_ADMIN_TOKEN = TOKEN;
    const allowed = await mcpwatch('servers', '--json');
    expect(allowed.exitCode).toBe(0);
    expect(JSON.parse(allowed.stdout).servers).toHaveLength(2);
    expect((await mcpwatch('servers', '--admin', securedAdmin, '--token', 'wrong-token-0123456789')).exitCode).toBe(1);
  });
});

describe('mcpwatch events', () => {
  it('lists events as a table, newest first, with filters passed to the daemon', async () => {
    const { stdout, exitCode } = await mcpwatch('events', '--admin', admin, '--server', 'weather');
    expect(exitCode).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+SERVER\s+KIND\s+WHAT\s+DETAIL\s+OUTCOME\s+DURATION\s+TRACE$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^2025-06-01T12:00:02.000Z\s+weather\s+process\s+exec\s+\/bin\/sh/);
    expect(lines[3]).toMatch(/tools\/call\s+get_weather\s+ok\s+40.0ms\s+0+c0ffee$/);

    const byTool = await mcpwatch('events', '--admin', admin, '--tool', 'read_file', '--method', 'tools/call', '--json');
    expect(JSON.parse(byTool.stdout).events.map((e: { id: string }) => e.id)).toEqual(['f1']);
    const limited = await mcpwatch('events', '--admin', admin, '--limit', '1', '--json');
    expect(JSON.parse(limited.stdout).events.map((e: { id: string }) => e.id)).toEqual(['f1']);
  });

  it('neutralises terminal escape and bidi sequences in tool names', async () => {
    const { stdout } = await mcpwatch('events', '--admin', admin, '--kind', 'mcp');
    expect(stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
    expect(stdout).toContain('evil\\x1b]0;pwned\\x07\\u202etxt.exe\\x9b2J');
    // --json is for scripts: the exact value, safely quoted by JSON.
    const json = await mcpwatch('events', '--admin', admin, '--kind', 'mcp', '--json');
    expect(json.stdout).not.toContain('\x1b');
    expect(JSON.parse(json.stdout).events.map((e: { tool?: string }) => e.tool)).toContain(HOSTILE_TOOL);
  });

  it('rejects bad options as usage errors (exit 2) before asking the daemon', async () => {
    const limit = await mcpwatch('events', '--admin', admin, '--limit', '0');
    expect(limit.exitCode).toBe(2);
    expect(limit.stderr).toMatch(/--limit <n>.*Must be a whole number from 1 to 1000/);
    const since = await mcpwatch('events', '--admin', admin, '--since', 'last tuesday');
    expect(since.exitCode).toBe(2);
    expect(since.stderr).toMatch(/--since must be an RFC 3339 time/);
  });
});

describe('mcpwatch traces', () => {
  it('draws one trace as an indented tree with server, duration and status', async () => {
    const { stdout, exitCode } = await mcpwatch('traces', TRACE.toUpperCase(), '--admin', admin);
    expect(exitCode).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`trace ${TRACE}: 4 spans`);
    expect(lines[1]).toMatch(/^SPAN\s+SERVER\s+DURATION\s+START\s+STATUS\s+SPAN ID$/);
    const serverAt = lines[1]!.indexOf('SERVER');
    expect(lines.slice(2).map((l) => l.slice(0, serverAt).trimEnd())).toEqual([
      'tools/call get_weather',
      '├─ geocode',
      '│  └─ dns lookup',
      '└─ GET api.weather.example',
    ]);
    expect(lines[2]).toMatch(/^tools\/call get_weather\s+weather\s+40.0ms\s+\+0.00ms\s+ok\s+0+1$/);
    expect(lines[5]).toMatch(/\s-\s+20.0ms\s+\+15.0ms\s+error: upstream 502\s+0+4$/);
  });

  it('prints the trace JSON with --json', async () => {
    const { stdout } = await mcpwatch('traces', TRACE, '--admin', admin, '--json');
    const body = JSON.parse(stdout);
    expect(body).toMatchObject({ traceId: TRACE, spanCount: 4 });
    expect(body.roots[0].children).toHaveLength(2);
  });

  it('lists recent traces grouped from events, newest first', async () => {
    const { stdout, exitCode } = await mcpwatch('traces', '--admin', admin, '--server', 'weather', '--since', '5000d', '--limit', '5');
    expect(exitCode).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TRACE\s+STARTED\s+SERVERS\s+EVENTS\s+ERRORS\s+LONGEST\s+METHODS\s+TOOLS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([OTHER_TRACE, TRACE]);
    expect(lines[1]).toMatch(/weather\s+1\s+1\s+12.5ms\s+tools\/call\s+evil\\x1b/);

    const one = await mcpwatch('traces', '--admin', admin, '--limit', '1', '--json');
    expect(JSON.parse(one.stdout).traces.map((t: { traceId: string }) => t.traceId)).toEqual([hexId(0xf, 32)]);
  });

  it('reports an unknown trace as an error from the daemon (exit 1) and a malformed id as a usage error (exit 2)', async () => {
    const unknown = await mcpwatch('traces', hexId(1, 32), '--admin', admin);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(/^mcpwatch: daemon answered 404: No span of this trace is held/);
    const malformed = await mcpwatch('traces', 'xyz', '--admin', admin);
    expect(malformed.exitCode).toBe(2);
    expect(malformed.stderr).toMatch(/trace id "xyz" is not 32 hexadecimal characters/);
  });
});

describe('mcpwatch query commands without a daemon', () => {
  it('exit 1 with a message that names the endpoint and how to change it', async () => {
    // A port that was just free: nothing listens there now.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    for (const args of [['servers'], ['events'], ['traces', TRACE], ['traces']]) {
      const { stdout, stderr, exitCode } = await mcpwatch(...args, '--admin', `127.0.0.1:${port}`);
      expect(exitCode, args.join(' ')).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toBe(
        `mcpwatch: cannot reach the mcpwatch daemon at http://127.0.0.1:${port} (ECONNREFUSED); is it running? (--admin HOST:PORT)\n`,
      );
    }
  });

  it('documents each command with an example in --help', async () => {
    for (const cmd of ['servers', 'traces', 'events']) {
      const { stdout, exitCode } = await mcpwatch(cmd, '--help');
      expect(exitCode).toBe(0);
      expect(stdout).toContain('Examples:');
      expect(stdout).toContain(`mcpwatch ${cmd}`);
      expect(stdout).toContain('MCPWATCH_ADMIN_URL');
    }
  });
});
