import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import { canonicalJson, catalogOf, sha256Hex, type CatalogItem } from '../../src/detect/tool-catalog.js';
import type { McpTrafficEvent } from '../../src/pipeline/events.js';
import { diffDefinitions } from './diff.js';

export const toolDriftConfigSchema = z
  .object({
    /** Servers whose pins are kept (least recently seen forgotten first; counted as evictions). */
    maxServers: z.number().int().positive().default(10_000),
    /** Tools pinned per server; a catalog beyond this is pinned only up to it. */
    maxToolsPerServer: z.number().int().positive().default(1000),
    /** Alert when a tool is added to a pinned catalog (a rug pull can arrive as a new tool). */
    alertOnAdded: z.boolean().default(true),
    /** Alert when a pinned tool disappears (off by default: paginated lists look like removals). */
    alertOnRemoved: z.boolean().default(false),
    /**
     * After alerting, accept the changed definition as the new pin. Off by default: a rug pull must not
     * become trusted just because it was reported once; operators re-pin by restarting with a cleared
     * state or by turning this on.
     */
    repinAfterAlert: z.boolean().default(false),
  })
  .strict();

export type ToolDriftConfig = z.infer<typeof toolDriftConfigSchema>;

interface Pin {
  /** The definition as approved (first seen). */
  def: CatalogItem;
  /** sha256 of the whole definition, name included. */
  full: string;
  /** sha256 of everything but the name: the same content under a new name is a rename. */
  content: string;
  firstSeen: number;
  /** `full` of the last drifted definition reported, so a repeated tools/list does not re-alert. */
  reported?: string;
  /** Names this pin was served under before (renames). */
  formerNames?: string[];
}

interface ServerPins {
  tools: Map<string, Pin>;
  /** Time of the last `notifications/tools/list_changed` not yet followed by a catalog. */
  listChangedAt?: number;
  listChangedSession?: string;
  /** Session (or correlation key) of the last catalog seen; not persisted, sessions end with the daemon. */
  lastCatalogSession?: string;
}

/**
 * A change is mid-session when the previous catalog came from the same session, or a `list_changed` was
 * seen since. Both are checked because the taps export spans in batches: the notification's event may
 * reach the detector after the `tools/list` it announced.
 */
function isMidSession(pins: ServerPins, event: McpTrafficEvent): boolean {
  return pins.listChangedAt !== undefined || pins.lastCatalogSession === (event.sessionId ?? event.correlationKey);
}

const snapshotSchema = z.object({
  version: z.literal(1),
  servers: z.array(
    z.tuple([
      z.string(),
      z.array(
        z.tuple([
          z.string(),
          z.object({
            def: z.object({ name: z.string() }).passthrough(),
            full: z.string(),
            content: z.string(),
            firstSeen: z.number(),
            reported: z.string().optional(),
            formerNames: z.array(z.string()).optional(),
          }),
        ]),
      ),
    ]),
  ),
});

function hashes(def: CatalogItem): { full: string; content: string } {
  const { name, ...rest } = def;
  return { full: sha256Hex(canonicalJson({ name, ...rest })), content: sha256Hex(canonicalJson(rest)) };
}

