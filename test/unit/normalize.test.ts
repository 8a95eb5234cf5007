import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AttributeValue, Attributes, DecodedSpan } from '../../src/receiver/otlp/span.js';
import type { McpEvent, McpTrafficEvent } from '../../src/pipeline/events.js';
import { CANONICAL_FINGERPRINT_MAX_CHARS, methodLabel, normalizeSpan } from '../../src/pipeline/normalize.js';
import { NormalizeProcessor } from '../../src/pipeline/normalize-processor.js';
import { SinkConsumer } from '../../src/component/component.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { decodeJsonTracesObject } from '../../src/receiver/otlp/decode-json.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'otlp');
const OFF = { captureContent: false };
const ON = { captureContent: true };

/** Spans of a fixture by name; `#n` picks the n-th span of that name (0-based). */
function load(file: string): { spans: DecodedSpan[]; span(name: string): DecodedSpan } {
  const decoded = decodeJsonTracesObject(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as unknown);
  expect(decoded.rejectedSpans).toBe(0);
  const spans = decoded.spans;
  return {
    spans,
    span(key: string): DecodedSpan {
      const [name, nth] = key.split('#') as [string, string | undefined];
      const found = spans.filter((s) => s.name === name)[Number(nth ?? 0)];
      if (!found) throw new Error(`${file}: no span ${key}`);
      return found;
    },
  };
}

function event(span: DecodedSpan, opts = OFF): McpTrafficEvent {
  const ev = normalizeSpan(span, opts);
  if (!ev) throw new Error(`span ${span.name} was not recognised as MCP`);
  return ev;
}

