/**
 * Lowercase hex ids and fingerprints as 32-bit words, so the recent store can keep them in typed arrays
 * instead of one string object each.
 */

/**
 * Writes the `words` 32-bit words spelled by `s` (exactly `8 * words` lowercase hex digits) to
 * `out[at..)`. Returns false, leaving `out` partly written, when `s` is anything else.
 */
export function hexToWords(s: string, words: number, out: Uint32Array, at: number): boolean {
  if (s.length !== words * 8) return false;
  for (let w = 0; w < words; w++) {
    let v = 0;
    for (let i = w * 8, end = i + 8; i < end; i++) {
      const c = s.charCodeAt(i);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    out[at + w] = v;
  }
  return true;
}

/** The lowercase hex spelling of `words` words at `in[at..)`. */
export function wordsToHex(from: Uint32Array, at: number, words: number): string {
  let s = '';
  for (let w = 0; w < words; w++) s += from[at + w]!.toString(16).padStart(8, '0');
  return s;
}
