import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { SpanRing, type NewSpan } from '../../src/store/span-ring.js';
import type { TraceTable } from '../../src/store/trace-table.js';

/**
 * The span ring leaves a hex trace's index entry behind when the trace's last span is evicted and sweeps
 * such entries a few slots per new trace (src/store/trace-table.ts, `sweep`); these check that a left-behind
 * entry reads as no trace, that a trace id coming back starts a fresh chain, that big traces still lose
 * their evicted spans at once, and that the index stays within the bound the sweep promises.
 */

const slab = Buffer.alloc(64);

function newSpan(seq: number, traceId: string, spanId: string): NewSpan {
  return { seq, size: 1, traceId, spanId, server: undefined, bytes: { slab, offset: 0, length: 8 }, resource: {}, scope: { name: 's' } };
}

const traceIdOf = (i: number): string => `${i.toString(16).padStart(8, '0')}${'cd'.repeat(12)}`;
const spanIdOf = (i: number): string => i.toString(16).padStart(16, '0');

function indexOf(ring: SpanRing): TraceTable {
  return (ring as unknown as { byTrace: TraceTable }).byTrace;
}

describe('SpanRing trace index', () => {
  it('answers a trace whose spans were all evicted as absent, and starts it afresh when it comes back', () => {
    const ring = new SpanRing(4);
    ring.push(newSpan(0, traceIdOf(1), spanIdOf(1)));
    ring.push(newSpan(1, traceIdOf(1), spanIdOf(2)));
    for (let i = 0; i < 4; i++) ring.push(newSpan(2 + i, traceIdOf(100 + i), spanIdOf(1)));
    while (ring.size > 4) ring.evictOldest();
    expect(ring.positionsOf(traceIdOf(1))).toEqual([]);
    expect(ring.find(traceIdOf(1), spanIdOf(2))).toBe(-1);
    const back = ring.push(newSpan(6, traceIdOf(1), spanIdOf(2)));
    ring.evictOldest();
    expect(ring.positionsOf(traceIdOf(1))).toEqual([back]);
    expect(ring.find(traceIdOf(1), spanIdOf(2))).toBe(back);
    expect(ring.find(traceIdOf(1), spanIdOf(1))).toBe(-1);
  });

  it('drops evicted spans of a big trace from its span-id map, and the trace with its newest span', () => {
    const ring = new SpanRing(64);
    const big = traceIdOf(7);
    for (let i = 0; i < 40; i++) ring.push(newSpan(i, big, spanIdOf(i)));
    for (let i = 0; i < 24; i++) ring.push(newSpan(40 + i, traceIdOf(1000 + i), spanIdOf(1)));
    for (let i = 0; i < 10; i++) ring.evictOldest();
    expect(ring.find(big, spanIdOf(9))).toBe(-1);
    expect(ring.find(big, spanIdOf(10))).toBe(10);
    expect(ring.positionsOf(big)).toHaveLength(30);
    const maps = (ring as unknown as { bigTraces: Map<string, Map<string, number>> }).bigTraces;
    expect(maps.get(big)?.size).toBe(30);
    for (let i = 0; i < 30; i++) ring.evictOldest();
    expect(maps.has(big)).toBe(false);
    expect(ring.positionsOf(big)).toEqual([]);
  });

  it('keeps the index within the live traces plus a sixteenth of its slots over many single-span traces', () => {
    const ring = new SpanRing(5000);
    const index = indexOf(ring);
    for (let i = 0; i < 200_000; i++) {
      ring.push(newSpan(i, traceIdOf(i), spanIdOf(1)));
      while (ring.size > 5000) ring.evictOldest();
      if (i % 997 === 0) {
        const slots = (index as unknown as { mask: number }).mask + 1;
        expect(index.size).toBeLessThanOrEqual(5000 + slots / 16 + 1);
        // Grown for the live traces and what the sweep leaves, as before for the live ones alone.
        expect(slots).toBeLessThanOrEqual(16_384);
      }
    }
    expect(ring.find(traceIdOf(200_000 - 5001), spanIdOf(1))).toBe(-1);
    expect(ring.find(traceIdOf(200_000 - 5000), spanIdOf(1))).toBe(200_000 - 5000);
  });
});
