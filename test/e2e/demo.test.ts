import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { killSpawnedClis, runCli } from '../helpers/daemon.js';

/** Every process of the demo run inherits this marker, so a failed or timed-out run leaks nothing. */
const marker = `MCPWATCH_DEMO_TEST=${randomUUID()}`;

afterEach(() => {
  killSpawnedClis();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone, or not ours
    }
  }
});

describe('mcpwatch demo', () => {
  it('--help says what it does and exits 0', async () => {
    const r = await runCli(['demo', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: mcpwatch demo');
    expect(r.stdout).toContain('malicious');
  });

  it('wraps real servers and the malicious one, prints each attack alert as it fires, cleans up, exits 0', async () => {
    const started = Date.now();
    const [name, value] = marker.split('=') as [string, string];
    const r = await runCli(['demo'], { [name]: value });
    const lines = r.stdout.split('\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    // Benign traffic first, and nothing raised by it.
    expect(lines).toContain('benign phase done: no alerts');
    // One readable line per alert: severity, detector, server, summary.
    expect(lines.some((l) => /^ALERT critical +exfiltration +workspace: .*id_ed25519.*then egress to /.test(l))).toBe(true);
    expect(lines.some((l) => /^ALERT medium +notification_spam +workspace: .*message notifications/.test(l))).toBe(true);
    expect(lines.some((l) => /^ALERT high +dos +workspace: /.test(l))).toBe(true);
    expect(lines.some((l) => /^ALERT high +chain_drift +workspace: .*new server reports/.test(l))).toBe(true);
    expect(lines.at(-2)).toMatch(/^done: every attack detected/);
    // Alerts come after the attacks that cause them.
    expect(lines.findIndex((l) => l.includes(' exfiltration '))).toBeGreaterThan(lines.findIndex((l) => l.startsWith('attack: workspace.sync_settings')));
    // The demo's servers are gone once it exits.
    const leftovers = readdirSync('/proc').filter((e) => {
      try {
        return Number(e) !== process.pid && readFileSync(`/proc/${e}/environ`, 'latin1').includes(marker);
      } catch {
        return false;
      }
    });
    expect(leftovers).toEqual([]);
  }, 90_000);
});
