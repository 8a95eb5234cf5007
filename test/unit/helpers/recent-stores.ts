import { storeSchema, type StoreConfig } from '../../../src/config/schema.js';
import { RecentStore } from '../../../src/store/recent-store.js';
import type { StoredSpan, TraceNode } from '../../../src/store/types.js';
import { Metrics } from '../../../src/telemetry/metrics.js';

/** Stores made by `makeStore` hold metrics registries; `closeStores` (an `afterEach`) closes them. */
const metricsToClose: Metrics[] = [];

/** A recent store on the schema's defaults with `config` over them. */
export function makeStore(config: Partial<StoreConfig> = {}): RecentStore {
  const metrics = new Metrics();
  metricsToClose.push(metrics);
  return new RecentStore(storeSchema.parse(config), metrics);
}

export function closeStores(): void {
  for (const m of metricsToClose.splice(0)) m.close();
}

/** The spans of a trace tree, parents before their children. */
export function flatten(nodes: readonly TraceNode[]): StoredSpan[] {
  return nodes.flatMap((n) => [n.span, ...flatten(n.children)]);
}
