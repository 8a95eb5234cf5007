import type { Buffer } from 'node:buffer';
import type { Attributes, InstrumentationScope } from '../receiver/otlp/span.js';
import { hexToWords, wordsToHex } from './hex-words.js';
import { PositionRing, refColumn } from './position-ring.js';
import type { StoredSpan } from './types.js';

/**
 * The recent store's spans, oldest first, in columns.
 *
 * Each span used to be an entry object, a byte-range object and a span-id string, plus a slot in a
 * per-trace queue. With 200k spans held, those were ~600k long-lived objects that every young-generation
 * collection copied twice and every full collection marked again. Here a span is one slot across typed
 * arrays (sequence, size, byte range, span id as two 32-bit halves, link to the previous span of its
 * trace) and a few reference columns that point at objects shared with other spans (the slab, the
 * request's resource and scope, the interned trace id and server name). Only spans kept decoded (JSON
 * spans, or captured content) still own an object.
 *
 * Spans are addressed by position: the count of spans pushed before them. Live positions run from
 * `head` (oldest) to `tail - 1` (newest); a position's slot is `position & mask`, and the arrays grow by
 * doubling up to the store's span limit. Each span links to the previous span of its trace by position,
 * so a trace is read by walking that chain while the positions are still live; traces past
 * `BIG_TRACE_SPANS` also get a span-id map, so duplicate checks stay O(1) whatever trace a sender invents.
 */
export class SpanRing extends PositionRing {
  private offsets: Int32Array;
  private lengths: Int32Array;
  private idHigh: Uint32Array;
  private idLow: Uint32Array;
  /** Position of the previous span of the same trace, or -1. */
  private previous: Float64Array;

  private traceIds: (string | undefined)[];
  /** Span ids that are not 16 lowercase hex digits (never from the receivers, but the store accepts them). */
  private oddIds: (string | undefined)[];
  private slabs: (Buffer | undefined)[];
  private decoded: (StoredSpan | undefined)[];
  private servers: (string | undefined)[];
  private resources: (Attributes | undefined)[];
  private scopes: (InstrumentationScope | undefined)[];

  /** Trace id to the position of its newest span, or to a `BigTrace` once it holds many spans. */
  private readonly byTrace = new Map<string, number | BigTrace>();

  constructor(maxSpans: number) {
    super(maxSpans);
    this.offsets = new Int32Array(this.capacity);
    this.lengths = new Int32Array(this.capacity);
    this.idHigh = new Uint32Array(this.capacity);
    this.idLow = new Uint32Array(this.capacity);
    this.previous = new Float64Array(this.capacity);
    this.traceIds = refColumn(this.capacity);
    this.oddIds = refColumn(this.capacity);
    this.slabs = refColumn(this.capacity);
    this.decoded = refColumn(this.capacity);
    this.servers = refColumn(this.capacity);
    this.resources = refColumn(this.capacity);
    this.scopes = refColumn(this.capacity);
  }

  /** Position of the span with this trace and span id, or -1. */
  find(traceId: string, spanId: string): number {
    return this.findIn(this.byTrace.get(traceId), spanId);
  }

  /**
   * What the trace index holds for a trace, for `findIn` and `push`: looked up once for both, as the
   * index is the largest map on the ingest path.
   */
  lookup(traceId: string): TraceSlot | undefined {
    return this.byTrace.get(traceId);
  }

  /** True when the live span at `position` has this trace and span id. */
  isAt(position: number, traceId: string, spanId: string): boolean {
    if (position < this.head || position >= this.tail) return false;
    const slot = position & this.mask;
    if (this.traceIds[slot] !== traceId) return false;
    const odd = this.oddIds[slot];
    if (odd !== undefined) return odd === spanId;
    const { high, low, odd: asked } = splitSpanId(spanId);
    return asked === undefined && this.idHigh[slot] === high && this.idLow[slot] === low;
  }

