/**
 * A tiny protobuf wire-format writer for crafting test bodies the official serializer would never
 * produce (wrong wire types, unknown fields, bad ids, truncation).
 */

export type Bytes = number[];

export function varint(value: number | bigint): Bytes {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: Bytes = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export function tag(field: number, wireType: number): Bytes {
  return varint((field << 3) | wireType);
}

export function len(field: number, ...parts: Bytes[]): Bytes {
  const payload = parts.flat();
  return [...tag(field, 2), ...varint(payload.length), ...payload];
}

export function str(field: number, text: string): Bytes {
  return len(field, Array.from(new TextEncoder().encode(text)));
}

export function bytes(field: number, data: ArrayLike<number>): Bytes {
  return len(field, Array.from(data));
}

export function uint(field: number, value: number | bigint): Bytes {
  return [...tag(field, 0), ...varint(value)];
}

export function fixed64(field: number, value: bigint): Bytes {
  const out = [...tag(field, 1)];
  for (let i = 0n; i < 8n; i++) out.push(Number((value >> (8n * i)) & 0xffn));
  return out;
}

export function double(field: number, value: number): Bytes {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, value, true);
  return [...tag(field, 1), ...b];
}

export function fixed32(field: number, value: number): Bytes {
  return [...tag(field, 5), value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, (value >>> 24) & 0xff];
}

export function body(...parts: Bytes[]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

export const TRACE_ID = Array.from({ length: 16 }, (_, i) => i + 0xa0);
export const SPAN_ID = Array.from({ length: 8 }, (_, i) => i + 1);
export const TRACE_ID_HEX = 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf';
export const SPAN_ID_HEX = '0102030405060708';

/** An ExportTraceServiceRequest with one resource, one scope and the given Span payloads. */
export function request(spans: Bytes[], resource: Bytes[] = [], scope: Bytes[] = []): Uint8Array {
  return body(len(1, len(1, ...resource), len(2, len(1, ...scope), ...spans.map((s) => len(2, s)))));
}

/** A minimal valid span payload (ids only) plus extra fields. */
export function span(...fields: Bytes[]): Bytes {
  return [...bytes(1, TRACE_ID), ...bytes(2, SPAN_ID), ...fields.flat()];
}

/** A KeyValue payload with an AnyValue payload. */
export function kv(key: string, anyValue: Bytes): Bytes {
  return [...str(1, key), ...len(2, anyValue)];
}
