import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { RecordedAlert } from '../../src/detect/recording-publisher.js';
import { eventSpecSchema, expandSpec, harness, packagedDetectors } from './harness.js';

/**
 * Runs every `cases/<id>.yaml`: table-driven behaviour tests of detection content, after Falco's rule
 * tests, with a benign look-alike for every detector. Format:
 *
 * ```yaml
 * detector: notification_spam        # the detector under test (enabled, whatever its maturity)
 * settings: { ... }                  # detectors.<id> settings for every case (optional)
 * cases:
 *   - name: what the case shows
 *     source: ../shared/corpora/...  # the corpus case it replays, when there is one
 *     settings: { ... }              # merged over the file's settings (optional)
 *     events:                        # compact McpEvents (test/detectors/harness.ts), `at` ms from start
 *       - { at: 0, server: fs, method: tools/call, tool: read_file, repeat: 10, every: 1000 }
 *     after: 2000                    # keep ticking this long after the last event (default 2000)
 *     expect:
 *       fires: true                  # any alert at all
 *       count: 1                     # exact number of distinct alerts (optional)
 *       alerts:                      # each must match at least one alert (summary: substring)
 *         - { key: ..., severity: high, tool: ..., summary: "..." }
 * ```
 * Another detector's cases file needs nothing but the file.
 */

const expectedAlert = z
  .object({
    key: z.string().optional(),
    severity: z.string().optional(),
    tool: z.string().optional(),
    server: z.string().optional(),
    session: z.string().optional(),
    summary: z.string().optional(),
    title: z.string().optional(),
    label: z.record(z.string(), z.string()).optional(),
    /** Substring that must appear in one of the evidence descriptions. */
    evidence: z.string().optional(),
  })
  .strict();

const caseSchema = z
  .object({
    name: z.string().min(1),
    source: z.string().optional(),
    settings: z.record(z.string(), z.unknown()).default({}),
    events: z.array(eventSpecSchema.passthrough()).min(1),
    after: z.number().min(0).default(2000),
    expect: z
      .object({ fires: z.boolean(), count: z.number().int().min(0).optional(), alerts: z.array(expectedAlert).default([]) })
      .strict(),
  })
  .strict();

const fileSchema = z
  .object({ detector: z.string(), settings: z.record(z.string(), z.unknown()).default({}), cases: z.array(caseSchema).min(2) })
  .strict();

const CASES_DIR = join(import.meta.dirname, 'cases');
const files = readdirSync(CASES_DIR).filter((f) => f.endsWith('.yaml')).sort();

function matches(alert: RecordedAlert, want: z.infer<typeof expectedAlert>): boolean {
  if (want.key !== undefined && alert.key !== want.key) return false;
  if (want.severity !== undefined && alert.severity !== want.severity) return false;
  if (want.tool !== undefined && alert.tool !== want.tool) return false;
  if (want.server !== undefined && alert.server !== want.server) return false;
  if (want.session !== undefined && alert.session !== want.session) return false;
  if (want.summary !== undefined && !alert.summary.includes(want.summary)) return false;
  if (want.title !== undefined && !alert.title.includes(want.title)) return false;
  if (want.evidence !== undefined && !alert.evidence.some((e) => e.description.includes(want.evidence!))) return false;
  for (const [k, v] of Object.entries(want.label ?? {})) if (alert.labels[k] !== v) return false;
  return true;
}

describe.each(files)('detector cases %s', (file) => {
  const spec = fileSchema.parse(parseYaml(readFileSync(join(CASES_DIR, file), 'utf8')));

  it('names an existing detector and holds both firing and benign cases', async () => {
    expect(file).toBe(`${spec.detector}.yaml`);
    expect((await packagedDetectors()).map((d) => d.id)).toContain(spec.detector);
    expect(spec.cases.some((c) => c.expect.fires)).toBe(true);
    expect(spec.cases.some((c) => !c.expect.fires)).toBe(true);
  });

  it.each(spec.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const h = await harness([spec.detector], { [spec.detector]: { ...spec.settings, ...c.settings } });
    const start = h.clock.now;
    const events = c.events.flatMap((e) => expandSpec(e, start));
    h.feed(events);
    const last = events.reduce((m, e) => Math.max(m, e.time), start);
    h.advanceTo(last + c.after);
    const alerts = h.alerts.list();
    const explain = JSON.stringify(alerts.map((a) => ({ key: a.key, severity: a.severity, tool: a.tool, summary: a.summary })), null, 1);
    if (!c.expect.fires) {
      expect(alerts, `expected no alert, got ${explain}`).toEqual([]);
      return;
    }
    expect(alerts.length, 'expected at least one alert').toBeGreaterThan(0);
    if (c.expect.count !== undefined) expect(alerts.length, explain).toBe(c.expect.count);
    for (const a of alerts) {
      expect(a.detector).toBe(spec.detector);
      // Every alert explains itself: evidence with observed/expected or a description, and a server.
      expect(a.evidence.length).toBeGreaterThan(0);
      expect(a.server.length).toBeGreaterThan(0);
    }
    for (const want of c.expect.alerts) expect(alerts.some((a) => matches(a, want)), `no alert matches ${JSON.stringify(want)} in ${explain}`).toBe(true);
  });
});
