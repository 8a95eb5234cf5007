import { createHash } from 'node:crypto';
import type { AlertInput } from './types.js';

/** The parts of an alert that make it "the same alert" (DESIGN.md): detector, server, tool, detector key. */
export type FingerprintParts = Pick<AlertInput, 'detector' | 'server' | 'tool' | 'key'>;

/**
 * A stable 16-hex-digit fingerprint. The parts are JSON-encoded as an array before hashing so that no
 * choice of separators in attacker-influenced names (a tool called `a|b`) makes two alerts collide, and an
 * absent tool differs from an empty one. Two daemons compute the same fingerprint for the same alert,
 * which is what lets them share one Redis without notifying twice.
 */
export function alertFingerprint(parts: FingerprintParts): string {
  const material = JSON.stringify([parts.detector, parts.server, parts.tool ?? null, parts.key ?? null]);
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}

/** A short, deterministic id derived from text (job ids, alert ids); never contains `:` (BullMQ forbids it). */
export function stableId(prefix: string, ...parts: (string | number)[]): string {
  return `${prefix}${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24)}`;
}
