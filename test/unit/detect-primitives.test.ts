import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import { EwmaBaseline } from '../../src/detect/ewma-baseline.js';

describe('BoundedMap', () => {
  it('evicts the least recently used entry past capacity and counts it', () => {
    const evicted: string[] = [];
    const m = new BoundedMap<number>({ maxEntries: 2, onEvict: (k, _v, why) => evicted.push(`${k}:${why}`) });
    m.set('a', 1, 0);
    m.set('b', 2, 0);
    expect(m.get('a', 1)).toBe(1); // a is now most recent
    m.set('c', 3, 2);
    expect([...m.entries()].map(([k]) => k)).toEqual(['a', 'c']);
    expect(evicted).toEqual(['b:capacity']);
    expect(m.evictions).toBe(1);
  });

  it('expires idle entries on access and on sweep', () => {
    const m = new BoundedMap<number>({ maxEntries: 10, ttlMs: 100 });
    m.set('old', 1, 0);
    m.set('new', 2, 150);
    expect(m.get('old', 150)).toBeUndefined();
    m.set('x', 3, 160);
    m.sweep(300);
    expect(m.size).toBe(0);
    expect(m.evictions).toBe(3);
  });

  it('stays within its cap under a million distinct keys', () => {
    const m = new BoundedMap<number>({ maxEntries: 1000 });
    for (let i = 0; i < 1_000_000; i++) m.getOrCreate(`k${i}`, () => i, i);
    expect(m.size).toBe(1000);
    expect(m.evictions).toBe(999_000);
  });
});

describe('EwmaBaseline', () => {
  it('learns, then arms, and scores outliers far above ordinary values', () => {
    const b = new EwmaBaseline({ alpha: 0.1, minSamples: 20 });
    for (let i = 0; i < 19; i++) b.update(10 + (i % 3));
    expect(b.phase).toBe('learning');
    b.update(11);
    expect(b.phase).toBe('armed');
    expect(b.mean).toBeGreaterThan(10);
    expect(b.mean).toBeLessThan(12);
    expect(b.score(11, 0.5)).toBeLessThan(2);
    expect(b.score(100, 0.5)).toBeGreaterThan(20);
  });

  it('restores from a snapshot and ignores non-finite samples', () => {
    const b = new EwmaBaseline({ alpha: 0.5, minSamples: 2 });
    b.update(4);
    b.update(Number.NaN);
    b.update(8);
    const copy = new EwmaBaseline({ alpha: 0.5, minSamples: 2 }, b.snapshot());
    expect(copy.snapshot()).toEqual({ mean: 6, variance: 4, samples: 2 });
    expect(copy.phase).toBe('armed');
  });
});
