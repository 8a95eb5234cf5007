/**
 * Test-only OTLP/JSON -> DecodedSpan reader for the flavour fixtures, used until the receiver's JSON
 * decoder (src/receiver/otlp/decode-json.ts) lands. Minimal on purpose: fixtures are well-formed.
 */
import { readFileSync } from 'node:fs';
import type { AttributeValue, Attributes, DecodedSpan } from '../../src/receiver/otlp/span.js';

interface JsonKeyValue {
  key: string;
  value?: JsonAnyValue;
}
interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values?: JsonAnyValue[] };
  kvlistValue?: { values?: JsonKeyValue[] };
}
interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: JsonKeyValue[];
  status?: { code?: number; message?: string };
}
interface JsonRequest {
  resourceSpans?: {
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans?: { scope?: { name?: string; version?: string }; spans?: JsonSpan[] }[];
  }[];
}

function anyValue(v: JsonAnyValue | undefined): AttributeValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return new Uint8Array(Buffer.from(v.bytesValue, 'base64'));
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributes(v.kvlistValue.values);
  return null;
}

function attributes(kvs: JsonKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

export function decodeFixtureObject(body: unknown): DecodedSpan[] {
  const spans: DecodedSpan[] = [];
  for (const rs of (body as JsonRequest).resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = ss.scope?.version ? { name: ss.scope.name ?? '', version: ss.scope.version } : { name: ss.scope?.name ?? '' };
      for (const s of ss.spans ?? []) {
        const span: DecodedSpan = {
          traceId: s.traceId.toLowerCase(),
          spanId: s.spanId.toLowerCase(),
          name: s.name,
          kind: s.kind ?? 0,
          startTimeUnixNano: Number(s.startTimeUnixNano),
          endTimeUnixNano: Number(s.endTimeUnixNano),
          attributes: attributes(s.attributes),
          events: [],
          links: [],
          status: s.status?.message ? { code: s.status.code ?? 0, message: s.status.message } : { code: s.status?.code ?? 0 },
          resource,
          scope,
        };
        if (s.parentSpanId) span.parentSpanId = s.parentSpanId.toLowerCase();
        spans.push(span);
      }
    }
  }
  return spans;
}

export function readFixture(path: string): DecodedSpan[] {
  return decodeFixtureObject(JSON.parse(readFileSync(path, 'utf8')) as unknown);
}
