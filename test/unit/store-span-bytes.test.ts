import { describe, expect, it } from 'vitest';
import { decodeProtobufTraces, decodeSpanMessage } from '../../src/receiver/otlp/decode-protobuf.js';
import { SpanSlabs, contentKeys } from '../../src/store/span-bytes.js';
import { type Bytes, kv, len, request, span, str, tag, uint, varint } from './helpers/proto-writer.js';

/**
 * The span copy reads the common encoding (one-byte tags and lengths, the key first in a KeyValue) on a
 * fast path; these spans are valid protobuf the SDKs do not write, and must come out the same as the
 * common encoding does: content replaced, everything else kept.
 */

const SECRET = 'sk-live-0123456789abcdefSECRET';
const PLACEHOLDER = '[omitted]';

function slabs(): SpanSlabs {
  return new SpanSlabs(contentKeys(['gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'], ['mcp.request.argument.']), PLACEHOLDER);
}

/** A string attribute as `Span.attributes` (field 9). */
function attribute(key: string, value: string): Bytes {
  return len(9, kv(key, str(1, value)));
}

/** Copies the one span of a request through `slabs` and decodes the copy. */
function copied(...fields: Bytes[]): { attributes: Record<string, unknown>; kept: Buffer } {
  const [decoded] = decodeProtobufTraces(request([span(...fields)])).spans;
  const kept = slabs().add(decoded!.wire!)!;
  const bytes = kept.slab.subarray(kept.offset, kept.offset + kept.length);
  const back = decodeSpanMessage(bytes, decoded!.resource, decoded!.scope)!;
  return { attributes: back.attributes, kept: Buffer.from(bytes) };
}

describe('SpanSlabs', () => {
  it('replaces exact and prefixed content keys and keeps keys that only share their length or start', () => {
    const { attributes, kept } = copied(
      str(5, 'tools/call'),
      attribute('gen_ai.tool.call.arguments', SECRET),
      // Same length as the arguments key, not content.
      attribute('gen_ai.tool.call.argumentz', 'kept'),
      attribute('mcp.request.argument.token', SECRET),
      attribute('mcp.request.argumentless', 'kept too'),
      attribute('gen_ai.tool.call.result', SECRET),
    );
    expect(kept.includes(SECRET)).toBe(false);
    expect(attributes).toEqual({
      'gen_ai.tool.call.arguments': PLACEHOLDER,
      'gen_ai.tool.call.argumentz': 'kept',
      'mcp.request.argument.token': PLACEHOLDER,
      'mcp.request.argumentless': 'kept too',
      'gen_ai.tool.call.result': PLACEHOLDER,
    });
  });

  it('finds the key of a KeyValue that puts its value first', () => {
    const valueFirst = len(9, [...len(2, str(1, SECRET)), ...str(1, 'gen_ai.tool.call.arguments')]);
    const { attributes, kept } = copied(valueFirst, attribute('network.transport', 'pipe'));
    expect(kept.includes(SECRET)).toBe(false);
    expect(attributes).toEqual({ 'gen_ai.tool.call.arguments': PLACEHOLDER, 'network.transport': 'pipe' });
  });

  it('reads tags and lengths written in more bytes than they need, and keys longer than 127 bytes', () => {
    const longKey = `mcp.request.argument.${'k'.repeat(200)}`;
    // Tag 9/length-delimited as a two-byte varint (0xca 0x00), and a length padded the same way.
    const paddedTag = [0xca, 0x00];
    const payload = kv('gen_ai.tool.call.result', str(1, SECRET));
    expect(varint(payload.length)).toHaveLength(1);
    const padded = [...paddedTag, (payload.length & 0x7f) | 0x80, payload.length >> 7, ...payload];
    const { attributes, kept } = copied(padded, attribute(longKey, SECRET), uint(6, 2), [...tag(16, 5), 1, 0, 0, 0]);
    expect(kept.includes(SECRET)).toBe(false);
    expect(attributes).toEqual({ 'gen_ai.tool.call.result': PLACEHOLDER, [longKey]: PLACEHOLDER });
  });
});
