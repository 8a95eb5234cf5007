import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { McpEvent, McpTrafficEvent } from '../../src/pipeline/events.js';
import { normalizeSpan } from '../../src/pipeline/normalize.js';
import { decodeProtobufTraces } from '../../src/receiver/otlp/decode-protobuf.js';
import { EventRing } from '../../src/store/event-ring.js';
import { makeMcpSpans, toProtobuf } from '../helpers/mcp-spans.js';
import { hexId, mcpEvent, processEvent } from '../helpers/store-items.js';

/**
 * The event ring (src/store/event-ring.ts) keeps MCP events as rows of typed and reference columns and
 * rebuilds them on read; anything that does not fit a row exactly is kept whole. These tests check that
 * every event reads back deep-equal to what was pushed, whichever way it was kept, and that index keys
 * stay as they were at insertion.
 */

/** Real normalizer output: OpenTelemetry MCP spans made by the SDK, serialized, decoded and normalized. */
function normalizedEvents(seed: number): McpTrafficEvent[] {
  const traces = decodeProtobufTraces(Buffer.from(toProtobuf(makeMcpSpans({ count: 100, seed, argBytes: [100, 5000] }))));
  return traces.spans.map((s) => normalizeSpan(s, { captureContent: false })).filter((e): e is McpTrafficEvent => e !== undefined);
}

/** Whether the ring kept the event as a row (it then reads back as a new object, not the pushed one). */
function packed(ring: EventRing, position: number, event: McpEvent): boolean {
  return ring.read(position) !== event;
}

describe('EventRing', () => {
  it('reads back normalized MCP events deep-equal, each kept as a row', () => {
    const ring = new EventRing(1000);
    const events = normalizedEvents(7);
    expect(events.length).toBeGreaterThan(90);
    const positions = events.map((e, i) => ring.push(e, i).position);
    events.forEach((e, i) => {
      expect(ring.read(positions[i]!)).toStrictEqual(e);
      expect(packed(ring, positions[i]!, e)).toBe(true);
    });
    // The calls carry argument and result fingerprints, so the payload columns are exercised.
    expect(events.some((e) => e.arguments?.fingerprint && e.result?.fingerprint)).toBe(true);
  });

  it('keeps whole what a row cannot hold exactly, and reads it back unchanged', () => {
    const base = mcpEvent({ id: `${hexId(1, 32)}:${hexId(2, 16)}`, traceId: hexId(1, 32), spanId: hexId(2, 16) });
    const odd: McpEvent[] = [
      processEvent({ id: 'p1' }),
      mcpEvent({ id: 'e1' }), // no trace or span id
      { ...base, spanId: 'B1' }, // not lowercase hex
      { ...base, id: 'other' }, // id not derived from the ids
      { ...base, arguments: { size: 3, fingerprint: 'sha256:abc' } },
      { ...base, arguments: { size: 3, content: { secret: 'x' } } },
      { ...base, parentSpanId: 'nothex' },
      { ...base, extra: 1 } as McpEvent,
      { ...base, tool: undefined }, // an own key holding undefined
    ];
    const ring = new EventRing(64);
    for (const [i, e] of odd.entries()) {
      const { position } = ring.push(e, i);
      expect(ring.read(position)).toBe(e);
    }
    const fits = { ...base, parentSpanId: hexId(9, 16), arguments: { size: 3, fingerprint: hexId(5, 32) }, result: {} };
    const { position } = ring.push(fits, 99);
    expect(ring.read(position)).toStrictEqual(fits);
    expect(packed(ring, position, fits)).toBe(true);
  });

  it('answers index keys as they were when the event was pushed', () => {
    const ring = new EventRing(8);
    const rowEvent = mcpEvent({ id: `${hexId(1, 32)}:${hexId(2, 16)}`, traceId: hexId(1, 32), spanId: hexId(2, 16), tool: 'a' });
    const wholeEvent = mcpEvent({ id: 'e2', tool: 'b' });
    ring.push(rowEvent, 1);
    ring.push(wholeEvent, 2);
    rowEvent.method = 'changed';
    wholeEvent.tool = 'changed';
    wholeEvent.server = { id: 'changed', name: 'changed' };
    expect([ring.methodAt(0), ring.toolAt(0), ring.toolAt(1), ring.serverIdAt(1), ring.kindAt(1)]).toEqual(['tools/call', 'a', 'b', 'srv-weather', 'mcp']);
  });

  it('evicts oldest first, takes back the newest, and keeps rows intact while it grows', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('push', 'evict', 'drop'), { maxLength: 600 }), fc.integer({ min: 1, max: 3000 }), (ops, max) => {
        const pool = normalizedEvents(11);
        const ring = new EventRing(max);
        const model: { event: McpEvent; seq: number }[] = [];
        let seq = 0;
        for (const op of ops) {
          if (op === 'evict') {
            ring.evictOldest();
            model.shift();
          } else if (op === 'drop') {
            ring.dropNewest();
            model.pop();
          } else {
            const event = seq % 7 === 0 ? processEvent({ id: `p${seq}` }) : pool[seq % pool.length]!;
            ring.push(event, seq);
            model.push({ event, seq });
            seq++;
            while (ring.size > max) {
              ring.evictOldest();
              model.shift();
            }
          }
        }
        expect(ring.size).toBe(model.length);
        expect(ring.oldestSeq()).toBe(model[0]?.seq);
        model.forEach((m, i) => expect(ring.read(ring.oldest + i)).toStrictEqual(m.event));
      }),
      { numRuns: 60 },
    );
  });
});
