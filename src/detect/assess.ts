import type { Evidence } from '../alert/types.js';

/**
 * One decision rule for "is this value anomalous", shared by detectors so they explain themselves alike:
 * - an absolute ceiling fires in any phase (learning included): some values are never normal;
 * - against the baseline only when it is armed, when the value is at least `minValue` (small numbers are
 *   noise) and `zThreshold` deviations above the baseline.
 */
export interface BaselineView {
  readonly phase: 'learning' | 'armed';
  /** Centre of the baseline (EWMA mean or median). */
  centre(): number;
  /** How many deviations above the centre `x` is. */
  score(x: number): number;
}

export interface AssessRule {
  ceiling?: number;
  zThreshold: number;
  minValue: number;
}

export type Verdict =
  | { kind: 'ceiling'; observed: number; limit: number }
  | { kind: 'baseline'; observed: number; expected: number; score: number }
  | undefined;

export function assess(value: number, baseline: BaselineView | undefined, rule: AssessRule): Verdict {
  if (rule.ceiling !== undefined && value > rule.ceiling) return { kind: 'ceiling', observed: value, limit: rule.ceiling };
  if (!baseline || baseline.phase !== 'armed' || value < rule.minValue) return undefined;
  const score = baseline.score(value);
  if (score >= rule.zThreshold) return { kind: 'baseline', observed: value, expected: baseline.centre(), score };
  return undefined;
}

/** Evidence sentence for a verdict: "observed X versus baseline Y (z=...)" or "above ceiling Z". */
export function verdictEvidence(what: string, unit: string, verdict: NonNullable<Verdict>, extra: Partial<Evidence> = {}): Evidence {
  if (verdict.kind === 'ceiling') {
    return {
      description: `${what}: ${round(verdict.observed)}${unit} is above the absolute ceiling ${round(verdict.limit)}${unit}`,
      observed: round(verdict.observed),
      expected: `<= ${round(verdict.limit)}`,
      ...extra,
    };
  }
  return {
    description: `${what}: ${round(verdict.observed)}${unit} versus baseline ${round(verdict.expected)}${unit} (${round(verdict.score)} deviations above)`,
    observed: round(verdict.observed),
    expected: round(verdict.expected),
    ...extra,
  };
}

export function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 100) / 100;
}
