import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { DetectorEngine } from '../../src/detect/engine.js';
import { ExceptionMatcher } from '../../src/detect/exceptions.js';
import { validateDetectorSettings } from '../../src/detect/factory.js';
import { defaultDetectorsDirectory, discoverDetectors, type LoadedDetector } from '../../src/detect/loader.js';
import { detectorManifestSchema } from '../../src/detect/manifest.js';
import { RecordingAlertPublisher } from '../../src/detect/recording-publisher.js';
import { MedianMadBaseline } from '../../src/detect/robust-baseline.js';
import { detectorsSectionSchema } from '../../src/detect/settings.js';
import { FileStateStore, MemoryStateStore } from '../../src/detect/state-store.js';
import { SlidingWindow, TumblingWindow, type ClosedWindow } from '../../src/detect/windows.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { expandSpec, harness, packagedDetectors } from '../detectors/harness.js';

const T0 = 1_750_000_000_000;

describe('windows', () => {
  it('a sliding window counts only the last windowMs, to bucket precision', () => {
    const w = new SlidingWindow(10_000, 10);
    for (let i = 0; i < 20; i++) w.add(T0 + i * 1000);
    expect(w.count(T0 + 19_000)).toBe(10);
    expect(w.count(T0 + 25_000)).toBe(4);
    expect(w.count(T0 + 60_000)).toBe(0);
    w.add(T0 + 60_000, 5);
    expect(w.sum(T0 + 60_000)).toBe(5);
    expect(w.rate(T0 + 60_000)).toBe(0.1);
  });

  it('a sliding window ignores events older than the window', () => {
    const w = new SlidingWindow(1000, 4);
    w.add(T0 + 5000);
    w.add(T0 + 1000);
    expect(w.count(T0 + 5000)).toBe(1);
  });

  it('a tumbling window reports each closed interval once, and a bounded number of quiet ones', () => {
    const closed: ClosedWindow[] = [];
    const w = new TumblingWindow(10_000, (c) => closed.push(c), 3);
    w.add(T0 + 1000, 2);
    w.add(T0 + 9000, 7);
    w.add(T0 + 12_000);
    expect(closed).toEqual([{ start: T0, end: T0 + 10_000, count: 2, sum: 9, max: 7 }]);
    w.closeUpTo(T0 + 1_000_000);
    expect(closed.length).toBe(2 + 3);
    expect(closed[1]!.count).toBe(1);
    expect(closed.slice(2).every((c) => c.count === 0)).toBe(true);
  });
});

describe('median/MAD baseline', () => {
  it('is learning until minSamples, then armed, and one outlier does not move it', () => {
    const b = new MedianMadBaseline({ capacity: 32, minSamples: 10 });
    for (let i = 0; i < 9; i++) b.update(100 + (i % 3));
    expect(b.phase).toBe('learning');
    b.update(101);
    expect(b.phase).toBe('armed');
    b.update(1_000_000);
    expect(b.median()).toBe(101);
    expect(b.score(5000, 1)).toBeGreaterThan(100);
    const restored = new MedianMadBaseline({ capacity: 32, minSamples: 10 }, b.snapshot());
    expect(restored.median()).toBe(101);
    expect(restored.phase).toBe('armed');
  });
});

