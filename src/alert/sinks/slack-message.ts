import type { Severity, TrackedAlert } from '../types.js';

/**
 * Slack's documented limits for a message posted to an incoming webhook (Block Kit reference and
 * chat.postMessage): `text` is truncated beyond 40,000 characters, a message holds at most 50 blocks, a
 * section's text at most 3,000 characters, a section at most 10 fields of 2,000 characters each, and a
 * context block at most 10 elements. Slack also rejects messages whose blocks add up to much more than
 * ~12,000 characters of text (`msg_blocks_too_long`, reported well below the sum of the documented limits),
 * so the whole message keeps under BLOCKS_TEXT_BUDGET.
 */
export const SLACK_LIMITS = {
  text: 40_000,
  blocks: 50,
  sectionText: 3_000,
  fields: 10,
  fieldText: 2_000,
  contextElements: 10,
} as const;
export const BLOCKS_TEXT_BUDGET = 11_000;

export interface SlackMessage {
  text: string;
  blocks: Record<string, unknown>[];
}

/**
 * Escapes text for Slack's `mrkdwn` (and top-level `text`): Slack's formatting guide asks for exactly
 * `&` -> `&amp;`, `<` -> `&lt;`, `>` -> `&gt;`. With those three escaped, attacker-controlled text (tool
 * names, evidence) cannot form `<!channel>` / `<!here>` / `<@U123>` mentions or `<https://evil|innocent>`
 * links; Slack shows the characters literally.
 */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts escaped text to `max` characters without splitting an `&amp;`-style entity, marking the cut. */
export function truncateEscaped(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, Math.max(0, max - 1)).replace(/&[a-z]{0,4}$/, '');
  return `${cut}…`;
}

const SEVERITY_ICON: Record<Severity, string> = {
  info: ':information_source:',
  low: ':large_blue_circle:',
  medium: ':large_yellow_circle:',
  high: ':large_orange_circle:',
  critical: ':red_circle:',
};

const TRACE_ID = /^[0-9a-f]{32}$/i;

/** A `<url|label>` link for a link we built (template + validated trace id); `|` and `>` cannot occur in it. */
function link(url: string, label: string): string {
  const safeUrl = url.replace(/[<>|\s]/g, (c) => encodeURIComponent(c));
  return `<${safeUrl}|${slackEscape(label)}>`;
}

function statusWord(a: TrackedAlert): string {
  return a.status === 'resolved' ? 'RESOLVED' : a.severity.toUpperCase();
}

/** One line per alert for the plain-text fallback and digests (already escaped). */
function oneLine(a: TrackedAlert): string {
  const where = a.tool !== undefined ? `${a.server} / ${a.tool}` : a.server;
  return `${SEVERITY_ICON[a.severity]} [${statusWord(a)}] ${slackEscape(a.title)} (${slackEscape(a.detector)} on ${slackEscape(where)}${a.count > 1 ? `, ×${a.count}` : ''})`;
}

function traceLinks(a: TrackedAlert, max: number): string[] {
  const out: string[] = [];
  a.traceIds.forEach((id, i) => {
    const url = a.traceLinks?.[i];
    if (out.length >= max) return;
    if (url !== undefined && TRACE_ID.test(id)) out.push(link(url, `trace ${id.slice(0, 8)}`));
    else out.push(`trace \`${slackEscape(id.slice(0, 64))}\``);
  });
  return out;
}

function alertSection(a: TrackedAlert, budget: number): string {
  const lines = [`*${oneLine(a)}*`, slackEscape(a.summary)];
  for (const e of a.evidence.slice(0, 5)) {
    const obs = e.observed !== undefined ? ` (observed ${slackEscape(String(e.observed))}${e.expected !== undefined ? `, expected ${slackEscape(String(e.expected))}` : ''})` : '';
    lines.push(`• ${slackEscape(e.description)}${obs}`);
  }
  if (a.evidence.length > 5) lines.push(`• … ${a.evidence.length - 5} more`);
  const traces = traceLinks(a, 3);
  if (traces.length) lines.push(traces.join(' · '));
  return truncateEscaped(lines.join('\n'), Math.min(SLACK_LIMITS.sectionText, budget));
}

/**
 * The Block Kit message for one notification: one alert in full, or a digest (one section per alert, as
 * many as fit the limits, then "… and N more"). `text` is the plain-text fallback shown in notifications
 * and by clients without Block Kit; it lists every alert, within 40,000 characters.
 */
export function slackMessage(alerts: readonly TrackedAlert[]): SlackMessage {
  const first = alerts[0];
  if (!first) return { text: 'mcpwatch: no alerts', blocks: [] };
  const blocks: Record<string, unknown>[] = [];
  if (alerts.length === 1) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: alertSection(first, SLACK_LIMITS.sectionText) } });
    const fields = [
      ['Detector', first.detector],
      ['Severity', first.severity],
      ['Server', first.server],
      ['Tool', first.tool ?? '-'],
      ['Status', first.status],
      ['Count', String(first.count)],
      ['Started', first.startsAt],
      ...(first.session !== undefined ? [['Session', first.session]] : []),
    ].slice(0, SLACK_LIMITS.fields);
    blocks.push({
      type: 'section',
      fields: fields.map(([k, v]) => ({ type: 'mrkdwn', text: truncateEscaped(`*${k}*\n${slackEscape(v ?? '')}`, 200) })),
    });
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `mcpwatch · alert ${slackEscape(first.id)} · fingerprint ${slackEscape(first.fingerprint)}` }] });
  } else {
    const firing = alerts.filter((a) => a.status === 'firing').length;
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*mcpwatch digest: ${alerts.length} notifications* (${firing} firing, ${alerts.length - firing} resolved)` },
    });
    // Header + trailer leave 48 blocks; each alert gets an equal share of the text budget.
    const room = SLACK_LIMITS.blocks - 2;
    const shown = alerts.slice(0, room);
    const per = Math.max(200, Math.floor(BLOCKS_TEXT_BUDGET / shown.length));
    for (const a of shown) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: alertSection(a, per) } });
    if (alerts.length > shown.length) {
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `… and ${alerts.length - shown.length} more (mcpwatch alerts --since 1h)` }] });
    }
  }
  return { text: fallbackText(alerts), blocks };
}

function fallbackText(alerts: readonly TrackedAlert[]): string {
  const head = alerts.length === 1 ? '' : `mcpwatch digest: ${alerts.length} notifications\n`;
  let text = head;
  for (let i = 0; i < alerts.length; i++) {
    const line = `${oneLine(alerts[i]!)}\n`;
    const tail = `… and ${alerts.length - i} more\n`;
    if (text.length + line.length + tail.length > SLACK_LIMITS.text) return text + tail;
    text += line;
  }
  return text.trimEnd();
}
