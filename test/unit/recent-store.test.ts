import { afterEach, describe, expect, it } from 'vitest';
import { storeSchema, type StoreConfig } from '../../src/config/schema.js';
import type { McpEvent } from '../../src/pipeline/events.js';
import { MAX_TRACE_DEPTH, OMITTED_CONTENT, OTHER_NAME, RecentStore } from '../../src/store/recent-store.js';
import type { TraceNode } from '../../src/store/types.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { hexId, mcpEvent, processEvent, span, T0_MS } from '../helpers/store-items.js';

const TRACE = hexId(0xabc, 32);
const metricsToClose: Metrics[] = [];

function makeStore(config: Partial<StoreConfig> = {}, opts = {}): { store: RecentStore; metrics: Metrics } {
  const metrics = new Metrics();
  metricsToClose.push(metrics);
  return { store: new RecentStore(storeSchema.parse(config), metrics, opts), metrics };
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  const found = metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return found?.value;
}

function depth(nodes: TraceNode[]): number {
  let max = 0;
  const stack = nodes.map((node) => ({ node, d: 1 }));
  while (stack.length > 0) {
    const { node, d } = stack.pop()!;
    max = Math.max(max, d);
    for (const child of node.children) stack.push({ node: child, d: d + 1 });
  }
  return max;
}

afterEach(() => {
  for (const m of metricsToClose.splice(0)) m.close();
});

describe('RecentStore bounds', () => {
  it('keeps at most maxEvents, evicting the oldest and counting evictions in the metric', async () => {
    const { store, metrics } = makeStore({ maxEvents: 10 });
    for (let i = 0; i < 25; i++) store.eventConsumer.consume([mcpEvent({ id: `e${i}`, time: T0_MS + i })]);

    expect(store.stats()).toMatchObject({ events: 10, evictedEvents: 15 });
    expect(store.queryEvents({}).map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, i) => `e${24 - i}`));
    expect(await metricValue(metrics, 'mcpwatch_store_evictions_total', { kind: 'event' })).toBe(15);
    expect(await metricValue(metrics, 'mcpwatch_store_items', { kind: 'event' })).toBe(10);
  });

  it('keeps at most maxSpans and forgets the trace index of evicted spans', async () => {
    const { store, metrics } = makeStore({ maxSpans: 4 });
    const batch = Array.from({ length: 6 }, (_, i) => span({ traceId: hexId(i + 1, 32), spanId: hexId(i + 1, 16) }));
    expect(store.spanConsumer.consume(batch)).toBe(true);

    expect(store.stats()).toMatchObject({ spans: 4, evictedSpans: 2 });
    expect(store.getTrace(hexId(1, 32))).toBeUndefined();
    expect(store.getTrace(hexId(2, 32))).toBeUndefined();
    expect(store.getTrace(hexId(3, 32))?.spanCount).toBe(1);
    expect(await metricValue(metrics, 'mcpwatch_store_evictions_total', { kind: 'span' })).toBe(2);
    expect(await metricValue(metrics, 'mcpwatch_store_items', { kind: 'span' })).toBe(4);
  });

  it('keeps the approximate byte total under maxBytes, evicting the oldest item of either kind', async () => {
    const { store, metrics } = makeStore({ maxBytes: 20_000 });
    const big = 'x'.repeat(4_000);
    store.addEvents([mcpEvent({ id: 'old-event', errorType: big })]);
    for (let i = 0; i < 10; i++) {
      store.addSpans([span({ traceId: TRACE, spanId: hexId(i + 1, 16), attributes: { payload: big } })]);
      expect(store.stats().bytes).toBeLessThanOrEqual(20_000);
    }
    const stats = store.stats();
    expect(stats.events).toBe(0);
    expect(stats.evictedEvents).toBe(1);
    expect(stats.evictedSpans).toBeGreaterThan(0);
    expect(stats.spans + stats.evictedSpans).toBe(10);
    // The newest spans are the ones kept.
    const kept = store.getTrace(TRACE)!.roots.map((n) => n.span.spanId);
    expect(kept).toContain(hexId(10, 16));
    expect(kept).not.toContain(hexId(1, 16));
    expect(await metricValue(metrics, 'mcpwatch_store_bytes')).toBe(stats.bytes);
  });

  it('counts byte arrays by their length, not as objects of numbered keys', () => {
    const { store } = makeStore();
    store.addSpans([span({ traceId: TRACE, spanId: hexId(1, 16), attributes: { blob: new Uint8Array(50_000) } })]);
    expect(store.stats().bytes).toBeGreaterThan(50_000);
    expect(store.stats().bytes).toBeLessThan(60_000);
  });

  it('drops (and counts as evicted) a single item larger than maxBytes instead of emptying the store for it', () => {
    const { store } = makeStore({ maxBytes: 10_000 });
    store.addEvents([mcpEvent({ id: 'small' })]);
    store.addSpans([span({ traceId: TRACE, spanId: hexId(1, 16), attributes: { huge: 'y'.repeat(20_000) } })]);
    expect(store.stats()).toMatchObject({ events: 1, spans: 0, evictedSpans: 1 });
  });

  it('holds maxEvents after a million tiny events from a million distinct servers and tools', () => {
    const { store } = makeStore({ maxEvents: 1000 }, { maxServers: 500, maxNamesTotal: 2000 });
    const server = { id: '', name: '' };
    for (let i = 0; i < 1_000_000; i += 1000) {
      const batch: McpEvent[] = [];
      for (let j = i; j < i + 1000; j++) {
        batch.push({ ...mcpEvent({ id: String(j), tool: `t${j}` }), server: { ...server, id: `s${j}`, name: `n${j}` } });
      }
      store.addEvents(batch);
    }
    expect(store.stats()).toMatchObject({ events: 1000, evictedEvents: 999_000 });
    const servers = store.listServers();
    expect(servers).toHaveLength(500);
    expect(servers[0]!.id).toBe('s999999');
    expect(store.queryEvents({ server: 's0' })).toEqual([]);
    expect(store.queryEvents({ server: 'n999999' }).map((e) => e.id)).toEqual(['999999']);
  });

  it('ignores a span it already holds (OTLP retries repeat spans)', () => {
    const { store } = makeStore();
    const s = span({ traceId: TRACE, spanId: hexId(1, 16) });
    store.addSpans([s]);
    store.addSpans([s]);
    expect(store.stats().spans).toBe(1);
  });
});

