import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PositionRing, refColumn, type TypedColumn } from '../../src/store/position-ring.js';

/**
 * The store rings' growth (src/store/position-ring.ts) moves each column with `moveTyped` (runs copied
 * with `set`) and `moveRefs` (the column twice over, dead slots cleared). These tests run both against the
 * element-by-element move they replaced, over every column type and width, with the head anywhere: the
 * grown columns must be equal slot for slot (live items at their new slot, zero or `undefined` elsewhere),
 * and reading every live item back must give what was pushed.
 */

/** The move the ring had before: every live item's values copied one by one to a fresh column. */
function referenceMove<T extends TypedColumn | unknown[]>(old: T, next: T, head: number, tail: number, oldMask: number, mask: number, width: number): T {
  const src = old as unknown as ArrayLike<unknown>;
  const dst = next as unknown as { [index: number]: unknown };
  for (let p = head; p < tail; p++) {
    const from = (p & oldMask) * width;
    const to = (p & mask) * width;
    for (let i = 0; i < width; i++) dst[to + i] = src[from + i];
  }
  return next;
}

interface Item {
  label: string;
  n: number;
}

/** A ring with one column of each kind the store uses, at widths 1 and 3, each slot derived from its item. */
class TestRing extends PositionRing {
  f64: Float64Array;
  i32: Int32Array;
  u32: Uint32Array;
  u16: Uint16Array;
  u8: Uint8Array;
  refs: (Item | undefined)[];
  wide: (Item | string | undefined)[];

  constructor(limit: number, initialCapacity: number, readonly reference: boolean) {
    super(limit, initialCapacity);
    this.f64 = new Float64Array(this.capacity * 3);
    this.i32 = new Int32Array(this.capacity);
    this.u32 = new Uint32Array(this.capacity * 3);
    this.u16 = new Uint16Array(this.capacity);
    this.u8 = new Uint8Array(this.capacity);
    this.refs = refColumn(this.capacity);
    this.wide = refColumn(this.capacity * 3);
  }

  get slots(): number {
    return this.capacity;
  }

  push(item: Item, seq: number): number {
    const position = this.nextPosition();
    const row = position & this.mask;
    const n = item.n;
    this.seqs[row] = seq;
    this.sizes[row] = n + 0.5;
    for (let i = 0; i < 3; i++) {
      this.f64[row * 3 + i] = n * 10 + i + 0.25;
      this.u32[row * 3 + i] = (n * 3 + i) >>> 0;
      this.wide[row * 3 + i] = i === 1 ? `${item.label}/${i}` : item;
    }
    this.i32[row] = -n;
    this.u16[row] = n & 0xffff;
    this.u8[row] = n & 0xff;
    this.refs[row] = item;
    return position;
  }

  evict(): void {
    const row = this.head++ & this.mask;
    this.refs[row] = undefined;
    for (let i = 0; i < 3; i++) this.wide[row * 3 + i] = undefined;
  }

  /** Every live item as read back from the columns, oldest first. */
  readAll(): { n: number; label: string; seq: number }[] {
    const out = [];
    for (let p = this.head; p < this.tail; p++) {
      const row = p & this.mask;
      const item = this.refs[row]!;
      const n = item.n;
      expect(this.sizes[row]).toBe(n + 0.5);
      for (let i = 0; i < 3; i++) {
        expect(this.f64[row * 3 + i]).toBe(n * 10 + i + 0.25);
        expect(this.u32[row * 3 + i]).toBe((n * 3 + i) >>> 0);
        expect(this.wide[row * 3 + i]).toBe(i === 1 ? `${item.label}/${i}` : item);
      }
      expect(this.i32[row]).toBe(-n | 0);
      expect(this.u16[row]).toBe(n & 0xffff);
      expect(this.u8[row]).toBe(n & 0xff);
      out.push({ n, label: item.label, seq: this.seqs[row]! });
    }
    return out;
  }

  /** Every column, whole, for slot-by-slot comparison. */
  columns(): unknown[][] {
    return [this.seqs, this.sizes, this.f64, this.i32, this.u32, this.u16, this.u8, this.refs, this.wide].map((c) => Array.from(c as ArrayLike<unknown>));
  }

  /** Moves the columns to twice the slots at the current fill level (growth proper happens only when full). */
  doubleNow(): void {
    const capacity = this.capacity * 2;
    const mask = capacity - 1;
    this.seqs = this.typed(this.seqs, new Float64Array(capacity), mask, 1);
    this.sizes = this.typed(this.sizes, new Float64Array(capacity), mask, 1);
    this.growColumns(capacity, mask);
    this.capacity = capacity;
    this.mask = mask;
  }

