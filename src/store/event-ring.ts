import type { McpEvent, McpTrafficEvent, PayloadInfo } from '../pipeline/events.js';
import { approxBytes } from './approx-size.js';
import type { IndexEntry } from './event-index.js';
import { hexToWords, wordsToHex } from './hex-words.js';
import { PositionRing, refColumn } from './position-ring.js';

/**
 * The recent store's events, oldest first, in columns.
 *
 * A normalized MCP event is about a dozen objects: the event, its two payload records, the fingerprint
 * strings (each a slice that keeps its 64-digit parent), the span ids, the id string. The store keeps
 * 100k of them, so every young-generation collection copied the newest few thousand events twice, and
 * that copying was most of the store's GC cost. Here an MCP event is one row: its ids and fingerprints as
 * 32-bit words in a typed array, its numbers in a float array, and its other fields as references in a
 * shared array (method, tool, session, server identity and the like are shared with other events, so a row
 * usually owns no object at all). The event is rebuilt when a query returns it.
 *
 * Packing runs once per stored event on the ingest path: it counts own keys with `for...in` instead of
 * allocating `Object.keys`, and parses ids with `hexToWords`, which is most of its cost.
 *
 * Events that do not fit the row exactly (other kinds, captured content, ids or fingerprints that are not
 * lowercase hex, fields the row does not know) are kept as they are, in the row's object slot.
 *
 * Events are addressed by position like the span ring: live positions run from `head` to `tail - 1`, and
 * a position's row is `position & mask`.
 */
export class EventRing extends PositionRing {
  private flags: Uint16Array;
  private numbers: Float64Array;
  private words: Uint32Array;
  private refs: unknown[];
  /** Per row and index, the position of the previous event with the same key in that index (see `link`). */
  private links: Float64Array;
  /** The client record rows share (see `shared`), and its `approxBytes`. */
  private lastClient: McpTrafficEvent['client'];
  private lastClientBytes = 0;

  constructor(maxEvents: number) {
    super(maxEvents);
    this.flags = new Uint16Array(this.capacity);
    this.numbers = new Float64Array(this.capacity * NUMBERS);
    this.words = new Uint32Array(this.capacity * WORDS);
    this.refs = refColumn(this.capacity * REFS);
    this.links = new Float64Array(this.capacity * INDEXES);
  }

  /**
   * Appends an event with its index keys as they are now (a producer may mutate a shared event later).
   * Returns the bytes it is accounted at: the row, plus what it owns.
   *
   * `known`, when given, holds the words `hexToWords` makes of the event's trace and span id (four, then
   * two) and, if `knownParent`, of its parent span id (two more): the caller took them from the span the
   * event was made from, whose id strings it compared with the event's, so they need not be parsed again.
   */
  push(event: McpEvent, seq: number, known?: Uint32Array, knownParent = false): { position: number; bytes: number } {
    const position = this.nextPosition();
    const row = position & this.mask;
    this.seqs[row] = seq;
    const r = row * REFS;
    const refs = this.refs;
    refs[r + REF_KIND] = event.kind;
    refs[r + REF_SERVER_ID] = event.server.id;
    refs[r + REF_SERVER_NAME] = event.server.name;
    const bytes = event.kind === 'mcp' && this.packMcp(event, row, known, knownParent) ? rowBytes(event, this.lastClientBytes) : this.keepWhole(event, row);
    this.sizes[row] = bytes;
    return { position, bytes };
  }

  /** Removes the oldest event; returns its accounted size (0 when empty). */
  evictOldest(): number {
    if (this.size === 0) return 0;
    const row = this.head++ & this.mask;
    clearRefs(this.refs, row * REFS, REFS);
    return this.sizes[row]!;
  }

  /** Takes back the event just pushed (the caller found it too large to keep). */
  dropNewest(): void {
    if (this.size === 0) return;
    const row = --this.tail & this.mask;
    clearRefs(this.refs, row * REFS, REFS);
  }

