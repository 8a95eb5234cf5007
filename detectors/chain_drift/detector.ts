import { z } from 'zod';
import type { Evidence } from '../../src/alert/types.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import type { DetectorContext, DetectorModule } from '../../src/detect/detector.js';
import { renderOutput } from '../../src/detect/evidence.js';
import type { McpTrafficEvent } from '../../src/pipeline/events.js';

const configSchema = z
  .object({
    /** A trace is assembled once no span of it arrived for this long (spans of one chain come from several processes). */
    settleSeconds: z.number().min(0.1).max(300).default(3),
    /** Learning per entry server: at least this long and this many chains before new edges alert. */
    learningSeconds: z.number().int().min(0).default(3600),
    minChains: z.number().int().min(1).default(50),
    /** Chains deeper than this (server hops) fire in any phase. */
    maxDepth: z.number().int().min(2).default(6),
    /** Alert on a server appearing twice in one chain, in any phase. */
    cycles: z.boolean().default(true),
    /** Learned graph caps: entry servers and edges per entry server (LRU beyond). */
    maxRoots: z.number().int().positive().default(2_000),
    maxEdgesPerRoot: z.number().int().positive().default(512),
    maxTraces: z.number().int().positive().default(20_000),
    maxSpansPerTrace: z.number().int().positive().default(128),
  })
  .strict();

type Config = z.infer<typeof configSchema>;

interface Node {
  spanId?: string;
  parentSpanId?: string;
  serverId: string;
  server: string;
  tool: string;
  side: McpTrafficEvent['side'];
  client?: string;
  eventId: string;
  time: number;
}

interface TraceState {
  last: number;
  nodes: Node[];
}

/** What was learned about chains entering through one server. */
interface RootGraph {
  server: string;
  firstSeen: number;
  chains: number;
  maxDepth: number;
  /** `callerId/tool>calleeId/tool` edges. */
  edges: string[];
  /** Servers (ids) seen anywhere in chains from this root. */
  servers: string[];
  /** A few chains as text, for evidence ("old chain"). */
  examples: string[];
}


class ChainDriftDetector {
  private readonly traces: BoundedMap<TraceState>;
  private readonly graphs: BoundedMap<RootGraph>;

  constructor(private readonly ctx: DetectorContext<Config>) {
    const c = ctx.config;
    const onEvict = () => ctx.countEviction();
    this.traces = new BoundedMap({ maxEntries: c.maxTraces, onEvict });
    this.graphs = new BoundedMap({ maxEntries: c.maxRoots, onEvict });
  }

  onEvent(e: McpTrafficEvent): void {
    if (e.traceId === undefined || e.messageType !== 'request' || e.direction !== 'client_to_server') return;
    const t = this.traces.getOrCreate(e.traceId, newTrace, e.time);
    t.last = Math.max(t.last, e.time);
    if (t.nodes.length >= this.ctx.config.maxSpansPerTrace) return;
    const node: Node = { serverId: e.server.id, server: e.server.name, tool: e.tool ?? e.method, side: e.side, eventId: e.id, time: e.time };
    if (e.spanId !== undefined) node.spanId = e.spanId;
    if (e.parentSpanId !== undefined) node.parentSpanId = e.parentSpanId;
    if (e.client?.name !== undefined) node.client = e.client.name;
    t.nodes.push(node);
  }

  onTick(now: number): void {
    const settleMs = this.ctx.config.settleSeconds * 1000;
    const done: [string, TraceState][] = [];
    for (const [id, t] of this.traces.entries()) if (now - t.last >= settleMs) done.push([id, t]);
    for (const [id, t] of done) {
      this.traces.delete(id);
      this.finish(id, t, now);
    }
  }

