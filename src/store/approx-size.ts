/**
 * Cheap, approximate memory sizes for the recent store's byte limit. Nothing here serialises: a walk over
 * the value adds string lengths, fixed sizes for scalars, and a fixed overhead per object, which is
 * within a small factor of what V8 actually holds and costs a fraction of `JSON.stringify`.
 */

/** Beyond this nesting depth a value counts as a flat `DEEP_VALUE_BYTES` (decoders bound depth anyway). */
const MAX_DEPTH = 8;
const DEEP_VALUE_BYTES = 64;
const SCALAR_BYTES = 8;
const STRING_HEADER_BYTES = 16;
const OBJECT_HEADER_BYTES = 32;

/** Approximate bytes held by `value` (strings, numbers, booleans, byte arrays, arrays, plain objects). */
export function approxBytes(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return STRING_HEADER_BYTES + value.length;
    case 'number':
    case 'boolean':
    case 'bigint':
      return SCALAR_BYTES;
    case 'object': {
      if (value === null) return SCALAR_BYTES;
      if (value instanceof Uint8Array) return OBJECT_HEADER_BYTES + value.byteLength;
      if (depth >= MAX_DEPTH) return DEEP_VALUE_BYTES;
      let n = OBJECT_HEADER_BYTES;
      if (Array.isArray(value)) {
        for (const item of value) n += SCALAR_BYTES + approxBytes(item, depth + 1);
        return n;
      }
      const record = value as Record<string, unknown>;
      // Keys are not counted: V8 interns them, so one copy serves every object with the same attributes.
      for (const key in record) n += SCALAR_BYTES + approxBytes(record[key], depth + 1);
      return n;
    }
    default:
      return 0;
  }
}
