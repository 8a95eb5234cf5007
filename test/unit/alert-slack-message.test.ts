import { describe, expect, it } from 'vitest';
import { slackEscape, slackMessage, SLACK_LIMITS, BLOCKS_TEXT_BUDGET, truncateEscaped } from '../../src/alert/sinks/slack-message.js';
import { parseRetryAfter } from '../../src/alert/sinks/http-post.js';
import { signBody, webhookV4Body } from '../../src/alert/sinks/webhook.js';
import { maskAlert } from '../../src/alert/mask-alert.js';
import type { TrackedAlert } from '../../src/alert/types.js';
import { slackProblems } from '../helpers/alert-receivers.js';

const TEMPO = 'https://tempo.example/trace/';

function alert(i: number, over: Partial<TrackedAlert> = {}): TrackedAlert {
  return {
    id: `al${i}`,
    fingerprint: `fp${i}`,
    status: 'firing',
    detector: 'tool_poisoning',
    severity: 'critical',
    title: `<!channel> hello <https://evil.example|your bank> #${i}`,
    summary: 'x'.repeat(5000),
    server: '<@U123>',
    tool: 'a&b',
    traceIds: ['4bf92f3577b34da6a3ce929d0e0e4736', '<!here>'],
    traceLinks: [`${TEMPO}4bf92f3577b34da6a3ce929d0e0e4736`, `${TEMPO}%3C!here%3E`],
    evidence: Array.from({ length: 8 }, (_, j) => ({ description: `evidence ${j} <!everyone>`, observed: '<b>' })),
    labels: {},
    startsAt: '2026-01-01T00:00:00.000Z',
    count: 3,
    ...over,
  };
}

describe('Slack message', () => {
  it('escapes &, < and > so no mention or foreign link survives', () => {
    expect(slackEscape('<!channel> & <https://x|y>')).toBe('&lt;!channel&gt; &amp; &lt;https://x|y&gt;');
    const m = slackMessage([alert(1)]);
    expect(slackProblems(m, TEMPO)).toEqual([]);
    expect(JSON.stringify(m)).not.toMatch(/<!|<@|<https:\/\/evil/);
  });

  it('keeps one alert within the section, field and block limits', () => {
    const m = slackMessage([alert(1)]);
    expect(m.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    expect(slackProblems(m, TEMPO)).toEqual([]);
    expect(m.text).toContain('#1');
  });

  it('digests 200 alerts into one valid message: at most 50 blocks, text under 40,000, every alert in the fallback or counted', () => {
    const alerts = Array.from({ length: 200 }, (_, i) => alert(i, { title: `alert ${i} ${'y'.repeat(300)}` }));
    const m = slackMessage(alerts);
    expect(slackProblems(m, TEMPO)).toEqual([]);
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    expect(m.text.length).toBeLessThanOrEqual(40_000);
    const blockText = m.blocks.reduce((n, b) => n + JSON.stringify(b).length, 0);
    expect(blockText).toBeLessThan(BLOCKS_TEXT_BUDGET + 50 * 200);
    expect(JSON.stringify(m.blocks)).toContain('and 152 more');
    const listed = [...m.text.matchAll(/alert (\d+) /g)].length;
    const more = /… and (\d+) more/.exec(m.text);
    expect(listed + Number(more?.[1] ?? 0)).toBe(200);
  });

  it('never cuts an entity in half when truncating', () => {
    expect(truncateEscaped('ab&amp;cd', 5)).toBe('ab…');
    expect(truncateEscaped('abc', 5)).toBe('abc');
  });

  it('masks secrets before rendering', () => {
    const token = `xoxb-${'1234567890'.repeat(3)}`;
    const m = slackMessage([maskAlert(alert(1, { title: `token ${token}`, evidence: [{ description: 'x', details: { password: 'hunter2' } }] }))]);
    expect(JSON.stringify(m)).not.toContain(token);
  });
});

describe('webhook body and signature', () => {
  it('is the Alertmanager webhook v4 body, with alertname = detector id and a verifiable signature', () => {
    const body = webhookV4Body('hook', [alert(1), alert(2, { status: 'resolved', endsAt: '2026-01-01T01:00:00.000Z' })]);
    expect(body).toMatchObject({ version: '4', status: 'firing', receiver: 'hook', truncatedAlerts: 0, commonLabels: { alertname: 'tool_poisoning', severity: 'critical' } });
    const alerts = body.alerts as { labels: Record<string, string>; endsAt: string; status: string }[];
    expect(alerts.map((a) => [a.status, a.endsAt])).toEqual([
      ['firing', '0001-01-01T00:00:00Z'],
      ['resolved', '2026-01-01T01:00:00.000Z'],
    ]);
    // The documented verification: HMAC-SHA256 of the raw body with the shared secret.
    // Vector computed with `printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac s3cret-s3cret-s3cret`.
    expect(signBody('s3cret-s3cret-s3cret', '{"a":1}')).toBe('sha256=5069bca37cc1678100452206d122f1f2b7262923fb56e6706482811a3709f246');
    expect(signBody('k'.repeat(16), 'body')).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signBody('k'.repeat(16), 'body')).not.toBe(signBody('k'.repeat(16), 'body '));
  });
});

describe('Retry-After', () => {
  it('reads delta-seconds and HTTP dates, defaults to 1 s, and caps at 15 minutes', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(null)).toBe(1000);
    expect(parseRetryAfter('soon')).toBe(1000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('999999')).toBe(15 * 60 * 1000);
  });
});