const toolDrift: DetectorModule<ToolDriftConfig> = {
  configSchema: toolDriftConfigSchema,
  create(ctx) {
    const cfg = ctx.config;
    const servers = new BoundedMap<ServerPins>({ maxEntries: cfg.maxServers, onEvict: () => ctx.countEviction() });

    const base = (event: McpTrafficEvent) => ({
      server: event.server.name,
      ...(event.sessionId !== undefined ? { session: event.sessionId } : {}),
      ...(event.traceId !== undefined ? { traceIds: [event.traceId] } : {}),
      time: event.time,
    });

    const midSessionNote = (pins: ServerPins, event: McpTrafficEvent): string =>
      pins.listChangedAt !== undefined ? ' after notifications/tools/list_changed' : isMidSession(pins, event) ? ' within the same session' : '';

    const onCatalog = (event: McpTrafficEvent, items: CatalogItem[], truncated: boolean): void => {
      const now = ctx.now();
      let pins = servers.get(event.server.id, now);
      if (pins === undefined) {
        pins = { tools: new Map() };
        for (const def of items.slice(0, cfg.maxToolsPerServer)) pins.tools.set(def.name, { def, ...hashes(def), firstSeen: event.time });
        pins.lastCatalogSession = event.sessionId ?? event.correlationKey;
        servers.set(event.server.id, pins, now);
        return;
      }
      const current = new Map(items.map((d) => [d.name, d]));
      const missing = [...pins.tools.entries()].filter(([name]) => !current.has(name));
      const labels = { midSession: String(isMidSession(pins, event)) };
      const note = midSessionNote(pins, event);

      for (const def of items) {
        const h = hashes(def);
        const pin = pins.tools.get(def.name);
        if (pin) {
          if (pin.full === h.full) continue;
          if (pin.reported === h.full) continue;
          const diff = diffDefinitions(pin.def, def);
          ctx.fire({
            ...base(event),
            title: `Tool definition changed after it was pinned: ${event.server.name} / ${def.name}`,
            summary: `${event.server.name} changed tool "${def.name}"${note} (${diff.fields.join(', ')}): ${diff.changes.join('; ')}`,
            tool: def.name,
            key: `changed:${def.name}`,
            labels: { ...labels, change: 'changed', fields: diff.fields.join(',') },
            evidence: diff.changes.map((c) => ({
              description: c,
              eventId: event.id,
              time: event.time,
              observed: h.full,
              expected: pin.full,
              details: { pinnedAt: new Date(pin.firstSeen).toISOString(), formerNames: pin.formerNames ?? [] },
            })),
          });
          if (cfg.repinAfterAlert) pins.tools.set(def.name, { def, ...h, firstSeen: event.time });
          else pin.reported = h.full;
          continue;
        }
        // Same content under a new name: a rename. The pin moves to the new name unchanged, so a later
        // change is still measured against what was first approved.
        const renamedFrom = missing.find(([, p]) => p.content === h.content);
        if (renamedFrom) {
          const [oldName, oldPin] = renamedFrom;
          missing.splice(missing.indexOf(renamedFrom), 1);
          pins.tools.delete(oldName);
          pins.tools.set(def.name, { ...oldPin, formerNames: [...(oldPin.formerNames ?? []), oldName].slice(-10) });
          ctx.fire({
            ...base(event),
            severity: 'medium',
            title: `Tool renamed after it was pinned: ${event.server.name} / ${oldName} -> ${def.name}`,
            summary: `${event.server.name} renamed tool "${oldName}" to "${def.name}"${note} with the same description and schema`,
            tool: def.name,
            key: `renamed:${oldName}:${def.name}`,
            labels: { ...labels, change: 'renamed' },
            evidence: [{ description: `renamed from ${oldName}`, eventId: event.id, time: event.time, observed: def.name, expected: oldName }],
          });
          continue;
        }
        if (pins.tools.size >= cfg.maxToolsPerServer) continue;
        pins.tools.set(def.name, { def, ...h, firstSeen: event.time });
        if (cfg.alertOnAdded) {
          ctx.fire({
            ...base(event),
            severity: 'medium',
            title: `Tool added after the catalog was pinned: ${event.server.name} / ${def.name}`,
            summary: `${event.server.name} added tool "${def.name}"${note}: ${JSON.stringify((def.description ?? '').slice(0, 200))}`,
            tool: def.name,
            key: `added:${def.name}`,
            labels: { ...labels, change: 'added' },
            evidence: [{ description: 'tool not in the pinned catalog', eventId: event.id, time: event.time, observed: def.name, details: { inputSchema: def.inputSchema ?? null } }],
          });
        }
      }
      if (cfg.alertOnRemoved && !truncated) {
        for (const [name] of missing) {
          ctx.fire({
            ...base(event),
            severity: 'low',
            title: `Pinned tool removed: ${event.server.name} / ${name}`,
            summary: `${event.server.name} no longer lists tool "${name}"${note}`,
            tool: name,
            key: `removed:${name}`,
            labels: { ...labels, change: 'removed' },
            evidence: [{ description: 'pinned tool missing from tools/list', eventId: event.id, time: event.time, expected: name }],
          });
        }
      }
      delete pins.listChangedAt;
      delete pins.listChangedSession;
      pins.lastCatalogSession = event.sessionId ?? event.correlationKey;
    };

    return {
      onEvent(event) {
        if (event.kind !== 'mcp') return;
        if (event.method === 'notifications/tools/list_changed') {
          const pins = servers.get(event.server.id, ctx.now());
          if (pins) {
            pins.listChangedAt = event.time;
            if (event.sessionId !== undefined) pins.listChangedSession = event.sessionId;
          }
          return;
        }
        if (event.outcome !== 'ok') return;
        const catalog = catalogOf(event);
        if (!catalog || catalog.kind !== 'tools') return;
        onCatalog(event, catalog.items, catalog.truncated === true);
      },
      snapshot() {
        return {
          version: 1,
          servers: [...servers.entries()].map(([id, pins]) => [id, [...pins.tools.entries()]]),
        };
      },
      restore(state) {
        const parsed = snapshotSchema.safeParse(state);
        if (!parsed.success) {
          ctx.logger.warn({ detector: 'tool_drift' }, 'ignoring unreadable tool_drift state; tools will be pinned afresh');
          return;
        }
        const now = ctx.now();
        for (const [id, tools] of parsed.data.servers) {
          servers.set(id, { tools: new Map(tools.map(([name, pin]) => [name, pin as Pin])) }, now);
        }
      },
    };
  },
};

export default toolDrift;
