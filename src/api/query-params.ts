import { AdminApiError } from './errors.js';
import { parseSince, SinceParseError } from './since.js';

/** `since=`: a duration back from `now`, RFC 3339 or Unix ms; a 400 naming the parameter otherwise. */
export function sinceParam(value: string, now: number): number {
  try {
    return parseSince(value, now);
  } catch (err) {
    if (err instanceof SinceParseError) throw new AdminApiError('bad_request', `since: ${err.message}`);
    throw err;
  }
}

/** `limit=`: a whole number from 1 to `max`; a 400 naming the parameter otherwise. */
export function limitParam(value: string, max: number): number {
  const n = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= max)) throw new AdminApiError('bad_request', `limit: must be a whole number from 1 to ${max}`);
  return n;
}
