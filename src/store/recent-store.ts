import type { Consumer } from '../component/component.js';
import type { StoreConfig } from '../config/schema.js';
import type { McpEvent, McpTrafficEvent, PayloadInfo } from '../pipeline/events.js';
import { maskSecrets, maskSecretsInString } from '../pipeline/mask-secrets.js';
import { decodeJsonSpanBytes } from '../receiver/otlp/decode-json-bytes.js';
import { decodeSpanMessage } from '../receiver/otlp/decode-protobuf.js';
import { CONTENT_ATTRIBUTE_KEYS, materializeDeferredText, type AttributeValue, type Attributes, type DecodedSpan } from '../receiver/otlp/span.js';
import { SHINZO } from '../semconv/attributes.js';
import type { Metrics } from '../telemetry/metrics.js';
import { approxBytes } from './approx-size.js';
import { Deque } from './deque.js';
import { EventIndex, type IndexEntry } from './event-index.js';
import { EventRing, INDEXES } from './event-ring.js';
import { JsonSpanCopier, isJsonSpanBytes } from './json-span-bytes.js';
import { SpanRing } from './span-ring.js';
import { HAS_PARENT_ID, HAS_SPAN_ID, HAS_TRACE_ID, SpanSlabs, contentKeys, leadingTraceId } from './span-bytes.js';
import type { EventQuery, RecentStoreReader, ServerSummary, StoredSpan, TraceNode } from './types.js';

/** Limits of the server summaries, which outlive the events they count and so need bounds of their own. */
export interface RecentStoreOptions {
  /** Servers summarised at once; the least recently seen is forgotten beyond this. */
  maxServers?: number;
  /** Distinct methods, and distinct tools, counted per server; further names count under `(other)`. */
  maxNamesPerServer?: number;
  /** Distinct method and tool names counted across all servers together; further names count under `(other)`. */
  maxNamesTotal?: number;
  /** Names longer than this (in UTF-16 units) are cut before they become summary keys. */
  maxNameLength?: number;
}

/** `limit` of `queryEvents` when none is given, and the most it may be. */
export const DEFAULT_EVENT_LIMIT = 100;
export const MAX_EVENT_LIMIT = 1000;

/** Summary key that absorbs method and tool names beyond the per-server and total caps. */
export const OTHER_NAME = '(other)';

/** Value that replaces captured content in stored span attributes when `store.captureContent` is off. */
export const OMITTED_CONTENT = '[omitted: store.captureContent is off]';

/**
 * Fixed cost per stored span beyond its own fields: ring and index slots, map entries and keys.
 * Calibrated against heap growth for typical MCP spans (within ~15%). Events are accounted by their ring.
 */
const SPAN_OVERHEAD_BYTES = 600;
/** The same for a span kept as its protobuf bytes: the entry, its index slots and map entries. */
const SPAN_BYTES_OVERHEAD_BYTES = 240;

/** `SpanSlabs.idFlags` of a copy whose trace and span id words the span ring can take as they are. */
const BOTH_IDS = HAS_TRACE_ID | HAS_SPAN_ID;

/**
 * Spans whose trace-index slots are loaded ahead at once (see `SpanRing.prefetch`): enough for the loads
 * to overlap, few enough that what they load is still in cache when it is used.
 */
const PREFETCH_SPANS = 32;

/** Positions `attributeSpan` tries after its cursor before it looks the span up by trace. */
const ATTRIBUTION_PROBES = 4;

/** Spans whose event arrived before them (the pipeline may hand on events first); oldest forgotten first. */
const MAX_PENDING_ATTRIBUTIONS = 10_000;

/**
 * Span trees deeper than this are cut: the nodes below become roots. Keeps serialisation (JSON and the
 * CLI's tree view) within the stack whatever parent chain a sender invents.
 */
export const MAX_TRACE_DEPTH = 256;

/**
 * Span attributes that carry tool arguments or results (opt-in content, see `store.captureContent`). One
 * list with the JSON decoder, which notes where their values lie for the copy the store keeps.
 */
const CONTENT_ATTRIBUTES: ReadonlySet<string> = CONTENT_ATTRIBUTE_KEYS;