  /** The server-side node that called `node`: up the parent links, past client spans and the same server. */
  private callerOf(node: Node, bySpan: Map<string, Node>): Node | undefined {
    let cur = node;
    for (let hops = 0; hops < 64; hops++) {
      const parent = cur.parentSpanId !== undefined ? bySpan.get(cur.parentSpanId) : undefined;
      if (!parent) return undefined;
      if (parent.side !== 'client' && parent.serverId !== node.serverId) return parent;
      if (parent.side !== 'client' && parent.serverId === node.serverId && parent !== node) {
        // A server calling itself through another hop is a cycle; a span of the same server is its own work.
        cur = parent;
        continue;
      }
      cur = parent;
    }
    return undefined;
  }

  private finish(traceId: string, t: TraceState, now: number): void {
    const servers = t.nodes.filter((n) => n.side !== 'client');
    if (servers.length < 2) return;
    const bySpan = new Map<string, Node>();
    for (const n of t.nodes) if (n.spanId !== undefined) bySpan.set(n.spanId, n);
    const callerOf = new Map<Node, Node | undefined>();
    for (const n of servers) callerOf.set(n, this.callerOf(n, bySpan));
    const called = new Set([...callerOf.values()].filter((n): n is Node => n !== undefined));
    // One chain per leaf: the path from its entry server down to it. A new server usually ends several leaves
    // of one trace (its `initialize`, then the tool call); it is reported once, not again as new edges.
    const newInTrace = new Set<string>();
    for (const leaf of servers.filter((n) => !called.has(n))) {
      const path: Node[] = [leaf];
      let cur: Node | undefined = callerOf.get(leaf);
      while (cur && path.length < 64) {
        path.unshift(cur);
        cur = callerOf.get(cur);
      }
      if (path.length < 2) continue;
      this.judge(traceId, path, now, newInTrace);
    }
  }

  private judge(traceId: string, path: Node[], now: number, newInTrace: Set<string>): void {
    const c = this.ctx.config;
    const root = path[0]!;
    const text = chainText(path);
    const depth = path.length;
    const g = this.graphs.getOrCreate(root.serverId, () => ({ server: root.server, firstSeen: now, chains: 0, maxDepth: 0, edges: [], servers: [root.serverId], examples: [] }), now);
    const armed = g.chains >= c.minChains && now - g.firstSeen >= c.learningSeconds * 1000;
    const old = g.examples.length > 0 ? g.examples : ['(none learned yet)'];
    const evidenceBase = (description: string, observed: string | number, expected: string | number): Evidence => ({
      description,
      observed,
      expected,
      traceId,
      eventId: path[path.length - 1]!.eventId,
      time: path[path.length - 1]!.time,
      details: { newChain: text, oldChains: old },
    });
    const fire = (rule: string, what: string, evidence: Evidence, key: string, tool?: string) =>
      this.ctx.fire({
        title: `Composability chain drift: ${what}`,
        summary: renderOutput(this.ctx.manifest.output, { server: root.server, what, chain: text }),
        server: root.server,
        tool: tool ?? root.tool,
        key: `${rule}:${key}`,
        traceIds: [traceId],
        evidence: [evidence],
        labels: { rule },
      });

    // Absolute rules: hold while learning.
    const seen = new Map<string, number>();
    let cycle = false;
    for (const n of path) seen.set(n.serverId, (seen.get(n.serverId) ?? 0) + 1);
    for (const [id, count] of seen) if (count > 1 && c.cycles) {
      cycle = true;
      const name = path.find((n) => n.serverId === id)!.server;
      fire('cycle', `cycle through ${name}`, evidenceBase(`${name} appears ${count} times in one chain`, text, 'each server at most once per chain'), id);
    }
    if (depth > c.maxDepth) fire('depth_ceiling', `chain ${depth} servers deep`, evidenceBase(`chain depth ${depth} is above the ceiling ${c.maxDepth}`, depth, `<= ${c.maxDepth}`), String(depth));

    // Against the learned graph, once armed.
    const edges: string[] = [];
    for (let i = 1; i < path.length; i++) edges.push(`${path[i - 1]!.serverId}/${path[i - 1]!.tool}>${path[i]!.serverId}/${path[i]!.tool}`);
    if (armed && !cycle) {
      const newServers = path.filter((n) => !g.servers.includes(n.serverId));
      if (newServers.length > 0) {
        const n = newServers[0]!;
        for (const s of newServers) newInTrace.add(s.serverId);
        fire('new_server', `new server ${n.server} in a chain`, evidenceBase(`${n.server} was never part of a chain entering through ${root.server}`, text, `servers seen: ${g.servers.length}`), n.serverId);
      } else {
        // edges[i] ends at path[i + 1].
        const fresh = edges.find((e, i) => !g.edges.includes(e) && !newInTrace.has(path[i + 1]!.serverId));
        if (fresh) {
          const [from, to] = fresh.split('>');
          fire('new_edge', `new edge ${from} -> ${to}`, evidenceBase(`edge ${from} -> ${to} never seen in ${g.chains} learned chains`, text, `${g.edges.length} known edges`), fresh);
        }
      }
      if (depth > g.maxDepth) fire('deeper', `chain deeper than learned (${depth} > ${g.maxDepth})`, evidenceBase(`chain of ${depth} servers; the deepest learned was ${g.maxDepth}`, depth, g.maxDepth), String(depth));
    }

    // Learn (after judging, so the first new edge is reported once, then known).
    g.chains += 1;
    g.maxDepth = Math.max(g.maxDepth, depth);
    for (const e of edges) if (!g.edges.includes(e)) g.edges.push(e);
    if (g.edges.length > c.maxEdgesPerRoot) g.edges.splice(0, g.edges.length - c.maxEdgesPerRoot);
    for (const n of path) if (!g.servers.includes(n.serverId)) g.servers.push(n.serverId);
    if (g.servers.length > c.maxEdgesPerRoot) g.servers.splice(0, g.servers.length - c.maxEdgesPerRoot);
    if (!g.examples.includes(text)) {
      g.examples.push(text);
      if (g.examples.length > 5) g.examples.shift();
    }
  }

