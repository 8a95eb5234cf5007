import { afterEach, describe, expect, it } from 'vitest';
import { makeMcpSpans, toProtobuf } from '../helpers/mcp-spans.js';
import { killSpawnedClis, runCli, spawnCli, waitForLog } from '../helpers/daemon.js';

afterEach(() => killSpawnedClis());

/** The real `mcpwatch` process: start on defaults-but-ephemeral ports, ingest, query, SIGTERM, exit 0. */
describe('mcpwatch process', () => {
  it('starts, becomes ready, ingests, answers queries, and exits 0 on SIGTERM', async () => {
    const child = spawnCli(['start', '--set', 'receivers.otlp.endpoint=127.0.0.1:0', '--set', 'admin.endpoint=127.0.0.1:0']);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const started = await waitForLog(child, (l) => l.msg === 'mcpwatch started');
    const adminPort = (started.admin as { port: number }).port;
    const otlpPort = (started.otlp as { port: number }).port;
    const admin = `http://127.0.0.1:${adminPort}`;

    expect((await fetch(`${admin}/livez`)).status).toBe(200);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    const spans = makeMcpSpans({ count: 50, seed: 11, serviceName: 'filesystem' });
    const res = await fetch(`http://127.0.0.1:${otlpPort}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: toProtobuf(spans),
    });
    expect(res.status).toBe(200);

    // Normalization runs after the answer; poll briefly.
    let servers: { name: string; counts: { mcp: number } }[] = [];
    for (let i = 0; i < 50 && !servers.some((s) => s.counts.mcp === 50); i++) {
      await new Promise((r) => setTimeout(r, 50));
      servers = ((await (await fetch(`${admin}/api/servers`)).json()) as { servers: typeof servers }).servers;
    }
    expect(servers.find((s) => s.name === 'filesystem')?.counts.mcp).toBe(50);

    const cli = await runCli(['servers', '--json', '--admin', `127.0.0.1:${adminPort}`]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('filesystem');

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/mcpwatch_receiver_accepted_spans_total\{receiver="otlp",encoding="protobuf"\} 50/);
    expect(metrics).toContain('mcpwatch_event_loop_lag_seconds');

    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(stderr).toBe('');
  });

  it('exits 1 with a clear message when a port is taken', async () => {
    const first = spawnCli(['start', '--set', 'receivers.otlp.endpoint=127.0.0.1:0', '--set', 'admin.endpoint=127.0.0.1:0']);
    const started = await waitForLog(first, (l) => l.msg === 'mcpwatch started');
    const taken = (started.otlp as { port: number }).port;
    const second = await runCli(['start', '--set', `receivers.otlp.endpoint=127.0.0.1:${taken}`, '--set', 'admin.endpoint=127.0.0.1:0']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`receivers.otlp.endpoint 127.0.0.1:${taken} is already in use`);
    const exited = new Promise((resolve) => first.on('exit', resolve));
    first.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});

describe('mcpwatch CLI exit codes and help', () => {
  it('exits 78 with the config path on invalid config', async () => {
    const r = await runCli(['validate', '--config', 'test/fixtures/config/exposed-without-token.yaml']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('receivers.otlp.endpoint: binding 0.0.0.0:4318 exposes the listener');
    const s = await runCli(['start', '--set', 'store.maxEvents=-1']);
    expect(s.code).toBe(78);
    expect(s.stderr).toContain('store.maxEvents:');
  });

  it('validates a good file and prints the effective config with secrets masked', async () => {
    const v = await runCli(['validate', '--config', 'test/fixtures/config/valid-full.yaml']);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('configuration is valid');
    const p = await runCli(['print-config', '--config', 'test/fixtures/config/valid-full.yaml', '--json'], { MCPWATCH_TEST_TOKEN: 'very-secret-token-value-42' });
    expect(p.code).toBe(0);
    const printed = JSON.parse(p.stdout) as { receivers: { otlp: { auth: { bearerToken: string } } } };
    expect(printed.receivers.otlp.auth.bearerToken).toBe('********');
    expect(p.stdout).not.toContain('very-secret-token-value-42');
  });

  it('exits 2 on usage errors and 0 on --help, for every command', async () => {
    expect((await runCli(['no-such-command'])).code).toBe(2);
    expect((await runCli(['start', '--no-such-flag'])).code).toBe(2);
    for (const cmd of [[], ['start'], ['validate'], ['print-config'], ['servers'], ['traces'], ['events']]) {
      const r = await runCli([...cmd, '--help']);
      expect(r.code, `mcpwatch ${cmd.join(' ')} --help`).toBe(0);
      expect(r.stdout).toMatch(/Usage: mcpwatch/);
    }
  });
});
