/**
 * Builders of decoded spans and normalized events for the store, admin API and CLI query tests. Each
 * takes overrides so a test states only the fields it is about.
 */
import type { McpEvent, McpTrafficEvent, ProcessEvent } from '../../src/pipeline/events.js';
import type { DecodedSpan } from '../../src/receiver/otlp/span.js';

export const T0_MS = Date.UTC(2025, 5, 1, 12, 0, 0);

export const sharedResource = { 'service.name': 'weather-mcp', 'process.pid': 4242 };

export function hexId(n: number, length: 16 | 32): string {
  return n.toString(16).padStart(length, '0');
}

export function span(overrides: Partial<DecodedSpan> & { traceId: string; spanId: string }): DecodedSpan {
  return {
    name: 'tools/call get_weather',
    kind: 2,
    startTimeUnixNano: T0_MS * 1e6,
    endTimeUnixNano: T0_MS * 1e6 + 12_500_000,
    attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'get_weather' },
    events: [],
    links: [],
    status: { code: 0 },
    resource: sharedResource,
    scope: { name: 'test' },
    ...overrides,
  };
}

export function mcpEvent(overrides: Partial<McpTrafficEvent> & { id: string }): McpTrafficEvent {
  return {
    kind: 'mcp',
    time: T0_MS,
    server: { id: 'srv-weather', name: 'weather', pid: 4242, commandLine: 'node weather.js' },
    flavour: 'otel',
    method: 'tools/call',
    messageType: 'request',
    side: 'server',
    direction: 'client_to_server',
    tool: 'get_weather',
    correlationKey: 'session-1',
    era: 'session',
    outcome: 'ok',
    durationMs: 12.5,
    ...overrides,
  };
}

export function processEvent(overrides: Partial<ProcessEvent> & { id: string }): McpEvent {
  return {
    kind: 'process',
    time: T0_MS,
    server: { id: 'srv-weather', name: 'weather', pid: 4242 },
    action: 'exec',
    pid: 4300,
    executable: '/bin/sh',
    ...overrides,
  };
}
