import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import type { McpTrafficEvent, NetworkEvent } from '../../src/pipeline/events.js';

export const transportRiskConfigSchema = z
  .object({
    /** Report connections into private ranges (RFC 1918, ULA). Off: databases and internal APIs live there. */
    privateRanges: z.boolean().default(false),
    /** Report remote (non-loopback) sessions whose requests the server answered with 401/403 never. */
    remoteSessions: z.boolean().default(true),
    /** Remember what was already reported per server (LRU). */
    maxEntries: z.number().int().positive().default(20_000),
  })
  .strict();

export type TransportRiskConfig = z.infer<typeof transportRiskConfigSchema>;

const LOOPBACK = /^(?:127\.|::1$|\[::1\]$|localhost$|::ffff:127\.)/i;
const METADATA_HOSTS = /^(?:169\.254\.169\.254|fd00:ec2::254|metadata\.google\.internal|metadata|100\.100\.100\.200|169\.254\.170\.2)$/i;

const transportRisk: DetectorModule<TransportRiskConfig> = {
  configSchema: transportRiskConfigSchema,
  create(ctx) {
    const cfg = ctx.config;
    const reported = new BoundedMap<true>({ maxEntries: cfg.maxEntries, ttlMs: 24 * 3600_000, onEvict: () => ctx.countEviction() });
    const once = (key: string): boolean => {
      if (reported.get(key, ctx.now())) return false;
      reported.set(key, true, ctx.now());
      return true;
    };

    const onMcp = (e: McpTrafficEvent): void => {
      const transport = (e.transport ?? '').toLowerCase();
      const base = {
        server: e.server.name,
        ...(e.sessionId !== undefined ? { session: e.sessionId } : {}),
        ...(e.traceId !== undefined ? { traceIds: [e.traceId] } : {}),
        time: e.time,
      };
      if (/\bsse\b|server-sent/.test(transport) && once(`sse:${e.server.id}`)) {
        ctx.fire({
          ...base,
          severity: 'low',
          title: `${e.server.name} uses the deprecated HTTP+SSE transport`,
          summary: `${e.server.name} is reached over the HTTP+SSE transport (deprecated since MCP 2025-03-26; no session binding of the event stream)`,
          key: 'sse',
          labels: { transport },
          evidence: [{ description: 'transport reported by the span', eventId: e.id, time: e.time, observed: transport, expected: 'streamable-http or stdio' }],
        });
      }
      const remoteAddr = e.client?.address;
      const httpLike = /http|tcp|sse/.test(transport);
      if (cfg.remoteSessions && httpLike && remoteAddr !== undefined && !LOOPBACK.test(remoteAddr) && e.method === 'initialize' && e.outcome === 'ok' && once(`remote:${e.server.id}:${remoteAddr}`)) {
        const plain = transport === 'http' || transport.startsWith('http/');
        ctx.fire({
          ...base,
          severity: plain ? 'high' : 'medium',
          title: `${e.server.name} accepted a session from a remote client${plain ? ' over plain http' : ''}`,
          summary: `${e.server.name} initialized a session for ${remoteAddr} over ${transport}${plain ? ' (unencrypted)' : ''}; verify it requires authentication`,
          key: `remote:${remoteAddr}`,
          labels: { transport, destination: remoteAddr },
          evidence: [{ description: 'initialize answered for a non-loopback client', eventId: e.id, time: e.time, observed: remoteAddr, expected: 'loopback clients, or authenticated remote ones over https' }],
        });
      }
    };

    const onNetwork = (e: NetworkEvent): void => {
      if (e.action !== 'connect' && e.action !== 'new_destination') return;
      const host = e.remote.hostname ?? '';
      const metadata = e.scope === 'metadata' || METADATA_HOSTS.test(e.remote.address) || METADATA_HOSTS.test(host);
      const linkLocal = !metadata && e.scope === 'link_local';
      const priv = !metadata && !linkLocal && e.scope === 'private' && cfg.privateRanges;
      if (!metadata && !linkLocal && !priv) return;
      const dest = `${e.remote.address}:${e.remote.port}`;
      if (!once(`net:${e.server.id}:${dest}`)) return;
      const what = metadata ? 'the cloud metadata service' : linkLocal ? 'a link-local address' : 'a private address';
      ctx.fire({
        severity: metadata ? 'critical' : linkLocal ? 'high' : 'medium',
        title: `${e.server.name} connected to ${what}`,
        summary: `${e.server.name} (pid ${e.pid ?? '?'}) connected to ${what} ${dest}${host ? ` (${host})` : ''}: an SSRF shape`,
        server: e.server.name,
        key: `ssrf:${dest}`,
        time: e.time,
        labels: { destination: dest, scope: e.scope },
        evidence: [{ description: `${e.protocol} ${e.action} to ${dest}`, eventId: e.id, time: e.time, observed: dest, expected: 'public destinations or loopback only', details: { hostname: host || null, scope: e.scope } }],
      });
    };

    return {
      onEvent(e) {
        if (e.kind === 'mcp') onMcp(e);
        else if (e.kind === 'network') onNetwork(e);
      },
      onTick(now) {
        reported.sweep(now);
      },
    };
  },
};

export default transportRisk;
