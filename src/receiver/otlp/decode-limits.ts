/**
 * Rules both OTLP trace decoders (protobuf and JSON) apply in the same way, so that one request gives
 * the same `DecodedTraces` whichever encoding the sender chose.
 */

import type { AttributeValue, Attributes } from './span.js';

/**
 * How deep `AnyValue`s may nest (an attribute value is depth 1, an element of an array value depth 2,
 * and so on). `AnyValue` is recursive through `ArrayValue` and `KeyValueList`, so without a bound a few
 * kilobytes of input could exhaust the stack. No instrumentation we know of nests beyond a handful of
 * levels; 32 leaves room for JSON documents mapped into kvlists.
 */
export const MAX_ANY_VALUE_DEPTH = 32;

/** Byte lengths of ids fixed by the OTLP trace proto (`Span.trace_id`, `Span.span_id`). */
export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;

/**
 * Stores one attribute. Keys come from the network, and a plain assignment of the key `__proto__`
 * would replace the object's prototype instead of adding an attribute: define it as an own property.
 * Duplicate keys are invalid in OTLP ("attribute keys MUST be unique"); the last one wins, as in the
 * Collector's pdata.
 */
export function setAttribute(target: Attributes, key: string, value: AttributeValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** The reason an id is unusable, in the words used for the partial-success `error_message`. */
export function idLengthProblem(field: string, expectedBytes: number, gotBytes: number): string {
  return `${field} must be ${expectedBytes} bytes, got ${gotBytes}`;
}

/** The W3C Trace Context and OTLP both say an all-zero id is invalid. */
export function allZeroIdProblem(field: string): string {
  return `${field} must not be all zeros`;
}
