/**
 * Canonical JSON (`canonicalJson` in normalize.ts: keys sorted at every level) straight from JSON text,
 * without `JSON.parse` and without the object tree: for the small tool results and arguments that the
 * normalizer fingerprints on every tool call. Parsing a 230-byte result, writing it out canonically and
 * hashing it was a third of decode + normalize per span; the parse and the object walk were most of that.
 *
 * It only takes the plain case and gives up (undefined) on anything else, leaving it to the exact path
 * (`JSON.parse` + `canonicalJson`): strings with a backslash escape or a surrogate, a repeated member name
 * (where `JSON.parse` keeps the last), nesting deeper than `MAX_DEPTH`, and any text that is not JSON. In
 * the plain case the canonical form of a string is its text as written, of a number `String(Number(text))`,
 * and of an object its members sorted by name: exactly what `canonicalJson(JSON.parse(text))` writes.
 */

/** What the normalizer needs of a JSON payload: its canonical text, and a top-level boolean `isError`. */
export interface CanonicalText {
  canonical: string;
  isError?: boolean;
}

/** Deeper values go to the exact path (whose own limit, 64, writes a marker instead). */
const MAX_DEPTH = 32;

/**
 * What makes a string token other than the plain case: an escape, a raw control character (invalid JSON),
 * a surrogate. The whole text is searched for these once, ahead of the string tokens, rather than each
 * token character by character: the closing quote is then found with `indexOf`, which is several times
 * faster than any per-character scan (1,500 characters: 24 ns against 1.7 us for a regular expression
 * that stops at the quote too, and 0.9 us for this one over the whole text).
 */
const SPECIAL = /[\\\x00-\x1f\ud800-\udfff]/g;

class GiveUp extends Error {}
const GIVE_UP = new GiveUp();

/**
 * An object member. `keyStart`/`keyEnd`: where its name lies in the text (between the quotes);
 * `valueStart`/`valueEnd`: where its value does; `value`: the value's canonical text when that is not the
 * value as written; `contiguous`: `"name":value` is written in the text exactly as it is canonically.
 */
interface Member {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
  value: string | undefined;
  contiguous: boolean;
}

/** Member names in `JSON.parse`'s order (UTF-16 code units, as `<` compares strings), read in place. */
function compareKeys(s: string, a: Member, b: Member): number {
  const n = Math.min(a.keyEnd - a.keyStart, b.keyEnd - b.keyStart);
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(a.keyStart + i) - s.charCodeAt(b.keyStart + i);
    if (d !== 0) return d;
  }
  return a.keyEnd - a.keyStart - (b.keyEnd - b.keyStart);
}

/**
 * Scans one JSON text; `pos` moves as values are read. A value's reader returns its canonical text, or
 * undefined when that is the value exactly as written (`text[start, pos)`): compact JSON whose members
 * are already in order (tool arguments, as most SDKs write them) is then fingerprinted over the text it
 * came in, with no new string built and none for the hash to flatten.
 */
class Scanner {
  pos = 0;
  isError: boolean | undefined;
  /** Where the next `SPECIAL` character is, searched from a string token before it (length: none; -1: not searched yet). */
  private special = -1;

  constructor(private readonly s: string) {}

