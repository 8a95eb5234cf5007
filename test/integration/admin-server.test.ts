import { request, type IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AdminServer, type Readiness } from '../../src/api/admin-server.js';
import * as auth from '../../src/api/auth.js';
import { adminSchema, storeSchema, type AdminConfig } from '../../src/config/schema.js';
import { RecentStore } from '../../src/store/recent-store.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { hexId, mcpEvent, processEvent, span, T0_MS } from '../helpers/store-items.js';

// Wraps the real constant-time check so a test can prove every protected request goes through it.
vi.mock('../../src/api/auth.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/api/auth.js')>();
  return { ...actual, bearerTokenMatches: vi.fn(actual.bearerTokenMatches) };
});

const TOKEN = 'test-token-0123456789abcdef';
const TRACE = hexId(0xfeed, 32);

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: () => any;
}

interface Harness {
  server: AdminServer;
  store: RecentStore;
  metrics: Metrics;
  port: number;
  readiness: Readiness;
  get(path: string, opts?: { method?: string; headers?: Record<string, string> }): Promise<Answer>;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  vi.mocked(auth.bearerTokenMatches).mockClear();
});

function httpGet(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function populate(store: RecentStore): void {
  const ns = (ms: number) => (T0_MS + ms) * 1e6;
  store.addSpans([
    span({ traceId: TRACE, spanId: hexId(1, 16), name: 'tools/call get_weather', startTimeUnixNano: ns(0), endTimeUnixNano: ns(40) }),
    span({
      traceId: TRACE,
      spanId: hexId(2, 16),
      parentSpanId: hexId(1, 16),
      name: 'GET api.weather.example',
      startTimeUnixNano: ns(5),
      endTimeUnixNano: ns(30),
      attributes: { 'http.request.body': new Uint8Array([104, 105, 0, 255]) },
    }),
  ]);
  store.addEvents([
    mcpEvent({ id: 'e1', time: T0_MS, traceId: TRACE, spanId: hexId(1, 16) }),
    mcpEvent({ id: 'e2', time: T0_MS + 1000, tool: '<script>alert(1)</script>' }),
    mcpEvent({ id: 'e3', time: Date.now() - 60_000, method: 'tools/list', tool: undefined }),
    processEvent({ id: 'p1', time: T0_MS + 2000 }),
  ]);
}

async function startHarness(opts: { config?: Partial<AdminConfig>; detectors?: () => unknown[] } = {}): Promise<Harness> {
  const metrics = new Metrics();
  const store = new RecentStore(storeSchema.parse({}), metrics);
  populate(store);
  const readiness: Readiness = { ready: true, reasons: [] };
  const server = new AdminServer({
    config: adminSchema.parse({ endpoint: '127.0.0.1:0', ...opts.config }),
    store,
    metrics,
    logger: silentLogger(),
    readiness: () => readiness,
    ...(opts.detectors ? { detectors: opts.detectors } : {}),
  });
  await server.start();
  cleanups.push(async () => {
    await server.shutdown();
    metrics.close();
  });
  const port = server.address().port;
  return { server, store, metrics, port, readiness, get: (path, o) => httpGet(port, path, o) };
}

describe('AdminServer probes and metrics', () => {
  it('answers /livez 200 with security headers', async () => {
    const h = await startHarness();
    const res = await h.get('/livez');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers /readyz from the readiness callback: 200 when ready, 503 with reasons otherwise', async () => {
    const h = await startHarness();
    expect((await h.get('/readyz')).status).toBe(200);
    h.readiness.ready = false;
    h.readiness.reasons = ['receivers.otlp is not listening'];
    const res = await h.get('/readyz');
    expect(res.status).toBe(503);
    expect(res.json()).toEqual({ status: 'not_ready', reasons: ['receivers.otlp is not listening'] });
  });

  it('exposes Prometheus text with the store gauges and request counts labelled by route template', async () => {
    const h = await startHarness();
    await h.get(`/api/traces/${TRACE}`);
    await h.get('/no/such/path');
    const res = await h.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(h.metrics.registry.contentType);
    expect(res.body).toContain('mcpwatch_store_items{kind="event"} 4');
    expect(res.body).toContain('mcpwatch_store_items{kind="span"} 2');
    expect(res.body).toContain('mcpwatch_admin_requests_total{route="/api/traces/:traceId",status="200"} 1');
    expect(res.body).toContain('mcpwatch_admin_requests_total{route="unmatched",status="404"} 1');
    expect(res.body).not.toContain(TRACE);
    expect(res.body).not.toContain('/no/such/path');
  });
});

describe('AdminServer /api/events', () => {
  it('lists events newest first with filters', async () => {
    const h = await startHarness();
    const all = (await h.get('/api/events')).json();
    expect(all.count).toBe(4);
    expect(all.events.map((e: { id: string }) => e.id)).toEqual(['e3', 'p1', 'e2', 'e1']);
    const byTool = (await h.get('/api/events?server=weather&tool=get_weather&kind=mcp')).json();
    expect(byTool.events.map((e: { id: string }) => e.id)).toEqual(['e1']);
    expect((await h.get('/api/events?method=tools%2Flist')).json().events.map((e: { id: string }) => e.id)).toEqual(['e3']);
    expect((await h.get('/api/events?limit=2')).json().events).toHaveLength(2);
  });

  it('accepts since as a duration, RFC 3339 or Unix milliseconds', async () => {
    const h = await startHarness();
    const ids = async (since: string) => (await h.get(`/api/events?since=${encodeURIComponent(since)}`)).json().events.map((e: { id: string }) => e.id);
    expect(await ids('15m')).toEqual(['e3']);
    expect(await ids('1h30m')).toEqual(['e3']);
    expect(await ids(new Date(T0_MS + 1000).toISOString())).toEqual(['e3', 'p1', 'e2']);
    expect(await ids('2025-06-01T14:00:01+02:00')).toEqual(['e3', 'p1', 'e2']);
    expect(await ids(String(T0_MS + 2000))).toEqual(['e3', 'p1']);
  });

  it.each([
    ['since=yesterday', /^since: must be an RFC 3339 time/],
    ['since=1700000000', /^since: 1700000000 looks like Unix seconds/],
    ['limit=0', /^limit: must be a whole number from 1 to 1000/],
    ['limit=5000', /^limit: /],
    ['limit=ten', /^limit: /],
    ['kind=syscall', /^kind: must be one of mcp, process, file, network/],
    ['severs=weather', /^severs: unknown parameter/],
    ['tool=a&tool=b', /^tool: given more than once/],
    ['server=', /^server: must not be empty/],
  ])('answers 400 bad_request for %s', async (query, message) => {
    const h = await startHarness();
    const res = await h.get(`/api/events?${query}`);
    expect(res.status).toBe(400);
    const body = res.json();
    expect(body.error).toBe('bad_request');
    expect(body.message).toMatch(message);
  });

  it('escapes markup characters so attacker strings cannot be sniffed as HTML', async () => {
    const h = await startHarness();
    const res = await h.get('/api/events?tool=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(res.body).not.toContain('<script>');
    expect(res.body).toContain('\\u003cscript\\u003e');
    expect(res.json().events[0].tool).toBe('<script>alert(1)</script>');
  });
});

describe('AdminServer /api/traces/:traceId', () => {
  it('returns the span tree, accepting upper-case ids and sending byte attributes as base64', async () => {
    const h = await startHarness();
    const res = await h.get(`/api/traces/${TRACE.toUpperCase()}`);
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.traceId).toBe(TRACE);
    expect(body.spanCount).toBe(2);
    expect(body.roots).toHaveLength(1);
    expect(body.roots[0].span.server).toBe('weather');
    const child = body.roots[0].children[0].span;
    expect(child.name).toBe('GET api.weather.example');
    expect(child.attributes['http.request.body']).toBe(Buffer.from([104, 105, 0, 255]).toString('base64'));
  });

  it('answers 400 for a malformed id and 404 for an unknown one', async () => {
    const h = await startHarness();
    const bad = await h.get('/api/traces/not-a-trace-id');
    expect(bad.status).toBe(400);
    expect(bad.json()).toEqual({ error: 'bad_request', message: expect.stringMatching(/^traceId: must be 32 hexadecimal/) });
    const unknown = await h.get(`/api/traces/${hexId(1, 32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json().error).toBe('trace_not_found');
  });
});

describe('AdminServer /api/servers and /api/detectors', () => {
  it('lists server summaries', async () => {
    const h = await startHarness();
    const body = (await h.get('/api/servers')).json();
    expect(body.servers).toHaveLength(1);
    expect(body.servers[0]).toMatchObject({ id: 'srv-weather', name: 'weather', counts: { mcp: 3, process: 1 } });
  });

  it('lists detectors from the callback, or none without one', async () => {
    const without = await startHarness();
    expect((await without.get('/api/detectors')).json()).toEqual({ detectors: [] });
    const withDetectors = await startHarness({ detectors: () => [{ id: 'tool_drift', enabled: true }] });
    expect((await withDetectors.get('/api/detectors')).json()).toEqual({ detectors: [{ id: 'tool_drift', enabled: true }] });
  });
});

describe('AdminServer errors', () => {
  it('answers 404 with a JSON body for unknown paths', async () => {
    const h = await startHarness();
    const res = await h.get('/api/alertz');
    expect(res.status).toBe(404);
    expect(res.json().error).toBe('not_found');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('answers 405 with Allow for methods other than GET and HEAD', async () => {
    const h = await startHarness();
    const res = await h.get('/api/servers', { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(res.json().error).toBe('method_not_allowed');
    const head = await h.get('/livez', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });
});

describe('AdminServer bearer auth', () => {
  it('requires the token everywhere but the probes, and checks it through the constant-time comparison', async () => {
    const h = await startHarness({ config: { auth: { bearerToken: TOKEN } } });
    for (const path of ['/api/servers', '/api/events', '/metrics', `/api/traces/${TRACE}`, '/api/detectors', '/unknown']) {
      const res = await h.get(path);
      expect(res.status, path).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json().error).toBe('unauthorized');
    }
    for (const wrong of ['Bearer short', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, 'Bearer ']) {
      expect((await h.get('/api/servers', { headers: { authorization: wrong } })).status, wrong).toBe(401);
    }
    expect((await h.get('/api/servers', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await h.get('/metrics', { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
    expect((await h.get('/livez')).status).toBe(200);
    expect((await h.get('/readyz')).status).toBe(200);

    const checks = vi.mocked(auth.bearerTokenMatches).mock.calls;
    expect(checks.length).toBe(6 + 5 + 2);
    expect(checks.every(([, expected]) => expected === TOKEN)).toBe(true);
  });
});

describe('AdminServer lifecycle', () => {
  it('answers 503 with Retry-After and Connection: close on every route once closing begins', async () => {
    const h = await startHarness();
    h.server.beginClosing();
    for (const path of ['/api/servers', '/readyz', '/livez', '/metrics', '/nope']) {
      const res = await h.get(path);
      expect(res.status, path).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.headers.connection).toBe('close');
      expect(res.json().error).toBe('shutting_down');
    }
  });

  it('shuts down idempotently, promptly despite idle keep-alive connections, and refuses new connections', async () => {
    const h = await startHarness();
    // fetch keeps its connection open in the pool after the answer.
    expect((await fetch(`http://127.0.0.1:${h.port}/livez`)).status).toBe(200);
    const started = Date.now();
    const first = h.server.shutdown();
    const second = h.server.shutdown();
    expect(second).toBe(first);
    await first;
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(h.get('/livez')).rejects.toThrow(/ECONNREFUSED/);
    await expect(h.server.shutdown()).resolves.toBeUndefined();
  });

  it('shuts down safely without start', async () => {
    const metrics = new Metrics();
    const server = new AdminServer({
      config: adminSchema.parse({ endpoint: '127.0.0.1:0' }),
      store: new RecentStore(storeSchema.parse({}), metrics),
      metrics,
      logger: silentLogger(),
      readiness: () => ({ ready: true, reasons: [] }),
    });
    await expect(server.shutdown()).resolves.toBeUndefined();
    await expect(server.start()).rejects.toThrow(/after shutdown/);
    metrics.close();
  });

  it('rejects start with a sentence naming admin.endpoint when the port is taken', async () => {
    const h = await startHarness();
    const metrics = new Metrics();
    const endpoint = `127.0.0.1:${h.port}`;
    const second = new AdminServer({
      config: adminSchema.parse({ endpoint }),
      store: h.store,
      metrics,
      logger: silentLogger(),
      readiness: () => ({ ready: true, reasons: [] }),
    });
    await expect(second.start()).rejects.toThrow(`admin.endpoint ${endpoint} is already in use`);
    await expect(second.shutdown()).resolves.toBeUndefined();
    metrics.close();
  });
});
