import { createHash } from 'node:crypto';
import { canonicalJson } from '../pipeline/normalize.js';
import { record } from './jsonrpc-message.js';

/**
 * What a server offers, from a `tools/list`, `prompts/list`, `resources/list` or
 * `resources/templates/list` result: names, descriptions, schemas and annotations. These are metadata
 * (always captured, never masked: a poisoned description is the evidence), encoded as one JSON string
 * attribute with a size cap so a server with a huge catalog cannot blow up a span.
 */

export type CatalogKind = 'tools' | 'prompts' | 'resources' | 'resource_templates';

export const CATALOG_METHODS: Readonly<Record<string, { kind: CatalogKind; field: string }>> = {
  'tools/list': { kind: 'tools', field: 'tools' },
  'prompts/list': { kind: 'prompts', field: 'prompts' },
  'resources/list': { kind: 'resources', field: 'resources' },
  'resources/templates/list': { kind: 'resource_templates', field: 'resourceTemplates' },
};

/** Members of a list item that say what it is and how it is described to a model. */
const ITEM_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations', 'arguments', 'uri', 'uriTemplate', 'mimeType', 'size', 'icons', '_meta'];

export const DEFAULT_MAX_CATALOG_BYTES = 256 * 1024;
/** Most items kept from one list result. */
const MAX_ITEMS = 2000;

export interface EncodedCatalog {
  json: string;
  count: number;
  truncated: boolean;
  fingerprint: string;
}

export function encodeCatalog(method: string, result: unknown, maxBytes = DEFAULT_MAX_CATALOG_BYTES): EncodedCatalog | undefined {
  const spec = CATALOG_METHODS[method];
  const list = record(result)?.[spec?.field ?? ''];
  if (!spec || !Array.isArray(list)) return undefined;
  const fingerprint = createHash('sha256').update(canonicalJson(list)).digest('hex').slice(0, 32);
  const head = `{"kind":${JSON.stringify(spec.kind)},"items":[`;
  let body = '';
  let used = head.length + 2;
  let kept = 0;
  let truncated = list.length > MAX_ITEMS;
  for (const raw of list.slice(0, MAX_ITEMS)) {
    const item = record(raw);
    if (!item) continue;
    const picked: Record<string, unknown> = {};
    for (const f of ITEM_FIELDS) if (item[f] !== undefined) picked[f] = item[f];
    const text = JSON.stringify(picked);
    if (used + text.length + 1 > maxBytes) {
      truncated = true;
      break;
    }
    body += (kept ? ',' : '') + text;
    used += text.length + 1;
    kept++;
  }
  return { json: `${head}${body}]}`, count: list.length, truncated, fingerprint };
}
