/**
 * Parses the `since` filter shared by `GET /api/events` and the CLI: an RFC 3339 timestamp, Unix
 * milliseconds, or a duration back from now (`90s`, `15m`, `1h`, `1h30m`, `7d`).
 */

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const DURATION = /^(\d{1,9}(ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+)(ms|s|m|h|d)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Unix milliseconds below this are almost certainly Unix seconds given by mistake (before 1973). */
const SMALLEST_PLAUSIBLE_MS = 1e11;

/** Thrown with a sentence that says what `since` accepts. */
export class SinceParseError extends Error {
  override readonly name = 'SinceParseError';
}

/** Unix milliseconds for `value`, relative durations counted back from `now`. */
export function parseSince(value: string, now: number = Date.now()): number {
  const v = value.trim();
  if (DURATION.test(v)) return now - parseDurationMs(v);
  if (/^\d{1,16}$/.test(v)) {
    const ms = Number(v);
    if (ms !== 0 && ms < SMALLEST_PLAUSIBLE_MS) {
      throw new SinceParseError(`${v} looks like Unix seconds; give Unix milliseconds (${v}000) or an RFC 3339 time`);
    }
    return ms;
  }
  if (RFC3339.test(v)) {
    const ms = Date.parse(v.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw new SinceParseError(
    'must be an RFC 3339 time (2025-06-01T12:00:00Z), Unix milliseconds, or a duration back from now (15m, 1h, 7d)',
  );
}

/** Milliseconds of a duration such as `1h30m`; the caller has checked the shape. */
export function parseDurationMs(v: string): number {
  let total = 0;
  for (const m of v.matchAll(DURATION_PART)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}
