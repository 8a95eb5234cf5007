import { checkExposedListener } from './endpoint.js';
import type { Config } from './schema.js';
import { FACTORIES } from '../component/registry.js';

/**
 * Semantic checks that the schema cannot express, run at start-up and by `mcpwatch validate`. Each
 * problem is a sentence that starts with its config path.
 */
export function validateConfig(config: Config): string[] {
  const problems: string[] = [];
  for (const { section, factory } of FACTORIES) {
    const value = getPath(config, section);
    if (value === undefined) continue;
    if (typeof value === 'object' && value !== null && (value as { enabled?: boolean }).enabled === false) continue;
    problems.push(...factory.validate(value, section));
  }
  problems.push(...checkExposedListener('admin', config.admin.endpoint, config.admin.auth.bearerToken));
  if (config.store.maxBytes < 1024 * 1024) problems.push('store.maxBytes: must be at least 1 MiB (1048576)');
  return problems;
}

function getPath(root: unknown, path: string): unknown {
  let node = root;
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
