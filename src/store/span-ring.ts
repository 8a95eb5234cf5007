import type { Buffer } from 'node:buffer';
import type { Attributes, InstrumentationScope } from '../receiver/otlp/span.js';
import { hexToWords, wordsToHex } from './hex-words.js';
import { PositionRing, refColumn } from './position-ring.js';
import { EMPTY, TraceTable } from './trace-table.js';
import type { StoredSpan } from './types.js';

/**
 * The recent store's spans, oldest first, in columns.
 *
 * Each span used to be an entry object, a byte-range object and a span-id string, plus a slot in a
 * per-trace queue. With 200k spans held, those were ~600k long-lived objects that every young-generation
 * collection copied twice and every full collection marked again. Here a span is one slot across typed
 * arrays (sequence, size, byte range, trace and span id as 32-bit words, link to the previous span of its
 * trace) and a few reference columns that point at objects shared with other spans (the slab, the
 * request's resource and scope, the server name). Only spans kept decoded (captured content, or JSON
 * spans from the fallback decoder) still own an object.
 *
 * Spans are addressed by position: the count of spans pushed before them. Live positions run from
 * `head` (oldest) to `tail - 1` (newest); a position's slot is `position & mask`, and the arrays grow by
 * doubling up to the store's span limit. Each span links to the previous span of its trace by position,
 * so a trace is read by walking that chain while the positions are still live; traces past
 * `BIG_TRACE_SPANS` also get a span-id map, so duplicate checks stay O(1) whatever trace a sender invents.
 *
 * Trace ids of 32 lowercase hex digits (all the receivers produce) are indexed by their words in a
 * `TraceTable`; any other trace id the store is handed is kept as a string and indexed in a `Map`.
 */
export class SpanRing extends PositionRing {
  private offsets: Int32Array;
  private lengths: Int32Array;
  private idHigh: Uint32Array;
  private idLow: Uint32Array;
  private traceWords: Uint32Array;
  /** Position of the previous span of the same trace, or -1. */
  private previous: Float64Array;
  /** 1 for a span of a trace that has a span-id map (see `BIG_TRACE_SPANS`): its eviction updates the map. */
  private inBig: Uint8Array;

  /** Trace ids that are not 32 lowercase hex digits (never from the receivers, but the store accepts them). */
  private oddTraceIds: (string | undefined)[];
  /** Span ids that are not 16 lowercase hex digits (likewise). */
  private oddIds: (string | undefined)[];
  private slabs: (Buffer | undefined)[];
  private decoded: (StoredSpan | undefined)[];
  private servers: (string | undefined)[];
  private resources: (Attributes | undefined)[];
  private scopes: (InstrumentationScope | undefined)[];

  /** Hex trace ids to their trace's entry (see `TraceEntry`). */
  private readonly byTrace = new TraceTable();
  /** The same for other trace ids. */
  private readonly byOddTrace = new Map<string, number>();
  /** Span ids of traces past `BIG_TRACE_SPANS`, by trace id. */
  private readonly bigTraces = new Map<string, Map<string, number>>();

  /**
   * What the last `find` learnt, for a `push` of the same span right after it (the index is the largest
   * structure on the ingest path, so it is probed once for both): the ids asked about, whether each was
   * hex, their words (trace, then span), the trace's entry, and its slot in `byTrace` (`-1 - slot` for
   * where it would go). Any change to the ring forgets it.
   */
  private foundTrace: string | undefined;
  private foundSpan: string | undefined;
  private foundHexTrace = false;
  private foundHexSpan = false;
  private readonly foundWords = new Uint32Array(6);
  private foundEntry: TraceEntry = NO_TRACE;
  private foundSlot = 0;
  /** What `prefetch` loaded, summed: written so the loads stay, never read. */
  protected prefetched = 0;

