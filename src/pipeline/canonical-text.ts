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

/** Characters of a string token scanned one by one before `STRING_STOP` takes over. */
const SHORT_SCAN_CHARS = 24;
/** What ends the plain part of a string: its closing quote, or a character that is not the plain case. */
const STRING_STOP = /["\\\x00-\x1f\ud800-\udfff]/g;

class GiveUp extends Error {}
const GIVE_UP = new GiveUp();

/** An object member: where its name lies in the text (between the quotes), and its canonical text. */
interface Member {
  keyStart: number;
  keyEnd: number;
  text: string;
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

/** Scans one JSON text; `pos` moves as values are read. */
class Scanner {
  pos = 0;
  isError: boolean | undefined;

  constructor(private readonly s: string) {}

  skipSpace(): void {
    const s = this.s;
    let p = this.pos;
    for (;;) {
      const c = s.charCodeAt(p);
      // JSON whitespace: space, tab, line feed, carriage return (RFC 8259 section 2).
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  /** A string token without escapes, as written (quotes included). */
  stringToken(): string {
    const s = this.s;
    const start = this.pos;
    let p = start + 1;
    // Member names and short values are scanned here; longer values by the regular expression engine,
    // which scans a 200-character text several times faster than this loop once it is called.
    for (const shortEnd = p + SHORT_SCAN_CHARS; ; p++) {
      if (p === shortEnd) {
        STRING_STOP.lastIndex = p;
        if (!STRING_STOP.test(s)) throw GIVE_UP;
        p = STRING_STOP.lastIndex - 1;
        if (s.charCodeAt(p) !== 0x22) throw GIVE_UP;
        break;
      }
      const c = s.charCodeAt(p);
      if (c === 0x22) break;
      // NaN (past the end), control characters (invalid raw), escapes and surrogates: not the plain case.
      if (!(c >= 0x20) || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) throw GIVE_UP;
    }
    this.pos = p + 1;
    return s.slice(start, p + 1);
  }

  numberToken(): string {
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
    const n = Number(s.slice(start, p));
    return Number.isFinite(n) ? String(n) : 'null';
  }

  literal(word: string): string {
    if (!this.s.startsWith(word, this.pos)) throw GIVE_UP;
    this.pos += word.length;
    return word;
  }

  value(depth: number): string {
    this.skipSpace();
    const c = this.s.charCodeAt(this.pos);
    switch (c) {
      case 0x7b:
        return this.object(depth + 1);
      case 0x5b:
        return this.array(depth + 1);
      case 0x22:
        return this.stringToken();
      case 0x74:
        return this.literal('true');
      case 0x66:
        return this.literal('false');
      case 0x6e:
        return this.literal('null');
      default:
        return this.numberToken();
    }
  }

  array(depth: number): string {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    this.pos++;
    this.skipSpace();
    if (this.s.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return '[]';
    }
    let out = '[';
    for (;;) {
      out += this.value(depth);
      this.skipSpace();
      const c = this.s.charCodeAt(this.pos++);
      if (c === 0x5d) return out + ']';
      if (c !== 0x2c) throw GIVE_UP;
      out += ',';
    }
  }

  object(depth: number): string {
    if (depth > MAX_DEPTH) throw GIVE_UP;
    const s = this.s;
    this.pos++;
    this.skipSpace();
    if (s.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return '{}';
    }
    const members: Member[] = [];
    let sorted = true;
    for (;;) {
      this.skipSpace();
      if (s.charCodeAt(this.pos) !== 0x22) throw GIVE_UP;
      const keyToken = this.stringToken();
      const keyStart = this.pos - keyToken.length + 1;
      const keyEnd = this.pos - 1;
      this.skipSpace();
      if (s.charCodeAt(this.pos++) !== 0x3a) throw GIVE_UP;
      const text = this.value(depth);
      // The canonical text of a literal is the literal: only `true` and `false` are booleans.
      if (depth === 1 && keyEnd - keyStart === 7 && s.startsWith('isError', keyStart)) this.isError = text === 'true' ? true : text === 'false' ? false : undefined;
      const member: Member = { keyStart, keyEnd, text: `${keyToken}:${text}` };
      const last = members[members.length - 1];
      if (last !== undefined && compareKeys(s, last, member) >= 0) sorted = false;
      members.push(member);
      this.skipSpace();
      const c = s.charCodeAt(this.pos++);
      if (c === 0x7d) break;
      if (c !== 0x2c) throw GIVE_UP;
    }
    if (!sorted) {
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
    for (let i = 0; i < members.length; i++) out += (i === 0 ? '' : ',') + members[i]!.text;
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
    const canonical = scanner.value(0);
    scanner.skipSpace();
    if (scanner.pos !== text.length) return undefined;
    return scanner.isError === undefined ? { canonical } : { canonical, isError: scanner.isError };
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}
