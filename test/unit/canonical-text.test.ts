import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJsonOfText } from '../../src/pipeline/canonical-text.js';
import { CANONICAL_FINGERPRINT_MAX_CHARS, canonicalJson, normalizeSpan } from '../../src/pipeline/normalize.js';
import { OTEL } from '../../src/semconv/attributes.js';
import { span } from '../helpers/store-items.js';

/**
 * Payload fingerprints are sha256 over canonical JSON; the text scanner must write exactly what
 * `canonicalJson(JSON.parse(text))` writes, or say it cannot (undefined), and never accept what JSON.parse
 * refuses.
 */

/** What the exact path gives: canonical text and the top-level boolean isError, or undefined for non-JSON. */
function exact(text: string): { canonical: string; isError?: boolean } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const rec = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const isError = rec?.['isError'];
  return typeof isError === 'boolean' ? { canonical: canonicalJson(value), isError } : { canonical: canonicalJson(value) };
}

function agrees(text: string): boolean {
  const fast = canonicalJsonOfText(text);
  if (fast !== undefined) expect(fast).toEqual(exact(text));
  return fast !== undefined;
}

/** Texts as senders write them: compact, indented, with spaces, with unsorted and repeated keys. */
const layouts = (value: unknown) =>
  fc.constantFrom(
    JSON.stringify(value),
    JSON.stringify(value, null, 2),
    JSON.stringify(value, null, '\t').replace(/\n/g, '\r\n'),
    ` ${JSON.stringify(value)} `,
    // Spaces only after commas and colons (Python's json.dumps): the text is compact up to the first one.
    JSON.stringify(value).replace(/([,:])/g, '$1 '),
  );

/** Strings of BMP characters that JSON.stringify writes unescaped: one, two and three UTF-8 bytes each. */
const plainBmp = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7f }), fc.integer({ min: 0x80, max: 0x7ff }), fc.integer({ min: 0x800, max: 0xfffd }))
    .filter((c) => c !== 0x22 && c !== 0x5c && (c < 0xd800 || c > 0xdfff))
    .map((c) => String.fromCharCode(c)),
});

/** Now and then a string the scanner must give up on (escapes, lone surrogates, astral characters). */
const mostlyPlain = fc.oneof({ arbitrary: plainBmp, weight: 12 }, { arbitrary: fc.string({ unit: 'binary' }), weight: 1 });

