import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import type { McpEvent, ServerIdentity } from '../../src/pipeline/events.js';

const registeredServer = z
  .object({
    name: z.string().min(1),
    command: z.string().optional(),
    executable: z.string().optional(),
    packageVersion: z.string().optional(),
    roots: z.array(z.string()).optional(),
  });
// Not strict: registry entries gain fields (roots, ...) for other components; unknown ones are ignored here.

export const unregisteredServerConfigSchema = z
  .object({
    /**
     * The trusted-server registry (the top-level `servers` list; the daemon passes it here). Empty: only
     * servers the host receivers mark as not registered (`registered: false`) are reported.
     */
    registry: z.array(registeredServer).default([]),
    /** Servers already reported (LRU), so each is reported once per day. */
    maxServers: z.number().int().positive().default(10_000),
  })
  .strict();

export type UnregisteredServerConfig = z.infer<typeof unregisteredServerConfigSchema>;

function norm(s: string): string {
  return s.trim().replace(/\s+/g, ' ');
}

const unregisteredServer: DetectorModule<UnregisteredServerConfig> = {
  configSchema: unregisteredServerConfigSchema,
  create(ctx) {
    const cfg = ctx.config;
    const byName = new Map(cfg.registry.map((r) => [r.name.toLowerCase(), r]));
    const reported = new BoundedMap<string>({ maxEntries: cfg.maxServers, ttlMs: 24 * 3600_000, onEvict: () => ctx.countEviction() });

    const report = (event: McpEvent, key: string, fingerprint: string, severity: 'medium' | 'high', title: string, summary: string, evidence: { description: string; observed?: string; expected?: string }[]): void => {
      const s = event.server;
      const memo = `${s.id}\u0000${key}`;
      if (reported.get(memo, ctx.now()) === fingerprint) return;
      reported.set(memo, fingerprint, ctx.now());
      ctx.fire({
        severity,
        title,
        summary,
        server: s.name,
        key,
        time: event.time,
        labels: { server_name: s.name, source: s.source ?? (event.kind === 'mcp' ? 'span' : 'host') },
        evidence: evidence.map((e) => ({ ...e, eventId: event.id, time: event.time, details: { commandLine: s.commandLine?.slice(0, 500) ?? null, executable: s.executable ?? null, version: s.version ?? null, pid: s.pid ?? null } })),
      });
    };

    const check = (event: McpEvent, s: ServerIdentity): void => {
      if (s.name === 'unknown') return;
      const entry = byName.get(s.name.toLowerCase());
      if (!entry) {
        if (s.registered === false || (cfg.registry.length > 0 && s.source !== 'config')) {
          report(event, 'unregistered', 'unregistered', 'high', `MCP server not in the registry: ${s.name}`, `${s.name} is running${s.commandLine ? ` (${s.commandLine.slice(0, 200)})` : ''} but is not in the servers registry`, [
            { description: `seen by ${s.source ?? event.kind}`, observed: s.name, expected: cfg.registry.length ? cfg.registry.map((r) => r.name).join(', ') : 'a registered server' },
          ]);
        }
        return;
      }
      const drift: { description: string; observed: string; expected: string }[] = [];
      if (entry.command !== undefined && s.commandLine !== undefined && norm(entry.command) !== norm(s.commandLine)) drift.push({ description: 'launch command differs from the registry', observed: s.commandLine, expected: entry.command });
      if (entry.executable !== undefined && s.executable !== undefined && entry.executable !== s.executable) drift.push({ description: 'executable differs from the registry', observed: s.executable, expected: entry.executable });
      if (entry.packageVersion !== undefined && s.version !== undefined && entry.packageVersion !== s.version) drift.push({ description: 'package version differs from the registry', observed: s.version, expected: entry.packageVersion });
      if (drift.length === 0) return;
      report(event, 'registry_drift', drift.map((d) => d.observed).join('\u0000'), 'medium', `Registered MCP server changed: ${s.name}`, `${s.name}: ${drift.map((d) => `${d.description} (${d.observed.slice(0, 120)} instead of ${d.expected.slice(0, 120)})`).join('; ')}`, drift);
    };

    return {
      onEvent(event) {
        check(event, event.server);
      },
      onTick(now) {
        reported.sweep(now);
      },
    };
  },
};

export default unregisteredServer;
