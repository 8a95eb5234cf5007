import { describe, expect, it } from 'vitest';
import { SinkConsumer, type Component } from '../../src/component/component.js';
import { FACTORIES } from '../../src/component/registry.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';

/**
 * One lifecycle contract for every registered factory (after the Collector's generated component tests):
 * valid typed defaults, validate() sentences that name their path, a quick start, and an idempotent
 * shutdown that is safe without start.
 */
describe.each(FACTORIES)('factory $section', ({ section, factory }) => {
  const settings = () => ({ path: section, logger: silentLogger(), metrics: new Metrics() });
  /** Default config, moved to an ephemeral loopback port when it has an endpoint (tests run in parallel). */
  const testConfig = () => {
    const config = factory.createDefaultConfig() as Record<string, unknown>;
    if (typeof config.endpoint === 'string') config.endpoint = '127.0.0.1:0';
    return config;
  };

  it('has a default config that passes its schema and validate()', () => {
    const config = factory.createDefaultConfig();
    expect(factory.schema.parse({})).toEqual(config);
    expect(factory.validate(config, section)).toEqual([]);
  });

  it('names the config path in every validate() problem', () => {
    const broken = { ...(factory.createDefaultConfig() as Record<string, unknown>) };
    if (typeof broken.endpoint === 'string') broken.endpoint = '0.0.0.0:1';
    for (const problem of factory.validate(broken, section)) expect(problem.startsWith(`${section}.`)).toBe(true);
  });

  it('shuts down safely without start, more than once', async () => {
    const c: Component = factory.create(settings(), testConfig(), new SinkConsumer());
    await c.shutdown();
    await c.shutdown();
  });

  it('starts quickly and shuts down idempotently', async () => {
    const s = settings();
    const c: Component = factory.create(s, testConfig(), new SinkConsumer());
    const t0 = performance.now();
    await c.start({ logger: s.logger, metrics: s.metrics });
    expect(performance.now() - t0).toBeLessThan(2000);
    await Promise.all([c.shutdown(), c.shutdown()]);
    await c.shutdown();
  });

  it('releases what it holds on shutdown, so a new instance can take its place', async () => {
    const s = settings();
    const first = factory.create(s, testConfig(), new SinkConsumer());
    await first.start({ logger: s.logger, metrics: s.metrics });
    const addr = (first as { address?: () => { port: number } }).address?.();
    await first.shutdown();
    const config = testConfig();
    if (addr && typeof config.endpoint === 'string') config.endpoint = `127.0.0.1:${addr.port}`;
    const second = factory.create(s, config, new SinkConsumer());
    await second.start({ logger: s.logger, metrics: s.metrics });
    await second.shutdown();
  });
});