  constructor(maxSpans: number) {
    super(maxSpans);
    this.offsets = new Int32Array(this.capacity);
    this.lengths = new Int32Array(this.capacity);
    this.idHigh = new Uint32Array(this.capacity);
    this.idLow = new Uint32Array(this.capacity);
    this.traceWords = new Uint32Array(this.capacity * 4);
    this.previous = new Float64Array(this.capacity);
    this.inBig = new Uint8Array(this.capacity);
    this.oddTraceIds = refColumn(this.capacity);
    this.oddIds = refColumn(this.capacity);
    this.slabs = refColumn(this.capacity);
    this.decoded = refColumn(this.capacity);
    this.servers = refColumn(this.capacity);
    this.resources = refColumn(this.capacity);
    this.scopes = refColumn(this.capacity);
  }

  /** Position of the span with this trace and span id, or -1. */
  find(traceId: string, spanId: string): number {
    const entry = this.findTrace(traceId);
    const words = this.foundWords;
    this.foundSpan = spanId;
    this.foundHexSpan = hexToWords(spanId, 2, words, 4);
    if (entry === NO_TRACE) return -1;
    if (entry < NO_TRACE) return this.bigTraces.get(traceId)?.get(spanId) ?? -1;
    return this.foundHexSpan ? this.chainFind(entry, words[4]!, words[5]!) : this.chainFindOdd(entry, spanId);
  }

  /**
   * `find` for ids whose words (trace, then span, at `words[at..at+6)`) the caller already has: the words
   * must be what `hexToWords` makes of `traceId` and `spanId`. Like `find`, it prepares a `push` of the same
   * span (the strings are kept for the big-trace maps and to recognise that push).
   */
  findKnown(traceId: string, spanId: string, words: Uint32Array, at: number): number {
    const found = this.foundWords;
    found[0] = words[at]!;
    found[1] = words[at + 1]!;
    found[2] = words[at + 2]!;
    found[3] = words[at + 3]!;
    found[4] = words[at + 4]!;
    found[5] = words[at + 5]!;
    this.foundTrace = traceId;
    this.foundSpan = spanId;
    this.foundHexTrace = true;
    this.foundHexSpan = true;
    const slot = this.byTrace.find(found, 0);
    this.foundSlot = slot;
    const entry = slot >= 0 ? this.byTrace.valueAt(slot) : NO_TRACE;
    this.foundEntry = entry;
    if (entry === NO_TRACE) return -1;
    if (entry < NO_TRACE) return this.bigTraces.get(traceId)?.get(spanId) ?? -1;
    return this.chainFind(entry, found[4]!, found[5]!);
  }

  /** `find` for a hex trace and span id given as words (trace, then span) at `words[at..at+6)`. */
  findWords(words: Uint32Array, at: number): number {
    this.forget();
    const slot = this.byTrace.find(words, at);
    if (slot < 0) return -1;
    const entry = this.byTrace.valueAt(slot);
    if (entry >= 0) return this.chainFind(entry, words[at + 4]!, words[at + 5]!);
    scratch[0] = words[at + 4]!;
    scratch[1] = words[at + 5]!;
    return this.bigTraces.get(wordsToHex(words, at, 4))?.get(wordsToHex(scratch, 0, 2)) ?? -1;
  }

  /**
   * Copies the trace and span id words (four, then two) of the live span at `position` to `out[at..)`;
   * false, copying nothing, when the position is not live or its ids are not hex.
   */
  idWordsAt(position: number, out: Uint32Array, at: number): boolean {
    if (position < this.head || position >= this.tail) return false;
    const slot = position & this.mask;
    if (this.oddTraceIds[slot] !== undefined || this.oddIds[slot] !== undefined) return false;
    const t = slot * 4;
    const trace = this.traceWords;
    out[at] = trace[t]!;
    out[at + 1] = trace[t + 1]!;
    out[at + 2] = trace[t + 2]!;
    out[at + 3] = trace[t + 3]!;
    out[at + 4] = this.idHigh[slot]!;
    out[at + 5] = this.idLow[slot]!;
    return true;
  }

