import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeSpan } from '../../src/pipeline/normalize.js';
import type { Attributes } from '../../src/receiver/otlp/span.js';
import { OTEL, RESOURCE, STATELESS_PROTOCOL_VERSION } from '../../src/semconv/attributes.js';
import { span } from '../helpers/store-items.js';

/**
 * The normalizer reads some things only when it needs them (the span name's target, the process part of
 * the correlation key, the client identity) and checks protocol versions without a regular expression:
 * these tests pin the values those paths give against the rules they implement.
 */

const TRACE = 'ab'.repeat(16);
const SPAN = 'cd'.repeat(8);

function event(name: string, attributes: Attributes, resource: Attributes = { [RESOURCE.serviceName]: 'weather' }) {
  const ev = normalizeSpan(span({ traceId: TRACE, spanId: SPAN, name, attributes, resource }), { captureContent: false });
  if (!ev) throw new Error(`not an MCP event: ${name}`);
  return ev;
}

describe('normalizeSpan fallbacks', () => {
  it('dates a protocol version exactly as /^\\d{4}-\\d{2}-\\d{2}$/ does, and reads the era from it', () => {
    const nearDates = fc.oneof(
      fc.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      fc.string({ unit: fc.constantFrom('0', '1', '2', '9', '-', '/', ':', '\n', ' ', '\u0662', '\uff11', 'a'), minLength: 1, maxLength: 12 }),
      fc.tuple(fc.stringMatching(/^\d{4}-\d{2}-\d{2}$/), fc.nat(11), fc.constantFrom('', '0', '-', '\n', '\u0660', '/', ':')).map(
        ([d, at, c]) => d.slice(0, at) + c + d.slice(at + 1),
      ),
    );
    fc.assert(
      fc.property(nearDates, (version) => {
        const ev = event('tools/list', { [OTEL.mcpMethodName]: 'tools/list', [OTEL.mcpProtocolVersion]: version });
        const dated = /^\d{4}-\d{2}-\d{2}$/.test(version);
        expect(ev.era).toBe(dated ? (version >= STATELESS_PROTOCOL_VERSION ? 'stateless' : 'session') : 'unknown');
        expect(ev.protocolVersion).toBe(version);
      }),
      { numRuns: 2000 },
    );
    expect(event('tools/list', { [OTEL.mcpMethodName]: 'tools/list', [OTEL.mcpProtocolVersion]: '2025-06-18\n' }).era).toBe('unknown');
    expect(event('tools/list', { [OTEL.mcpMethodName]: 'tools/list', [OTEL.mcpProtocolVersion]: '2026-07-28' }).era).toBe('stateless');
  });

  it('takes tool, prompt and resource from the span name only when the attribute is missing', () => {
    expect(event('tools/call from_name', { [OTEL.mcpMethodName]: 'tools/call' }).tool).toBe('from_name');
    expect(event('tools/call from_name', { [OTEL.mcpMethodName]: 'tools/call', [OTEL.genAiToolName]: 'attr' }).tool).toBe('attr');
    expect(event('tools/call  padded  ', { [OTEL.mcpMethodName]: 'tools/call' }).tool).toBe('padded');
    expect(event('tools/call', { [OTEL.mcpMethodName]: 'tools/call' }).tool).toBeUndefined();
    expect(event('Tools/call x', { [OTEL.mcpMethodName]: 'tools/call' }).tool).toBeUndefined();
    expect(event('prompts/get greet', { [OTEL.mcpMethodName]: 'prompts/get' }).prompt).toBe('greet');
    expect(event('prompts/get greet', { [OTEL.mcpMethodName]: 'prompts/get', [OTEL.genAiPromptName]: 'p' }).prompt).toBe('p');
    expect(event('resources/read file:///a', { [OTEL.mcpMethodName]: 'resources/read' }).resourceUri).toBe('file:///a');
    expect(event('resources/list file:///a', { [OTEL.mcpMethodName]: 'resources/list' }).resourceUri).toBeUndefined();
    // A name that is not `{method} {target}` gives no target, whatever the method attribute says.
    const long = `tools/call ${'x'.repeat(2048)}`;
    expect(event(long, { [OTEL.mcpMethodName]: 'tools/call' }).tool).toBeUndefined();
    expect(event('tools/list x', { [OTEL.mcpMethodName]: 'tools/call' }).tool).toBe('x');
    expect(event('tools/list x', { [OTEL.mcpMethodName]: 'tools/list' }).tool).toBeUndefined();
  });

  it('keys correlation on the session, else client + server + process, else the trace', () => {
    const attrs = { [OTEL.mcpMethodName]: 'tools/call', [OTEL.genAiToolName]: 't' };
    expect(event('tools/call t', { ...attrs, [OTEL.mcpSessionId]: 's-1' }, { [RESOURCE.processPid]: 7 }).correlationKey).toBe('s-1');
    const byPid = event('tools/call t', attrs, { [RESOURCE.serviceName]: 'w', [RESOURCE.processPid]: 7, [RESOURCE.serviceInstanceId]: 'i' });
    expect(byPid.correlationKey).toBe(`|${byPid.server.id}|7`);
    const byInstance = event('tools/call t', { ...attrs, 'mcpwatch.client.name': 'agent' }, { [RESOURCE.serviceName]: 'w', [RESOURCE.serviceInstanceId]: 'i-9' });
    expect(byInstance.correlationKey).toBe(`agent|${byInstance.server.id}|i-9`);
    expect(event('tools/call t', attrs, { [RESOURCE.serviceName]: 'w' }).correlationKey).toBe(TRACE);
  });

  it('leaves client out when nothing names it, and shares one server identity per resource', () => {
    const resource = { [RESOURCE.serviceName]: 'weather', [RESOURCE.processPid]: 42 };
    const a = event('tools/call t', { [OTEL.mcpMethodName]: 'tools/call' }, resource);
    const b = event('tools/call t', { [OTEL.mcpMethodName]: 'tools/call' }, resource);
    expect(a).not.toHaveProperty('client');
    expect(a.server).toBe(b.server);
    expect(a.server).toMatchObject({ name: 'weather', pid: 42 });
    expect(event('tools/call t', { [OTEL.mcpMethodName]: 'tools/call', [OTEL.clientAddress]: '192.0.2.1' }, resource).client).toEqual({ address: '192.0.2.1' });
  });
});
