import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../src/tap/http/sse-parser.js';

/**
 * The proxy's `text/event-stream` parser (HTML Living Standard, "Server-sent events"): whatever way the
 * body is cut into chunks, the same events come out; and an event too big to keep is reported by size.
 */

function parseAll(chunks: Buffer[], max = 1024 * 1024): SseEvent[] {
  const parser = new SseParser(max);
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...parser.push(c));
  return out;
}

/** The stream cut at `at` (two chunks). */
function splitAt(bytes: Buffer, at: number): Buffer[] {
  return [bytes.subarray(0, at), bytes.subarray(at)];
}

const MCP_MESSAGE = '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"é ✓ 😀"}]}}';

// Every feature at once: BOM, a comment, CRLF, CR-only and LF line ends, multi-line data, an event type,
// a field without a space after the colon, an id field (ignored), an event with no data (not dispatched),
// and multi-byte UTF-8 that a split can cut in the middle of a character.
const STREAM = Buffer.from(
  '\uFEFF: keep-alive comment\r\n' +
    'event: endpoint\r\n' +
    'data: /messages?sessionId=abc\r\n' +
    '\r\n' +
    `id: 7\ndata: ${MCP_MESSAGE}\n\n` +
    'data:first line\rdata: second line\r\r' +
    'event: ping\n\n' +
    'data: \n' +
    'data:  two leading spaces\n\n',
  'utf8',
);
const EXPECTED: SseEvent[] = [
  { event: 'endpoint', data: '/messages?sessionId=abc' },
  { event: 'message', data: MCP_MESSAGE },
  { event: 'message', data: 'first line\nsecond line' },
  { event: 'message', data: '\n two leading spaces' },
];

describe('SseParser', () => {
  it('parses BOM, comments, CRLF / CR / LF line ends, multi-line data and event types', () => {
    expect(parseAll([STREAM])).toEqual(EXPECTED);
  });

  it('gives the same events whatever byte the stream is split at', () => {
    for (let at = 0; at <= STREAM.length; at++) {
      expect(parseAll(splitAt(STREAM, at)), `split at byte ${at}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events when every byte arrives in its own chunk', () => {
    const chunks = [...STREAM].map((b) => Buffer.from([b]));
    expect(parseAll(chunks)).toEqual(EXPECTED);
  });

  it('a CRLF split between chunks ends one line, not two (no spurious blank line dispatching early)', () => {
    const events = parseAll([Buffer.from('data: a\r'), Buffer.from('\ndata: b\r'), Buffer.from('\n\r\n')]);
    expect(events).toEqual([{ event: 'message', data: 'a\nb' }]);
  });

  it('strips a BOM only at the very start of the stream', () => {
    expect(parseAll([Buffer.from('\uFEFFdata: x\n\n')])).toEqual([{ event: 'message', data: 'x' }]);
    // Later, U+FEFF is part of the field name, so the line is not a data line.
    expect(parseAll([Buffer.from('data: x\n\n\uFEFFdata: y\n\n')])).toEqual([{ event: 'message', data: 'x' }]);
  });

  it('reports an event bigger than the cap by its size only, and parses the next event normally', () => {
    const max = 1024;
    const huge = 'x'.repeat(200_000);
    const body = Buffer.from(`data: ${huge}\n\ndata: after\n\n`);
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += 1000) chunks.push(body.subarray(i, i + 1000));
    const events = parseAll(chunks, max);
    expect(events).toHaveLength(2);
    expect(events[0]!.data).toBe('');
    // The size is the whole event (the line counted with its "data: " field name), not what fitted.
    expect(events[0]!.oversize).toBeGreaterThanOrEqual(huge.length);
    expect(events[0]!.oversize).toBeLessThanOrEqual(huge.length + 8);
    expect(events[1]).toEqual({ event: 'message', data: 'after' });
  });

  it('counts every data line of an event that goes over the cap across several lines', () => {
    const line = 'y'.repeat(400);
    const events = parseAll([Buffer.from(`data: ${line}\n`.repeat(10) + '\ndata: ok\n\n')], 1024);
    expect(events[0]).toEqual({ event: 'message', data: '', oversize: 10 * (line.length + 1) });
    expect(events[1]).toEqual({ event: 'message', data: 'ok' });
  });

  it('keeps nothing of an incomplete event until its blank line arrives', () => {
    const parser = new SseParser(1024);
    expect(parser.push(Buffer.from('data: partial\n'))).toEqual([]);
    expect(parser.push(Buffer.from('\n'))).toEqual([{ event: 'message', data: 'partial' }]);
  });
});
