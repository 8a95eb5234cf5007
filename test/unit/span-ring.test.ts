import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpanRing, type NewSpan } from '../../src/store/span-ring.js';
import type { StoredSpan } from '../../src/store/types.js';

/**
 * The span ring (src/store/span-ring.ts) holds the recent store's spans in columns, addressed by position,
 * with each trace's spans linked newest to oldest. These tests check it against a plain list of spans:
 * look-ups, trace reads, eviction, growth past its first capacity, traces big enough for a span-id map,
 * and span ids that are not 16 hex digits.
 */

const slab = Buffer.alloc(64);
const resource = { 'service.name': 'svc' };
const scope = { name: 'scope' };

function spanId(n: number): string {
  return n.toString(16).padStart(16, '0');
}

function newSpan(seq: number, traceId: string, id: string, decoded = false): NewSpan {
  const base = { seq, size: 100 + seq, traceId, spanId: id, server: undefined };
  return decoded
    ? { ...base, decoded: { traceId, spanId: id } as unknown as StoredSpan }
    : { ...base, bytes: { slab, offset: seq % 32, length: 8 }, resource, scope };
}

/** The reference: spans oldest first. */
interface Held {
  seq: number;
  traceId: string;
  spanId: string;
}

function check(ring: SpanRing, model: Held[], evicted: Held[]): void {
  expect(ring.size).toBe(model.length);
  for (const h of evicted) expect(ring.find(h.traceId, h.spanId)).toBe(-1);
  expect(ring.oldestSeq()).toBe(model[0]?.seq);
  const byTrace = new Map<string, number[]>();
  for (const h of model) {
    const p = ring.find(h.traceId, h.spanId);
    expect(ring.isAt(p, h.traceId, h.spanId)).toBe(true);
    byTrace.set(h.traceId, [...(byTrace.get(h.traceId) ?? []), p]);
  }
  for (const [traceId, positions] of byTrace) {
    // Newest first; every position reads back as held.
    expect(ring.positionsOf(traceId)).toEqual([...positions].reverse());
    for (const p of positions) {
      const held = ring.read(p);
      expect(held.message !== undefined || held.decoded !== undefined).toBe(true);
    }
  }
}

describe('SpanRing', () => {
  it('finds, reads and evicts spans oldest first, and forgets a trace with its last span', () => {
    const ring = new SpanRing(8);
    ring.push(newSpan(1, 'a'.repeat(32), spanId(1)));
    ring.push(newSpan(2, 'b'.repeat(32), spanId(2), true));
    ring.push(newSpan(3, 'a'.repeat(32), spanId(3)));
    expect(ring.positionsOf('a'.repeat(32))).toEqual([2, 0]);
    expect(ring.read(1).decoded?.spanId).toBe(spanId(2));
    expect(ring.read(0).message).toHaveLength(8);
    expect(ring.find('a'.repeat(32), spanId(2))).toBe(-1);

    expect(ring.evictOldest()).toBe(101);
    expect(ring.find('a'.repeat(32), spanId(1))).toBe(-1);
    expect(ring.positionsOf('a'.repeat(32))).toEqual([2]);
    ring.evictOldest();
    ring.evictOldest();
    expect(ring.size).toBe(0);
    expect(ring.positionsOf('a'.repeat(32))).toEqual([]);
    expect(ring.evictOldest()).toBe(0);
  });

  it('keeps server attribution with the span, decoded or not', () => {
    const ring = new SpanRing(4);
    const bytesAt = ring.push(newSpan(1, 't1', spanId(1)));
    const decodedAt = ring.push(newSpan(2, 't1', spanId(2), true));
    ring.setServer(bytesAt, 'alpha');
    ring.setServer(decodedAt, 'beta');
    expect(ring.read(bytesAt).server).toBe('alpha');
    expect(ring.read(decodedAt).decoded?.server).toBe('beta');
  });

  it('tells span ids that are not 16 hex digits apart by the whole string', () => {
    const ring = new SpanRing(8);
    ring.push(newSpan(1, 't', 'b1'));
    ring.push(newSpan(2, 't', 'B1'));
    ring.push(newSpan(3, 't', spanId(0xb1)));
    expect(ring.find('t', 'b1')).toBe(0);
    expect(ring.find('t', 'B1')).toBe(1);
    expect(ring.find('t', spanId(0xb1))).toBe(2);
    expect(ring.find('t', 'b2')).toBe(-1);
    expect(ring.isAt(0, 't', spanId(0xb1))).toBe(false);
  });

  it('agrees with a plain list over random pushes and evictions, including big traces and growth', () => {
    agreesWithList((t) => `trace-${t}`);
  });

  it('agrees with a plain list with hex trace ids (indexed by their words) beside other ones', () => {
    agreesWithList((t) => (t === 3 ? 'trace-3' : `${t}${'0'.repeat(30)}f${t}`));
  });

  it('finds each of many hex traces until its spans are evicted, wherever the index puts it', () => {
    const ring = new SpanRing(1000);
    const traceIdOf = (i: number): string => `${i.toString(16).padStart(8, '0')}${'ab'.repeat(12)}`;
    for (let i = 0; i < 20_000; i++) {
      ring.push(newSpan(2 * i, traceIdOf(i), spanId(1)));
      ring.push(newSpan(2 * i + 1, traceIdOf(i), spanId(2)));
      while (ring.size > 1000) ring.evictOldest();
    }
    for (const i of [0, 19_499, 19_500, 19_999]) {
      const held = i >= 19_500;
      expect(ring.find(traceIdOf(i), spanId(1))).toBe(held ? 2 * i : -1);
      expect(ring.positionsOf(traceIdOf(i))).toEqual(held ? [2 * i + 1, 2 * i] : []);
    }
  });

  it('keeps a trace of thousands of spans searchable after its oldest spans are evicted', () => {
    const ring = new SpanRing(5000);
    for (let i = 0; i < 6000; i++) {
      ring.push(newSpan(i, 'big', spanId(i)));
      if (ring.size > 5000) ring.evictOldest();
    }
    expect(ring.find('big', spanId(999))).toBe(-1);
    expect(ring.find('big', spanId(1000))).toBe(1000);
    expect(ring.find('big', spanId(5999))).toBe(5999);
    expect(ring.positionsOf('big')).toHaveLength(5000);
  });
});

/** Random pushes and evictions over four traces (named by `traceIdOf`), checked against a plain list. */
function agreesWithList(traceIdOf: (t: number) => string): void {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 3 }) }), fc.constant({ evict: true })), { maxLength: 400 }),
      fc.integer({ min: 1, max: 200 }),
      (ops, max) => {
        const ring = new SpanRing(max);
        const model: Held[] = [];
        const evicted: Held[] = [];
        let seq = 0;
        for (const op of ops) {
          if ('evict' in op) {
            ring.evictOldest();
            const gone = model.shift();
            if (gone) evicted.push(gone);
            continue;
          }
          // Four traces, so some pass the big-trace threshold; ids unique per push.
          const traceId = traceIdOf(op.push);
          const id = spanId(++seq);
          ring.push(newSpan(seq, traceId, id, seq % 5 === 0));
          model.push({ seq, traceId, spanId: id });
          while (ring.size > max) {
            ring.evictOldest();
            evicted.push(model.shift()!);
          }
        }
        check(ring, model, evicted);
        for (let t = 0; t < 4; t++) {
          const traceId = traceIdOf(t);
          expect(ring.positionsOf(traceId).length).toBe(model.filter((h) => h.traceId === traceId).length);
        }
      },
    ),
    { numRuns: 150 },
  );
}
