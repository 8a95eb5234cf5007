import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { makeMcpSpans, toProtobuf } from '../helpers/mcp-spans.js';
import { startDaemon, testConfig } from '../helpers/daemon.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';

describe('Daemon lifecycle', () => {
  it('is not ready until its receivers listen, and is ready after start', async () => {
    const daemon = new Daemon(testConfig(), { logger: silentLogger(), metrics: new Metrics() });
    expect(daemon.readiness()).toEqual({ ready: false, reasons: expect.arrayContaining(['starting']) });
    await daemon.start();
    expect(daemon.readiness()).toEqual({ ready: true, reasons: [] });
    await daemon.shutdown();
    expect(daemon.readiness().ready).toBe(false);
  });

  it('answers 503 on admin and OTLP while draining, then closes both', async () => {
    const { daemon, adminUrl, otlpUrl } = await startDaemon();
    const agent = new (await import('node:http')).Agent({ keepAlive: true });
    const { port } = new URL(otlpUrl);
    // An open request keeps the OTLP server from closing, so the drain is observable.
    const held = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/traces', headers: { 'content-type': 'application/x-protobuf', 'content-length': 1000 } });
    held.on('error', () => undefined);
    held.write(Buffer.alloc(1));
    await new Promise((r) => setTimeout(r, 50));
    const stopping = daemon.shutdown();
    const ready = await fetch(`${adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    const api = await fetch(`${adminUrl}/api/events`);
    expect(api.status).toBe(503);
    expect(api.headers.get('retry-after')).not.toBeNull();
    held.destroy();
    await stopping;
    await expect(fetch(`${adminUrl}/livez`)).rejects.toThrow();
    agent.destroy();
  });

  it('drains queued spans into the store before it stops', async () => {
    const { daemon, otlpUrl } = await startDaemon();
    // Distinct spans per request: the store drops exact duplicates, which OTLP retries produce.
    for (let i = 0; i < 5; i++) {
      const body = toProtobuf(makeMcpSpans({ count: 100, seed: 9 + i }));
      expect((await fetch(otlpUrl, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } })).status).toBe(200);
    }
    await daemon.shutdown();
    expect(daemon.store.stats().spans).toBe(500);
  });

  it('refuses to construct on a config that fails semantic validation', () => {
    const config = testConfig({ receivers: { otlp: { endpoint: '0.0.0.0:4318' } } });
    expect(() => new Daemon(config, { logger: silentLogger() })).toThrow(/receivers\.otlp\.auth\.bearerToken/);
  });
});