interface ServerState {
  id: string;
  name: string;
  pid?: number;
  commandLine?: string;
  firstSeen: number;
  lastSeen: number;
  counts: ServerSummary['counts'];
  methods: Map<string, number>;
  tools: Map<string, number>;
  // Recency list (most recent at the head). Intrusive, because a Map used as an LRU (delete, re-set, evict
  // the first key) makes V8 skip an ever longer run of deleted slots to find the first key.
  newer?: ServerState;
  older?: ServerState;
}

/** The event indexes, by their number in the event ring's links. */
const BY_SERVER_ID = 0;
const BY_SERVER_NAME = 1;
const BY_METHOD = 2;
const BY_TOOL = 3;
const BY_KIND = 4;

/**
 * The recent-event store: the newest normalized events and raw spans, for the admin API and the CLI.
 *
 * Memory is bounded by `store.maxEvents`, `store.maxSpans` and `store.maxBytes` (approximate), oldest
 * evicted first; server summaries are bounded separately (see `RecentStoreOptions`). Both consumers always
 * accept: the store makes room by evicting rather than pushing back on the pipeline.
 *
 * Events are indexed by server id, server name, method, tool and kind: each key's events are chained
 * newest to oldest through the event ring (see event-index.ts), and the item being evicted (the oldest
 * overall) only releases the entries its row holds. Spans are indexed by trace (see span-ring.ts).
 */
export class RecentStore implements RecentStoreReader {
  /** Feed of decoded spans (kept for `getTrace`). */
  readonly spanConsumer: Consumer<DecodedSpan> = { consume: (batch) => (this.addSpans(batch), true) };
  /** Feed of normalized events (kept for `queryEvents` and the server summaries). */
  readonly eventConsumer: Consumer<McpEvent> = { consume: (batch) => (this.addEvents(batch), true) };

  private seq = 0;
  private bytes = 0;
  private evictedEvents = 0;
  private evictedSpans = 0;
  /** Evictions while storing the current batch, counted into the metric at its end. */
  private batchEvictedEvents = 0;
  private batchEvictedSpans = 0;

  /** Events, oldest first, in rows (see event-ring.ts); the indexes below chain their positions. */
  private readonly events: EventRing;
  private readonly byServerId = new EventIndex();
  private readonly byServerName = new EventIndex();
  private readonly byMethod = new EventIndex();
  private readonly byTool = new EventIndex();
  private readonly byKind = new EventIndex();
  /** The indexes by their number in the ring's links (`BY_*`). */
  private readonly indexes = [this.byServerId, this.byServerName, this.byMethod, this.byTool, this.byKind];

  /** Spans, oldest first, in columns (see span-ring.ts), indexed by trace. */
  private readonly spans: SpanRing;
  /** Where `attributeSpan` looks first: after the span it matched last. */
  private attributionCursor = 0;
  /** An event's trace and span id as words, for `attributeSpan`. */
  private readonly idWords = new Uint32Array(6);
  /**
   * The id strings of the spans the last `addSpans` pushed (by position from `batchStart`), for those
   * whose id words came from their messages; undefined for the others. Events are made from these very
   * spans and arrive just after them: an event whose id strings equal its span's takes the span's words
   * instead of parsing its own strings. New arrays per batch, so they hold only the last batch's strings
   * (and, being young, cost no old-to-new write barrier entries).
   */
  private batchStart = 0;
  private batchTraceIds: (string | undefined)[] = [];
  private batchSpanIds: (string | undefined)[] = [];
  /** The parent span id string where its words are in `batchParentWords` (two per span), else undefined. */
  private batchParentIds: (string | undefined)[] = [];
  private batchParentWords = new Uint32Array(2 * 256);
  /** Trace id words for `prefetchIndex`. */
  private readonly prefetchWords = new Uint32Array(4 * PREFETCH_SPANS);
  /** Id words handed to the event ring (see `EventRing.push`). */
  private readonly knownIds = new Uint32Array(8);
  private readonly slabs = new SpanSlabs(contentKeys(CONTENT_ATTRIBUTES, [SHINZO.requestArgumentPrefix]), OMITTED_CONTENT);
  /** Writes spans received as JSON into `slabs` as their own JSON text (see json-span-bytes.ts). */
  private readonly jsonSpans = new JsonSpanCopier(OMITTED_CONTENT);
  private readonly pendingServer = new Map<string, string>();
  private readonly pendingOrder = new Deque<string>(64);

