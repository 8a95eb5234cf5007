import { z } from 'zod';
import type { McpTrafficEvent } from '../pipeline/events.js';
import { sha256Hex as fullSha256Hex } from '../pipeline/sha256.js';

/**
 * Tool, prompt and resource catalogs as detectors see them. A catalog reaches an event two ways:
 * - the taps record `tools/list` (and prompts/resources list) results as metadata, always, under
 *   `mcpwatch.catalog` = `{"kind":"tools","items":[...]}` (src/semconv), carried on the event as `catalog`;
 * - with content capture on, the `tools/list` result itself is in `result.content` as `{tools:[...]}`.
 * Both are untrusted; each item is validated and oversized ones are dropped, never trusted.
 */

export type CatalogKind = 'tools' | 'prompts' | 'resources' | 'resource_templates';

export interface CatalogItem {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  outputSchema?: unknown;
  annotations?: unknown;
  /** Resources: the URI (or URI template). */
  uri?: string;
  /** Prompts: their arguments. */
  arguments?: unknown;
}

export interface Catalog {
  kind: CatalogKind;
  items: CatalogItem[];
  truncated?: boolean;
}

const MAX_ITEMS = 2000;

const itemSchema = z
  .object({
    name: z.string().min(1).max(1024).optional(),
    title: z.string().max(65_536).optional(),
    description: z.string().max(262_144).optional(),
    inputSchema: z.unknown().optional(),
    outputSchema: z.unknown().optional(),
    annotations: z.unknown().optional(),
    uri: z.string().max(8192).optional(),
    uriTemplate: z.string().max(8192).optional(),
    arguments: z.unknown().optional(),
  })
  .passthrough();

const KIND_ALIASES: Record<string, CatalogKind> = {
  tools: 'tools',
  'tools/list': 'tools',
  prompts: 'prompts',
  'prompts/list': 'prompts',
  resources: 'resources',
  'resources/list': 'resources',
  resource_templates: 'resource_templates',
  resourceTemplates: 'resource_templates',
  'resources/templates/list': 'resource_templates',
};

function parseItems(raw: unknown): CatalogItem[] {
  if (!Array.isArray(raw)) return [];
  const items: CatalogItem[] = [];
  for (const entry of raw.slice(0, MAX_ITEMS)) {
    const parsed = itemSchema.safeParse(entry);
    if (!parsed.success) continue;
    const v = parsed.data;
    const name = v.name ?? v.uri ?? v.uriTemplate;
    if (name === undefined) continue;
    const item: CatalogItem = { name };
    if (v.title !== undefined) item.title = v.title;
    if (v.description !== undefined) item.description = v.description;
    if (v.inputSchema !== undefined) item.inputSchema = v.inputSchema;
    if (v.outputSchema !== undefined) item.outputSchema = v.outputSchema;
    if (v.annotations !== undefined) item.annotations = v.annotations;
    if (v.uri !== undefined || v.uriTemplate !== undefined) item.uri = v.uri ?? v.uriTemplate;
    if (v.arguments !== undefined) item.arguments = v.arguments;
    items.push(item);
  }
  return items;
}

function fromCatalogField(raw: unknown): Catalog | undefined {
  let value = raw;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const obj = value as Record<string, unknown>;
  const kind = typeof obj['kind'] === 'string' ? KIND_ALIASES[obj['kind']] : undefined;
  if (kind === undefined) return undefined;
  const catalog: Catalog = { kind, items: parseItems(obj['items']) };
  if (obj['truncated'] === true) catalog.truncated = true;
  return catalog;
}

const LIST_METHODS: Record<string, { kind: CatalogKind; key: string }> = {
  'tools/list': { kind: 'tools', key: 'tools' },
  'prompts/list': { kind: 'prompts', key: 'prompts' },
  'resources/list': { kind: 'resources', key: 'resources' },
  'resources/templates/list': { kind: 'resource_templates', key: 'resourceTemplates' },
};

/** The catalog an event carries (tap metadata first, else captured result content), if any. */
export function catalogOf(event: McpTrafficEvent): Catalog | undefined {
  const field = (event as McpTrafficEvent & { catalog?: unknown }).catalog;
  if (field !== undefined) {
    const c = fromCatalogField(field);
    if (c) return c;
  }
  const list = LIST_METHODS[event.method];
  if (list === undefined || event.outcome !== 'ok') return undefined;
  const content = event.result?.content;
  if (typeof content !== 'object' || content === null) return undefined;
  const raw = (content as Record<string, unknown>)[list.key];
  if (!Array.isArray(raw)) return undefined;
  return { kind: list.kind, items: parseItems(raw) };
}

/** JSON with object keys sorted, so two equal definitions hash the same whatever the key order. */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > 64) return '"[deep]"';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, depth + 1)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function sha256Hex(text: string, length = 32): string {
  return fullSha256Hex(text).slice(0, length);
}

/** Every string a model reads from a tool definition: description, title, parameter descriptions, enums. */
export function modelVisibleStrings(item: CatalogItem): { where: string; text: string }[] {
  const out: { where: string; text: string }[] = [];
  if (item.description) out.push({ where: 'description', text: item.description });
  if (item.title) out.push({ where: 'title', text: item.title });
  out.push({ where: 'name', text: item.name });
  const walk = (node: unknown, path: string, depth: number): void => {
    if (depth > 12 || out.length > 512) return;
    if (typeof node === 'string') {
      out.push({ where: path, text: node });
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, `${path}[${i}]`, depth + 1));
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
        // Property names are shown to the model too (a parameter called `ignore_previous_instructions`).
        if (path.endsWith('.properties')) out.push({ where: `${path}.${k}`, text: k });
        walk(v, `${path}.${k}`, depth + 1);
      }
    }
  };
  walk(item.inputSchema, 'inputSchema', 0);
  walk(item.arguments, 'arguments', 0);
  return out;
}
