/**
 * The benches replay 50 bodies many times, but the daemon keeps a span only once (OTLP delivery is
 * at-least-once, so the store drops spans it already holds). Replayed as they are, the bodies would measure
 * that duplicate check instead of what a real stream of new spans costs: keeping every span. So every send
 * gets new trace ids: the first 4 bytes of each trace id are overwritten with the send's number, in place
 * (the encodings stay valid and every span keeps its place in its trace).
 */
import { decodeProtobufTraces } from '../src/receiver/otlp/decode-protobuf.js';

/** Where each trace id's first byte (protobuf) or first hex digit (JSON) lies in a body. */
export function traceIdOffsets(encoding: 'protobuf' | 'json', body: Uint8Array): number[] {
  const offsets: number[] = [];
  if (encoding === 'protobuf') {
    for (const span of decodeProtobufTraces(body).spans) {
      const at = span.wire?.start ?? -1;
      // `Span.trace_id` (field 1, 16 bytes): the official serializer writes it first, as tag 0x0a, length 0x10.
      if (at < 0 || body[at] !== 0x0a || body[at + 1] !== 0x10) throw new Error('unique-ids: a span does not start with its trace_id field');
      offsets.push(at + 2);
    }
    return offsets;
  }
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const marker = Buffer.from('"traceId":"');
  for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) offsets.push(at + marker.length);
  return offsets;
}

/** Writes `n` into the first 4 bytes (8 hex digits) of every trace id at `offsets`. */
export function stampTraceIds(encoding: 'protobuf' | 'json', body: Buffer, offsets: readonly number[], n: number): void {
  const stamp = n >>> 0;
  if (encoding === 'protobuf') {
    for (const at of offsets) body.writeUInt32BE(stamp, at);
    return;
  }
  const hex = stamp.toString(16).padStart(8, '0');
  for (const at of offsets) body.write(hex, at, 8, 'latin1');
}