  private typed<T extends TypedColumn>(old: T, next: T, mask: number, width: number): T {
    return this.reference ? referenceMove(old, next, this.head, this.tail, this.mask, mask, width) : this.moveTyped(old, next, mask, width);
  }

  private references<T>(old: (T | undefined)[], mask: number, width: number): (T | undefined)[] {
    return this.reference ? referenceMove(old, refColumn<T>((mask + 1) * width), this.head, this.tail, this.mask, mask, width) : this.moveRefs(old, mask, width);
  }

  protected growColumns(capacity: number, mask: number): void {
    // When the reference ring grows by itself (`nextPosition`), its seqs and sizes go through the ring's
    // own `moveTyped`; every other column of it goes through `referenceMove`.
    this.f64 = this.typed(this.f64, new Float64Array(capacity * 3), mask, 3);
    this.i32 = this.typed(this.i32, new Int32Array(capacity), mask, 1);
    this.u32 = this.typed(this.u32, new Uint32Array(capacity * 3), mask, 3);
    this.u16 = this.typed(this.u16, new Uint16Array(capacity), mask, 1);
    this.u8 = this.typed(this.u8, new Uint8Array(capacity), mask, 1);
    this.refs = this.references(this.refs, mask, 1);
    this.wide = this.references(this.wide, mask, 3);
  }
}

/** Pushes `count` items, evicting first (as the store does) when the ring is at its limit. */
type Op = { push: number } | { evict: number } | { double: true };

function run(ring: TestRing, limit: number, ops: Op[], model: { n: number; label: string; seq: number }[], seq: { next: number }): void {
  for (const op of ops) {
    if ('push' in op) {
      for (let k = 0; k < op.push; k++) {
        const n = seq.next++;
        const item = { n, label: `item-${n}` };
        expect(ring.push(item, n * 2)).toBe(n);
        model.push({ n, label: item.label, seq: n * 2 });
        // The store pushes, then evicts while over its limit.
        while (ring.size > limit) {
          ring.evict();
          model.shift();
        }
      }
    } else if ('evict' in op) {
      for (let k = 0; k < op.evict && ring.size > 0; k++) {
        ring.evict();
        model.shift();
      }
    } else if (ring.slots * 2 <= 4 * limit) {
      ring.doubleNow();
    }
  }
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 40 }).map((push) => ({ push })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 40 }).map((evict) => ({ evict })) },
  { weight: 1, arbitrary: fc.constant({ double: true as const }) },
);

describe('PositionRing growth', () => {
  it('moves every column like the element-by-element move, slot for slot, at any head and fill level', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.constantFrom(1, 2, 4, 8), fc.array(opArb, { maxLength: 40 }), (limit, initial, ops) => {
        const ring = new TestRing(limit, initial, false);
        const reference = new TestRing(limit, initial, true);
        const model: { n: number; label: string; seq: number }[] = [];
        const modelRef: { n: number; label: string; seq: number }[] = [];
        const seq = { next: 0 };
        const seqRef = { next: 0 };
        for (const op of ops) {
          run(ring, limit, [op], model, seq);
          run(reference, limit, [op], modelRef, seqRef);
          expect(ring.slots).toBe(reference.slots);
          expect(ring.columns()).toEqual(reference.columns());
          expect(ring.readAll()).toEqual(model);
          expect(ring.oldestSeq()).toBe(model[0]?.seq);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('grows from one slot to its limit with the head at every offset', () => {
    for (let offset = 0; offset < 64; offset++) {
      const ring = new TestRing(64, 1, false);
      const model: { n: number; label: string; seq: number }[] = [];
      const seq = { next: 0 };
      // Move the head to `offset` while the ring is still small, then fill it so it grows with that head.
      for (let k = 0; k < offset; k++) run(ring, 64, [{ push: 1 }, { evict: 1 }], model, seq);
      run(ring, 64, [{ push: 200 }], model, seq);
      expect(ring.slots).toBe(128);
      expect(ring.readAll()).toEqual(model);
      expect(model).toHaveLength(64);
      // A dead slot holds no reference.
      const live = new Set(model.map((m) => m.n));
      for (const item of ring.refs) if (item !== undefined) expect(live.has(item.n)).toBe(true);
    }
  });

  it('refuses to move a reference column to other than twice its slots', () => {
    class Bad extends TestRing {
      tryQuadruple(): void {
        this.moveRefs(this.refs, this.mask * 4 + 3, 1);
      }
    }
    expect(() => new Bad(8, 4, false).tryQuadruple()).toThrow();
  });
});