  /** True when the live span at `position` has this trace and span id. */
  isAt(position: number, traceId: string, spanId: string): boolean {
    if (position < this.head || position >= this.tail) return false;
    const slot = position & this.mask;
    const oddTrace = this.oddTraceIds[slot];
    if (oddTrace !== undefined ? oddTrace !== traceId : !hexToWords(traceId, 4, scratch, 0) || !this.hasTraceWords(slot, scratch, 0)) return false;
    const odd = this.oddIds[slot];
    if (odd !== undefined) return odd === spanId;
    return hexToWords(spanId, 2, scratch, 0) && this.idHigh[slot] === scratch[0] && this.idLow[slot] === scratch[1];
  }

  /** `isAt` for a hex trace and span id given as words (trace, then span) at `words[at..at+6)`. */
  isAtWords(position: number, words: Uint32Array, at: number): boolean {
    if (position < this.head || position >= this.tail) return false;
    const slot = position & this.mask;
    return (
      this.oddTraceIds[slot] === undefined &&
      this.oddIds[slot] === undefined &&
      this.hasTraceWords(slot, words, at) &&
      this.idHigh[slot] === words[at + 4] &&
      this.idLow[slot] === words[at + 5]
    );
  }

  /**
   * Appends a span (the caller has checked it is not held yet and evicts to make room afterwards). Either
   * `bytes` (its message in `slab`, with `resource` and `scope` to decode it again) or `decoded` is given.
   * Cheapest right after `find` of the same ids, whose look-up it reuses.
   */
  push(span: NewSpan): number {
    if (this.foundTrace !== span.traceId || this.foundSpan !== span.spanId) this.find(span.traceId, span.spanId);
    const entry = this.foundEntry;
    const words = this.foundWords;
    const p = this.nextPosition();
    const slot = p & this.mask;
    this.seqs[slot] = span.seq;
    this.sizes[slot] = span.size;
    if (this.foundHexSpan) {
      this.idHigh[slot] = words[4]!;
      this.idLow[slot] = words[5]!;
    } else {
      this.oddIds[slot] = span.spanId;
    }
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
    const hexTrace = this.foundHexTrace;
    if (hexTrace) {
      const t = slot * 4;
      this.traceWords[t] = words[0]!;
      this.traceWords[t + 1] = words[1]!;
      this.traceWords[t + 2] = words[2]!;
      this.traceWords[t + 3] = words[3]!;
    } else {
      this.oddTraceIds[slot] = span.traceId;
    }

    let next: TraceEntry;
    if (entry === NO_TRACE) {
      this.previous[slot] = -1;
      this.inBig[slot] = 0;
      next = p;
    } else if (entry < NO_TRACE) {
      this.previous[slot] = bigNewest(entry);
      this.inBig[slot] = 1;
      this.bigTraces.get(span.traceId)!.set(span.spanId, p);
      next = bigEntry(p);
    } else {
      // The entry may be one left behind by eviction (see `evictOldest`): then the chain ends here.
      this.previous[slot] = entry;
      this.inBig[slot] = 0;
      next = this.chainLength(p, BIG_TRACE_SPANS) >= BIG_TRACE_SPANS ? this.makeBig(span.traceId, p) : p;
    }
    if (!hexTrace) this.byOddTrace.set(span.traceId, next);
    else if (this.foundSlot >= 0) this.byTrace.setValueAt(this.foundSlot, next);
    else {
      this.byTrace.insert(this.foundSlot, words, 0, next);
      this.byTrace.sweep(this.head, SWEEP_SLOTS);
    }
    this.forget();
    return p;
  }

  /**
   * Loads the trace-index slots that pushes of the hex trace ids at `words[0..4 * count)` will look up.
   *
   * A new trace's slot lies anywhere in a table of megabytes, so nearly every push waited for memory. Loaded
   * here for several spans in a loop whose iterations do not depend on each other, those waits overlap
   * instead of coming one after another. Only a hint: nothing here changes what the look-ups answer.
   */
  prefetch(words: Uint32Array, count: number): void {
    const table = this.byTrace;
    let sum = 0;
    for (let i = 0; i < count; i++) sum += table.peek(words, 4 * i);
    // Kept so the loads are not optimised away.
    this.prefetched = sum;
  }

