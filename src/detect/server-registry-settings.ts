import type { RegisteredServerConfig } from '../config/schema.js';
import type { DetectorsSection } from './settings.js';

/**
 * The trusted-server registry is the top-level `servers` list (DESIGN.md); `unregistered_server` reads it
 * as its `registry` setting. This hands the list over unless the user set that setting explicitly.
 */
export function withServerRegistry(section: DetectorsSection, servers: readonly RegisteredServerConfig[]): DetectorsSection {
  const own = section['unregistered_server'];
  const settings = typeof own === 'object' && own !== null ? (own as Record<string, unknown>) : {};
  if ('registry' in settings || servers.length === 0) return section;
  return { ...section, unregistered_server: { ...settings, registry: servers.map((s) => ({ ...s })) } };
}