  private readonly servers = new Map<string, ServerState>();
  private newestServer?: ServerState;
  private oldestServer?: ServerState;
  private summaryNames = 0;

  private readonly maxServers: number;
  private readonly maxNamesPerServer: number;
  private readonly maxNamesTotal: number;
  private readonly maxNameLength: number;

  constructor(
    private readonly config: StoreConfig,
    private readonly metrics: Metrics,
    opts: RecentStoreOptions = {},
  ) {
    this.maxServers = opts.maxServers ?? 10_000;
    this.maxNamesPerServer = opts.maxNamesPerServer ?? 200;
    this.maxNamesTotal = opts.maxNamesTotal ?? 100_000;
    this.maxNameLength = opts.maxNameLength ?? 128;
    this.spans = new SpanRing(config.maxSpans);
    this.events = new EventRing(config.maxEvents);
    this.updateGauges();
  }

  /** Stores spans, evicting the oldest items as needed. */
  addSpans(batch: readonly DecodedSpan[]): void {
    this.attributionCursor = this.spans.tail;
    this.batchStart = this.spans.tail;
    const traceIds: (string | undefined)[] = (this.batchTraceIds = []);
    const spanIds: (string | undefined)[] = (this.batchSpanIds = []);
    const parentIds: (string | undefined)[] = (this.batchParentIds = []);
    if (this.batchParentWords.length < 2 * batch.length) this.batchParentWords = new Uint32Array(2 * batch.length);
    const parentWords = this.batchParentWords;
    const slabs = this.slabs;
    for (let i = 0; i < batch.length; i++) {
      if (i % PREFETCH_SPANS === 0) this.prefetchIndex(batch, i);
      const decoded = batch[i]!;
      // Captured content is masked in the decoded form; without capture the bytes are the cheaper keep.
      // They are copied before the duplicate check because the copy reads the span's ids as words on its
      // way, which spares parsing the hex strings; the rare duplicate gives its room back.
      const encoded = this.config.captureContent
        ? undefined
        : decoded.wire !== undefined
          ? slabs.add(decoded.wire)
          : decoded.jsonWire !== undefined
            ? this.jsonSpans.copy(slabs, decoded.jsonWire)
            : undefined;
      const known = encoded !== undefined && (slabs.idFlags & BOTH_IDS) === BOTH_IDS;
      // OTLP delivery is at-least-once: a retried export repeats spans already held.
      const held = known ? this.spans.findKnown(decoded.traceId, decoded.spanId, slabs.ids, 0) : this.spans.find(decoded.traceId, decoded.spanId);
      if (held >= 0) {
        if (encoded !== undefined) slabs.discard(encoded);
        continue;
      }
      const span = encoded === undefined ? this.toStoredSpan(decoded) : undefined;
      const bytes = span === undefined ? SPAN_BYTES_OVERHEAD_BYTES + encoded!.length : SPAN_OVERHEAD_BYTES + spanBytes(span);
      if (bytes > this.config.maxBytes) {
        if (encoded !== undefined) slabs.release(encoded.slab);
        this.batchEvictedSpans++;
        continue;
      }
      let server: string | undefined;
      if (this.pendingServer.size > 0) {
        const key = decoded.traceId + decoded.spanId;
        server = this.pendingServer.get(key);
        if (server !== undefined) {
          if (span) span.server = server;
          this.pendingServer.delete(key);
        }
      }
      this.spans.push(
        encoded === undefined
          ? { seq: this.seq++, size: bytes, traceId: decoded.traceId, spanId: decoded.spanId, server, decoded: span }
          : { seq: this.seq++, size: bytes, traceId: decoded.traceId, spanId: decoded.spanId, server, bytes: encoded, resource: decoded.resource, scope: decoded.scope },
      );
      if (known) {
        traceIds.push(decoded.traceId);
        spanIds.push(decoded.spanId);
        if ((slabs.idFlags & HAS_PARENT_ID) !== 0 && decoded.parentSpanId !== undefined) {
          const k = 2 * parentIds.length;
          parentWords[k] = slabs.ids[6]!;
          parentWords[k + 1] = slabs.ids[7]!;
          parentIds.push(decoded.parentSpanId);
        } else {
          parentIds.push(undefined);
        }
      } else {
        traceIds.push(undefined);
        spanIds.push(undefined);
        parentIds.push(undefined);
      }
      this.bytes += bytes;
      while (this.spans.size > this.config.maxSpans) {
        this.evictOldestSpan();
        this.batchEvictedSpans++;
      }
      if (this.bytes > this.config.maxBytes) this.enforceByteLimit();
    }
    this.afterBatch();
  }

