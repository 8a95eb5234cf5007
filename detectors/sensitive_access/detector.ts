import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import { hasPathTraversal, isSensitivePath, isWithinRoots } from '../../src/detect/sensitive-paths.js';
import type { FileEvent, McpTrafficEvent } from '../../src/pipeline/events.js';

export const sensitiveAccessConfigSchema = z
  .object({
    /** File events attributed with less confidence than this are reported at `low` severity. */
    minConfidence: z.number().min(0).max(1).default(0.5),
    /** Alert on paths outside the roots the client declared in `roots/list`. */
    checkRoots: z.boolean().default(true),
    /** Clients whose declared roots are remembered (LRU). */
    maxClients: z.number().int().positive().default(10_000),
  })
  .strict();

export type SensitiveAccessConfig = z.infer<typeof sensitiveAccessConfigSchema>;

// Argument keys that hold paths, and string shapes that are paths whatever their key.
const PATH_KEY = /(?:^|_)(?:path|paths|file|files|filename|filepath|dir|directory|folder|uri|url|source|destination|dest|target|src)$/i;
const PATH_SHAPE = /^(?:file:\/\/|~[\\/]|\/|[a-zA-Z]:\\|\.\.?[\\/])/;

interface Candidate {
  where: string;
  value: string;
}

function pathCandidates(content: unknown, out: Candidate[] = [], where = 'arguments', depth = 0): Candidate[] {
  if (depth > 8 || out.length >= 64) return out;
  if (typeof content === 'string') {
    // URLs with a scheme other than file: name remote resources (egress is the exfiltration detector's).
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(content) && !/^file:/i.test(content)) return out;
    if (content.length <= 4096 && (PATH_KEY.test(where.split('.').pop() ?? '') || PATH_SHAPE.test(content))) out.push({ where, value: content });
  } else if (Array.isArray(content)) {
    content.slice(0, 64).forEach((v, i) => pathCandidates(v, out, `${where}[${i}]`.replace(/\[\d+\]$/, ''), depth + 1));
  } else if (content !== null && typeof content === 'object') {
    for (const [k, v] of Object.entries(content as Record<string, unknown>).slice(0, 128)) pathCandidates(v, out, `${where}.${k}`, depth + 1);
  }
  return out;
}

function rootsOf(content: unknown): string[] | undefined {
  if (typeof content !== 'object' || content === null) return undefined;
  const roots = (content as Record<string, unknown>)['roots'];
  if (!Array.isArray(roots)) return undefined;
  return roots
    .map((r) => (typeof r === 'object' && r !== null ? (r as Record<string, unknown>)['uri'] : undefined))
    .filter((u): u is string => typeof u === 'string')
    .slice(0, 256);
}

const sensitiveAccess: DetectorModule<SensitiveAccessConfig> = {
  configSchema: sensitiveAccessConfigSchema,
  create(ctx) {
    const cfg = ctx.config;
    const roots = new BoundedMap<string[]>({ maxEntries: cfg.maxClients, ttlMs: 24 * 3600_000, onEvict: () => ctx.countEviction() });

    const fireMcp = (event: McpTrafficEvent, where: string, path: string, reason: 'sensitive' | 'traversal' | 'outside_roots', category?: string): void => {
      const what =
        reason === 'sensitive' ? `a sensitive path (${category})` : reason === 'traversal' ? 'a path traversal' : 'a path outside the declared roots';
      ctx.fire({
        ...(reason === 'outside_roots' ? { severity: 'medium' as const } : {}),
        title: `${event.server.name}: ${event.method} names ${what}`,
        summary: `${event.server.name} ${event.method}${event.tool ? ` ${event.tool}` : ''} names ${what}: ${path.slice(0, 300)}`,
        server: event.server.name,
        ...(event.tool !== undefined ? { tool: event.tool } : {}),
        ...(event.sessionId !== undefined ? { session: event.sessionId } : {}),
        key: `${reason}:${path.slice(0, 512)}`,
        ...(event.traceId !== undefined ? { traceIds: [event.traceId] } : {}),
        time: event.time,
        labels: { path: path.slice(0, 512), reason, ...(category ? { category } : {}) },
        evidence: [
          {
            description: `${where} = ${JSON.stringify(path.slice(0, 300))}`,
            eventId: event.id,
            ...(event.traceId !== undefined ? { traceId: event.traceId } : {}),
            time: event.time,
            observed: path.slice(0, 300),
            expected: reason === 'outside_roots' ? `inside ${(roots.get(event.correlationKey, ctx.now()) ?? []).join(', ')}` : 'no credential or system-secret path, no traversal',
          },
        ],
      });
    };

    const judge = (event: McpTrafficEvent, where: string, path: string): void => {
      const s = isSensitivePath(path);
      if (s.sensitive) return fireMcp(event, where, path, 'sensitive', s.category);
      if (hasPathTraversal(path)) return fireMcp(event, where, path, 'traversal');
      if (!cfg.checkRoots) return;
      const declared = roots.get(event.correlationKey, ctx.now());
      if (declared && declared.length > 0 && /^(?:file:|\/|~|[a-zA-Z]:\\)/.test(path) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(path.replace(/^file:/i, ''))) {
        if (!isWithinRoots(path, declared)) fireMcp(event, where, path, 'outside_roots');
      }
    };

    const onFile = (event: FileEvent): void => {
      const match = isSensitivePath(event.path);
      if (!event.sensitive && !event.canary && !match.sensitive) return;
      const weak = event.confidence < cfg.minConfidence;
      ctx.fire({
        severity: event.canary ? 'critical' : weak ? 'low' : 'high',
        title: `${event.server.name} ${event.action === 'read' ? 'read' : 'touched'} ${event.canary ? 'a canary file' : 'a sensitive file'}`,
        summary: `${event.server.name} (${event.action}) ${event.path}${match.category ? ` [${match.category}]` : ''}${weak ? ` (attribution confidence ${event.confidence})` : ''}`,
        server: event.server.name,
        key: `file:${event.path.slice(0, 512)}`,
        time: event.time,
        labels: { path: event.path.slice(0, 512), action: event.action, ...(match.category ? { category: match.category } : {}) },
        evidence: [
          {
            description: `file ${event.action} ${event.path}`,
            eventId: event.id,
            time: event.time,
            observed: event.path,
            expected: 'no access to credentials, canaries or system secrets',
            details: { confidence: event.confidence, attribution: event.attribution ?? 'unknown', pid: event.pid ?? null, canary: event.canary === true },
          },
        ],
      });
    };

    return {
      onEvent(event) {
        if (event.kind === 'file') return onFile(event);
        if (event.kind !== 'mcp') return;
        if (event.method === 'roots/list' && event.outcome === 'ok') {
          const declared = rootsOf(event.result?.content);
          if (declared) roots.set(event.correlationKey, declared, ctx.now());
          return;
        }
        if (event.resourceUri !== undefined && /^(?:file:|\/|~|\.\.|[a-zA-Z]:\\)/i.test(event.resourceUri)) judge(event, 'resourceUri', event.resourceUri);
        else if (event.resourceUri !== undefined && hasPathTraversal(event.resourceUri)) fireMcp(event, 'resourceUri', event.resourceUri, 'traversal');
        if (event.method === 'tools/call' && event.arguments?.content !== undefined) {
          for (const c of pathCandidates(event.arguments.content)) judge(event, c.where, c.value);
        }
      },
      onTick(now) {
        roots.sweep(now);
      },
    };
  },
};

export default sensitiveAccess;
