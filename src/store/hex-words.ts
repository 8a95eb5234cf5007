/**
 * Lowercase hex ids and fingerprints as 32-bit words, so the recent store can keep them in typed arrays
 * instead of one string object each.
 */

/** Digit values of '0'-'9' and 'a'-'f' by character code below 128; -1 for every other character. */
const DIGITS = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) DIGITS[0x30 + i] = i;
for (let i = 0; i < 6; i++) DIGITS[0x61 + i] = 10 + i;

/**
 * Writes the `words` 32-bit words spelled by `s` (exactly `8 * words` lowercase hex digits) to
 * `out[at..)`. Returns false, leaving `out` partly written, when `s` is anything else.
 *
 * Runs on every stored span and event (ids, fingerprints), so the eight digits of a word are looked up
 * independently and checked once at the end: a digit-by-digit loop with a branch per character was
 * three times slower.
 */
export function hexToWords(s: string, words: number, out: Uint32Array, at: number): boolean {
  if (s.length !== words * 8) return false;
  // Every character code OR-ed together (must stay below 128, the table's range) and every digit value
  // OR-ed together (negative once any character is not a digit).
  let codes = 0;
  let digits = 0;
  for (let w = 0, i = 0; w < words; w++, i += 8) {
    const c0 = s.charCodeAt(i);
    const c1 = s.charCodeAt(i + 1);
    const c2 = s.charCodeAt(i + 2);
    const c3 = s.charCodeAt(i + 3);
    const c4 = s.charCodeAt(i + 4);
    const c5 = s.charCodeAt(i + 5);
    const c6 = s.charCodeAt(i + 6);
    const c7 = s.charCodeAt(i + 7);
    codes |= c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7;
    const d0 = DIGITS[c0 & 0x7f]!;
    const d1 = DIGITS[c1 & 0x7f]!;
    const d2 = DIGITS[c2 & 0x7f]!;
    const d3 = DIGITS[c3 & 0x7f]!;
    const d4 = DIGITS[c4 & 0x7f]!;
    const d5 = DIGITS[c5 & 0x7f]!;
    const d6 = DIGITS[c6 & 0x7f]!;
    const d7 = DIGITS[c7 & 0x7f]!;
    digits |= d0 | d1 | d2 | d3 | d4 | d5 | d6 | d7;
    out[at + w] = (d0 << 28) | (d1 << 24) | (d2 << 20) | (d3 << 16) | (d4 << 12) | (d5 << 8) | (d6 << 4) | d7;
  }
  return codes < 0x80 && digits >= 0;
}

/** The lowercase hex spelling of `words` words at `in[at..)`. */
export function wordsToHex(from: Uint32Array, at: number, words: number): string {
  let s = '';
  for (let w = 0; w < words; w++) s += from[at + w]!.toString(16).padStart(8, '0');
  return s;
}
