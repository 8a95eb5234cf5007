import { describe, expect, it } from 'vitest';
import { callInFlightAt, type InFlightCall } from '../../src/tap/chain.js';

/** Which upstream call a request without traceparent belongs to: the newest one in flight when it arrived. */

const call = (spanId: string, startMs: number, endMs?: number): InFlightCall => ({
  traceId: 'a'.repeat(32),
  spanId: spanId.padStart(16, '0'),
  startMs,
  method: 'tools/call',
  ...(endMs !== undefined ? { endMs } : {}),
});

describe('callInFlightAt', () => {
  it('takes a call answered after the request arrived (the look-up outlasted the call)', () => {
    expect(callInFlightAt([call('1', 100, 150)], 120)?.spanId).toBe(call('1', 0).spanId);
  });

  it('ignores calls answered before the request arrived and calls started after it', () => {
    expect(callInFlightAt([call('1', 100, 110), call('2', 130)], 120)).toBeUndefined();
  });

  it('takes the newest of several calls in flight at that time', () => {
    const calls = [call('1', 100), call('2', 110, 200), call('3', 115, 116), call('4', 300)];
    expect(callInFlightAt(calls, 120)?.spanId).toBe(call('2', 0).spanId);
  });
});