  /** Removes the oldest span; returns its accounted size (0 when empty). */
  evictOldest(): number {
    if (this.size === 0) return 0;
    this.forget();
    const p = this.head++;
    const slot = p & this.mask;
    const oddTrace = this.oddTraceIds[slot];
    // A trace's entry goes with its newest span; older spans fall off its chain by position alone.
    if (oddTrace !== undefined) {
      const entry = this.byOddTrace.get(oddTrace)!;
      if (entry === p || entry === bigEntry(p)) this.forgetTrace(oddTrace, entry, -1);
      else if (entry < NO_TRACE) this.bigTraces.get(oddTrace)?.delete(this.spanIdAt(slot));
    } else if (this.inBig[slot] === 1) {
      // Only a big trace's entry is looked up: its map must lose the span, or the trace go with its
      // newest span. Any other trace's entry stays until `TraceTable.sweep` finds it stale, which spares
      // a cache miss per span (see there); until then it reads as a trace with no live spans.
      const at = this.byTrace.find(this.traceWords, slot * 4);
      const entry = this.byTrace.valueAt(at);
      const traceId = wordsToHex(this.traceWords, slot * 4, 4);
      if (entry === bigEntry(p)) this.forgetTrace(traceId, entry, at);
      else this.bigTraces.get(traceId)?.delete(this.spanIdAt(slot));
    }
    const size = this.sizes[slot]!;
    this.oddTraceIds[slot] = undefined;
    this.oddIds[slot] = undefined;
    this.slabs[slot] = undefined;
    this.decoded[slot] = undefined;
    this.servers[slot] = undefined;
    this.resources[slot] = undefined;
    this.scopes[slot] = undefined;
    return size;
  }

  /** The slab the span at a live position is kept in, if it is kept as bytes. */
  slabAt(position: number): Buffer | undefined {
    return this.slabs[position & this.mask];
  }