  /** Has the span ring load the index slots that the next `PREFETCH_SPANS` spans from `from` will use. */
  private prefetchIndex(batch: readonly DecodedSpan[], from: number): void {
    const words = this.prefetchWords;
    const end = Math.min(from + PREFETCH_SPANS, batch.length);
    let n = 0;
    for (let i = from; i < end; i++) {
      const wire = batch[i]!.wire;
      if (wire !== undefined && leadingTraceId(wire, words, 4 * n)) n++;
    }
    this.spans.prefetch(words, n);
  }

  /** Stores events, attributes their spans to servers, and updates the server summaries. */
  addEvents(batch: readonly McpEvent[]): void {
    for (const original of batch) {
      const event = this.config.captureContent ? original : withoutContent(original);
      this.summarise(event);
      const span = this.batchSpanOf(event);
      let known: Uint32Array | undefined;
      let knownParent = false;
      if (span >= 0 && this.spans.idWordsAt(span, this.knownIds, 0)) {
        known = this.knownIds;
        const k = span - this.batchStart;
        const parent = this.batchParentIds[k];
        if (parent !== undefined && event.kind === 'mcp' && event.parentSpanId === parent) {
          known[6] = this.batchParentWords[2 * k]!;
          known[7] = this.batchParentWords[2 * k + 1]!;
          knownParent = true;
        }
      }
      const { position, bytes } = this.events.push(event, this.seq++, known, knownParent);
      if (known !== undefined) this.attributeTo(span, event);
      else this.attributeSpan(event, position);
      if (bytes > this.config.maxBytes) {
        this.events.dropNewest();
        this.batchEvictedEvents++;
        continue;
      }
      // Index keys from the ring, which has them as they were at insertion.
      const events = this.events;
      events.link(position, BY_SERVER_ID, this.byServerId.entryFor(events.serverIdAt(position)));
      events.link(position, BY_SERVER_NAME, this.byServerName.entryFor(events.serverNameAt(position)));
      events.link(position, BY_KIND, this.byKind.entryFor(events.kindAt(position)));
      const method = events.methodAt(position);
      if (method !== undefined) events.link(position, BY_METHOD, this.byMethod.entryFor(method));
      const tool = events.toolAt(position);
      if (tool !== undefined) events.link(position, BY_TOOL, this.byTool.entryFor(tool));
      this.bytes += bytes;
      while (this.events.size > this.config.maxEvents) {
        this.evictOldestEvent();
        this.batchEvictedEvents++;
      }
      if (this.bytes > this.config.maxBytes) this.enforceByteLimit();
    }
    this.afterBatch();
  }