describe('RecentStore.getTrace', () => {
  it('builds the tree with children in start order and makes spans with a missing parent roots', () => {
    const { store } = makeStore();
    const ns = (ms: number) => (T0_MS + ms) * 1e6;
    store.addSpans([
      span({ traceId: TRACE, spanId: hexId(1, 16), name: 'root', startTimeUnixNano: ns(0), endTimeUnixNano: ns(50) }),
      span({ traceId: TRACE, spanId: hexId(2, 16), parentSpanId: hexId(1, 16), name: 'second', startTimeUnixNano: ns(20) }),
      span({ traceId: TRACE, spanId: hexId(3, 16), parentSpanId: hexId(1, 16), name: 'first', startTimeUnixNano: ns(10) }),
      span({ traceId: TRACE, spanId: hexId(4, 16), parentSpanId: hexId(3, 16), name: 'grandchild', startTimeUnixNano: ns(11) }),
      span({ traceId: TRACE, spanId: hexId(5, 16), parentSpanId: hexId(99, 16), name: 'orphan', startTimeUnixNano: ns(5) }),
      span({ traceId: hexId(7, 32), spanId: hexId(6, 16), name: 'other trace' }),
    ]);

    const trace = store.getTrace(TRACE.toUpperCase())!;
    expect(trace.traceId).toBe(TRACE);
    expect(trace.spanCount).toBe(5);
    expect(trace.roots.map((n) => n.span.name)).toEqual(['root', 'orphan']);
    const root = trace.roots[0]!;
    // Nanosecond times are JS numbers (precise to ~256 ns at today's epoch).
    expect(root.span.durationMs).toBeCloseTo(50, 3);
    expect(root.children.map((n) => n.span.name)).toEqual(['first', 'second']);
    expect(root.children[0]!.children.map((n) => n.span.name)).toEqual(['grandchild']);
    expect(store.getTrace(hexId(404, 32))).toBeUndefined();
  });

  it('keeps a reference to the shared resource instead of copying it', () => {
    const { store } = makeStore();
    const resource = { 'service.name': 'shared' };
    store.addSpans([1, 2].map((i) => span({ traceId: TRACE, spanId: hexId(i, 16), resource })));
    const roots = store.getTrace(TRACE)!.roots;
    expect(roots[0]!.span.resource).toBe(resource);
    expect(roots[1]!.span.resource).toBe(resource);
  });

  it('turns a forged parent cycle into roots instead of a tree that never ends', () => {
    const { store } = makeStore();
    store.addSpans([
      span({ traceId: TRACE, spanId: hexId(1, 16), parentSpanId: hexId(2, 16) }),
      span({ traceId: TRACE, spanId: hexId(2, 16), parentSpanId: hexId(1, 16) }),
      span({ traceId: TRACE, spanId: hexId(3, 16), parentSpanId: hexId(3, 16) }),
    ]);
    const trace = store.getTrace(TRACE)!;
    expect(trace.roots.length).toBeGreaterThanOrEqual(2);
    expect(depth(trace.roots)).toBeLessThanOrEqual(2);
    expect(() => JSON.stringify(trace)).not.toThrow();
  });

  it(`cuts parent chains deeper than ${MAX_TRACE_DEPTH} so serialisation stays within the stack`, () => {
    const { store } = makeStore();
    const chain = Array.from({ length: 1000 }, (_, i) =>
      span({ traceId: TRACE, spanId: hexId(i + 1, 16), parentSpanId: i === 0 ? undefined : hexId(i, 16) }),
    );
    store.addSpans(chain);
    const trace = store.getTrace(TRACE)!;
    expect(trace.spanCount).toBe(1000);
    expect(depth(trace.roots)).toBeLessThanOrEqual(MAX_TRACE_DEPTH);
    let count = 0;
    const stack = [...trace.roots];
    while (stack.length > 0) {
      count++;
      stack.push(...stack.pop()!.children);
    }
    expect(count).toBe(1000);
  });

  it('attributes a span to the server of its event, whichever arrives first', () => {
    const { store } = makeStore();
    store.addSpans([span({ traceId: TRACE, spanId: hexId(1, 16) })]);
    store.addEvents([
      mcpEvent({ id: 'a', traceId: TRACE, spanId: hexId(1, 16) }),
      mcpEvent({ id: 'b', traceId: TRACE, spanId: hexId(2, 16), server: { id: 'srv-files', name: 'files' } }),
    ]);
    store.addSpans([span({ traceId: TRACE, spanId: hexId(2, 16), parentSpanId: hexId(1, 16) })]);
    const root = store.getTrace(TRACE)!.roots[0]!;
    expect(root.span.server).toBe('weather');
    expect(root.children[0]!.span.server).toBe('files');
  });
});

