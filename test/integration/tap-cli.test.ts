import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runCli, spawnCli, startDaemon, testConfig } from '../helpers/daemon.js';
import { EVERYTHING, stdioClient, wrapArgs } from '../helpers/tap-clients.js';

/** `mcpwatch wrap` as a process: exit codes, signals, and fail-open when the daemon is down. */

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('mcpwatch wrap (CLI)', () => {
  it("exits with the child's exit code and passes stderr through", async () => {
    const r = await runCli(['wrap', '--endpoint', `127.0.0.1:${await closedPort()}`, '--', process.execPath, '-e', 'process.stderr.write("from child\\n"); process.exit(7)']);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('from child');
    expect(r.stdout).toBe('');
  }, 30_000);

  it('forwards SIGTERM to the child and exits 128 + 15 when the child dies of it', async () => {
    const child = spawnCli(['wrap', '--', process.execPath, '-e', 'process.stdout.write("ready\\n"); setInterval(() => {}, 1000)']);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(128 + 15);
  }, 30_000);

  it('without a command after -- it is a usage error', async () => {
    const r = await runCli(['wrap']);
    expect(r.code).toBe(2);
  }, 30_000);

  it('daemon down: traffic flows, spans are dropped and counted in the summary', async () => {
    const port = await closedPort();
    const { client } = await stdioClient(process.execPath, wrapArgs('down', `127.0.0.1:${port}`, [EVERYTHING, 'stdio'], ['--log-level', 'info']));
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      const r = await client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
      expect(r.content).toEqual([{ type: 'text', text: `Echo: m${i}` }]);
    }
    // 20 round trips through the tap with a dead daemon take well under the exporter's 2 s timeout.
    expect(performance.now() - started).toBeLessThan(2000);
    await client.close();
  }, 30_000);

  it('daemon down: the exit summary on stderr counts the spans dropped', async () => {
    const port = await closedPort();
    const input = '{"jsonrpc":"2.0","id":1,"method":"ping"}\n{"jsonrpc":"2.0","method":"notifications/initialized"}\n';
    const child = spawnCli(['wrap', '--endpoint', `127.0.0.1:${port}`, '--log-level', 'info', '--', process.execPath, '-e', 'process.stdin.pipe(process.stdout)']);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end(input);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(out).toBe(input);
    const summary = err
      .split('\n')
      .filter((l) => l.includes('tap summary'))
      .map((l) => JSON.parse(l) as { tap: { spans: { recorded: number; exported: number; droppedExportFailed: number } } })[0];
    expect(summary?.tap.spans.recorded).toBe(4);
    expect(summary?.tap.spans.exported).toBe(0);
    expect(summary?.tap.spans.droppedExportFailed).toBe(4);
  }, 30_000);
});

describe('mcpwatch proxy (CLI)', () => {
  it('refuses a non-loopback --listen without --allow-remote, including hostnames that only look like 127.x', async () => {
    for (const listen of ['0.0.0.0:0', '127.evil.example:7410']) {
      const r = await runCli(['proxy', '--upstream', 'http://127.0.0.1:1/mcp', '--listen', listen]);
      expect(r.code, listen).toBe(2);
      expect(r.stderr).toContain('is not a loopback address; add --allow-remote');
    }
  });
});

describe('mcpwatch wrap with a token-protected daemon', () => {
  const token = 'tap-token-for-a-protected-receiver';
  const echo = join(import.meta.dirname, '..', 'fixtures', 'servers', 'echo-bytes.mjs');

  async function wrapOnePing(otlpUrl: string, name: string, env: NodeJS.ProcessEnv): Promise<number | null> {
    const child = spawnCli(['wrap', '--name', name, '--endpoint', otlpUrl, '--', process.execPath, echo], env);
    child.stdout.resume();
    child.stderr.resume();
    child.stdin.end('{"jsonrpc":"2.0","id":1,"method":"ping"}\n');
    return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  it('sends spans with MCPWATCH_OTLP_TOKEN, and the daemon refuses them without it', async () => {
    const { daemon, adminUrl, otlpUrl } = await startDaemon(testConfig({ receivers: { otlp: { auth: { bearerToken: token } } } }));
    try {
      expect(await wrapOnePing(otlpUrl, 'with-token', { MCPWATCH_OTLP_TOKEN: token })).toBe(0);
      expect(await wrapOnePing(otlpUrl, 'without-token', { MCPWATCH_OTLP_TOKEN: '' })).toBe(0);
      const names = async () => ((await (await fetch(`${adminUrl}/api/servers`)).json()) as { servers: { name: string }[] }).servers.map((s) => s.name);
      for (let i = 0; i < 40 && !(await names()).includes('with-token'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await names()).toEqual(['with-token']);
    } finally {
      await daemon.shutdown();
    }
  });
});