  /**
   * Events matching every given filter, newest first. `server` matches a server id or name. The newest
   * `limit` matches in arrival order are taken, then ordered by event time (producers may deliver late).
   */
  queryEvents(q: EventQuery): McpEvent[] {
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? DEFAULT_EVENT_LIMIT), 1), MAX_EVENT_LIMIT);
    const candidates: [IndexEntry, number][] = [];
    if (q.server !== undefined) {
      const byId = this.byServerId.get(q.server);
      const byName = this.byServerName.get(q.server);
      if (!byId && !byName) return [];
      // A value that is one server's id and another's name matches both: scan with the predicate instead.
      if (!byId) candidates.push([byName!, BY_SERVER_NAME]);
      else if (!byName) candidates.push([byId, BY_SERVER_ID]);
    }
    for (const [value, index] of [
      [q.method, BY_METHOD],
      [q.tool, BY_TOOL],
      [q.kind, BY_KIND],
    ] as const) {
      if (value === undefined) continue;
      const found = this.indexes[index]!.get(value);
      if (!found) return [];
      candidates.push([found, index]);
    }
    // The smallest index that applies (walked along its links), else every event; newest first either way.
    const events = this.events;
    let source: [IndexEntry, number] | undefined;
    for (const c of candidates) if (c[0].count < (source?.[0].count ?? events.size)) source = c;
    const via = source?.[1] ?? -1;

    const out: McpEvent[] = [];
    for (let p = source ? source[0].newest : events.tail - 1; p >= events.oldest && out.length < limit; p = via < 0 ? p - 1 : events.previousIn(p, via)) {
      if (q.server !== undefined && events.serverIdAt(p) !== q.server && events.serverNameAt(p) !== q.server) continue;
      if (q.method !== undefined && events.methodAt(p) !== q.method) continue;
      if (q.tool !== undefined && events.toolAt(p) !== q.tool) continue;
      if (q.kind !== undefined && events.kindAt(p) !== q.kind) continue;
      if (q.since !== undefined && !(events.timeAt(p) >= q.since)) continue;
      out.push(events.read(p));
    }
    // Stable sort: equal times keep arrival order (newest first).
    return out.sort((a, b) => (b.time || 0) - (a.time || 0));
  }

  /** The spans of a trace as a tree; spans whose parent is not held become roots. */
  getTrace(traceId: string): { traceId: string; spanCount: number; roots: TraceNode[] } | undefined {
    const id = traceId.toLowerCase();
    const positions = this.spans.positionsOf(id);
    if (positions.length === 0) return undefined;

    const nodes = new Map<string, TraceNode>();
    // Oldest first, so a span id held twice (never, as duplicates are dropped) resolves as before.
    for (let i = positions.length - 1; i >= 0; i--) {
      const span = this.spanAt(positions[i]!);
      if (span) nodes.set(span.spanId, { span, children: [] });
    }
    if (nodes.size === 0) return undefined;
    const roots: TraceNode[] = [];
    for (const node of nodes.values()) {
      const parent = node.span.parentSpanId === undefined ? undefined : nodes.get(node.span.parentSpanId);
      if (parent && parent !== node) parent.children.push(node);
      else roots.push(node);
    }
    const byStart = (a: TraceNode, b: TraceNode): number => a.span.startTimeUnixNano - b.span.startTimeUnixNano;

    // Walk from the roots; what is not reached sits on a parent cycle, which a sender can forge. Cut each
    // cycle at one of its nodes, which becomes a root, and cut chains deeper than MAX_TRACE_DEPTH likewise.
    const reached = new Set<TraceNode>();
    const walk = (start: TraceNode): void => {
      const stack: { node: TraceNode; depth: number }[] = [{ node: start, depth: 0 }];
      reached.add(start);
      while (stack.length > 0) {
        const { node, depth } = stack.pop()!;
        if (depth + 1 >= MAX_TRACE_DEPTH && node.children.length > 0) {
          for (const child of node.children) {
            roots.push(child);
            reached.add(child);
            stack.push({ node: child, depth: 0 });
          }
          node.children = [];
          continue;
        }
        for (const child of node.children) {
          if (reached.has(child)) continue;
          reached.add(child);
          stack.push({ node: child, depth: depth + 1 });
        }
      }
    };
    for (let i = 0; i < roots.length; i++) walk(roots[i]!);
    if (reached.size < nodes.size) {
      for (const node of nodes.values()) {
        if (reached.has(node)) continue;
        const parent = nodes.get(node.span.parentSpanId!);
        if (parent) parent.children = parent.children.filter((c) => c !== node);
        roots.push(node);
        walk(node);
      }
    }
    for (const node of nodes.values()) if (node.children.length > 1) node.children.sort(byStart);
    roots.sort(byStart);
    return { traceId: id, spanCount: nodes.size, roots };
  }

  /** Every summarised server, most recently seen first. */
  listServers(): ServerSummary[] {
    const out: ServerSummary[] = [];
    for (let s = this.newestServer; s; s = s.older) {
      const summary: ServerSummary = {
        id: s.id,
        name: s.name,
        firstSeen: s.firstSeen,
        lastSeen: s.lastSeen,
        counts: { ...s.counts },
        methods: Object.fromEntries(s.methods),
        tools: Object.fromEntries(s.tools),
      };
      if (s.pid !== undefined) summary.pid = s.pid;
      if (s.commandLine !== undefined) summary.commandLine = s.commandLine;
      out.push(summary);
    }
    return out.sort((a, b) => b.lastSeen - a.lastSeen);
  }

  stats(): { events: number; spans: number; bytes: number; evictedEvents: number; evictedSpans: number } {
    return {
      events: this.events.size,
      spans: this.spans.size,
      bytes: this.bytes,
      evictedEvents: this.evictedEvents,
      evictedSpans: this.evictedSpans,
    };
  }

  /** The span at a live ring position; spans kept as bytes are decoded (content placeholders already in). */
  private spanAt(position: number): StoredSpan | undefined {
    const held = this.spans.read(position);
    if (held.decoded) return held.decoded;
    const { message, resource, scope } = held;
    if (!message || !resource || !scope) return undefined;
    const decoded = isJsonSpanBytes(message) ? decodeJsonSpanBytes(message, resource, scope) : decodeSpanMessage(message, resource, scope);
    if (!decoded) return undefined;
    // The message lies in a slab that is written again once its spans are evicted: nothing decoded from
    // it may keep a view into it.
    materializeDeferredText(decoded.attributes);
    const span = this.toStoredSpan(decoded);
    if (held.server !== undefined) span.server = held.server;
    return span;
  }

  private toStoredSpan(d: DecodedSpan): StoredSpan {
    const span: StoredSpan = {
      traceId: d.traceId,
      spanId: d.spanId,
      name: d.name,
      kind: d.kind,
      startTimeUnixNano: d.startTimeUnixNano,
      endTimeUnixNano: d.endTimeUnixNano,
      durationMs: Math.max(0, (d.endTimeUnixNano - d.startTimeUnixNano) / 1e6),
      status: d.status,
      attributes: contentAttributes(d.attributes, this.config.captureContent),
      events: d.events,
      links: d.links,
      // Shared by every span of the resource: a reference, never a copy.
      resource: d.resource,
      scope: d.scope,
    };
    if (d.parentSpanId !== undefined) span.parentSpanId = d.parentSpanId;
    return span;
  }

  /**
   * The position of the span of the last `addSpans` whose id strings are the event's (see
   * `batchTraceIds`), tried where `attributeSpan` would look first; -1 if none there.
   */
  private batchSpanOf(event: McpEvent): number {
    const { traceId, spanId } = event;
    if (traceId === undefined || spanId === undefined) return -1;
    const start = this.batchStart;
    const spanIds = this.batchSpanIds;
    for (let p = Math.max(this.attributionCursor, start), end = Math.min(p + ATTRIBUTION_PROBES, start + spanIds.length); p < end; p++) {
      if (spanIds[p - start] === spanId && this.batchTraceIds[p - start] === traceId) return p;
    }
    return -1;
  }

  /** Records the event's server on the span at `position`, found by `batchSpanOf`. */
  private attributeTo(position: number, event: McpEvent): void {
    this.spans.setServer(position, event.server.name);
    this.attributionCursor = position + 1;
  }

  /** Records the event's server on its span (`position`: the event's, just pushed). */
  private attributeSpan(event: McpEvent, position: number): void {
    if (event.traceId === undefined || event.spanId === undefined) return;
    // The event's row has its ids as words already, when it has a row: compared as they are.
    const words = this.events.idWords(position, this.idWords) ? this.idWords : undefined;
    const spans = this.spans;
    // Events come in the order of the spans they were made from, just after them, and most spans are
    // MCP traffic: trying the next few positions after the last match finds the span without a look-up
    // in the trace index.
    let found = -1;
    for (let p = this.attributionCursor, end = Math.min(p + ATTRIBUTION_PROBES, spans.tail); p < end; p++) {
      if (words ? spans.isAtWords(p, words, 0) : spans.isAt(p, event.traceId, event.spanId)) {
        found = p;
        break;
      }
    }
    if (found < 0) found = words ? spans.findWords(words, 0) : spans.find(event.traceId, event.spanId);
    if (found >= 0) {
      spans.setServer(found, event.server.name);
      this.attributionCursor = found + 1;
      return;
    }
    // The order queue may still hold keys already matched; it bounds the map all the same.
    const key = event.traceId + event.spanId;
    if (this.pendingOrder.size >= MAX_PENDING_ATTRIBUTIONS) this.pendingServer.delete(this.pendingOrder.shift()!);
    this.pendingOrder.push(key);
    this.pendingServer.set(key, event.server.name);
  }

  private summarise(event: McpEvent): void {
    const time = Number.isFinite(event.time) ? event.time : Date.now();
    const s = this.newestServer;
    // Events come in runs from one server: the most recently seen one needs no look-up and no relinking.
    if (s !== undefined && s.id === event.server.id) this.summariseFor(s, event, time);
    else this.summariseFor(this.serverFor(event, time), event, time);
  }

  /** The summary of the event's server, created if new, linked as the most recently seen. */
  private serverFor(event: McpEvent, time: number): ServerState {
    const id = this.cut(event.server.id, 256);
    let s = this.servers.get(id);
    if (s) {
      this.unlinkServer(s);
    } else {
      s = {
        id,
        name: '',
        firstSeen: time,
        lastSeen: time,
        counts: { mcp: 0, process: 0, file: 0, network: 0, errors: 0 },
        methods: new Map(),
        tools: new Map(),
      };
      if (this.servers.size >= this.maxServers) this.forgetLeastRecentServer();
      this.servers.set(id, s);
    }
    this.linkServerAsNewest(s);
    return s;
  }

  private summariseFor(s: ServerState, event: McpEvent, time: number): void {
    s.name = this.cut(event.server.name, 256);
    if (event.server.pid !== undefined) s.pid = event.server.pid;
    if (event.server.commandLine !== undefined) s.commandLine = this.cut(event.server.commandLine, 4096);
    if (time < s.firstSeen) s.firstSeen = time;
    if (time > s.lastSeen) s.lastSeen = time;
    s.counts[event.kind]++;
    if (event.kind === 'mcp') {
      if (event.outcome !== 'ok') s.counts.errors++;
      this.countName(s.methods, event.method);
      if (event.tool !== undefined) this.countName(s.tools, event.tool);
    }
  }

  private countName(counts: Map<string, number>, rawName: string): void {
    const name = this.cut(rawName, this.maxNameLength);
    const n = counts.get(name);
    if (n !== undefined) {
      counts.set(name, n + 1);
      return;
    }
    if (counts.size >= this.maxNamesPerServer || this.summaryNames >= this.maxNamesTotal) {
      if (!counts.has(OTHER_NAME)) this.summaryNames++;
      counts.set(OTHER_NAME, (counts.get(OTHER_NAME) ?? 0) + 1);
      return;
    }
    counts.set(name, 1);
    this.summaryNames++;
  }

  private forgetLeastRecentServer(): void {
    const oldest = this.oldestServer;
    if (!oldest) return;
    this.unlinkServer(oldest);
    this.summaryNames -= oldest.methods.size + oldest.tools.size;
    this.servers.delete(oldest.id);
  }

  private unlinkServer(s: ServerState): void {
    if (s.newer) s.newer.older = s.older;
    else this.newestServer = s.older;
    if (s.older) s.older.newer = s.newer;
    else this.oldestServer = s.newer;
    s.newer = undefined;
    s.older = undefined;
  }

  private linkServerAsNewest(s: ServerState): void {
    s.older = this.newestServer;
    if (this.newestServer) this.newestServer.newer = s;
    this.newestServer = s;
    this.oldestServer ??= s;
  }

  /**
   * Cuts an untrusted name to `max` units. A plain `slice` can keep the whole original alive (V8 sliced
   * strings point into their parent), so long names are copied out.
   */
  private cut(s: string, max: number): string {
    if (s.length <= max) return s;
    return Buffer.from(s.slice(0, max), 'utf8').toString('utf8');
  }

  private enforceByteLimit(): void {
    while (this.bytes > this.config.maxBytes) {
      const e = this.events.oldestSeq();
      const s = this.spans.oldestSeq();
      if (e === undefined && s === undefined) break;
      if (e !== undefined && (s === undefined || e < s)) {
        this.evictOldestEvent();
        this.batchEvictedEvents++;
      } else {
        this.evictOldestSpan();
        this.batchEvictedSpans++;
      }
    }
  }

  private evictOldestEvent(): void {
    const events = this.events;
    if (events.size === 0) return;
    // The row holds the entries it was indexed under: no look-up by key.
    const p = events.oldest;
    for (let i = 0; i < INDEXES; i++) {
      const entry = events.entryAt(p, i);
      if (entry !== undefined) this.indexes[i]!.release(entry);
    }
    this.bytes -= events.evictOldest();
  }

  private evictOldestSpan(): void {
    const slab = this.spans.slabAt(this.spans.oldest);
    this.bytes -= this.spans.evictOldest();
    if (slab !== undefined) this.slabs.release(slab);
  }

  private afterBatch(): void {
    const evictedEvents = this.batchEvictedEvents;
    const evictedSpans = this.batchEvictedSpans;
    this.batchEvictedEvents = 0;
    this.batchEvictedSpans = 0;
    if (evictedEvents > 0) {
      this.evictedEvents += evictedEvents;
      this.metrics.storeEvictions.inc({ kind: 'event' }, evictedEvents);
    }
    if (evictedSpans > 0) {
      this.evictedSpans += evictedSpans;
      this.metrics.storeEvictions.inc({ kind: 'span' }, evictedSpans);
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    this.metrics.storeItems.set({ kind: 'event' }, this.events.size);
    this.metrics.storeItems.set({ kind: 'span' }, this.spans.size);
    this.metrics.storeBytes.set(this.bytes);
  }
}