  /** Positions of a trace's live spans, newest first. */
  positionsOf(traceId: string): number[] {
    const entry = this.findTrace(traceId);
    this.forget();
    if (entry === NO_TRACE) return [];
    const out: number[] = [];
    for (let p = entry < NO_TRACE ? bigNewest(entry) : entry; p >= this.head; p = this.previous[p & this.mask]!) out.push(p);
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

  /** The trace's entry, with what `push` needs of it noted in `found*`. */
  private findTrace(traceId: string): TraceEntry {
    this.foundTrace = traceId;
    this.foundSpan = undefined;
    this.foundHexTrace = hexToWords(traceId, 4, this.foundWords, 0);
    if (this.foundHexTrace) {
      this.foundSlot = this.byTrace.find(this.foundWords, 0);
      this.foundEntry = this.foundSlot >= 0 ? this.byTrace.valueAt(this.foundSlot) : NO_TRACE;
    } else {
      this.foundEntry = this.byOddTrace.get(traceId) ?? NO_TRACE;
    }
    return this.foundEntry;
  }

  private forget(): void {
    this.foundTrace = undefined;
    this.foundSpan = undefined;
  }

  private hasTraceWords(slot: number, words: Uint32Array, at: number): boolean {
    const t = slot * 4;
    const own = this.traceWords;
    return own[t] === words[at] && own[t + 1] === words[at + 1] && own[t + 2] === words[at + 2] && own[t + 3] === words[at + 3];
  }

  /** Position of the span with hex id `high`, `low` in the chain from `from`, or -1. */
  private chainFind(from: number, high: number, low: number): number {
    for (let p = from; p >= this.head; p = this.previous[p & this.mask]!) {
      const slot = p & this.mask;
      if (this.idHigh[slot] === high && this.idLow[slot] === low && this.oddIds[slot] === undefined) return p;
    }
    return -1;
  }

  /** The same for a span id that is not 16 hex digits. */
  private chainFindOdd(from: number, spanId: string): number {
    for (let p = from; p >= this.head; p = this.previous[p & this.mask]!) if (this.oddIds[p & this.mask] === spanId) return p;
    return -1;
  }

  /** Drops a trace's entry (at `at` in `byTrace`, or in `byOddTrace` when -1) and its span-id map. */
  private forgetTrace(traceId: string, entry: TraceEntry, at: number): void {
    if (at >= 0) this.byTrace.deleteAt(at);
    else this.byOddTrace.delete(traceId);
    if (entry < NO_TRACE) this.bigTraces.delete(traceId);
  }

  /** Spans in the chain from `from` back, counted up to `limit`. */
  private chainLength(from: number, limit: number): number {
    let n = 0;
    for (let p = from; p >= this.head && n < limit; p = this.previous[p & this.mask]!) n++;
    return n;
  }

  /** Gives a trace whose newest span is at `newest` a span-id map; returns its new entry. */
  private makeBig(traceId: string, newest: number): TraceEntry {
    const ids = new Map<string, number>();
    for (let p = newest; p >= this.head; p = this.previous[p & this.mask]!) {
      ids.set(this.spanIdAt(p & this.mask), p);
      this.inBig[p & this.mask] = 1;
    }
    this.bigTraces.set(traceId, ids);
    return bigEntry(newest);
  }

  private spanIdAt(slot: number): string {
    if (this.oddIds[slot] !== undefined) return this.oddIds[slot];
    scratch[0] = this.idHigh[slot]!;
    scratch[1] = this.idLow[slot]!;
    return wordsToHex(scratch, 0, 2);
  }

  protected growColumns(capacity: number, mask: number): void {
    this.offsets = this.moveTyped(this.offsets, new Int32Array(capacity), mask);
    this.lengths = this.moveTyped(this.lengths, new Int32Array(capacity), mask);
    this.idHigh = this.moveTyped(this.idHigh, new Uint32Array(capacity), mask);
    this.idLow = this.moveTyped(this.idLow, new Uint32Array(capacity), mask);
    this.traceWords = this.moveTyped(this.traceWords, new Uint32Array(capacity * 4), mask, 4);
    this.previous = this.moveTyped(this.previous, new Float64Array(capacity), mask);
    this.inBig = this.moveTyped(this.inBig, new Uint8Array(capacity), mask);
    this.oddTraceIds = this.moveRefs(this.oddTraceIds, mask);
    this.oddIds = this.moveRefs(this.oddIds, mask);
    this.slabs = this.moveRefs(this.slabs, mask);
    this.decoded = this.moveRefs(this.decoded, mask);
    this.servers = this.moveRefs(this.servers, mask);
    this.resources = this.moveRefs(this.resources, mask);
    this.scopes = this.moveRefs(this.scopes, mask);
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

/**
 * A trace's entry in the index: the position of its newest span, or, once the trace has a span-id map
 * (past `BIG_TRACE_SPANS`), `bigEntry` of that position. `NO_TRACE` when the trace is not held.
 */
export type TraceEntry = number;

export const NO_TRACE: TraceEntry = EMPTY;

/** The entry of a big trace whose newest span is at `newest` (always below `NO_TRACE`). */
function bigEntry(newest: number): TraceEntry {
  return -2 - newest;
}

function bigNewest(entry: TraceEntry): number {
  return -2 - entry;
}

/** Traces with this many spans get a span-id map (below it, a chain walk is cheaper than a map entry). */
const BIG_TRACE_SPANS = 32;

/**
 * Trace-table slots swept per inserted trace. Entries go stale at most one per insert, so the table holds
 * at most 1/16 of its slots stale: with the table grown at half full, the default 200k single-span traces
 * still fit in 2^19 slots, as they did when evictions deleted entries at once.
 */
const SWEEP_SLOTS = 16;

/** Scratch words for ids being compared or split. */
const scratch = new Uint32Array(4);
