import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/pipeline/normalize.js';

/**
 * The canonical form, spelled out the slow way: keys sorted by UTF-16 code units at every level,
 * `undefined` members left out, non-finite numbers as null, bytes as base64 strings. Payload fingerprints
 * (normalizer and taps alike) are sha256 over this text, so a faster writer must produce it exactly or
 * fingerprints stop matching across versions and across instrumentations.
 */
function reference(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return 'null';
  if (depth > 64) return '"[depth]"';
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  if (Array.isArray(value)) return `[${Array.from(value, (v) => reference(v, depth + 1)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .sort()
    .filter((k) => record[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${reference(record[k], depth + 1)}`);
  return `{${members.join(',')}}`;
}

describe('canonicalJson', () => {
  it('sorts keys at every level and matches the spelled-out form on random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches the spelled-out form on values JSON.parse cannot produce (bytes, bigint, undefined, NaN)', () => {
    const extra = fc.letrec((tie) => ({
      leaf: fc.oneof(
        fc.string(),
        fc.double(),
        fc.bigInt(),
        fc.boolean(),
        fc.constant(undefined),
        fc.constant(null),
        fc.uint8Array({ maxLength: 8 }),
      ),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('node'), { maxKeys: 4 })),
    }));
    fc.assert(
      fc.property(extra.node, (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('orders integer-like keys as strings, not in the numeric order objects keep them in', () => {
    const value = { '10': 'a', '2': 'b', '1': 'c', b: { '9': 1, '10': 2 }, a: 0 };
    expect(canonicalJson(value)).toBe('{"1":"c","10":"a","2":"b","a":0,"b":{"10":2,"9":1}}');
  });

  it('keeps a "__proto__" key as data and does not touch any prototype', () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"z":1}') as unknown;
    expect(canonicalJson(value)).toBe('{"__proto__":{"polluted":true},"z":1}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('cuts nesting deeper than 64 levels with a marker instead of recursing on', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 200; i++) deep = [deep];
    const text = canonicalJson(deep);
    expect(text).toBe(reference(deep));
    expect(text).toContain('"[depth]"');
    expect(text).not.toContain('bottom');
  });
});
