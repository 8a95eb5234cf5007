/**
 * Bodies the OTLP/HTTP receiver answers with, in the encoding of the request (OTLP/HTTP spec,
 * "OTLP/HTTP Response": a success carries `ExportTraceServiceResponse`, a failure a `google.rpc.Status`).
 *
 * Messages encoded (field numbers from opentelemetry-proto `collector/trace/v1/trace_service.proto`
 * and googleapis `google/rpc/status.proto`):
 * - ExportTraceServiceResponse: partial_success = 1 (ExportTracePartialSuccess)
 * - ExportTracePartialSuccess: rejected_spans = 1 (int64), error_message = 2 (string)
 * - google.rpc.Status: code = 1 (int32), message = 2 (string), details = 3 (never sent)
 *
 * In JSON, int64 is a decimal string (proto3 JSON mapping, which OTLP/JSON follows) and int32 a number.
 */

/** What the receiver could not accept from a request (OTLP partial success). */
export interface PartialSuccess {
  /** Spans in the request that were dropped. */
  rejectedSpans: number;
  /** Why, for the sender's logs. May be set with `rejectedSpans: 0` as a warning. */
  errorMessage: string;
}

/** `google.rpc.Code` values the receiver uses in error bodies. */
export const RpcCode = {
  invalidArgument: 3,
  resourceExhausted: 8,
  failedPrecondition: 9,
  internal: 13,
  unavailable: 14,
} as const;

const utf8 = new TextEncoder();

/** Appends a varint; negative numbers use the 10-byte two's complement form, as int32/int64 do. */
function pushVarint(out: number[], value: number): void {
  if (value < 0) {
    let big = BigInt.asUintN(64, BigInt(Math.trunc(value)));
    while (big >= 0x80n) {
      out.push(Number(big & 0x7fn) | 0x80);
      big >>= 7n;
    }
    out.push(Number(big));
    return;
  }
  let v = Math.trunc(value);
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function pushString(out: number[], field: number, text: string): void {
  const bytes = utf8.encode(text);
  pushVarint(out, (field << 3) | 2);
  pushVarint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

function pushInt(out: number[], field: number, value: number): void {
  pushVarint(out, field << 3);
  pushVarint(out, value);
}

/** True when there is nothing to report: proto3 omits default values, so the response is empty. */
function isEmpty(partial: PartialSuccess | undefined): partial is undefined {
  return partial === undefined || (partial.rejectedSpans === 0 && partial.errorMessage === '');
}

/**
 * A protobuf `ExportTraceServiceResponse`. Without a partial success (or with an empty one) this is
 * the empty message: a zero-length body, which is what the spec asks for on full success.
 */
export function encodeExportResponseProtobuf(partial?: PartialSuccess): Uint8Array {
  if (isEmpty(partial)) return new Uint8Array(0);
  const inner: number[] = [];
  if (partial.rejectedSpans !== 0) pushInt(inner, 1, partial.rejectedSpans);
  if (partial.errorMessage !== '') pushString(inner, 2, partial.errorMessage);
  const out: number[] = [];
  pushVarint(out, (1 << 3) | 2);
  pushVarint(out, inner.length);
  for (const b of inner) out.push(b);
  return Uint8Array.from(out);
}

/** A JSON `ExportTraceServiceResponse`: `{}` on full success. */
export function encodeExportResponseJson(partial?: PartialSuccess): string {
  if (isEmpty(partial)) return '{}';
  const body: { rejectedSpans?: string; errorMessage?: string } = {};
  if (partial.rejectedSpans !== 0) body.rejectedSpans = String(Math.trunc(partial.rejectedSpans));
  if (partial.errorMessage !== '') body.errorMessage = partial.errorMessage;
  return JSON.stringify({ partialSuccess: body });
}

/** A protobuf `google.rpc.Status` for an error response body. */
export function encodeStatusProtobuf(code: number, message: string): Uint8Array {
  const out: number[] = [];
  if (code !== 0) pushInt(out, 1, code | 0);
  if (message !== '') pushString(out, 2, message);
  return Uint8Array.from(out);
}

/** A JSON `google.rpc.Status` for an error response body (`code` is int32, so a JSON number). */
export function encodeStatusJson(code: number, message: string): string {
  const body: { code?: number; message?: string } = {};
  if (code !== 0) body.code = code | 0;
  if (message !== '') body.message = message;
  return JSON.stringify(body);
}