describe('exceptions', () => {
  const m = new ExceptionMatcher({ servers: ['backup-*'], tools: ['login'], paths: ['/home/*/.env'], destinations: ['*.example.com', '203.0.113.9:443'] });
  const [mcp] = expandSpec({ server: 'backup-nightly', tool: 'x' }, T0);
  const [net] = expandSpec({ kind: 'network', server: 's', remote: { address: '203.0.113.9', port: 443 } }, T0);
  const [file] = expandSpec({ kind: 'file', server: 's', path: '/HOME/bob/.env' }, T0);

  it('covers events by server (glob), path (case-insensitive) and destination (address:port)', () => {
    expect(m.coversEvent(mcp!)).toBe(true);
    expect(m.coversEvent(net!)).toBe(true);
    expect(m.coversEvent(file!)).toBe(true);
    const [other] = expandSpec({ server: 'fs', tool: 'read_file' }, T0);
    expect(m.coversEvent(other!)).toBe(false);
  });

  it('covers alerts by tool and by their destination label', () => {
    expect(m.coversAlert({ server: 'fs', tool: 'login' })).toBe(true);
    expect(m.coversAlert({ server: 'web', labels: { destination: 'api.example.com' } })).toBe(true);
    expect(m.coversAlert({ server: 'web', labels: { destination: 'evil.test' } })).toBe(false);
  });

  it('user exceptions in config silence an alert without editing the detector', async () => {
    const events = [
      ...expandSpec({ at: 0, server: 'fs', client: 'agent', tool: 'read_file', arguments: { content: { path: '/home/user/.env' } } }, T0),
      ...expandSpec({ at: 500, server: 'web', client: 'agent', tool: 'fetch', arguments: { content: { url: 'https://api.example.com/v1' } } }, T0),
    ];
    const loud = await harness(['exfiltration']);
    loud.feed(events);
    expect(loud.alerts.list().length).toBe(1);
    const quiet = await harness(['exfiltration'], { exfiltration: { exceptions: { destinations: ['*.example.com'] } } });
    quiet.feed(events);
    expect(quiet.alerts.list()).toEqual([]);
    const text = await quiet.metrics.registry.getSingleMetricAsString('mcpwatch_detector_exceptions_total');
    expect(text).toContain('detector="exfiltration",what="alert"} 1');
  });
});

describe('detector settings', () => {
  it('defaults: stable detectors on; a typo names detectors.<id>.<field>', async () => {
    const defaults = detectorsSectionSchema.parse({});
    expect(await validateDetectorSettings(defaults)).toEqual([]);
    const problems = await validateDetectorSettings(detectorsSectionSchema.parse({ dos: { windowSeconds: -1 }, nope: {}, exfiltration: { enabled: 'yes' } }));
    expect(problems).toContain('detectors.nope: no such detector (known: ' + (await packagedDetectors()).map((d) => d.id).sort().join(', ') + ')');
    const bad = await validateDetectorSettings(detectorsSectionSchema.parse({ dos: { windowSeconds: -1 }, exfiltration: { enabled: 'yes' } }));
    expect(bad.some((p) => p.startsWith('detectors.dos.windowSeconds:'))).toBe(true);
    expect(bad.some((p) => p.startsWith('detectors.exfiltration.enabled:'))).toBe(true);
  });

  it('every packaged detector folder is complete and its manifest valid', () => {
    const found = discoverDetectors(defaultDetectorsDirectory());
    expect(found.problems).toEqual([]);
    for (const id of ['exfiltration', 'dos', 'notification_spam', 'chain_drift']) {
      const d = found.detectors.find((x) => x.id === id)!;
      expect(d.manifest.maturity).toBe('stable');
      expect(d.manifest.tags[0]).toBe('maturity_stable');
      expect(d.manifest.tags.some((t) => /^T\d{4}/.test(t))).toBe(true);
      expect(d.manifest.tags.some((t) => /^MCP\d\d$/.test(t))).toBe(true);
      for (const section of ['**Catches**', '**Cannot**', '**False positives**', '**Tuning**']) expect(d.readme).toContain(section);
    }
  });
});

