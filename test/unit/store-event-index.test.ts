import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { McpEvent } from '../../src/pipeline/events.js';
import { storeSchema } from '../../src/config/schema.js';
import { RecentStore } from '../../src/store/recent-store.js';
import type { EventQuery } from '../../src/store/types.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { T0_MS, hexId, mcpEvent, processEvent } from '../helpers/store-items.js';

/**
 * The store's event indexes are chains through the event ring (src/store/event-index.ts); whatever was
 * added and evicted, a query must answer what a scan of the held events, newest first, would.
 */

const metricsToClose: Metrics[] = [];
afterEach(() => {
  for (const m of metricsToClose.splice(0)) m.close();
});

interface Shape {
  kind: 'mcp' | 'process';
  server: { id: string; name: string };
  method: string;
  tool: string | undefined;
  /** Tens of milliseconds the event is older than its arrival order says. */
  late: number;
}

/** Events over a few servers (one server's id is another's name), methods, tools and kinds. */
const shapeArb: fc.Arbitrary<Shape> = fc.record({
  kind: fc.constantFrom('mcp', 'mcp', 'mcp', 'process'),
  server: fc.constantFrom({ id: 'a', name: 'alpha' }, { id: 'b', name: 'beta' }, { id: 'c', name: 'a' }),
  method: fc.constantFrom('tools/call', 'tools/list', 'initialize'),
  tool: fc.option(fc.constantFrom('read', 'write', 'search'), { nil: undefined }),
  late: fc.integer({ min: 0, max: 3 }),
});

const queryArb: fc.Arbitrary<EventQuery> = fc.record(
  {
    server: fc.constantFrom('a', 'b', 'c', 'alpha', 'beta', 'zeta'),
    method: fc.constantFrom('tools/call', 'tools/list', 'initialize', 'other'),
    tool: fc.constantFrom('read', 'write', 'search'),
    kind: fc.constantFrom('mcp', 'process', 'file'),
    since: fc.integer({ min: 0, max: 400 }).map((n) => T0_MS + n),
    limit: fc.integer({ min: 1, max: 50 }),
  },
  { requiredKeys: [] },
);

/** Every key of every index on its own, so each index is checked after every batch. */
const SINGLE_KEY_QUERIES: EventQuery[] = [
  ...['a', 'b', 'c', 'alpha', 'beta'].map((server) => ({ server, limit: 1000 })),
  ...['tools/call', 'tools/list', 'initialize'].map((method) => ({ method, limit: 1000 })),
  ...['read', 'write', 'search'].map((tool) => ({ tool, limit: 1000 })),
  ...(['mcp', 'process'] as const).map((kind) => ({ kind, limit: 1000 })),
];

function build(n: number, shape: Shape): McpEvent {
  const time = T0_MS + n - shape.late * 10;
  if (shape.kind === 'process') return processEvent({ id: `p${n}`, time, server: shape.server });
  const traceId = hexId(n + 1, 32);
  const spanId = hexId(n + 1, 16);
  return mcpEvent({ id: `${traceId}:${spanId}`, traceId, spanId, time, server: shape.server, method: shape.method, tool: shape.tool });
}

/** What a query answers, from the held events (oldest first) by scanning. */
function expected(held: readonly McpEvent[], q: EventQuery): McpEvent[] {
  const matches = (e: McpEvent): boolean =>
    (q.server === undefined || e.server.id === q.server || e.server.name === q.server) &&
    (q.method === undefined || (e.kind === 'mcp' && e.method === q.method)) &&
    (q.tool === undefined || (e.kind === 'mcp' && e.tool === q.tool)) &&
    (q.kind === undefined || e.kind === q.kind) &&
    (q.since === undefined || e.time >= q.since);
  const out = [...held].reverse().filter(matches).slice(0, q.limit ?? 100);
  return out.sort((a, b) => b.time - a.time);
}

describe('RecentStore event indexes', () => {
  it('answer every query as a scan of the held events would, across evictions and keys that come and go', () => {
    fc.assert(
      fc.property(fc.array(fc.array(shapeArb, { maxLength: 30 }), { maxLength: 12 }), fc.integer({ min: 1, max: 40 }), fc.array(queryArb, { minLength: 1, maxLength: 8 }), (batches, maxEvents, queries) => {
        const metrics = new Metrics();
        metricsToClose.push(metrics);
        const store = new RecentStore(storeSchema.parse({ maxEvents }), metrics);
        const all: McpEvent[] = [];
        for (const batch of batches) {
          const events = batch.map((shape, i) => build(all.length + i, shape));
          store.addEvents(events);
          all.push(...events);
          for (const q of [...queries, ...SINGLE_KEY_QUERIES]) expect(store.queryEvents(q)).toStrictEqual(expected(all.slice(-maxEvents), q));
        }
      }),
      { numRuns: 80 },
    );
  });
});