describe('RecentStore.queryEvents', () => {
  function populated(): RecentStore {
    const { store } = makeStore();
    const events: McpEvent[] = [];
    for (let i = 0; i < 300; i++) {
      events.push(
        mcpEvent({
          id: `w${i}`,
          time: T0_MS + i * 1000,
          tool: i % 2 === 0 ? 'get_weather' : 'get_forecast',
          method: i % 10 === 0 ? 'tools/list' : 'tools/call',
        }),
      );
    }
    events.push(processEvent({ id: 'p1', time: T0_MS + 5000 }));
    events.push(mcpEvent({ id: 'f1', time: T0_MS + 7000, server: { id: 'srv-files', name: 'files' }, tool: 'read_file' }));
    store.addEvents(events);
    return store;
  }

  it('answers newest first with a default limit of 100 and a ceiling of 1000', () => {
    const { store } = makeStore();
    store.addEvents(Array.from({ length: 1500 }, (_, i) => mcpEvent({ id: `e${i}`, time: T0_MS + i })));
    const page = store.queryEvents({});
    expect(page).toHaveLength(100);
    expect(page[0]!.id).toBe('e1499');
    expect(page[99]!.id).toBe('e1400');
    expect(store.queryEvents({ limit: 5000 })).toHaveLength(1000);
    expect(store.queryEvents({ limit: 3 }).map((e) => e.id)).toEqual(['e1499', 'e1498', 'e1497']);
  });

  it('filters by server id or name, method, tool, kind and since, together', () => {
    const store = populated();
    expect(store.queryEvents({ server: 'files', limit: 1000 }).map((e) => e.id)).toEqual(['f1']);
    expect(store.queryEvents({ server: 'srv-files', limit: 1000 }).map((e) => e.id)).toEqual(['f1']);
    expect(store.queryEvents({ server: 'weather', limit: 1000 })).toHaveLength(301);
    expect(store.queryEvents({ kind: 'process' }).map((e) => e.id)).toEqual(['p1']);
    expect(store.queryEvents({ method: 'tools/list', limit: 1000 })).toHaveLength(30);
    expect(store.queryEvents({ tool: 'get_weather', method: 'tools/list', limit: 1000 })).toHaveLength(30);
    expect(store.queryEvents({ tool: 'get_forecast', method: 'tools/list' })).toEqual([]);
    const recent = store.queryEvents({ server: 'weather', tool: 'get_weather', since: T0_MS + 290_000 });
    expect(recent.map((e) => e.id)).toEqual(['w298', 'w296', 'w294', 'w292', 'w290']);
    expect(store.queryEvents({ server: 'nobody' })).toEqual([]);
    expect(store.queryEvents({ tool: 'no_such_tool' })).toEqual([]);
  });

  it('orders late arrivals by event time', () => {
    const { store } = makeStore();
    store.addEvents([mcpEvent({ id: 'new', time: T0_MS + 10 }), mcpEvent({ id: 'late', time: T0_MS + 5 })]);
    expect(store.queryEvents({}).map((e) => e.id)).toEqual(['new', 'late']);
  });

  it('drops captured arguments and results unless store.captureContent is on', () => {
    const { store } = makeStore({ captureContent: false });
    const original = mcpEvent({ id: 'c', arguments: { size: 12, fingerprint: 'f', content: { city: 'Paris' } } });
    store.addEvents([original]);
    store.addSpans([span({ traceId: TRACE, spanId: hexId(1, 16), attributes: { 'gen_ai.tool.call.arguments': '{"city":"Paris"}', 'mcp.request.argument.city': 'Paris', 'gen_ai.tool.name': 'x' } })]);
    const stored = store.queryEvents({})[0] as typeof original;
    expect(stored.arguments).toEqual({ size: 12, fingerprint: 'f' });
    expect(original.arguments?.content).toEqual({ city: 'Paris' });
    expect(store.getTrace(TRACE)!.roots[0]!.span.attributes).toEqual({
      'gen_ai.tool.call.arguments': OMITTED_CONTENT,
      'mcp.request.argument.city': OMITTED_CONTENT,
      'gen_ai.tool.name': 'x',
    });

    const { store: capturing } = makeStore({ captureContent: true });
    capturing.addEvents([original]);
    expect(capturing.queryEvents({})[0]).toBe(original);
  });

  it('masks secrets in captured span content, by JSON key and by pattern', () => {
    const { store } = makeStore({ captureContent: true });
    const token = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
    store.addSpans([span({ traceId: TRACE, spanId: hexId(2, 16), attributes: {
      'gen_ai.tool.call.arguments': JSON.stringify({ city: 'Paris', api_key: 'sk-live-not-for-your-eyes' }),
      'gen_ai.tool.call.result': `cloned with ${token}`,
      'gen_ai.tool.name': 'x',
    } })]);
    const attrs = store.getTrace(TRACE)!.roots[0]!.span.attributes;
    const args = JSON.parse(attrs['gen_ai.tool.call.arguments'] as string) as Record<string, string>;
    expect(args.city).toBe('Paris');
    expect(args.api_key).toMatch(/^\[masked:sha256:[0-9a-f]{12}\]$/);
    expect(attrs['gen_ai.tool.call.result']).not.toContain(token);
    expect(attrs['gen_ai.tool.call.result']).toMatch(/^cloned with \[masked:sha256:/);
  });
});

describe('RecentStore.listServers', () => {
  it('summarises identity, first and last seen, counts per kind, errors, methods and tools', () => {
    const { store } = makeStore({ maxEvents: 2 });
    store.addEvents([
      mcpEvent({ id: '1', time: T0_MS + 100 }),
      mcpEvent({ id: '2', time: T0_MS, outcome: 'tool_error' }),
      mcpEvent({ id: '3', time: T0_MS + 50, method: 'tools/list', tool: undefined }),
      processEvent({ id: '4', time: T0_MS + 200 }),
      mcpEvent({ id: '5', time: T0_MS + 10, server: { id: 'srv-files', name: 'files' } }),
    ]);
    const [files, weather] = store.listServers().sort((a, b) => a.name.localeCompare(b.name));
    expect(weather).toEqual({
      id: 'srv-weather',
      name: 'weather',
      pid: 4242,
      commandLine: 'node weather.js',
      firstSeen: T0_MS,
      lastSeen: T0_MS + 200,
      // Counts cover everything seen, not only the two events still held.
      counts: { mcp: 3, process: 1, file: 0, network: 0, errors: 1 },
      methods: { 'tools/call': 2, 'tools/list': 1 },
      tools: { get_weather: 2 },
    });
    expect(files).toMatchObject({ id: 'srv-files', counts: { mcp: 1 } });
    expect(store.listServers().map((s) => s.id)).toEqual(['srv-weather', 'srv-files']);
  });

  it('caps distinct names per server under "(other)" and forgets the least recently seen server', () => {
    const { store } = makeStore({}, { maxServers: 2, maxNamesPerServer: 3 });
    store.addEvents(Array.from({ length: 10 }, (_, i) => mcpEvent({ id: `t${i}`, tool: `tool${i}` })));
    expect(store.listServers()[0]!.tools).toEqual({ tool0: 1, tool1: 1, tool2: 1, [OTHER_NAME]: 7 });

    const srv = (id: string) => ({ id, name: id });
    store.addEvents([mcpEvent({ id: 'a', server: srv('a') }), mcpEvent({ id: 'w', server: { id: 'srv-weather', name: 'weather' } })]);
    store.addEvents([mcpEvent({ id: 'b', server: srv('b') })]);
    expect(store.listServers().map((s) => s.id).sort()).toEqual(['b', 'srv-weather']);
  });

  it('cuts very long names before they become summary keys', () => {
    const { store } = makeStore({}, { maxNameLength: 16 });
    store.addEvents([mcpEvent({ id: 'x', tool: 'z'.repeat(100_000) })]);
    expect(Object.keys(store.listServers()[0]!.tools)).toEqual(['z'.repeat(16)]);
  });
});