/** A tiny detector for engine behaviour: counts events, learns a number, throws on demand. */
function probeDetector(manifest: Partial<z.input<typeof detectorManifestSchema>> = {}): LoadedDetector & { seen: string[] } {
  const seen: string[] = [];
  const module: DetectorModule<{ limit: number }> = {
    configSchema: z.object({ limit: z.number().default(3) }).strict(),
    create(ctx) {
      let learned = 0;
      return {
        onEvent(e) {
          if (e.kind === 'mcp' && e.tool === 'boom') throw new Error('boom');
          seen.push(e.id);
          learned += 1;
          if (learned === ctx.config.limit) ctx.fire({ title: 't', summary: 's', server: e.server.name, evidence: [{ description: 'd' }] });
        },
        snapshot: () => ({ learned }),
        restore: (s) => {
          learned = (s as { learned: number }).learned;
        },
        stats: () => ({ learning: learned < 5 ? 1 : 0, armed: learned >= 5 ? 1 : 0 }),
      };
    },
  };
  const m = detectorManifestSchema.parse({ id: 'probe', title: 'p', description: 'p', severity: 'low', maturity: 'sandbox', sources: ['mcp'], tags: ['maturity_sandbox'], output: 'x', ...manifest });
  return { id: m.id, manifest: m, readme: '', directory: '', moduleFile: '', module: module as DetectorModule<unknown>, seen };
}

function engineWith(d: LoadedDetector, section: Record<string, unknown>, store = new MemoryStateStore()) {
  const alerts = new RecordingAlertPublisher({ capacity: 10 });
  const metrics = new Metrics();
  const engine = new DetectorEngine({
    section: detectorsSectionSchema.parse(section),
    publisher: alerts,
    logger: silentLogger(),
    metrics,
    detectors: [d],
    stateStore: store,
    timers: false,
    clock: () => T0,
  });
  return { engine, alerts, metrics };
}

describe('engine', () => {
  it('leaves non-stable detectors off unless enabled', async () => {
    const d = probeDetector();
    const off = engineWith(d, {});
    await off.engine.start();
    off.engine.consume(expandSpec({ server: 'a' }, T0));
    expect(d.seen).toEqual([]);
    expect(off.engine.list()[0]).toMatchObject({ id: 'probe', enabled: false, maturity: 'sandbox' });
    const on = engineWith(d, { probe: { enabled: true } });
    await on.engine.start();
    on.engine.consume(expandSpec({ server: 'a' }, T0));
    expect(d.seen.length).toBe(1);
  });

  it('only hands a detector the event kinds of its sources', async () => {
    const d = probeDetector();
    const { engine } = engineWith(d, { probe: { enabled: true } });
    await engine.start();
    engine.consume([...expandSpec({ kind: 'file', server: 'a' }, T0), ...expandSpec({ kind: 'process', server: 'a' }, T0)]);
    expect(d.seen).toEqual([]);
  });

  it('refuses to start on a bad detector setting, naming detectors.<id>.<field>', async () => {
    const { engine } = engineWith(probeDetector(), { probe: { limit: 'x' } });
    await expect(engine.start()).rejects.toThrow(/detectors\.probe\.limit: /);
  });

  it('survives a throwing detector: counts it and keeps running', async () => {
    const d = probeDetector();
    const { engine, metrics } = engineWith(d, { probe: { enabled: true } });
    await engine.start();
    engine.consume([...expandSpec({ server: 'a', tool: 'boom' }, T0), ...expandSpec({ server: 'a', tool: 'ok' }, T0)]);
    expect(d.seen.length).toBe(1);
    expect(await metrics.registry.getSingleMetricAsString('mcpwatch_detector_errors_total')).toContain('detector="probe"} 1');
  });

  it('fills detector id, default severity and maturity label on alerts', async () => {
    const d = probeDetector();
    const { engine, alerts } = engineWith(d, { probe: { enabled: true, limit: 2 } });
    await engine.start();
    engine.consume(expandSpec({ server: 'a', repeat: 2 }, T0));
    expect(alerts.list()[0]).toMatchObject({ detector: 'probe', severity: 'low', labels: { maturity: 'sandbox' } });
  });

  it('persists learned state at shutdown and restores it at start', async () => {
    const store = new MemoryStateStore();
    const d = probeDetector();
    const first = engineWith(d, { probe: { enabled: true } }, store);
    await first.engine.start();
    first.engine.consume(expandSpec({ server: 'a', repeat: 4 }, T0));
    await first.engine.shutdown();
    await first.engine.shutdown();
    expect(store.state).toEqual({ probe: { learned: 4 } });
    const second = engineWith(probeDetector(), { probe: { enabled: true } }, store);
    await second.engine.start();
    expect(second.engine.list()[0]!.entities).toEqual({ learning: 1, armed: 0 });
    second.engine.consume(expandSpec({ server: 'a' }, T0));
    expect(second.engine.list()[0]!.entities).toEqual({ learning: 0, armed: 1 });
  });
});