/** Expected fields per span (`undefined`: not MCP), per fixture file. */
const TABLE: Record<string, Record<string, Partial<McpTrafficEvent> | undefined>> = {
  'openllmetry/client-stdio-everything.json': {
    'initialize.mcp': { flavour: 'openllmetry', method: 'initialize', side: 'client', era: 'session', protocolVersion: '2025-11-25', outcome: 'ok' },
    'tools/list.mcp': { flavour: 'openllmetry', method: 'tools/list', side: 'client', direction: 'client_to_server', outcome: 'ok' },
    'echo.tool': { flavour: 'openllmetry', method: 'tools/call', tool: 'echo', outcome: 'ok', messageType: 'request' },
    'get-sum.tool#0': { method: 'tools/call', tool: 'get-sum', outcome: 'ok' },
    'get-sum.tool#1': { method: 'tools/call', tool: 'get-sum', outcome: 'tool_error' },
    'trigger-long-running-operation.tool': { tool: 'trigger-long-running-operation', outcome: 'ok' },
    'resources/read.mcp#0': { method: 'resources/read', resourceUri: 'demo://resource/dynamic/text/1', outcome: 'ok' },
    'resources/read.mcp#1': { method: 'resources/read', resourceUri: 'demo://resource/dynamic/text/not-a-number', outcome: 'error' },
    'prompts/get.mcp#0': { method: 'prompts/get', prompt: 'simple-prompt' },
    'prompts/get.mcp#1': { method: 'prompts/get', prompt: 'args-prompt' },
    'mcp.client.session': undefined,
    GET: undefined,
  },
  'openllmetry/server-initiated-requests.json': {
    'sampling/createMessage.mcp': { method: 'sampling/createMessage', side: 'server', direction: 'server_to_client', outcome: 'ok' },
    'elicitation/create.mcp': { method: 'elicitation/create', side: 'server', direction: 'server_to_client' },
    'roots/list.mcp': { method: 'roots/list', side: 'server', direction: 'server_to_client', outcome: 'error' },
  },
  'shinzo/server-tools.json': {
    'tools/call echo': { flavour: 'shinzo', method: 'tools/call', tool: 'echo', side: 'server', outcome: 'ok' },
    'tools/call add': { flavour: 'shinzo', tool: 'add', outcome: 'ok' },
    'tools/call fail': { flavour: 'shinzo', tool: 'fail', outcome: 'error', errorType: 'Error' },
  },
  'otel/server-session-http.json': {
    initialize: { flavour: 'otel', method: 'initialize', requestId: '0', era: 'session', transport: 'tcp', client: { name: 'claude-desktop', version: '1.2.3', address: '192.0.2.80' } },
    'notifications/initialized': { messageType: 'notification', sessionId: '191c4850af6c49e08843a3f6c80e5046' },
    'tools/call get_weather#0': { tool: 'get_weather', requestId: '7', outcome: 'ok', side: 'server', correlationKey: '191c4850af6c49e08843a3f6c80e5046' },
    'tools/call get_weather#1': { tool: 'get_weather', outcome: 'tool_error', errorType: 'tool_error' },
    'tools/call delete_everything': { outcome: 'error', jsonRpcErrorCode: -32602, requestId: '9' },
    'resources/read': { resourceUri: 'file:///home/user/documents/report.pdf' },
    'prompts/get analyze-code': { prompt: 'analyze-code' },
    'notifications/message': { direction: 'server_to_client', side: 'server', notification: { level: 'warning', logger: 'weather' } },
    'notifications/progress': { notification: { progress: 3, total: 10 } },
    'notifications/resources/updated': { notification: { uri: 'file:///home/user/documents/report.pdf' } },
    'sampling/createMessage': { direction: 'server_to_client', side: 'server', requestId: 's-1' },
    'POST /mcp': undefined,
  },
  'otel/client-stdio.json': {
    'tools/call get_weather': { side: 'client', transport: 'pipe', server: expect.objectContaining({ name: 'weather-server' }) as never, client: { name: 'fixture-agent', version: '0.1.0' } },
    'tools/list': { side: 'client', server: expect.objectContaining({ name: 'mcp.example.com:443', host: 'mcp.example.com' }) as never },
  },
  'otel/stateless-2026-07-28.json': {
    'server/discover': { method: 'server/discover', era: 'stateless' },
    'tools/call search': { era: 'stateless', protocolVersion: '2026-07-28' },
    'tools/list': { era: 'stateless', protocolVersion: '2026-07-28' },
    'subscriptions/listen': { era: 'stateless' },
  },
  'gateway/legacy-names.json': {
    'mcp.tool.call': { flavour: 'gateway', method: 'tools/call', tool: 'query_db', sessionId: 'gw-session-1', transport: 'http', client: { name: 'cursor' } },
    'mcp.request': { flavour: 'gateway', method: 'resources/read', resourceUri: 'file:///etc/passwd', outcome: 'error' },
  },
  'span-name/names-only.json': {
    'tools/call get_weather': { flavour: 'span-name', method: 'tools/call', tool: 'get_weather', era: 'unknown' },
    'resources/read file:///x': { method: 'resources/read', resourceUri: 'file:///x' },
    'prompts/get summarize': { method: 'prompts/get', prompt: 'summarize' },
    'notifications/progress': { messageType: 'notification', direction: 'server_to_client' },
    initialize: { method: 'initialize', era: 'session' },
    'server/discover': { method: 'server/discover', era: 'stateless' },
    'elicitation/create': { direction: 'server_to_client' },
    'GET /healthz': undefined,
    'db.query': undefined,
  },
};

describe('normalizeSpan over the flavour fixtures', () => {
  it('has an expectation table for every fixture file, and every fixture file exists', () => {
    const files = readdirSync(FIXTURES, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(FIXTURES, d.name)).filter((f) => f.endsWith('.json')).map((f) => `${d.name}/${f}`));
    expect(files.sort()).toEqual(Object.keys(TABLE).sort());
  });

  for (const [file, rows] of Object.entries(TABLE)) {
    describe(file, () => {
      const fixture = existsSync(join(FIXTURES, file)) ? load(file) : undefined;
      it('covers every span of the file', () => {
        const names = new Set(Object.keys(rows).map((k) => k.split('#')[0]));
        for (const span of fixture?.spans ?? []) expect(names, `span ${span.name} has no expectation`).toContain(span.name);
      });
      for (const [key, expected] of Object.entries(rows)) {
        it(expected ? `${key} -> ${expected.method ?? 'MCP'} event` : `${key} -> not MCP`, () => {
          const span = fixture!.span(key);
          const ev = normalizeSpan(span, OFF);
          if (expected === undefined) {
            expect(ev).toBeUndefined();
            return;
          }
          expect(ev).toMatchObject(expected);
          expect(ev!.id).toBe(`${span.traceId}:${span.spanId}`);
          expect(ev!.time).toBe(Math.floor(span.startTimeUnixNano / 1e6));
          expect(ev!.durationMs).toBeGreaterThanOrEqual(0);
          expect(ev!.server.id).toMatch(/\S/);
        });
      }
    });
  }
});

