import { maskSecrets, maskSecretsInString } from '../pipeline/mask-secrets.js';
import type { Alert } from './types.js';

/**
 * A copy of the alert that is safe to send anywhere: secrets in evidence, free text and labels are masked
 * (DESIGN.md: "secrets found in evidence are masked in every sink"). Every sink renders from this copy.
 */
export function maskAlert<A extends Alert>(alert: A): A {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(alert.labels)) labels[k] = maskSecretsInString(v);
  return {
    ...alert,
    title: maskSecretsInString(alert.title),
    summary: maskSecretsInString(alert.summary),
    ...(alert.tool !== undefined && { tool: maskSecretsInString(alert.tool) }),
    evidence: maskSecrets(alert.evidence) as Alert['evidence'],
    labels,
  };
}