  /**
   * Adds the event at `position` (the newest) under `entry` in index number `index` (below `INDEXES`):
   * its row links to the entry's previous newest event and holds the entry for eviction.
   */
  link(position: number, index: number, entry: IndexEntry): void {
    const row = position & this.mask;
    this.links[row * INDEXES + index] = entry.count > 0 ? entry.newest : -1;
    this.refs[row * REFS + REF_ENTRIES + index] = entry;
    entry.newest = position;
    entry.count++;
  }

  /** The entry the event at `position` was added under in index `index`, if any. */
  entryAt(position: number, index: number): IndexEntry | undefined {
    return this.refs[(position & this.mask) * REFS + REF_ENTRIES + index] as IndexEntry | undefined;
  }

  /** The position of the previous event under the same entry of index `index`: live only if at or after `oldest`. */
  previousIn(position: number, index: number): number {
    return this.links[(position & this.mask) * INDEXES + index]!;
  }

  kindAt(position: number): McpEvent['kind'] {
    return this.refs[(position & this.mask) * REFS + REF_KIND] as McpEvent['kind'];
  }

  serverIdAt(position: number): string {
    return this.refs[(position & this.mask) * REFS + REF_SERVER_ID] as string;
  }

  serverNameAt(position: number): string {
    return this.refs[(position & this.mask) * REFS + REF_SERVER_NAME] as string;
  }

  /** The method of an MCP event as it was when pushed (undefined for other kinds). */
  methodAt(position: number): string | undefined {
    return this.refs[(position & this.mask) * REFS + REF_METHOD] as string | undefined;
  }

  /** The tool of an MCP event as it was when pushed (undefined for other kinds). */
  toolAt(position: number): string | undefined {
    return this.refs[(position & this.mask) * REFS + REF_TOOL] as string | undefined;
  }

  timeAt(position: number): number {
    const row = position & this.mask;
    const whole = this.refs[row * REFS + REF_WHOLE] as McpEvent | undefined;
    return whole ? whole.time : this.numbers[row * NUMBERS + NUM_TIME]!;
  }

  /**
   * Copies a packed event's trace and span id words (four, then two) to `out[0..6)`; false, copying
   * nothing, for an event kept whole.
   */
  idWords(position: number, out: Uint32Array): boolean {
    const row = position & this.mask;
    if (this.refs[row * REFS + REF_WHOLE] !== undefined) return false;
    const w = row * WORDS;
    const words = this.words;
    // W_SPAN follows the trace id's four words.
    for (let i = 0; i < 6; i++) out[i] = words[w + W_TRACE + i]!;
    return true;
  }

  /** The event at a live position, rebuilt from its row (a new object on every call). */
  read(position: number): McpEvent {
    const row = position & this.mask;
    const r = row * REFS;
    const whole = this.refs[r + REF_WHOLE] as McpEvent | undefined;
    if (whole) return whole;
    const n = row * NUMBERS;
    const w = row * WORDS;
    const f = this.flags[row]!;
    const traceId = wordsToHex(this.words, w + W_TRACE, 4);
    const spanId = wordsToHex(this.words, w + W_SPAN, 2);
    const event = { kind: 'mcp', id: `${traceId}:${spanId}`, time: this.numbers[n + NUM_TIME]!, traceId, spanId } as McpTrafficEvent;
    const target = event as unknown as Record<string, unknown>;
    for (let i = 0; i < REF_FIELDS; i++) {
      const value = this.refs[r + i];
      if (value !== undefined) target[REF_NAMES[i]!] = value;
    }
    if (f & F_PARENT) event.parentSpanId = wordsToHex(this.words, w + W_PARENT, 2);
    if (f & F_DURATION) event.durationMs = this.numbers[n + NUM_DURATION]!;
    if (f & F_RPC_CODE) event.jsonRpcErrorCode = this.numbers[n + NUM_RPC_CODE]!;
    if (f & F_ARGS) event.arguments = this.payload(f >> ARGS_SHIFT, n + NUM_ARG_SIZE, w + W_ARG_FP);
    if (f & F_RESULT) event.result = this.payload(f >> RESULT_SHIFT, n + NUM_RESULT_SIZE, w + W_RESULT_FP);
    return event;
  }