  /** Position of the span with this span id in a trace's index slot (from `lookup`), or -1. */
  findIn(held: TraceSlot | undefined, spanId: string): number {
    if (held === undefined) return -1;
    if (typeof held !== 'number') return held.ids.get(spanId) ?? -1;
    const { high, low, odd } = splitSpanId(spanId);
    for (let p = held; p >= this.head; p = this.previous[p & this.mask]!) {
      const slot = p & this.mask;
      if (odd === undefined ? this.oddIds[slot] === undefined && this.idHigh[slot] === high && this.idLow[slot] === low : this.oddIds[slot] === odd) {
        return p;
      }
    }
    return -1;
  }

  /**
   * Appends a span (the caller has checked it is not held yet and evicts to make room afterwards). Either
   * `bytes` (its message in `slab`, with `resource` and `scope` to decode it again) or `decoded` is given.
   * `held` is what `lookup(span.traceId)` returned, if the caller has it; nothing may change in between.
   */
  push(span: NewSpan, held: TraceSlot | undefined = this.byTrace.get(span.traceId)): number {
    const p = this.nextPosition();
    const slot = p & this.mask;
    const { high, low, odd } = splitSpanId(span.spanId);
    this.seqs[slot] = span.seq;
    this.sizes[slot] = span.size;
    this.idHigh[slot] = high;
    this.idLow[slot] = low;
    this.oddIds[slot] = odd;
    this.traceIds[slot] = span.traceId;
    this.servers[slot] = span.server;
    if (span.bytes) {
      this.slabs[slot] = span.bytes.slab;
      this.offsets[slot] = span.bytes.offset;
      this.lengths[slot] = span.bytes.length;
      this.resources[slot] = span.resource;
      this.scopes[slot] = span.scope;
    } else {
      this.decoded[slot] = span.decoded;
    }

    if (held === undefined) {
      this.previous[slot] = -1;
      this.byTrace.set(span.traceId, p);
    } else if (typeof held !== 'number') {
      this.previous[slot] = held.newest;
      held.newest = p;
      held.ids.set(span.spanId, p);
    } else {
      this.previous[slot] = held;
      this.byTrace.set(span.traceId, p);
      if (this.chainLength(p, BIG_TRACE_SPANS) >= BIG_TRACE_SPANS) this.byTrace.set(span.traceId, this.bigTrace(p));
    }
    return p;
  }

  /** Removes the oldest span; returns its accounted size (0 when empty). */
  evictOldest(): number {
    if (this.size === 0) return 0;
    const p = this.head++;
    const slot = p & this.mask;
    const traceId = this.traceIds[slot]!;
    const held = this.byTrace.get(traceId);
    if (held === p) {
      this.byTrace.delete(traceId);
    } else if (held !== undefined && typeof held !== 'number') {
      if (held.newest === p) this.byTrace.delete(traceId);
      else held.ids.delete(this.spanIdAt(slot));
    }
    const size = this.sizes[slot]!;
    this.traceIds[slot] = undefined;
    this.oddIds[slot] = undefined;
    this.slabs[slot] = undefined;
    this.decoded[slot] = undefined;
    this.servers[slot] = undefined;
    this.resources[slot] = undefined;
    this.scopes[slot] = undefined;
    return size;
  }

  /** Positions of a trace's live spans, newest first. */
  positionsOf(traceId: string): number[] {
    const held = this.byTrace.get(traceId);
    if (held === undefined) return [];
    const out: number[] = [];
    for (let p = typeof held === 'number' ? held : held.newest; p >= this.head; p = this.previous[p & this.mask]!) out.push(p);
    return out;
  }

  /** Records which server a span was attributed to. */
  setServer(position: number, server: string): void {
    const slot = position & this.mask;
    this.servers[slot] = server;
    const decoded = this.decoded[slot];
    if (decoded) decoded.server = server;
  }

