/**
 * JSON for the admin API. Attribute values may be `Uint8Array` (OTLP `bytesValue`), which `JSON.stringify`
 * would turn into `{"0":..,"1":..}` objects many times their size: they go out as base64 strings.
 * Characters that let a browser mistake JSON for markup (`<`, `>`, `&`) and the JavaScript line separators
 * are escaped, so attacker-controlled strings stay inert wherever the body ends up.
 */
export function safeJsonReplacer(this: unknown, key: string, value: unknown): unknown {
  // `Buffer` (a Uint8Array protobufjs hands out in Node) has a `toJSON` that runs before the replacer, so
  // look at the holder's original value rather than `value`.
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) {
    return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64');
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

const UNSAFE = /[<>&\u2028\u2029]/g;

export function toSafeJson(value: unknown): string {
  return (JSON.stringify(value, safeJsonReplacer) ?? 'null').replace(
    UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
