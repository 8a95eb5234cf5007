import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, maskSecrets } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'config', name);

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config loading', () => {
  it('runs on embedded defaults with loopback listeners when no file is given', () => {
    const config = loadConfig({ env: {} });
    expect(config.receivers.otlp.endpoint).toBe('127.0.0.1:4318');
    expect(config.admin.endpoint).toBe('127.0.0.1:9464');
    expect(config.store.captureContent).toBe(false);
    expect(config).toEqual(configSchema.parse({}));
  });

  it('reads a full file and expands ${env:VAR:-default}', () => {
    const withDefault = loadConfig({ files: [fixture('valid-full.yaml')], env: {} });
    expect(withDefault.receivers.otlp.auth.bearerToken).toBe('0123456789abcdef0123');
    expect(withDefault.store.maxEvents).toBe(5000);
    expect(withDefault.servers[0]?.name).toBe('filesystem');
    const fromEnv = loadConfig({ files: [fixture('valid-full.yaml')], env: { MCPWATCH_TEST_TOKEN: 'tok-from-environment-1234' } });
    expect(fromEnv.receivers.otlp.auth.bearerToken).toBe('tok-from-environment-1234');
  });

  it('names the config path when ${env:VAR} is unset and has no default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'admin:\n  endpoint: ${env:MCPWATCH_NOPE_ADDR}\n');
    expect(problemsOf(() => loadConfig({ files: [file], env: {} }))).toEqual([
      expect.stringMatching(/^admin\.endpoint: environment variable MCPWATCH_NOPE_ADDR is not set/),
    ]);
  });

  it('applies MCPWATCH_SECTION__KEY overrides case-insensitively, then --set on top', () => {
    const config = loadConfig({
      env: { MCPWATCH_STORE__MAXEVENTS: '42', MCPWATCH_ADMIN__LOGLEVEL: 'debug', MCPWATCH_ADMIN_URL: 'ignored: no double underscore' },
      set: ['store.maxEvents=43', 'receivers.otlp.endpoint=[::1]:4318'],
    });
    expect(config.store.maxEvents).toBe(43);
    expect(config.admin.logLevel).toBe('debug');
    expect(config.receivers.otlp.endpoint).toBe('[::1]:4318');
  });

  it('reads *_file secrets and refuses both forms at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-cfg-'));
    const secret = join(dir, 'token');
    writeFileSync(secret, 'token-read-from-a-file-123\n');
    const config = loadConfig({ set: [`receivers.otlp.auth.bearerToken_file=${secret}`], env: {} });
    expect(config.receivers.otlp.auth.bearerToken).toBe('token-read-from-a-file-123');
    const both = problemsOf(() =>
      loadConfig({ set: [`admin.auth.bearerToken_file=${secret}`, 'admin.auth.bearerToken=xxxxxxxxxxxxxxxxxxxx'], env: {} }),
    );
    expect(both).toEqual(['admin.auth.bearerToken_file: set either admin.auth.bearerToken or admin.auth.bearerToken_file, not both']);
    const missing = problemsOf(() => loadConfig({ set: [`admin.auth.bearerToken_file=${join(dir, 'absent')}`], env: {} }));
    expect(missing[0]).toMatch(/^admin\.auth\.bearerToken_file: cannot read secret file .* \(ENOENT\)$/);
  });

  it('reports every schema problem with its path, unknown keys included', () => {
    const problems = problemsOf(() => loadConfig({ files: [fixture('unknown-and-wrong-types.yaml')], env: {} }));
    expect(problems).toContain('store.maxEvent: unknown setting');
    expect(problems.some((p) => p.startsWith('store.maxBytes: '))).toBe(true);
  });

  it('refuses a non-loopback bind without a bearer token, naming the setting to fix', () => {
    const problems = problemsOf(() => loadConfig({ files: [fixture('exposed-without-token.yaml')], env: {} }));
    expect(problems).toEqual([expect.stringContaining('receivers.otlp.endpoint: binding 0.0.0.0:4318 exposes the listener')]);
    expect(problems[0]).toContain('receivers.otlp.auth.bearerToken');
    expect(() => loadConfig({ files: [fixture('exposed-without-token.yaml')], set: ['receivers.otlp.auth.bearerToken=a-long-enough-token-123'], env: {} })).not.toThrow();
  });

  it('explains unreadable files and invalid YAML', () => {
    expect(problemsOf(() => loadConfig({ files: [fixture('does-not-exist.yaml')], env: {} }))[0]).toMatch(/cannot read config file \(ENOENT\)/);
    expect(problemsOf(() => loadConfig({ files: [fixture('not-yaml.yaml')], env: {} }))[0]).toMatch(/not valid YAML at line \d/);
  });

  it('ignores prototype-polluting keys from --set', () => {
    expect(problemsOf(() => loadConfig({ set: ['__proto__.polluted=1'], env: {} }))[0]).toMatch(/invalid key __proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('masks secrets for print-config', () => {
    const config = loadConfig({ files: [fixture('valid-full.yaml')], env: {} });
    const masked = maskSecrets(config) as typeof config;
    expect(masked.receivers.otlp.auth.bearerToken).toBe('********');
    expect(masked.admin.endpoint).toBe('127.0.0.1:19464');
    expect(JSON.stringify(masked)).not.toContain('0123456789abcdef0123');
  });

  it('masks every HTTP header value and authorization-like keys, at any depth', () => {
    const masked = maskSecrets({ alerts: { traceExport: { headers: { 'x-scope-orgid': 'tenant-1', Authorization: 'Basic dXNlcjpwYXNz' } } }, sink: { Authorization: 'Bearer abc' } });
    expect(masked).toEqual({ alerts: { traceExport: { headers: { 'x-scope-orgid': '********', Authorization: '********' } } }, sink: { Authorization: '********' } });
  });
});

describe('shipped configs', () => {
  it('deploy/mcpwatch.example.yaml is valid when its token variable is set', () => {
    const file = join(import.meta.dirname, '..', '..', 'deploy', 'mcpwatch.example.yaml');
    const config = loadConfig({ files: [file], env: { MCPWATCH_OTLP_TOKEN: 'a-production-token-of-length' } });
    expect(config.receivers.otlp.endpoint).toBe('0.0.0.0:4318');
    expect(problemsOf(() => loadConfig({ files: [file], env: {} }))[0]).toMatch(/MCPWATCH_OTLP_TOKEN is not set/);
  });

  it('the systemd unit overrides a setting that exists', () => {
    const config = loadConfig({ env: { MCPWATCH_RECEIVERS__OTLP__AUTH__BEARERTOKEN_FILE: join(import.meta.dirname, '..', 'fixtures', 'config', 'token.txt') } });
    expect(config.receivers.otlp.auth.bearerToken).toBe('token-from-systemd-credential');
  });
});