describe('server identity', () => {
  it('attributes server-side spans to the resource: name, pid, command line, stable id', () => {
    const ev = event(load('openllmetry/server-initiated-requests.json').span('sampling/createMessage.mcp'));
    expect(ev.server).toMatchObject({
      name: 'fixture-mcp-server',
      pid: 4242,
      commandLine: 'node /srv/app/mcp-server.js --stdio',
      executable: '/usr/local/bin/node',
      version: '1.0.0',
      host: 'fixture-host',
    });
    expect(ev.server.id).toMatch(/^[0-9a-f]{16}$/);
    const again = event(load('openllmetry/server-initiated-requests.json').span('roots/list.mcp'));
    expect(again.server.id).toBe(ev.server.id);
  });

  it('takes the taps\' mcpwatch.server.id as the id when present', () => {
    expect(event(load('otel/server-session-http.json').span('initialize')).server.id).toBe('srv-weather');
  });

  it('joins process.command_args into the command line when there is no process.command_line', () => {
    expect(event(load('span-name/names-only.json').span('initialize')).server).toMatchObject({
      name: 'bare-server',
      pid: 777,
      commandLine: 'python3 -m bare_server',
    });
  });

  it('on CLIENT spans puts the resource into `client` and never calls the client process the server', () => {
    const ev = event(load('openllmetry/client-stdio-everything.json').span('echo.tool'));
    expect(ev.client).toEqual({ name: 'fixture-agent', version: '0.1.0' });
    expect(ev.server.name).not.toBe('fixture-agent');
    expect(ev.server.pid).toBeUndefined();
    expect(ev.correlationKey).toBe(`fixture-agent|${ev.server.id}|4141`);
  });

  it('names the upstream server of a gateway, not the gateway', () => {
    const ev = event(load('gateway/legacy-names.json').span('mcp.tool.call'));
    expect(ev.server.name).toBe('postgres-mcp');
    expect(ev.server.pid).toBeUndefined();
  });
});

describe('Shinzo specifics', () => {
  const shinzo = load('shinzo/server-tools.json');

  it('never uses its random mcp.request.id as requestId, nor its per-process mcp.session.id as session', () => {
    for (const span of shinzo.spans) {
      const ev = event(span);
      expect(span.attributes['mcp.request.id']).toBeTypeOf('string');
      expect(ev.requestId).toBeUndefined();
      expect(ev.sessionId).toBeUndefined();
    }
  });

  it('correlates by server and process instance instead, the same for every span of the process', () => {
    const keys = new Set(shinzo.spans.map((s) => event(s).correlationKey));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toContain(event(shinzo.span('tools/call echo')).server.id);
  });

  it('rebuilds nested arguments from mcp.request.argument.* attributes', () => {
    expect(event(shinzo.span('tools/call add'), ON).arguments?.content).toEqual({ a: 2, b: 3, options: { round: true } });
  });

  it('ignores its client.address, which is the server host\'s own address', () => {
    expect(event(shinzo.span('tools/call echo')).client?.address).toBeUndefined();
  });
});

