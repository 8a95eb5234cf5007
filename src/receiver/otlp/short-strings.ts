/**
 * The OTLP decoders' cache of short strings. Attribute keys, method and tool names, enum-like values and
 * resource names repeat in almost every span. Looking them up in a small direct-mapped cache costs a byte
 * compare, about half of what a native decode call costs for strings this short, and makes every span share
 * one copy of each, which also shrinks what the store holds. Each slot keeps the bytes its string was
 * decoded from, compared four at a time: equal bytes decode to equal strings, so any short string can be
 * cached, ASCII or not (invalid UTF-8 decodes to the same replacement characters every time).
 *
 * Use: `shortString(...)`; on undefined, decode the bytes and hand the string to `rememberShortString`.
 */

/** Longer strings are decoded every time. */
export const SHORT_STRING_MAX_BYTES = 40;
const CACHE_SIZE = 4096; // a power of two, see the mask below
const strings: (string | undefined)[] = new Array<string | undefined>(CACHE_SIZE).fill(undefined);
/** Slot `s`'s bytes at `s * SHORT_STRING_MAX_BYTES`. */
const bytes = new Uint8Array(CACHE_SIZE * SHORT_STRING_MAX_BYTES);
const words = new DataView(bytes.buffer);
/** Byte length of each slot's string; -1 for an empty slot. */
const lengths = new Int32Array(CACHE_SIZE).fill(-1);
/** The slot of the last look-up, for `rememberShortString` after a miss. */
let lastSlot = 0;

/**
 * The cached string of `buf[start, end)` (1 to SHORT_STRING_MAX_BYTES bytes), or undefined. `view` is a
 * DataView over the same bytes as `buf`.
 */
export function shortString(buf: Uint8Array, view: DataView, start: number, end: number): string | undefined {
  const len = end - start;
  // A cheap hash of the length and the first, middle and last bytes picks the slot.
  const slot =
    (len * 31 + buf[start]! * 7 + buf[start + (len >> 1)]! * 131 + buf[end - 1]! * 4099 + buf[len > 1 ? end - 2 : start]! * 17) & (CACHE_SIZE - 1);
  lastSlot = slot;
  if (lengths[slot] !== len) return undefined;
  const base = slot * SHORT_STRING_MAX_BYTES;
  let k = 0;
  while (k + 4 <= len && view.getInt32(start + k, true) === words.getInt32(base + k, true)) k += 4;
  if (k + 4 <= len) return undefined;
  while (k < len && buf[start + k] === bytes[base + k]) k++;
  return k === len ? strings[slot] : undefined;
}

/** Caches `decoded`, the string of `buf[start, end)`, after `shortString` missed on the same bytes. */
export function rememberShortString(buf: Uint8Array, start: number, end: number, decoded: string): void {
  const slot = lastSlot;
  strings[slot] = decoded;
  lengths[slot] = end - start;
  const base = slot * SHORT_STRING_MAX_BYTES;
  for (let k = start; k < end; k++) bytes[base + k - start] = buf[k]!;
}