  /** Skips JSON whitespace; true when there was some (so the text around it is not canonical as written). */
  skipSpace(): boolean {
    const s = this.s;
    const start = this.pos;
    let p = start;
    for (;;) {
      const c = s.charCodeAt(p);
      // JSON whitespace: space, tab, line feed, carriage return (RFC 8259 section 2).
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
    return p !== start;
  }

  /** Moves past a string token (`pos` at its opening quote) that has no escape, control character or surrogate. */
  skipString(): void {
    const s = this.s;
    const start = this.pos;
    const end = s.indexOf('"', start + 1);
    if (end < 0) throw GIVE_UP;
    // A found position before this token was outside any string (whitespace): search on from here.
    if (this.special <= start) {
      SPECIAL.lastIndex = start + 1;
      this.special = SPECIAL.test(s) ? SPECIAL.lastIndex - 1 : s.length;
    }
    if (this.special < end) throw GIVE_UP;
    this.pos = end + 1;
  }

  number(): string | undefined {
    const s = this.s;
    const start = this.pos;
    let p = start;
    if (s.charCodeAt(p) === 0x2d) p++;
    let c = s.charCodeAt(p);
    if (c === 0x30) p++;
    else if (c >= 0x31 && c <= 0x39) {
      do p++;
      while (isDigit(s.charCodeAt(p)));
    } else throw GIVE_UP;
    if (s.charCodeAt(p) === 0x2e) {
      p++;
      if (!isDigit(s.charCodeAt(p))) throw GIVE_UP;
      do p++;
      while (isDigit(s.charCodeAt(p)));
    }
    c = s.charCodeAt(p);
    if (c === 0x65 || c === 0x45) {
      p++;
      c = s.charCodeAt(p);
      if (c === 0x2b || c === 0x2d) p++;
      if (!isDigit(s.charCodeAt(p))) throw GIVE_UP;
      do p++;
      while (isDigit(s.charCodeAt(p)));
    }
    this.pos = p;
    const written = s.slice(start, p);
    const n = Number(written);
    const canonical = Number.isFinite(n) ? String(n) : 'null';
    return canonical === written ? undefined : canonical;
  }

  literal(word: string): undefined {
    if (!this.s.startsWith(word, this.pos)) throw GIVE_UP;
    this.pos += word.length;
    return undefined;
  }

  /** The value at `pos` (no whitespace before it). */
  value(depth: number): string | undefined {
    switch (this.s.charCodeAt(this.pos)) {
      case 0x7b:
        return this.object(depth + 1);
      case 0x5b:
        return this.array(depth + 1);
      case 0x22:
        this.skipString();
        return undefined;
      case 0x74:
        return this.literal('true');
      case 0x66:
        return this.literal('false');
      case 0x6e:
        return this.literal('null');
      default:
        return this.number();
    }
  }

  array(depth: number): string | undefined {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    const s = this.s;
    const start = this.pos++;
    // The canonical text so far, from the first place where it differs from the text as written.
    let out: string | undefined;
    if (this.skipSpace()) out = '[';
    if (s.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return out === undefined ? undefined : '[]';
    }
    for (;;) {
      const valueStart = this.pos;
      const text = this.value(depth);
      if (out !== undefined) out += text ?? s.slice(valueStart, this.pos);
      else if (text !== undefined) out = s.slice(start, valueStart) + text;
      const valueEnd = this.pos;
      if (this.skipSpace() && out === undefined) out = s.slice(start, valueEnd);
      const c = s.charCodeAt(this.pos++);
      if (c === 0x5d) return out === undefined ? undefined : out + ']';
      if (c !== 0x2c) throw GIVE_UP;
      if (out !== undefined) out += ',';
      const next = this.pos;
      if (this.skipSpace() && out === undefined) out = s.slice(start, next);
    }
  }

  object(depth: number): string | undefined {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    const s = this.s;
    this.pos++;
    let asWritten = !this.skipSpace();
    if (s.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return asWritten ? undefined : '{}';
    }
    const members: Member[] = [];
    let sorted = true;
    for (;;) {
      if (this.skipSpace()) asWritten = false;
      if (s.charCodeAt(this.pos) !== 0x22) throw GIVE_UP;
      const keyStart = this.pos + 1;
      this.skipString();
      const keyEnd = this.pos - 1;
      let contiguous = !this.skipSpace();
      if (s.charCodeAt(this.pos++) !== 0x3a) throw GIVE_UP;
      if (this.skipSpace()) contiguous = false;
      const valueStart = this.pos;
      const value = this.value(depth);
      const valueEnd = this.pos;
      // The canonical text of a literal is the literal: only `true` and `false` are booleans.
      if (depth === 1 && keyEnd - keyStart === 7 && s.startsWith('isError', keyStart)) {
        const text = value ?? s.slice(valueStart, valueEnd);
        this.isError = text === 'true' ? true : text === 'false' ? false : undefined;
      }
      if (value !== undefined) contiguous = false;
      if (!contiguous) asWritten = false;
      const member: Member = { keyStart, keyEnd, valueStart, valueEnd, value, contiguous };
      const last = members[members.length - 1];
      if (last !== undefined && compareKeys(s, last, member) >= 0) sorted = false;
      members.push(member);
      if (this.skipSpace()) asWritten = false;
      const c = s.charCodeAt(this.pos++);
      if (c === 0x7d) break;
      if (c !== 0x2c) throw GIVE_UP;
    }
    if (sorted) {
      if (asWritten) return undefined;
    } else {
      // Insertion sort: objects in payloads have a handful of members, for which Array#sort's set-up costs more.
      for (let i = 1; i < members.length; i++) {
        const m = members[i]!;
        let j = i;
        for (; j > 0 && compareKeys(s, members[j - 1]!, m) > 0; j--) members[j] = members[j - 1]!;
        members[j] = m;
      }
      // A repeated name: JSON.parse keeps the last one, which the exact path knows how to do.
      for (let i = 1; i < members.length; i++) if (compareKeys(s, members[i - 1]!, members[i]!) === 0) throw GIVE_UP;
    }
    let out = '{';
    for (let i = 0; i < members.length; i++) {
      const m = members[i]!;
      if (i !== 0) out += ',';
      out += m.contiguous ? s.slice(m.keyStart - 1, m.valueEnd) : `${s.slice(m.keyStart - 1, m.keyEnd + 1)}:${m.value ?? s.slice(m.valueStart, m.valueEnd)}`;
    }
    return out + '}';
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * `canonicalJson(JSON.parse(text))` and the parsed value's top-level boolean `isError`, for a JSON object
 * or array text in the plain case; undefined otherwise (the caller takes the exact path).
 */
export function canonicalJsonOfText(text: string): CanonicalText | undefined {
  const scanner = new Scanner(text);
  try {
    scanner.skipSpace();
    const start = scanner.pos;
    const written = scanner.value(0);
    const end = scanner.pos;
    scanner.skipSpace();
    if (scanner.pos !== text.length) return undefined;
    const canonical = written ?? (start === 0 && end === text.length ? text : text.slice(start, end));
    return scanner.isError === undefined ? { canonical } : { canonical, isError: scanner.isError };
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}