describe('payloads', () => {
  const client = load('openllmetry/client-stdio-everything.json');
  const semconv = load('otel/server-session-http.json');

  it('gives size and fingerprint without content when capture is off', () => {
    const ev = event(client.span('echo.tool'));
    expect(ev.arguments?.size).toBeGreaterThan(0);
    expect(ev.arguments?.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(ev.arguments).not.toHaveProperty('content');
    expect(ev.result).not.toHaveProperty('content');
  });

  it('fingerprints canonical JSON: the same arguments in another key order match', () => {
    const a = event(semconv.span('tools/call get_weather#0'));
    const b = event(semconv.span('tools/call get_weather#1'));
    expect(a.arguments?.fingerprint).toBe(b.arguments?.fingerprint);
    expect(event(semconv.span('tools/call get_weather#0'), ON).arguments?.fingerprint).toBe(a.arguments?.fingerprint);
  });

  it('fingerprints the same arguments alike across flavours (OpenLLMetry input vs semconv attribute)', () => {
    const traceloop = event(client.span('get-sum.tool#0'));
    const span = structuredClone(semconv.span('tools/call get_weather#0'));
    span.attributes['gen_ai.tool.call.arguments'] = '{"b":3,"a":2}';
    expect(event(span).arguments?.fingerprint).toBe(traceloop.arguments?.fingerprint);
  });

  it('masks secrets in captured content (real OpenLLMetry and Shinzo output, semconv attributes)', () => {
    const echo = event(client.span('echo.tool'), ON);
    const text = JSON.stringify([echo.arguments?.content, echo.result?.content]);
    expect(text).not.toMatch(/ghp_|sk-not-a-real-key/);
    expect(echo.arguments?.content).toMatchObject({ message: expect.stringMatching(/^deploy with \[masked:sha256:[0-9a-f]{12}\]$/) });
    expect(echo.arguments?.content).toMatchObject({ api_key: expect.stringMatching(/^\[masked:sha256:[0-9a-f]{12}\]$/) });

    const shinzoEcho = event(load('shinzo/server-tools.json').span('tools/call echo'), ON);
    expect(JSON.stringify(shinzoEcho.arguments?.content)).not.toContain('ghp_');

    const weather = event(semconv.span('tools/call get_weather#0'), ON);
    expect(weather.arguments?.content).toMatchObject({ location: 'Paris', authorization: expect.stringMatching(/^\[masked:sha256:/) });
  });

  it('treats a payload above the size cap as opaque: size only, parsed never', () => {
    const span = structuredClone(client.span('echo.tool'));
    const big = JSON.stringify({ tool_name: 'echo', arguments: { message: 'x'.repeat(2000) } });
    span.attributes['traceloop.entity.input'] = big;
    const ev = normalizeSpan(span, { captureContent: true, maxPayloadBytes: 1000 })!;
    expect(ev.tool).toBe('echo');
    expect(ev.arguments).toEqual({ size: big.length });
  });

  it('keeps an unparsable payload as a raw string with size and fingerprint', () => {
    const span = structuredClone(semconv.span('tools/call get_weather#0'));
    span.attributes['gen_ai.tool.call.arguments'] = '{not json';
    const ev = event(span, ON);
    expect(ev.arguments).toMatchObject({ size: 9, content: '{not json' });
    expect(ev.arguments?.fingerprint).toMatch(/^[0-9a-f]{32}$/);
  });

  it('fingerprints a large payload over its text as sent, the same with capture on or off', () => {
    const span = structuredClone(semconv.span('tools/call get_weather#0'));
    const big = JSON.stringify({ b: 'x'.repeat(CANONICAL_FINGERPRINT_MAX_CHARS), a: 1 });
    span.attributes['gen_ai.tool.call.arguments'] = big;
    const expected = createHash('sha256').update(big).digest('hex').slice(0, 32);
    expect(event(span).arguments).toEqual({ size: big.length, fingerprint: expected });
    expect(event(span, ON).arguments).toMatchObject({ size: big.length, fingerprint: expected, content: { a: 1 } });
  });

  it('finds isError in a large result without parsing it', () => {
    const span = structuredClone(semconv.span('tools/call get_weather#0'));
    span.attributes['gen_ai.tool.call.result'] = JSON.stringify({ content: [{ type: 'text', text: 'y'.repeat(5000) }], isError: true });
    expect(event(span).outcome).toBe('tool_error');
    span.attributes['gen_ai.tool.call.result'] = JSON.stringify({ content: [{ type: 'text', text: '"isError":true'.repeat(400) }] });
    expect(event(span).outcome).toBe('ok');
  });

  it("uses the tap's size and fingerprint instead of computing them", () => {
    const span = structuredClone(semconv.span('tools/call get_weather#0'));
    span.attributes['mcpwatch.arguments.size'] = 17;
    span.attributes['mcpwatch.arguments.fingerprint'] = 'f'.repeat(32);
    expect(event(span).arguments).toEqual({ size: 17, fingerprint: 'f'.repeat(32) });
  });

  it('reads tool_error from a semconv result with isError, and structured (kvlist) arguments', () => {
    const span = structuredClone(semconv.span('tools/call get_weather#0'));
    span.attributes['gen_ai.tool.call.result'] = '{"isError":true,"content":[]}';
    span.attributes['gen_ai.tool.call.arguments'] = { location: 'Paris', date: '2026-11-24', authorization: 'Bearer abcdefghijklmnopqrstuvwxyz012345' };
    const ev = event(span, ON);
    expect(ev.outcome).toBe('tool_error');
    expect(ev.arguments?.fingerprint).toBe(event(semconv.span('tools/call get_weather#0')).arguments?.fingerprint);
  });
});

describe('recognition rules', () => {
  const base = load('span-name/names-only.json').span('GET /healthz');
  function spanNamed(name: string, attributes: Attributes = {}, scope = 'x'): DecodedSpan {
    return { ...structuredClone(base), name, attributes, scope: { name: scope } };
  }

  it('accepts unknown methods by shape only from span names', () => {
    expect(normalizeSpan(spanNamed('tasks/frobnicate'), OFF)?.method).toBe('tasks/frobnicate');
    expect(normalizeSpan(spanNamed('health/check_now x'), OFF)?.method).toBe('health/check_now');
    expect(normalizeSpan(spanNamed('GET'), OFF)).toBeUndefined();
    expect(normalizeSpan(spanNamed('/tools/call'), OFF)).toBeUndefined();
    expect(normalizeSpan(spanNamed('Tools/Call'), OFF)).toBeUndefined();
  });

  it('does not take OpenLLMetry agent tools (no MCP instrumentation scope) for MCP tool calls', () => {
    expect(normalizeSpan(spanNamed('search.tool', { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'search' }, '@traceloop/node-server-sdk'), OFF)).toBeUndefined();
  });

  it('reads a JSON-RPC error code as an error, and a recorded 0 as success', () => {
    const failed = normalizeSpan(spanNamed('tools/call a', { 'mcp.method.name': 'tools/call', 'rpc.response.status_code': -32602 }), OFF);
    expect(failed).toMatchObject({ outcome: 'error', jsonRpcErrorCode: -32602 });
    const ok = normalizeSpan(spanNamed('tools/call a', { 'mcp.method.name': 'tools/call', 'rpc.response.status_code': 0 }), OFF);
    expect(ok?.outcome).toBe('ok');
    expect(ok?.jsonRpcErrorCode).toBeUndefined();
  });

  it('prefers the semantic conventions over other flavours on the same span', () => {
    const ev = normalizeSpan(spanNamed('x', { 'mcp.method.name': 'tools/list', 'mcp.method': 'tools/call', 'gen_ai.tool.name': 'a', 'mcp.tool.name': 'a' }), OFF);
    expect(ev?.flavour).toBe('otel');
    expect(ev?.method).toBe('tools/list');
  });

  it('reads the stateless era from a _meta protocol version in a parsed payload', () => {
    const input = JSON.stringify({ _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'meta-client', version: '9' } } });
    const ev = normalizeSpan(spanNamed('tools/list.mcp', { 'traceloop.entity.input': input }, '@traceloop/instrumentation-mcp'), OFF);
    expect(ev).toMatchObject({ era: 'stateless', protocolVersion: '2026-07-28' });
  });

  it('bounds the method metric label', () => {
    expect(methodLabel('tools/call')).toBe('tools/call');
    expect(methodLabel('notifications/progress')).toBe('notifications/progress');
    expect(methodLabel('attacker/method_12345')).toBe('other');
  });
});

