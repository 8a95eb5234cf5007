import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, testConfig } from '../helpers/daemon.js';

/**
 * The detector engine inside a real daemon, driven over loopback with OTLP/JSON spans shaped like the
 * taps' output (SERVER spans with `mcp.method.name`, `mcp.session.id`, `gen_ai.tool.name`). Alerts must
 * reach the alert manager's `GET /api/alerts` and `/api/detectors` must list the engine's detectors.
 */

const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');

function spans(items: { method: string; session: string; tool?: string }[]): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const traceId = hex(32);
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'everything' } }] },
        scopeSpans: [
          {
            scope: { name: 'mcpwatch-tap' },
            spans: items.map((it, i) => ({
              traceId,
              spanId: hex(16),
              name: it.tool ? `${it.method} ${it.tool}` : it.method,
              kind: 2,
              startTimeUnixNano: String(now + BigInt(i) * 1_000_000n),
              endTimeUnixNano: String(now + BigInt(i) * 1_000_000n + 500_000n),
              attributes: [
                { key: 'mcp.method.name', value: { stringValue: it.method } },
                { key: 'mcp.session.id', value: { stringValue: it.session } },
                ...(it.tool ? [{ key: 'gen_ai.tool.name', value: { stringValue: it.tool } }] : []),
              ],
            })),
          },
        ],
      },
    ],
  });
}

describe('detector engine in the daemon', () => {
  let stateDir: string;
  let ctx: Awaited<ReturnType<typeof startDaemon>>;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'mcpwatch-detect-'));
    ctx = await startDaemon(testConfig({ detectors: { engine: { stateDir } } }));
  });

  afterAll(async () => {
    await ctx.daemon.shutdown();
    await rm(stateDir, { recursive: true, force: true });
  });

  const post = async (body: string) => {
    const res = await fetch(ctx.otlpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
  };

  const alerts = async () => {
    const res = await fetch(`${ctx.adminUrl}/api/alerts`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { alerts: { detector: string; session?: string; evidence: { description: string }[] }[] }).alerts;
  };

  it('lists the detectors with maturity and enabled state', async () => {
    const res = await fetch(`${ctx.adminUrl}/api/detectors`);
    const { detectors } = (await res.json()) as { detectors: { id: string; enabled: boolean; maturity: string }[] };
    for (const id of ['exfiltration', 'dos', 'notification_spam', 'chain_drift']) expect(detectors.find((d) => d.id === id)).toMatchObject({ enabled: true, maturity: 'stable' });
  });

  it('normal periodic notifications and tool calls raise nothing', async () => {
    await post(spans([{ method: 'tools/call', tool: 'toggle-simulated-logging', session: 'calm' }, ...Array.from({ length: 6 }, () => ({ method: 'notifications/message', session: 'calm' }))]));
    await new Promise((r) => setTimeout(r, 200));
    expect(await alerts()).toEqual([]);
  });

  it('a notification flood reaches GET /api/alerts within a second, with evidence', async () => {
    await post(spans(Array.from({ length: 80 }, () => ({ method: 'notifications/message', session: 'flood' }))));
    let found: Awaited<ReturnType<typeof alerts>> = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      found = (await alerts()).filter((a) => a.detector === 'notification_spam');
      if (found.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(found.length).toBe(1);
    expect(found[0]!.session).toBe('flood');
    expect(found[0]!.evidence[0]!.description).toContain('absolute ceiling');
  });
});