  private payload(bits: number, sizeAt: number, fingerprintAt: number): PayloadInfo {
    const p: PayloadInfo = {};
    if (bits & P_SIZE) p.size = this.numbers[sizeAt]!;
    if (bits & P_FINGERPRINT) p.fingerprint = wordsToHex(this.words, fingerprintAt, 4);
    return p;
  }

  /** Writes an MCP event into its row; false (row left for `keepWhole`) when it does not fit exactly. */
  private packMcp(event: McpTrafficEvent, row: number, known: Uint32Array | undefined, knownParent: boolean): boolean {
    const { id, traceId, spanId, time } = event;
    if (typeof traceId !== 'string' || typeof spanId !== 'string' || typeof id !== 'string' || typeof time !== 'number') return false;
    const n = row * NUMBERS;
    const w = row * WORDS;
    const words = this.words;
    if (known !== undefined) {
      // W_SPAN follows the trace id's four words, as in `known`.
      for (let i = 0; i < 6; i++) words[w + W_TRACE + i] = known[i]!;
    } else if (!hexToWords(traceId, 4, words, w + W_TRACE) || !hexToWords(spanId, 2, words, w + W_SPAN)) {
      return false;
    }
    // The id must be the one `read` rebuilds. Built and compared whole: `startsWith` and `endsWith` on the
    // normalizer's (concatenated) id cost 127 against 90 ns.
    if (id.length !== traceId.length + 1 + spanId.length || id !== `${traceId}:${spanId}`) return false;
    // kind, id, time, traceId and spanId are accounted for here; every other own key must be one the row keeps.
    let keys = 5;
    let f = 0;
    if (event.parentSpanId !== undefined) {
      if (knownParent) {
        words[w + W_PARENT] = known![6]!;
        words[w + W_PARENT + 1] = known![7]!;
      } else if (!hexToWords(event.parentSpanId, 2, words, w + W_PARENT)) {
        return false;
      }
      f |= F_PARENT;
      keys++;
    }
    if (event.durationMs !== undefined) {
      if (typeof event.durationMs !== 'number') return false;
      this.numbers[n + NUM_DURATION] = event.durationMs;
      f |= F_DURATION;
      keys++;
    }
    if (event.jsonRpcErrorCode !== undefined) {
      if (typeof event.jsonRpcErrorCode !== 'number') return false;
      this.numbers[n + NUM_RPC_CODE] = event.jsonRpcErrorCode;
      f |= F_RPC_CODE;
      keys++;
    }
    if (event.arguments !== undefined) {
      const bits = this.packPayload(event.arguments, n + NUM_ARG_SIZE, w + W_ARG_FP);
      if (bits < 0) return false;
      f |= F_ARGS | (bits << ARGS_SHIFT);
      keys++;
    }
    if (event.result !== undefined) {
      const bits = this.packPayload(event.result, n + NUM_RESULT_SIZE, w + W_RESULT_FP);
      if (bits < 0) return false;
      f |= F_RESULT | (bits << RESULT_SHIFT);
      keys++;
    }
    const r = row * REFS;
    const refs = this.refs;
    keys += keep(refs, r + REF_SERVER, event.server);
    keys += keep(refs, r + REF_FLAVOUR, event.flavour);
    keys += keep(refs, r + REF_METHOD, event.method);
    keys += keep(refs, r + REF_MESSAGE_TYPE, event.messageType);
    keys += keep(refs, r + REF_SIDE, event.side);
    keys += keep(refs, r + REF_DIRECTION, event.direction);
    keys += keep(refs, r + REF_TOOL, event.tool);
    keys += keep(refs, r + REF_PROMPT, event.prompt);
    keys += keep(refs, r + REF_RESOURCE_URI, event.resourceUri);
    keys += keep(refs, r + REF_REQUEST_ID, event.requestId);
    keys += keep(refs, r + REF_SESSION_ID, event.sessionId);
    keys += keep(refs, r + REF_CORRELATION_KEY, event.correlationKey);
    keys += keep(refs, r + REF_PROTOCOL_VERSION, event.protocolVersion);
    keys += keep(refs, r + REF_ERA, event.era);
    keys += keep(refs, r + REF_TRANSPORT, event.transport);
    keys += keep(refs, r + REF_CLIENT, event.client === undefined ? undefined : this.shared(event.client));
    keys += keep(refs, r + REF_OUTCOME, event.outcome);
    keys += keep(refs, r + REF_ERROR_TYPE, event.errorType);
    keys += keep(refs, r + REF_NOTIFICATION, event.notification);
    keys += keep(refs, r + REF_CATALOG, event.catalog);
    if (ownKeys(event) !== keys) {
      clearRefs(refs, r, REF_FIELDS);
      return false;
    }
    this.numbers[n + NUM_TIME] = time;
    this.flags[row] = f;
    return true;
  }

