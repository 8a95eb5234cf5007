import { describe, expect, it } from 'vitest';
import { launchWithParentDeathSignal, resolveExecutable } from '../../src/tap/stdio/parent-death-signal.js';
import { silentLogger } from '../../src/telemetry/logger.js';

describe('launchWithParentDeathSignal', () => {
  it('resolves commands as execvp would: on PATH without a slash, as given with one', () => {
    expect(resolveExecutable('node', process.env['PATH'])).toMatch(/\/node$/);
    expect(resolveExecutable(process.execPath)).toBe(process.execPath);
    expect(resolveExecutable('no-such-command-mcpwatch')).toBeUndefined();
    expect(resolveExecutable('./no/such/file')).toBeUndefined();
  });

  it('launches a command it cannot resolve directly, so a missing command still fails as a spawn error', () => {
    expect(launchWithParentDeathSignal('no-such-command-mcpwatch', ['a'], silentLogger())).toEqual({ command: 'no-such-command-mcpwatch', args: ['a'], parentDeathSignal: false });
  });

  it('launches directly when turned off', () => {
    expect(launchWithParentDeathSignal(process.execPath, ['x'], silentLogger(), { disabled: true }).parentDeathSignal).toBe(false);
  });

  it.runIf(process.platform === 'linux' && resolveExecutable('setpriv') !== undefined)('puts setpriv --pdeathsig SIGKILL in front of the command, arguments unchanged', () => {
    const launch = launchWithParentDeathSignal(process.execPath, ['--flag', '-- x'], silentLogger());
    expect(launch.parentDeathSignal).toBe(true);
    expect(launch.command).toMatch(/setpriv$/);
    expect(launch.args).toEqual(['--pdeathsig', 'SIGKILL', '--', process.execPath, '--flag', '-- x']);
  });
});
