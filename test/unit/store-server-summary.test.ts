import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { McpEvent } from '../../src/pipeline/events.js';
import { storeSchema } from '../../src/config/schema.js';
import { OTHER_NAME, RecentStore, type RecentStoreOptions } from '../../src/store/recent-store.js';
import type { ServerSummary } from '../../src/store/types.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { T0_MS, mcpEvent, processEvent } from '../helpers/store-items.js';

/**
 * The store's server summaries (`listServers`), kept in recency order with capped name counts, must be those
 * of a plain model that keeps servers in a list and looks every name up, whatever the events and caps: names
 * over the per-server or total cap go under `(other)`, and a name counted under `(other)` gets its own key
 * once a forgotten server frees room under the total cap.
 */

const metricsToClose: Metrics[] = [];
afterEach(() => {
  for (const m of metricsToClose.splice(0)) m.close();
});

/** A summary as `listServers` gives it, with its name counts as maps while the model runs. */
type ModelServer = Omit<ServerSummary, 'methods' | 'tools'> & { methods: Map<string, number>; tools: Map<string, number> };

/** The summaries as the store kept them before: every name looked up, recency as a list. */
class SummaryModel {
  /** Most recently seen first. */
  private servers: ModelServer[] = [];
  private names = 0;

  constructor(private readonly opts: Required<RecentStoreOptions>) {}

  add(event: McpEvent): void {
    const time = event.time;
    let s = this.servers.find((x) => x.id === event.server.id);
    if (s) {
      this.servers.splice(this.servers.indexOf(s), 1);
    } else {
      s = { id: event.server.id, name: '', firstSeen: time, lastSeen: time, counts: { mcp: 0, process: 0, file: 0, network: 0, errors: 0 }, methods: new Map(), tools: new Map() };
      if (this.servers.length >= this.opts.maxServers) {
        const gone = this.servers.pop()!;
        this.names -= gone.methods.size + gone.tools.size;
      }
    }
    this.servers.unshift(s);
    s.name = event.server.name;
    if (event.server.pid !== undefined) s.pid = event.server.pid;
    if (event.server.commandLine !== undefined) s.commandLine = event.server.commandLine;
    s.firstSeen = Math.min(s.firstSeen, time);
    s.lastSeen = Math.max(s.lastSeen, time);
    s.counts[event.kind]++;
    if (event.kind !== 'mcp') return;
    if (event.outcome !== 'ok') s.counts.errors++;
    this.count(s.methods, event.method);
    if (event.tool !== undefined) this.count(s.tools, event.tool);
  }

  private count(counts: Map<string, number>, raw: string): void {
    const name = raw.slice(0, this.opts.maxNameLength);
    const n = counts.get(name);
    if (n !== undefined) {
      counts.set(name, n + 1);
    } else if (counts.size >= this.opts.maxNamesPerServer || this.names >= this.opts.maxNamesTotal) {
      if (!counts.has(OTHER_NAME)) this.names++;
      counts.set(OTHER_NAME, (counts.get(OTHER_NAME) ?? 0) + 1);
    } else {
      counts.set(name, 1);
      this.names++;
    }
  }

  list(): ServerSummary[] {
    return this.servers
      .map(({ methods, tools, counts, ...rest }) => ({ ...rest, counts: { ...counts }, methods: Object.fromEntries(methods), tools: Object.fromEntries(tools) }))
      .sort((a, b) => b.lastSeen - a.lastSeen);
  }
}

interface Shape {
  process: boolean;
  server: string;
  method: string;
  tool: string | undefined;
  error: boolean;
  time: number;
}

// Few servers and names, so runs of one name, caps and forgotten servers all come up; `__proto__` and a
// literal `(other)` are names like any other; long names are cut.
const nameArb = fc.constantFrom('tools/call', 'tools/list', 'initialize', '__proto__', OTHER_NAME, 'a-rather-long-name-1', 'a-rather-long-name-2');
const shapeArb: fc.Arbitrary<Shape> = fc.record({
  process: fc.constantFrom(false, false, false, false, false, true),
  server: fc.constantFrom('s1', 's2', 's3', 's4'),
  method: nameArb,
  tool: fc.option(fc.constantFrom('read', 'write', 'search', '__proto__', 'a-rather-long-tool-1', 'a-rather-long-tool-2'), { nil: undefined }),
  error: fc.boolean(),
  time: fc.integer({ min: 0, max: 1000 }),
});
// A run of one shape, as events come in runs from one server and tool.
const runArb = fc.tuple(shapeArb, fc.integer({ min: 1, max: 4 }));

function build(n: number, shape: Shape): McpEvent {
  const time = T0_MS + shape.time;
  const server = { id: shape.server, name: `${shape.server}-name`, pid: n % 3 === 0 ? n : undefined };
  if (shape.process) return processEvent({ id: `p${n}`, time, server });
  return mcpEvent({ id: `e${n}`, time, server, method: shape.method, tool: shape.tool, outcome: shape.error ? 'tool_error' : 'ok' });
}

describe('RecentStore server summaries', () => {
  it('equal a model that looks every name up, under every cap', () => {
    const optsArb = fc.record({
      maxServers: fc.integer({ min: 1, max: 4 }),
      maxNamesPerServer: fc.integer({ min: 1, max: 5 }),
      maxNamesTotal: fc.integer({ min: 1, max: 10 }),
      maxNameLength: fc.integer({ min: 4, max: 30 }),
    });
    fc.assert(
      fc.property(optsArb, fc.array(fc.array(runArb, { maxLength: 10 }), { maxLength: 8 }), (opts, batches) => {
        const metrics = new Metrics();
        metricsToClose.push(metrics);
        const store = new RecentStore(storeSchema.parse({ maxEvents: 5 }), metrics, opts);
        const model = new SummaryModel(opts);
        let n = 0;
        for (const batch of batches) {
          const events = batch.flatMap(([shape, times]) => Array.from({ length: times }, () => build(n++, shape)));
          store.addEvents(events);
          for (const e of events) model.add(e);
          expect(store.listServers()).toStrictEqual(model.list());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives a name its own key once a forgotten server frees room under the total cap', () => {
    const metrics = new Metrics();
    metricsToClose.push(metrics);
    const store = new RecentStore(storeSchema.parse({}), metrics, { maxServers: 2, maxNamesTotal: 3 });
    const at = (server: string, tool: string) => mcpEvent({ id: `${server}-${tool}`, server: { id: server, name: server }, method: 'tools/call', tool });
    // a's method and tool and b's method take the total cap: b's tool goes under (other), twice.
    store.addEvents([at('a', 'x'), at('b', 'y'), at('b', 'y')]);
    // c (a process, no names) forgets a, freeing two names: b's next `y` gets its own key.
    store.addEvents([processEvent({ id: 'c', server: { id: 'c', name: 'c' } }), at('b', 'y')]);
    const b = store.listServers().find((s) => s.id === 'b')!;
    expect(b.tools).toEqual({ [OTHER_NAME]: 2, y: 1 });
  });
});