  /**
   * The client record to keep: the previous event's when it is equal. The normalizer makes one per event,
   * all alike for a connection; keeping each would retain one small object per stored event.
   */
  private shared(client: NonNullable<McpTrafficEvent['client']>): NonNullable<McpTrafficEvent['client']> {
    const last = this.lastClient;
    if (client === last) return last;
    if (
      last !== undefined &&
      client.name === last.name &&
      client.version === last.version &&
      client.address === last.address &&
      ownKeys(client) === ownKeys(last)
    ) {
      return last;
    }
    this.lastClient = client;
    this.lastClientBytes = approxBytes(client);
    return client;
  }

  /** Size and fingerprint bits of a payload written to the row, or -1 if it holds anything else. */
  private packPayload(p: PayloadInfo, sizeAt: number, fingerprintAt: number): number {
    let bits = 0;
    let keys = 0;
    if (p.size !== undefined) {
      if (typeof p.size !== 'number') return -1;
      this.numbers[sizeAt] = p.size;
      bits |= P_SIZE;
      keys++;
    }
    if (p.fingerprint !== undefined) {
      if (!hexToWords(p.fingerprint, 4, this.words, fingerprintAt)) return -1;
      bits |= P_FINGERPRINT;
      keys++;
    }
    return ownKeys(p) === keys ? bits : -1;
  }

  private keepWhole(event: McpEvent, row: number): number {
    const r = row * REFS;
    this.refs[r + REF_WHOLE] = event;
    // The method and tool slots serve as index keys as they were at insertion; `read` ignores them here.
    if (event.kind === 'mcp') {
      this.refs[r + REF_METHOD] = event.method;
      this.refs[r + REF_TOOL] = event.tool;
    }
    this.flags[row] = 0;
    return ROW_BYTES + approxBytes(event);
  }

  protected growColumns(capacity: number, mask: number): void {
    this.flags = this.moveTyped(this.flags, new Uint16Array(capacity), mask);
    this.numbers = this.moveTyped(this.numbers, new Float64Array(capacity * NUMBERS), mask, NUMBERS);
    this.words = this.moveTyped(this.words, new Uint32Array(capacity * WORDS), mask, WORDS);
    this.refs = this.moveRefs(this.refs, mask, REFS);
    this.links = this.moveTyped(this.links, new Float64Array(capacity * INDEXES), mask, INDEXES);
  }
}

/** Fields of an MCP event kept as references, in row order (`read` sets them in this order). */
const REF_NAMES = [
  'server',
  'flavour',
  'method',
  'messageType',
  'side',
  'direction',
  'tool',
  'prompt',
  'resourceUri',
  'requestId',
  'sessionId',
  'correlationKey',
  'protocolVersion',
  'era',
  'transport',
  'client',
  'outcome',
  'errorType',
  'notification',
  'catalog',
] as const satisfies readonly (keyof McpTrafficEvent)[];

