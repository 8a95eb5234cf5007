import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Checks `Authorization: Bearer <token>` in constant time. Both sides are hashed first so the comparison
 * takes the same time whatever the presented token's length (timingSafeEqual needs equal lengths, and
 * an early length check would leak the token's length).
 */
export function bearerTokenMatches(headers: IncomingHttpHeaders, expected: string): boolean {
  const header = headers.authorization;
  const presented = typeof header === 'string' && /^bearer /i.test(header) ? header.slice(7).trim() : '';
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && presented.length > 0;
}
