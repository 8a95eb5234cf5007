import { z } from 'zod';

/**
 * `detectors/<id>/detector.yaml`: a detector is data with metadata (after Falco rules). Only `stable`
 * detectors are on by default; `incubating` and `sandbox` ones are enabled per detector in config.
 */
export const detectorManifestSchema = z
  .object({
    /** snake_case id from DESIGN.md; tests, dashboards and alert labels key on it. */
    id: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case'),
    title: z.string().min(1),
    /** What the detector catches, what it cannot, and why: shown by `mcpwatch detectors`. */
    description: z.string().min(1),
    severity: z.enum(['info', 'low', 'medium', 'high', 'critical']),
    maturity: z.enum(['stable', 'incubating', 'sandbox']),
    /** Event kinds the detector consumes. */
    sources: z.array(z.enum(['mcp', 'process', 'file', 'network'])).min(1),
    /** Maturity first, then domain, then MITRE ATT&CK (e.g. T1041) and OWASP MCP Top 10 (e.g. MCP03). */
    tags: z.array(z.string()).min(1),
    /** Alert summary template: `{server}`, `{tool}` and detector-specific `{fields}`. */
    output: z.string().min(1),
    /** Empty override hooks users fill in config instead of editing the detector. */
    exceptions: z
      .object({
        servers: z.array(z.string()).default([]),
        tools: z.array(z.string()).default([]),
        paths: z.array(z.string()).default([]),
        destinations: z.array(z.string()).default([]),
      })
      .strict()
      .default({ servers: [], tools: [], paths: [], destinations: [] }),
  })
  .strict();

export type DetectorManifest = z.infer<typeof detectorManifestSchema>;
export type DetectorExceptions = DetectorManifest['exceptions'];