const REF_SERVER = 0;
const REF_FLAVOUR = 1;
const REF_METHOD = 2;
const REF_MESSAGE_TYPE = 3;
const REF_SIDE = 4;
const REF_DIRECTION = 5;
const REF_TOOL = 6;
const REF_PROMPT = 7;
const REF_RESOURCE_URI = 8;
const REF_REQUEST_ID = 9;
const REF_SESSION_ID = 10;
const REF_CORRELATION_KEY = 11;
const REF_PROTOCOL_VERSION = 12;
const REF_ERA = 13;
const REF_TRANSPORT = 14;
const REF_CLIENT = 15;
const REF_OUTCOME = 16;
const REF_ERROR_TYPE = 17;
const REF_NOTIFICATION = 18;
const REF_CATALOG = 19;
const REF_FIELDS = REF_NAMES.length;

/** Indexes an event can be linked into (see `link`). */
export const INDEXES = 5;

/**
 * After the fields: index keys as at insertion, the kind, the whole event when it has no row form, and
 * the row's index entries.
 */
const REF_SERVER_ID = REF_FIELDS;
const REF_SERVER_NAME = REF_SERVER_ID + 1;
const REF_KIND = REF_SERVER_NAME + 1;
const REF_WHOLE = REF_KIND + 1;
const REF_ENTRIES = REF_WHOLE + 1;
const REFS = REF_ENTRIES + INDEXES;

const NUM_TIME = 0;
const NUM_DURATION = 1;
const NUM_RPC_CODE = 2;
const NUM_ARG_SIZE = 3;
const NUM_RESULT_SIZE = 4;
const NUMBERS = 5;

/** Word offsets in a row: trace id (4 words), span id, parent span id (2 each), argument and result fingerprints (4 each). */
const W_TRACE = 0;
const W_SPAN = 4;
const W_PARENT = 6;
const W_ARG_FP = 8;
const W_RESULT_FP = 12;
const WORDS = 16;

const F_PARENT = 1;
const F_DURATION = 2;
const F_RPC_CODE = 4;
const F_ARGS = 8;
const F_RESULT = 16;
/** Payload bits (`P_*`) shifted into the flags: arguments at bit 5, result at bit 7. */
const ARGS_SHIFT = 5;
const RESULT_SHIFT = 7;
const P_SIZE = 1;
const P_FINGERPRINT = 2;

/** Accounted bytes of a row: its share of every column (an event kept whole adds its `approxBytes`). */
const ROW_BYTES = 8 * (2 + NUMBERS + REFS + INDEXES) + 2 + 4 * WORDS;

/** A packed event's row plus what only it refers to (shared strings and server identities are not counted). */
function rowBytes(event: McpTrafficEvent, clientBytes: number): number {
  let n = ROW_BYTES + event.correlationKey.length;
  if (event.client !== undefined) n += clientBytes;
  if (event.notification !== undefined) n += approxBytes(event.notification);
  if (event.catalog !== undefined) n += approxBytes(event.catalog);
  return n;
}

/** Empties `n` reference slots from `at` (a plain loop: `fill` costs ~20 ns more per row, mostly its call). */
function clearRefs(refs: unknown[], at: number, n: number): void {
  for (let i = at, end = at + n; i < end; i++) refs[i] = undefined;
}

/** Writes a field to its reference slot; 1 if it is present (an own key the row accounts for), else 0. */
function keep(refs: unknown[], at: number, value: unknown): number {
  refs[at] = value;
  return value === undefined ? 0 : 1;
}

/**
 * Enumerable keys of a plain object, counted without the array `Object.keys` makes. Inherited enumerable
 * keys count too, which can only make an object look like it does not fit a row.
 */
function ownKeys(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}
