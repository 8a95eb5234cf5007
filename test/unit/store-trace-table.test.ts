import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY, TraceTable } from '../../src/store/trace-table.js';

/**
 * The trace table (src/store/trace-table.ts) is an open-addressing hash table whose removals shift later
 * entries back; this checks it against a Map over random adds, updates and removals, enough of them to
 * grow it several times and to leave long probe runs behind removals.
 */

function key(words: readonly number[]): Uint32Array {
  return Uint32Array.from(words);
}

describe('TraceTable', () => {
  it('agrees with a Map over random adds, updates and removals', () => {
    // Keys from a small pool (so the same keys come back after removal) that differ in one word at a time.
    const word = fc.integer({ min: 0, max: 40 }).map((n) => (n * 0x9e3779b1) >>> 0);
    const op = fc.record({ words: fc.tuple(word, fc.constantFrom(0, 7), word, fc.constantFrom(1, 0xffffffff)), remove: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const table = new TraceTable();
        const model = new Map<string, number>();
        ops.forEach(({ words, remove }, i) => {
          const k = key(words);
          const name = words.join(',');
          const slot = table.find(k, 0);
          expect(slot >= 0).toBe(model.has(name));
          if (remove) {
            if (slot >= 0) table.deleteAt(slot);
            model.delete(name);
          } else if (slot >= 0) {
            expect(table.valueAt(slot)).toBe(model.get(name));
            table.setValueAt(slot, i);
            model.set(name, i);
          } else {
            table.insert(slot, k, 0, i);
            model.set(name, i);
          }
        });
        expect(table.size).toBe(model.size);
        for (const [name, value] of model) {
          const slot = table.find(key(name.split(',').map(Number)), 0);
          expect(slot).toBeGreaterThanOrEqual(0);
          expect(table.valueAt(slot)).toBe(value);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('reads keys at an offset, and keeps values apart from the empty marker', () => {
    const table = new TraceTable();
    const words = key([9, 1, 2, 3, 4]);
    table.insert(table.find(words, 1), words, 1, 0);
    expect(table.valueAt(table.find(key([1, 2, 3, 4]), 0))).toBe(0);
    expect(table.find(key([9, 1, 2, 3]), 0)).toBeLessThan(0);
    expect(EMPTY).toBeLessThan(0);
  });
  it('sweeps exactly the entries whose value is a position before the oldest, a few slots at a time', () => {
    const word = fc.integer({ min: 0, max: 0xffffffff });
    const entry = fc.record({ words: fc.tuple(word, word, word, word), value: fc.integer({ min: -50, max: 100 }) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 1500 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 40 }), (entries, oldest, step) => {
        const table = new TraceTable();
        const model = new Map<string, number>();
        for (const { words, value } of entries) {
          // -1 is the empty marker, never a value.
          const v = value === -1 ? -2 : value;
          const slot = table.find(key(words), 0);
          if (slot >= 0) table.setValueAt(slot, v);
          else table.insert(slot, key(words), 0, v);
          model.set(words.join(','), v);
        }
        // Sweep a whole lap of the table (its slots are at least 1024) in steps.
        for (let swept = 0; swept < 4096; swept += step) table.sweep(oldest, step);
        const kept = [...model].filter(([, v]) => !(v >= 0 && v < oldest));
        expect(table.size).toBe(kept.length);
        for (const [name, v] of model) {
          const slot = table.find(key(name.split(',').map(Number)), 0);
          if (v >= 0 && v < oldest) expect(slot).toBeLessThan(0);
          else expect(table.valueAt(slot)).toBe(v);
        }
      }),
      { numRuns: 40 },
    );
  });
});