  /** What is held at a live position: the decoded span, or the bytes to decode it from. */
  read(position: number): HeldSpan {
    const slot = position & this.mask;
    const decoded = this.decoded[slot];
    if (decoded) return { decoded };
    const slab = this.slabs[slot];
    const resource = this.resources[slot];
    const scope = this.scopes[slot];
    if (!slab || !resource || !scope) return {};
    const offset = this.offsets[slot]!;
    const message = slab.subarray(offset, offset + this.lengths[slot]!);
    const server = this.servers[slot];
    return server === undefined ? { message, resource, scope } : { message, resource, scope, server };
  }

  /** Spans in the chain from `from` back, counted up to `limit`. */
  private chainLength(from: number, limit: number): number {
    let n = 0;
    for (let p = from; p >= this.head && n < limit; p = this.previous[p & this.mask]!) n++;
    return n;
  }

  private bigTrace(newest: number): BigTrace {
    const ids = new Map<string, number>();
    for (let p = newest; p >= this.head; p = this.previous[p & this.mask]!) ids.set(this.spanIdAt(p & this.mask), p);
    return { newest, ids };
  }

  private spanIdAt(slot: number): string {
    if (this.oddIds[slot] !== undefined) return this.oddIds[slot];
    idWords[0] = this.idHigh[slot]!;
    idWords[1] = this.idLow[slot]!;
    return wordsToHex(idWords, 0, 2);
  }

  protected growColumns(capacity: number, mask: number): void {
    this.offsets = this.move(this.offsets, new Int32Array(capacity), mask);
    this.lengths = this.move(this.lengths, new Int32Array(capacity), mask);
    this.idHigh = this.move(this.idHigh, new Uint32Array(capacity), mask);
    this.idLow = this.move(this.idLow, new Uint32Array(capacity), mask);
    this.previous = this.move(this.previous, new Float64Array(capacity), mask);
    this.traceIds = this.move(this.traceIds, refColumn(capacity), mask);
    this.oddIds = this.move(this.oddIds, refColumn(capacity), mask);
    this.slabs = this.move(this.slabs, refColumn(capacity), mask);
    this.decoded = this.move(this.decoded, refColumn(capacity), mask);
    this.servers = this.move(this.servers, refColumn(capacity), mask);
    this.resources = this.move(this.resources, refColumn(capacity), mask);
    this.scopes = this.move(this.scopes, refColumn(capacity), mask);
  }
}

/** A span to append: kept as bytes (`bytes`, `resource`, `scope`) or decoded (`decoded`). */
export interface NewSpan {
  seq: number;
  size: number;
  traceId: string;
  spanId: string;
  server: string | undefined;
  bytes?: { slab: Buffer; offset: number; length: number };
  resource?: Attributes;
  scope?: InstrumentationScope;
  decoded?: StoredSpan;
}

/** A held span: decoded, or its message with what decoding it needs. Empty if neither is held. */
export interface HeldSpan {
  decoded?: StoredSpan;
  message?: Uint8Array;
  resource?: Attributes;
  scope?: InstrumentationScope;
  server?: string;
}

/** A trace's entry in the index: the position of its newest span, or a `BigTrace`. */
export type TraceSlot = number | BigTrace;

interface BigTrace {
  newest: number;
  ids: Map<string, number>;
}

/** Traces with this many spans get a span-id map (below it, a chain walk is cheaper than a map entry). */
const BIG_TRACE_SPANS = 32;

/** Scratch for `splitSpanId`. */
const idWords = new Uint32Array(2);

/** A span id as two 32-bit halves; ids that are not 16 lowercase hex digits are returned as `odd`. */
function splitSpanId(id: string): { high: number; low: number; odd: string | undefined } {
  if (!hexToWords(id, 2, idWords, 0)) return { high: 0, low: 0, odd: id };
  return { high: idWords[0]!, low: idWords[1]!, odd: undefined };
}