describe('canonicalJsonOfText', () => {
  it('writes canonicalJson(JSON.parse(text)) for random JSON in any layout, or gives up', () => {
    let taken = 0;
    fc.assert(
      fc.property(
        fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.array(fc.jsonValue())).chain((v) => layouts(v)),
        (text) => {
          if (agrees(text)) taken++;
        },
      ),
      { numRuns: 3000 },
    );
    // fast-check's strings are often plain: the scanner must take a good share of them, not give up on all.
    expect(taken).toBeGreaterThan(500);
  });

  it('takes non-ASCII keys and values, and sorts them as JSON.parse orders them', () => {
    let taken = 0;
    fc.assert(
      fc.property(
        fc.dictionary(mostlyPlain, fc.oneof(mostlyPlain, fc.jsonValue()), { minKeys: 1, maxKeys: 6 }).chain((v) => layouts(v)),
        (text) => {
          if (agrees(text)) taken++;
        },
      ),
      { numRuns: 2000 },
    );
    expect(taken).toBeGreaterThan(200);
    expect(agrees('{"é":"ü","ключ":"值","z":"\\u0041","a":"\u0800\uffff"}')).toBe(false);
    // Two- and three-byte characters at the edges of their ranges, as raw characters in the JSON text.
    expect(agrees('{"é":"ü","ключ":"值","a":"\u0800\uffff\u07ff\u0080"}')).toBe(true);
  });

  it('takes plain MCP payloads, sorts their keys and reads isError', () => {
    const result = '{"content":[{"type":"text","text":"12C, light rain"}],"structuredContent":{"wind":{"speed":14.50,"dir":"SW"},"t":-0},"isError":false}';
    expect(canonicalJsonOfText(result)).toEqual(exact(result));
    expect(canonicalJsonOfText(result)?.canonical).toBe('{"content":[{"text":"12C, light rain","type":"text"}],"isError":false,"structuredContent":{"t":0,"wind":{"dir":"SW","speed":14.5}}}');
    expect(canonicalJsonOfText('{"isError": true, "content": []}')).toEqual({ canonical: '{"content":[],"isError":true}', isError: true });
    expect(canonicalJsonOfText('[{"isError":true}]')).toEqual({ canonical: '[{"isError":true}]' });
    expect(canonicalJsonOfText('{"10":1,"9":2,"a":[1e2,1E-7,-0.0,1e400]}')).toEqual(exact('{"10":1,"9":2,"a":[1e2,1E-7,-0.0,1e400]}'));
  });

  it('gives up on escapes, surrogates, repeated names and deep nesting, which the exact path handles', () => {
    for (const text of ['{"a":"x\\"y"}', '{"a\\u0062":1}', '{"a":"\ud83d\ude00"}', '{"a":1,"b":2,"a":3}', `${'['.repeat(40)}${']'.repeat(40)}`]) {
      expect(canonicalJsonOfText(text), text).toBeUndefined();
    }
  });

  it('writes a text that is already canonical (compact, members in order) unchanged', () => {
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(plainBmp, fc.jsonValue()), fc.array(fc.jsonValue())), (value) => {
        const text = Buffer.from(canonicalJson(value)).toString();
        const fast = canonicalJsonOfText(text);
        if (fast !== undefined) expect(fast.canonical).toBe(text);
        agrees(` ${text} `);
      }),
      { numRuns: 1000 },
    );
    const args = '{"path":"/srv/data/report.txt","query":"select where limit"}';
    expect(canonicalJsonOfText(args)?.canonical).toBe(args);
    expect(canonicalJsonOfText(`\n${args} `)?.canonical).toBe(args);
  });

  it('finds an escape or control character in any string, also after whitespace between tokens', () => {
    for (const text of ['{"a":"x",\n"b":"y\u0001"}', '[\n"a",\n"b\\n"]', '[\r\n"a", "b\t"]', '{"a":\t"x","b\\"":1}', '[1,\n2,"\u001f"]']) {
      expect(canonicalJsonOfText(text), JSON.stringify(text)).toBeUndefined();
    }
    for (const text of ['[\n"a"\n,"b"]', '{\t"b" : "x" ,\n"a":[ 1 , "y" ]\n}', '[ ]', '{ }', '[[],{},"",0]', '[1, 2]', '[1 ,2]', '{"a":[1,"b" ],"b" :1}', '{"a": 1}']) {
      expect(canonicalJsonOfText(text), JSON.stringify(text)).toEqual(exact(text));
    }
  });

  it('never accepts what JSON.parse refuses', () => {
    const bad = ['{', '{"a":1,}', '[1,]', '{"a" 1}', '{a:1}', "{'a':1}", '[01]', '[1.]', '[.5]', '[+1]', '[1e]', '[tru]', '[nul]', '{"a":"\u0001"}', '[1] [2]', '[1]x', '{"a":1}}', '\ufeff[1]', '[NaN]', '[Infinity]', '[-]'];
    for (const text of bad) {
      expect(() => JSON.parse(text), text).toThrow();
      expect(canonicalJsonOfText(text), text).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.jsonValue().map((v) => JSON.stringify(v)), fc.nat(), fc.string({ maxLength: 3 }), (text, at, insert) => {
        const cut = at % (text.length + 1);
        agrees(text.slice(0, cut) + insert + text.slice(cut));
        agrees(text.slice(0, cut));
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the normalizer the same event as the exact path for small tool results', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }).chain((v) => layouts({ ...v, isError: Object.keys(v).length % 2 === 0 })),
        (text) => {
          // Longer payloads are fingerprinted as sent when capture is off and parsed when it is on: the two
          // settings only share the exact path up to this size.
          fc.pre(text.length <= CANONICAL_FINGERPRINT_MAX_CHARS);
          const s = span({ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), name: 'tools/call t', attributes: { [OTEL.mcpMethodName]: 'tools/call', [OTEL.genAiToolCallResult]: text } });
          const fast = normalizeSpan(s, { captureContent: false });
          // With capture on the normalizer parses the payload (it keeps the content): the exact path.
          const slow = normalizeSpan(s, { captureContent: true });
          expect(fast?.result).toEqual({ size: slow?.result?.size, fingerprint: slow?.result?.fingerprint });
          expect(fast?.outcome).toBe(slow?.outcome);
        },
      ),
      { numRuns: 500 },
    );
  });
});
