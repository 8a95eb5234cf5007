import { z } from 'zod';

/**
 * `store.audit`: the append-only JSON Lines audit log of every MCP action (one line per normalized MCP
 * event). Off by default; content (arguments, results) is written only when `store.captureContent` and
 * `includeContent` are both on, and always with secrets masked.
 */
export const auditLogSchema = z
  .object({
    /** Write the audit log. */
    enabled: z.boolean().default(false),
    /** File the log is appended to; rotated files sit beside it as `<name>.<UTC timestamp>`. */
    path: z.string().min(1).default('mcpwatch-audit.jsonl'),
    /** Rotate when the file would grow past this many bytes. */
    maxFileBytes: z.number().int().positive().default(100 * 1024 * 1024),
    /** Rotate when the file is older than this (hours), so each file covers a bounded period. */
    maxFileAgeHours: z.number().positive().default(24),
    /** Rotated files kept (oldest deleted first). */
    retainFiles: z.number().int().min(0).default(30),
    /** Rotated files older than this (days) are deleted. */
    retainDays: z.number().positive().default(90),
    /** Also write captured arguments and results (needs `store.captureContent`; secrets masked). */
    includeContent: z.boolean().default(false),
    /** Lines held in memory between flushes; beyond it new lines are dropped and counted, never blocking the pipeline. */
    maxBufferedLines: z.number().int().positive().default(50_000),
    /** How often buffered lines are written. */
    flushIntervalMs: z.number().int().min(10).max(60_000).default(1000),
  })
  .strict();

export type AuditLogConfig = z.infer<typeof auditLogSchema>;