describe('robustness', () => {
  const anyValue: fc.Arbitrary<AttributeValue> = fc.letrec<{ v: AttributeValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.string(),
      fc.constantFrom('tools/call', 'initialize', '{"a":1}', '[1,2', '{"_meta":{"io.modelcontextprotocol/protocolVersion":7}}', '2026-07-28', 'tool_error', '-32602', ''),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 8 }),
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.string(), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  const keys = fc.constantFrom(
    'mcp.method.name', 'mcp.method', 'gen_ai.tool.name', 'mcp.tool.name', 'mcp.request.id', 'mcp.request.argument.a.b', 'mcp.request.argument.__proto__',
    'mcp.session.id', 'jsonrpc.request.id', 'mcp.protocol.version', 'error.type', 'rpc.response.status_code', 'gen_ai.tool.call.arguments',
    'gen_ai.tool.call.result', 'traceloop.span.kind', 'traceloop.entity.input', 'traceloop.entity.output', 'traceloop.entity.name',
    'mcp.server.name', 'mcpwatch.server.id', 'server.address', 'server.port', 'client.address', 'mcpwatch.direction',
    'service.name', 'process.pid', 'process.command_args', 'process.command_line', 'process.executable.path',
  );
  const attrs = fc.dictionary(fc.oneof(keys, fc.string()), anyValue, { maxKeys: 12 });

  it('never throws on arbitrary attribute maps, names, kinds and scopes', () => {
    fc.assert(
      fc.property(
        attrs,
        attrs,
        fc.oneof(fc.string(), fc.constantFrom('tools/call x', 'echo.tool', 'tools/list.mcp', 'mcp.tool.call', 'mcp.client.session')),
        fc.integer({ min: -1, max: 7 }),
        fc.constantFrom('@traceloop/instrumentation-mcp', 'other'),
        fc.boolean(),
        (attributes, resource, name, kind, scope, captureContent) => {
          const span: DecodedSpan = {
            traceId: '0af7651916cd43dd8448eb211c80319c',
            spanId: 'b7ad6b7169203331',
            name,
            kind,
            startTimeUnixNano: 1.7e18,
            endTimeUnixNano: 1.7e18 + 1e6,
            attributes,
            events: [],
            links: [],
            status: { code: 2 },
            resource,
            scope: { name: scope },
          };
          const ev = normalizeSpan(span, { captureContent });
          if (ev) {
            expect(typeof ev.method).toBe('string');
            expect(typeof ev.correlationKey).toBe('string');
            expect(typeof ev.server.id).toBe('string');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('survives a hostile span: huge name, deep JSON, getters that throw', () => {
    const span = structuredClone(load('span-name/names-only.json').span('initialize'));
    span.name = 'tools/call ' + 'x'.repeat(100_000);
    expect(normalizeSpan(span, OFF)?.tool?.length ?? 0).toBeLessThanOrEqual(1024);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const withDeep = { ...span, name: 'x', attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.call.arguments': deep } };
    expect(() => normalizeSpan(withDeep, ON)).not.toThrow();
    const trap = { ...span, attributes: new Proxy({}, { get: () => { throw new Error('boom'); } }) as Attributes };
    expect(normalizeSpan(trap, OFF)).toBeUndefined();
  });
});

describe('NormalizeProcessor', () => {
  function setup() {
    const metrics = new Metrics();
    const spans = new SinkConsumer<DecodedSpan>();
    const events = new SinkConsumer<McpEvent>();
    const processor = new NormalizeProcessor({ captureContent: false, metrics, logger: silentLogger() }, { spans, events });
    return { metrics, spans, events, processor };
  }

  it('passes every span on, emits events for MCP spans only, and counts both', async () => {
    const { metrics, spans, events, processor } = setup();
    const batch = load('openllmetry/client-stdio-everything.json').spans;
    expect(processor.consume(batch)).toBe(true);
    expect(spans.items).toHaveLength(batch.length);
    expect(events.items).toHaveLength(batch.length - 2);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/mcpwatch_normalized_events_total\{method="tools\/call",flavour="openllmetry"\} 4/);
    expect(text).toMatch(/mcpwatch_non_mcp_spans_total 2/);
    metrics.close();
  });

  it('refuses the batch when the event consumer refuses, and counts nothing for it', async () => {
    const { metrics, spans, events, processor } = setup();
    events.refuse = true;
    const batch = load('otel/client-stdio.json').spans;
    expect(processor.consume(batch)).toBe(false);
    // Spans went first (the store deduplicates them when the sender retries); no event was counted.
    expect(spans.items).toHaveLength(batch.length);
    expect((await metrics.registry.getSingleMetric('mcpwatch_normalized_events_total')!.get()).values).toEqual([]);
    metrics.close();
  });

  it('labels unknown methods `other`', async () => {
    const { metrics, processor } = setup();
    const span = { ...load('span-name/names-only.json').span('initialize'), name: 'weird/method_x' };
    processor.consume([span]);
    expect(await metrics.registry.metrics()).toMatch(/method="other",flavour="span-name"/);
    metrics.close();
  });
});
