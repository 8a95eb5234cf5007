/**
 * The span ring's trace index: a 128-bit trace id, as four 32-bit words, to a number (the ring's entry for
 * the trace), in an open-addressing table with linear probing.
 *
 * This was a `Map` keyed by the 32-digit hex string. Each span brings a new string, so every look-up
 * hashed 32 characters before probing, every hit compared two strings, and the map kept one string per
 * stored span alive for the young-generation collector to copy; look-up and eviction together were the
 * largest cost of storing a span. Here a key is hashed from its words and compared in place, and removal
 * shifts the following entries back instead of leaving a tombstone, so the table never needs rebuilding
 * to stay fast. Keys and values lie in two arrays rather than side by side: `sweep` reads only values,
 * and at 8 bytes a slot instead of 24 it streams a third of the memory (~40 ns per stored span less, with
 * the look-ups' two loads per slot issued ahead by `SpanRing.prefetch`).
 *
 * The hash is seeded per table at random: trace ids come from senders, and a sender that could predict
 * the slots could make every look-up walk a long run.
 */

/** The value of an empty slot; stored values must never be this. */
export const EMPTY = -1;

/** Key words per slot (in `keys`; the slot's value is `values[slot]`). */
const SLOT_UNITS = 4;
const INITIAL_SLOTS = 1024;

export class TraceTable {
  private keys: Uint32Array;
  private values: Float64Array;
  private mask: number;
  private count = 0;
  /** Where `sweep` continues. */
  private cursor = 0;
  private readonly seed0 = randomWord();
  private readonly seed1 = randomWord();
  private readonly seed2 = randomWord();
  private readonly seed3 = randomWord();

  constructor() {
    this.mask = INITIAL_SLOTS - 1;
    this.keys = new Uint32Array(INITIAL_SLOTS * SLOT_UNITS);
    this.values = new Float64Array(INITIAL_SLOTS).fill(EMPTY);
  }

  get size(): number {
    return this.count;
  }

  /**
   * The slot holding the key at `key[at..at+4)`, or, when it is absent, `-1 - slot` for the empty slot
   * where `insert` would put it (valid until the table next changes).
   */
  find(key: Uint32Array, at: number): number {
    const w0 = key[at]!;
    const w1 = key[at + 1]!;
    const w2 = key[at + 2]!;
    const w3 = key[at + 3]!;
    const keys = this.keys;
    const values = this.values;
    for (let slot = this.hash(w0, w1, w2, w3) & this.mask; ; slot = (slot + 1) & this.mask) {
      if (values[slot] === EMPTY) return -1 - slot;
      const k = slot * SLOT_UNITS;
      if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return slot;
    }
  }

  valueAt(slot: number): number {
    return this.values[slot]!;
  }

  setValueAt(slot: number, value: number): void {
    this.values[slot] = value;
  }

  /** Adds a key `find` reported absent (as `-1 - slot`); nothing may change the table in between. */
  insert(absent: number, key: Uint32Array, at: number, value: number): void {
    let slot = -1 - absent;
    // At most half full, so probe runs stay short.
    if (2 * (this.count + 1) > this.mask + 1) {
      this.grow();
      slot = -1 - this.find(key, at);
    }
    const k = slot * SLOT_UNITS;
    this.keys[k] = key[at]!;
    this.keys[k + 1] = key[at + 1]!;
    this.keys[k + 2] = key[at + 2]!;
    this.keys[k + 3] = key[at + 3]!;
    this.values[slot] = value;
    this.count++;
  }

  /** Removes the entry at `slot`, moving back the entries after it that would otherwise be cut off. */
  deleteAt(slot: number): void {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let hole = slot;
    for (let next = (hole + 1) & mask; values[next] !== EMPTY; next = (next + 1) & mask) {
      const k = next * SLOT_UNITS;
      const home = this.hash(keys[k]!, keys[k + 1]!, keys[k + 2]!, keys[k + 3]!) & mask;
      // The entry stays if its home lies cyclically after the hole and at or before where it sits.
      if (hole <= next ? hole < home && home <= next : hole < home || home <= next) continue;
      const h = hole * SLOT_UNITS;
      keys[h] = keys[k]!;
      keys[h + 1] = keys[k + 1]!;
      keys[h + 2] = keys[k + 2]!;
      keys[h + 3] = keys[k + 3]!;
      values[hole] = values[next]!;
      hole = next;
    }
    values[hole] = EMPTY;
    this.count--;
  }

  /**
   * Deletes the entries among the next `slots` slots (from where the last sweep stopped, round the table)
   * whose value is a position before `oldest` (values from 0 up; below 0 are never swept).
   *
   * The span ring leaves a trace's entry behind when the trace's last span is evicted instead of deleting
   * it: the entry was written when the trace's newest span arrived, far back, so finding it again at
   * eviction was a cache miss on every span. Stale entries answer like absent ones (their position is no
   * longer live), and the ring sweeps a few slots per inserted key: entries go stale at most one per
   * insert, so at `slots` per insert none lives longer than a lap of `size / slots` inserts.
   */
  sweep(oldest: number, slots: number): void {
    const values = this.values;
    let slot = this.cursor & this.mask;
    for (let n = 0; n < slots; n++) {
      const value = values[slot]!;
      // A deletion moves a later entry into this slot: it is looked at next.
      if (value >= 0 && value < oldest) this.deleteAt(slot);
      else slot = (slot + 1) & this.mask;
    }
    this.cursor = slot;
  }

  /**
   * Reads the home slot of the key at `key[at..at+4)`, to have it in cache for a look-up soon after (see
   * `SpanRing.prefetch`); the answer means nothing.
   */
  peek(key: Uint32Array, at: number): number {
    const slot = this.hash(key[at]!, key[at + 1]!, key[at + 2]!, key[at + 3]!) & this.mask;
    return this.values[slot]! + this.keys[slot * SLOT_UNITS]!;
  }

  private hash(w0: number, w1: number, w2: number, w3: number): number {
    let h =
      Math.imul(w0 ^ this.seed0, 0x9e3779b1) ^
      Math.imul(w1 ^ this.seed1, 0x85ebca77) ^
      Math.imul(w2 ^ this.seed2, 0xc2b2ae3d) ^
      Math.imul(w3 ^ this.seed3, 0x27d4eb2f);
    h ^= h >>> 16;
    h = Math.imul(h, 0x7feb352d);
    h ^= h >>> 15;
    return h;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const slots = (this.mask + 1) * 2;
    this.mask = slots - 1;
    this.keys = new Uint32Array(slots * SLOT_UNITS);
    this.values = new Float64Array(slots).fill(EMPTY);
    this.count = 0;
    for (let slot = 0; slot < oldValues.length; slot++) {
      const value = oldValues[slot]!;
      if (value === EMPTY) continue;
      this.insert(this.find(oldKeys, slot * SLOT_UNITS), oldKeys, slot * SLOT_UNITS, value);
    }
  }
}

function randomWord(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}
