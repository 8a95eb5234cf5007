import { z } from 'zod';
import type { DetectorModule } from '../../src/detect/detector.js';
import { BoundedMap } from '../../src/detect/bounded-map.js';
import { canonicalJson, catalogOf, sha256Hex, type CatalogItem } from '../../src/detect/tool-catalog.js';
import type { McpTrafficEvent } from '../../src/pipeline/events.js';
import { analyseDefinition, analyseText, type PoisoningVerdict } from './analyse.js';

export const toolPoisoningConfigSchema = z
  .object({
    /** Score at or above which text counts as poisoned (strong signals weigh 1, weak ones 0.5). */
    threshold: z.number().positive().default(1),
    /** Score free-text parameters nothing explains and parameters asking about the model or conversation. */
    unexplainedParameters: z.boolean().default(true),
    /** Scan captured `prompts/get` messages and `resources/read` contents (needs content capture). */
    scanContent: z.boolean().default(true),
    /** Definitions already judged, remembered so a repeated tools/list does not re-alert (LRU). */
    maxRemembered: z.number().int().positive().default(50_000),
  })
  .strict();

export type ToolPoisoningConfig = z.infer<typeof toolPoisoningConfigSchema>;

const KIND_LABEL = { tools: 'tool', prompts: 'prompt', resources: 'resource', resource_templates: 'resource template' } as const;

function textsOf(content: unknown, depth = 0, out: string[] = []): string[] {
  if (depth > 8 || out.length > 256) return out;
  if (typeof content === 'string') out.push(content);
  else if (Array.isArray(content)) for (const c of content) textsOf(c, depth + 1, out);
  else if (content !== null && typeof content === 'object') {
    for (const [k, v] of Object.entries(content as Record<string, unknown>)) {
      if (k === 'text' || k === 'description' || k === 'content' || k === 'messages' || k === 'contents') textsOf(v, depth + 1, out);
    }
  }
  return out;
}

const toolPoisoning: DetectorModule<ToolPoisoningConfig> = {
  configSchema: toolPoisoningConfigSchema,
  create(ctx) {
    const cfg = ctx.config;
    const judged = new BoundedMap<true>({ maxEntries: cfg.maxRemembered, onEvict: () => ctx.countEviction() });

    const report = (event: McpTrafficEvent, kind: string, name: string, verdict: PoisoningVerdict, digest: string): void => {
      const seenKey = `${event.server.id}\u0000${kind}\u0000${name}\u0000${digest}`;
      if (judged.get(seenKey, ctx.now()) !== undefined) return;
      judged.set(seenKey, true, ctx.now());
      if (!verdict.poisoned) return;
      const signals = verdict.findings.map((f) => `${f.kind} in ${f.where}`).join(', ');
      ctx.fire({
        title: `Poisoned ${kind} text from ${event.server.name}`,
        summary: `${event.server.name} exposes ${kind} "${name}" whose text looks poisoned (score ${verdict.score}): ${signals}`,
        server: event.server.name,
        ...(kind === 'tool' ? { tool: name } : {}),
        ...(event.sessionId !== undefined ? { session: event.sessionId } : {}),
        key: `${kind}:${name}`,
        ...(event.traceId !== undefined ? { traceIds: [event.traceId] } : {}),
        time: event.time,
        labels: { kind, method: event.method },
        evidence: verdict.findings.slice(0, 16).map((f) => ({
          description: `${f.kind} in ${f.where}`,
          eventId: event.id,
          ...(event.traceId !== undefined ? { traceId: event.traceId } : {}),
          time: event.time,
          observed: f.match,
          expected: 'plain functional description',
          details: { weight: f.weight, definitionSha256: digest },
        })),
      });
    };

    const judgeItem = (event: McpTrafficEvent, kindLabel: string, item: CatalogItem): void => {
      const digest = sha256Hex(canonicalJson(item));
      const verdict = analyseDefinition(item, cfg);
      report(event, kindLabel, item.name, verdict, digest);
    };

    return {
      onEvent(event) {
        if (event.kind !== 'mcp' || event.outcome !== 'ok') return;
        const catalog = catalogOf(event);
        if (catalog) {
          for (const item of catalog.items) judgeItem(event, KIND_LABEL[catalog.kind], item);
          return;
        }
        if (!cfg.scanContent) return;
        if (event.method === 'prompts/get' || event.method === 'resources/read') {
          const texts = textsOf(event.result?.content);
          if (texts.length === 0) return;
          const joined = texts.join('\n');
          const kind = event.method === 'prompts/get' ? 'prompt' : 'resource';
          const name = event.prompt ?? event.resourceUri ?? '(unnamed)';
          report(event, kind, name, analyseText(joined, event.method === 'prompts/get' ? 'messages' : 'contents', cfg.threshold), sha256Hex(joined));
        }
      },
      onTick(now) {
        judged.sweep(now);
      },
    };
  },
};

export default toolPoisoning;
