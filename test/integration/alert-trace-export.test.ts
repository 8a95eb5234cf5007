import { afterEach, describe, expect, it } from 'vitest';
import { makeMcpSpans, toProtobuf } from '../helpers/mcp-spans.js';
import { startDaemon, testConfig } from '../helpers/daemon.js';
import { LocalReceiver, tempDir, waitFor } from '../helpers/alert-receivers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface OtlpJson {
  resourceSpans: { scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes: { key: string; value: { stringValue?: string; arrayValue?: { values: { stringValue: string }[] } } }[] }[] }[] }[];
}

describe('alert trace links and trace export', () => {
  it('links the alert to its trace, and exports one alert span plus the trace re-tagged with the alert id over OTLP/HTTP', async () => {
    const backend = new LocalReceiver(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{}' }));
    const backendUrl = await backend.start();
    cleanups.push(() => backend.stop());
    const { daemon, adminUrl, otlpUrl } = await startDaemon(
      testConfig({
        alerts: {
          queue: { outboxDir: tempDir() },
          traceLinkTemplate: 'http://jaeger.example/trace/{traceId}',
          traceExport: { endpoint: `${backendUrl}/v1/traces`, headers: { 'x-scope-orgid': 'tenant-1' } },
          routes: [{ detectors: ['exfiltration'], sinks: ['log'] }],
        },
      }),
    );
    cleanups.push(() => daemon.shutdown());
    const spans = makeMcpSpans({ count: 5, seed: 3, serviceName: 'filesystem' });
    const traceId = spans[0]!.spanContext().traceId;
    const sameTrace = spans.filter((s) => s.spanContext().traceId === traceId).length;
    const sent = await fetch(otlpUrl, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: toProtobuf(spans) });
    expect(sent.status).toBe(200);
    await waitFor(() => daemon.store.getTrace(traceId) !== undefined, 5000, 'the trace in the store');

    const res = await fetch(`${adminUrl}/api/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ detector: 'exfiltration', severity: 'high', title: 'upload', server: 'filesystem', traceIds: [traceId] }),
    });
    const { alert } = (await res.json()) as { alert: { id: string; traceLinks: string[] } };
    expect(alert.traceLinks).toEqual([`http://jaeger.example/trace/${traceId}`]);

    await waitFor(() => backend.requests.length > 0, 10_000, 'an OTLP export');
    const req = backend.requests[0]!;
    expect(req.path).toBe('/v1/traces');
    expect(req.headers['x-scope-orgid']).toBe('tenant-1');
    const exported = (req.body as OtlpJson).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const attr = (s: (typeof exported)[number], k: string) => s.attributes.find((a) => a.key === k)?.value;
    const alertSpans = exported.filter((s) => attr(s, 'mcpwatch.alert.id')?.stringValue === alert.id);
    expect(alertSpans).toHaveLength(1);
    expect(alertSpans[0]!.traceId.toLowerCase()).toBe(traceId);
    const tagged = exported.filter((s) => attr(s, 'mcpwatch.alert.ids')?.arrayValue?.values.some((v) => v.stringValue === alert.id));
    expect(tagged).toHaveLength(sameTrace);
  });
});
