import { canonicalJson, type CatalogItem } from '../../src/detect/tool-catalog.js';

/** What changed between a pinned tool definition and the one now served, as short human sentences. */
export interface DefinitionDiff {
  fields: string[];
  changes: string[];
}

function clip(s: string, max = 240): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The text inserted into `before` to make `after` (common prefix and suffix removed). */
export function insertedText(before: string, after: string): string {
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start += 1;
  let endB = before.length;
  let endA = after.length;
  while (endB > start && endA > start && before[endB - 1] === after[endA - 1]) {
    endB -= 1;
    endA -= 1;
  }
  return after.slice(start, endA);
}

function properties(schema: unknown): Record<string, unknown> {
  if (typeof schema !== 'object' || schema === null) return {};
  const p = (schema as Record<string, unknown>)['properties'];
  return typeof p === 'object' && p !== null && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

function required(schema: unknown): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const r = (schema as Record<string, unknown>)['required'];
  return Array.isArray(r) ? r.filter((x): x is string => typeof x === 'string') : [];
}

export function diffDefinitions(before: CatalogItem, after: CatalogItem): DefinitionDiff {
  const fields: string[] = [];
  const changes: string[] = [];
  if ((before.description ?? '') !== (after.description ?? '')) {
    fields.push('description');
    const added = insertedText(before.description ?? '', after.description ?? '').trim();
    changes.push(
      added.length > 0
        ? `description changed; inserted: ${JSON.stringify(clip(added))}`
        : `description changed from ${JSON.stringify(clip(before.description ?? ''))} to ${JSON.stringify(clip(after.description ?? ''))}`,
    );
  }
  if ((before.title ?? '') !== (after.title ?? '')) {
    fields.push('title');
    changes.push(`title changed from ${JSON.stringify(clip(before.title ?? '', 80))} to ${JSON.stringify(clip(after.title ?? '', 80))}`);
  }
  if (canonicalJson(before.inputSchema ?? null) !== canonicalJson(after.inputSchema ?? null)) {
    fields.push('inputSchema');
    const b = properties(before.inputSchema);
    const a = properties(after.inputSchema);
    const addedProps = Object.keys(a).filter((k) => !(k in b));
    const removedProps = Object.keys(b).filter((k) => !(k in a));
    const changedProps = Object.keys(a).filter((k) => k in b && canonicalJson(a[k]) !== canonicalJson(b[k]));
    if (addedProps.length) changes.push(`parameters added: ${addedProps.slice(0, 20).join(', ')}`);
    if (removedProps.length) changes.push(`parameters removed: ${removedProps.slice(0, 20).join(', ')}`);
    if (changedProps.length) changes.push(`parameters changed: ${changedProps.slice(0, 20).join(', ')}`);
    const rb = required(before.inputSchema).sort().join(',');
    const ra = required(after.inputSchema).sort().join(',');
    if (rb !== ra) changes.push(`required parameters changed from [${rb}] to [${ra}]`);
    if (!addedProps.length && !removedProps.length && !changedProps.length && rb === ra) changes.push('input schema changed');
  }
  if (canonicalJson(before.outputSchema ?? null) !== canonicalJson(after.outputSchema ?? null)) {
    fields.push('outputSchema');
    changes.push('output schema changed');
  }
  if (canonicalJson(before.annotations ?? null) !== canonicalJson(after.annotations ?? null)) {
    fields.push('annotations');
    const b = (before.annotations ?? {}) as Record<string, unknown>;
    const a = (after.annotations ?? {}) as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) => canonicalJson(b[k]) !== canonicalJson(a[k]));
    changes.push(`annotations changed: ${keys.slice(0, 10).map((k) => `${k} ${JSON.stringify(b[k])} -> ${JSON.stringify(a[k])}`).join(', ')}`);
  }
  return { fields, changes };
}