describe('persistence across a restart with the real detectors', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an armed notification_spam baseline written to the state file is armed again after restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpwatch-state-'));
    const store = new FileStateStore(dir);
    const h = await harness(['notification_spam'], { notification_spam: { minSamples: 10 } }, { stateStore: store });
    h.feed(expandSpec({ server: 'everything', session: 's1', method: 'notifications/message', repeat: 40, every: 5000 }, h.clock.now));
    h.advanceTo(h.clock.now + 20_000);
    expect(h.engine.list()[0]!.entities!.armed).toBe(4);
    await h.engine.shutdown();
    const file = JSON.parse(await readFile(join(dir, 'detector-state.json'), 'utf8')) as { version: number; detectors: Record<string, unknown> };
    expect(file.version).toBe(1);
    expect(Object.keys(file.detectors)).toEqual(['notification_spam']);

    const restarted = await harness(['notification_spam'], { notification_spam: { minSamples: 10 } }, { stateStore: new FileStateStore(dir), start: h.clock.now + 60_000 });
    expect(restarted.engine.list()[0]!.entities!.armed).toBe(4);
    // Armed at once: a flood spread over sessions fires against the restored baseline without relearning.
    const t = restarted.clock.now;
    restarted.feed(['a', 'b', 'c', 'd'].flatMap((s) => expandSpec({ server: 'everything', session: s, method: 'notifications/message', repeat: 40, every: 100 }, t)));
    restarted.advanceTo(t + 25_000);
    expect(restarted.alerts.list().map((a) => a.key)).toContain('baseline:message');
  });

  it('a corrupt state file costs the learning, not the start', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpwatch-state-'));
    await writeFile(join(dir, 'detector-state.json'), '{not json');
    const h = await harness(['dos'], {}, { stateStore: new FileStateStore(dir) });
    expect(h.engine.list()[0]!.enabled).toBe(true);
    expect(await h.metrics.registry.getSingleMetricAsString('mcpwatch_detector_state_persists_total')).toContain('operation="load",status="failed"} 1');
  });
});

describe('learning and ceilings', () => {
  it('baseline rules stay silent while learning but absolute ceilings fire', async () => {
    const h = await harness(['dos']);
    // 150 requests in one 10 s window: a huge jump but the baseline is not armed yet, and it is under the ceiling.
    h.feed(expandSpec({ server: 'api', tool: 'search', durationMs: 5, repeat: 150, every: 60 }, h.clock.now));
    h.advanceTo(h.clock.now + 15_000);
    expect(h.alerts.list()).toEqual([]);
    const boundary = Math.ceil(h.clock.now / 10_000) * 10_000;
    h.feed(expandSpec({ server: 'api', tool: 'search', durationMs: 5, repeat: 2100, every: 2 }, boundary));
    expect(h.alerts.list().map((a) => a.key)).toEqual(['rate']);
    expect(h.alerts.list()[0]!.evidence[0]!.description).toContain('absolute ceiling');
  });
});

describe('bounded state', () => {
  it('per-session state stays under its cap under 50 000 sessions, and evictions are counted', async () => {
    const h = await harness(['notification_spam'], { notification_spam: { maxSessions: 1000 } });
    const t = h.clock.now;
    for (let i = 0; i < 50_000; i++) h.engine.process(expandSpec({ at: i, server: 'srv', session: `s${i}`, method: 'notifications/message' }, t)[0]!);
    const stats = h.engine.detector('notification_spam')!.stats!();
    expect(stats.none).toBeLessThanOrEqual(3000);
    const text = await h.metrics.registry.getSingleMetricAsString('mcpwatch_detector_state_evictions_total');
    expect(Number(/detector="notification_spam"} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(49_000);
  });
});
