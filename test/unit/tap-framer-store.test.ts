import { describe, expect, it } from 'vitest';
import { JsonRpcFramer, type FramerOutput } from '../../src/tap/jsonrpc-framer.js';

/**
 * The framer's line store (when the caller's chunks are not handed over): lines are copied, so the caller
 * may reuse its chunk at once; a released frame's memory serves later lines; a frame not released keeps
 * its bytes intact whatever comes after.
 */

function push(framer: JsonRpcFramer, text: string, into: FramerOutput[]): void {
  const chunk = Buffer.from(text);
  into.push(...framer.push(chunk));
  chunk.fill(0x21); // the caller reuses its buffer right away
}

describe('framer line store', () => {
  it('copies lines out of the caller\'s chunks, across chunk boundaries', () => {
    const framer = new JsonRpcFramer({ maxFrameBytes: 1024 * 1024 });
    const out: FramerOutput[] = [];
    push(framer, '{"a":', out);
    push(framer, '1}\n{"b":2}\n{"c"', out);
    push(framer, ':3}\n', out);
    expect(out.map((o) => (o.kind === 'frame' ? o.bytes.toString() : o.kind))).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('a released frame\'s store takes the next line; an unreleased one keeps its bytes', () => {
    const framer = new JsonRpcFramer({ maxFrameBytes: 1024 * 1024 });
    const out: FramerOutput[] = [];
    push(framer, 'first line\n', out);
    const first = out[0]!;
    if (first.kind !== 'frame') throw new Error('expected a frame');
    const firstMemory = first.bytes.buffer;
    first.release?.();
    push(framer, 'second line\n', out);
    const second = out[1]!;
    if (second.kind !== 'frame') throw new Error('expected a frame');
    expect(second.bytes.buffer).toBe(firstMemory);
    // Not released: the next line goes elsewhere and this one stays as it was.
    push(framer, 'third line, longer than the others\n', out);
    expect(second.bytes.toString()).toBe('second line');
    const third = out[2]!;
    if (third.kind !== 'frame') throw new Error('expected a frame');
    expect(third.bytes.buffer).not.toBe(second.bytes.buffer);
    expect(third.bytes.toString()).toBe('third line, longer than the others');
  });

  it('a large line is one piece of the store, with its head and tail, until released', () => {
    const framer = new JsonRpcFramer({ maxFrameBytes: 8 * 1024 * 1024, hashWhileStreaming: false });
    const text = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"${'y'.repeat(300_000)}"}]}}`;
    const out: FramerOutput[] = [];
    for (let at = 0; at < text.length; at += 65_536) push(framer, text.slice(at, at + 65_536), out);
    push(framer, '\n', out);
    const large = out[0]!;
    if (large.kind !== 'large') throw new Error(`expected a large frame, got ${large.kind}`);
    expect(large.pieces).toHaveLength(1);
    expect(large.bytes().toString()).toBe(text);
    expect(large.head.toString()).toBe(text.slice(0, large.head.length));
    expect(large.tail.toString()).toBe(text.slice(text.length - large.tail.length));
    const memory = large.bytes().buffer;
    large.release?.();
    push(framer, `${text}\n`, out);
    const again = out[1]!;
    if (again.kind !== 'large') throw new Error('expected a large frame');
    expect(again.bytes().buffer).toBe(memory);
    expect(again.bytes().toString()).toBe(text);
  });
});
