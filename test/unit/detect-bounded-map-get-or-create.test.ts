import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/detect/bounded-map.js';

/**
 * `getOrCreate` does its own single lookup; it must behave exactly as the `get`, then `make` and `set`,
 * it replaced: same value handed back, same `make` calls, same recency order, same evictions (key, value,
 * reason, order) and counts, under capacity and TTL pressure.
 */
describe('BoundedMap.getOrCreate', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('getOrCreate' as const), key: fc.integer({ min: 0, max: 7 }), dt: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 7 }), dt: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 7 }), dt: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 7 }), dt: fc.constant(0) }),
    fc.record({ kind: fc.constant('sweep' as const), key: fc.constant(0), dt: fc.integer({ min: 0, max: 40 }) }),
  );

  it('matches get + make + set for random operations, caps and TTLs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }), fc.array(op, { maxLength: 200 }), (maxEntries, ttlMs, ops) => {
        const logs: string[][] = [[], []];
        const make = (i: number) =>
          new BoundedMap<string>({ maxEntries, ...(ttlMs !== undefined ? { ttlMs } : {}), onEvict: (k, v, why) => logs[i]!.push(`${k}=${v}:${why}`) });
        const maps = [make(0), make(1)] as const;
        const results: unknown[][] = [[], []];
        let now = 0;
        let serial = 0;
        for (const o of ops) {
          now += o.dt;
          const key = `k${o.key}`;
          serial += 1;
          for (const i of [0, 1] as const) {
            const m = maps[i];
            const value = `v${serial}`;
            if (o.kind === 'getOrCreate') {
              let made = 0;
              const factory = (): string => {
                made += 1;
                return value;
              };
              if (i === 0) {
                results[i]!.push(m.getOrCreate(key, factory, now), made);
              } else {
                let found = m.get(key, now);
                if (found === undefined) {
                  found = factory();
                  m.set(key, found, now);
                }
                results[i]!.push(found, made);
              }
            } else if (o.kind === 'get') results[i]!.push(m.get(key, now));
            else if (o.kind === 'set') m.set(key, value, now);
            else if (o.kind === 'delete') results[i]!.push(m.delete(key));
            else m.sweep(now);
          }
        }
        expect(results[0]).toEqual(results[1]);
        expect(logs[0]).toEqual(logs[1]);
        expect(maps[0].evictions).toBe(maps[1].evictions);
        expect([...maps[0].entries()]).toEqual([...maps[1].entries()]);
        // Recency: the same key goes first under new pressure.
        maps[0].set('fresh', 'x', now);
        maps[1].set('fresh', 'x', now);
        expect(logs[0]).toEqual(logs[1]);
      }),
      { numRuns: 500 },
    );
  });

  it('hands `now` to the factory', () => {
    const m = new BoundedMap<number>({ maxEntries: 2 });
    expect(m.getOrCreate('a', (now) => now * 2, 21)).toBe(42);
    expect(m.getOrCreate('a', () => 0, 22)).toBe(42);
  });
});