  stats() {
    let learning = 0;
    let armed = 0;
    const now = this.ctx.now();
    for (const [, g] of this.graphs.entries()) g.chains >= this.ctx.config.minChains && now - g.firstSeen >= this.ctx.config.learningSeconds * 1000 ? armed++ : learning++;
    return { learning, armed, none: this.traces.size };
  }

  snapshot(): unknown {
    return { version: 1, graphs: Object.fromEntries(this.graphs.entries()) };
  }

  restore(state: unknown): void {
    const parsed = snapshotSchema.safeParse(state);
    if (!parsed.success) return;
    const now = this.ctx.now();
    for (const [id, g] of Object.entries(parsed.data.graphs)) this.graphs.set(id, g, now);
  }
}

/** A trace first seen at `now` (one function, not a closure per event: nearly every request starts a trace). */
function newTrace(now: number): TraceState {
  return { last: now, nodes: [] };
}

function chainText(path: readonly Node[]): string {
  const client = path[0]!.client;
  return [...(client !== undefined ? [`client:${client}`] : []), ...path.map((n) => `${n.server}.${n.tool}`)].join(' -> ');
}

const snapshotSchema = z.object({
  version: z.literal(1),
  graphs: z.record(
    z.string(),
    z.object({ server: z.string(), firstSeen: z.number(), chains: z.number(), maxDepth: z.number(), edges: z.array(z.string()), servers: z.array(z.string()), examples: z.array(z.string()) }),
  ),
});

const chainDrift: DetectorModule<Config> = {
  configSchema,
  create(ctx) {
    const d = new ChainDriftDetector(ctx);
    return {
      onEvent: (e) => {
        if (e.kind === 'mcp') d.onEvent(e);
      },
      onTick: (now) => d.onTick(now),
      snapshot: () => d.snapshot(),
      restore: (s) => d.restore(s),
      stats: () => d.stats(),
    };
  },
};

export default chainDrift;
