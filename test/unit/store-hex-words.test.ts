import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hexToWords, wordsToHex } from '../../src/store/hex-words.js';

describe('hexToWords', () => {
  it('reads back every lowercase hex spelling it wrote', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 4 }), (values) => {
        const hex = wordsToHex(Uint32Array.from(values), 0, values.length);
        const out = new Uint32Array(values.length + 1);
        expect(hexToWords(hex, values.length, out, 1)).toBe(true);
        expect([...out.subarray(1)]).toEqual(values);
      }),
    );
  });

  it('refuses uppercase, other characters, characters whose low 7 bits spell a digit, and other lengths', () => {
    const out = new Uint32Array(2);
    const good = '0123456789abcdef';
    expect(hexToWords(good, 2, out, 0)).toBe(true);
    for (const bad of ['0123456789ABCDEF', '0123456789abcdeg', '0123456789abcde ', `0123456789abcde${String.fromCharCode(0x80 + 0x66)}`, `${String.fromCharCode(0x130)}123456789abcdef`, good.slice(1), `${good}0`]) {
      expect(hexToWords(bad, 2, out, 0), bad).toBe(false);
    }
  });
});