function spanBytes(span: StoredSpan): number {
  let n = span.name.length + (span.status.message?.length ?? 0) + approxBytes(span.attributes);
  if (span.events.length > 0) n += approxBytes(span.events);
  if (span.links.length > 0) n += approxBytes(span.links);
  return n;
}

function isContentAttribute(key: string): boolean {
  return CONTENT_ATTRIBUTES.has(key) || key.startsWith(SHINZO.requestArgumentPrefix);
}

/**
 * Replaces captured content in place (capture off) or masks secrets in it (capture on), so secrets never
 * reach `/api/traces`. In place because the store owns the decoded span from here on, and copying a
 * dozen attributes per span would double the store's cost on the ingest path. Only content keys are
 * written, and those are never `__proto__`.
 */
function contentAttributes(attrs: Attributes, capture: boolean): Attributes {
  for (const key in attrs) {
    if (!Object.hasOwn(attrs, key) || !isContentAttribute(key)) continue;
    attrs[key] = capture ? maskContentValue(attrs[key]!) : OMITTED_CONTENT;
  }
  return attrs;
}

/** Masks secrets in one captured value: by key inside JSON payloads, by pattern in plain text. */
function maskContentValue(value: AttributeValue): AttributeValue {
  if (typeof value !== 'string') return maskSecrets(value) as AttributeValue;
  const trimmed = value.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.stringify(maskSecrets(JSON.parse(value)));
    } catch {
      // not JSON after all: fall through to pattern masking
    }
  }
  return maskSecretsInString(value);
}

function stripPayload(p: PayloadInfo | undefined): PayloadInfo | undefined {
  if (p?.content === undefined) return p;
  const { content: _content, ...rest } = p;
  return rest;
}

/** The event without captured arguments and results (sizes and fingerprints stay). */
function withoutContent(event: McpEvent): McpEvent {
  if (event.kind !== 'mcp') return event;
  if (event.arguments?.content === undefined && event.result?.content === undefined) return event;
  const copy: McpTrafficEvent = { ...event };
  const args = stripPayload(event.arguments);
  const result = stripPayload(event.result);
  if (args) copy.arguments = args;
  if (result) copy.result = result;
  return copy;
}
