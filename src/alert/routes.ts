import type { AlertRouteConfig, SinkConfig } from '../config/schema.js';
import { severityAtLeast, type Alert } from './types.js';

/**
 * Decides which sinks an alert goes to: routes are tried in order and the first match wins (a route with
 * `continue: true` lets later routes add sinks too); with no routes configured every sink gets every alert.
 * Then each sink's own `minSeverity` filters.
 */
export class AlertRouter {
  constructor(
    private readonly routes: readonly AlertRouteConfig[],
    private readonly sinks: Readonly<Record<string, SinkConfig>>,
  ) {}

  /** Config problems (routes naming unknown sinks), as sentences starting with their config path. */
  static validate(routes: readonly AlertRouteConfig[], sinks: Readonly<Record<string, SinkConfig>>): string[] {
    const problems: string[] = [];
    routes.forEach((r, i) =>
      r.sinks.forEach((name, j) => {
        if (!(name in sinks)) {
          problems.push(`alerts.routes.${i}.sinks.${j}: no sink named "${name}" in alerts.sinks (have: ${Object.keys(sinks).join(', ') || 'none'})`);
        }
      }),
    );
    return problems;
  }

  /** Sink names for this alert, each once, in route order. */
  sinksFor(alert: Pick<Alert, 'detector' | 'server' | 'severity'>): string[] {
    const chosen = new Set<string>();
    if (this.routes.length === 0) {
      for (const name of Object.keys(this.sinks)) chosen.add(name);
    } else {
      for (const route of this.routes) {
        if (route.detectors && !route.detectors.includes(alert.detector)) continue;
        if (route.servers && !route.servers.includes(alert.server)) continue;
        if (!severityAtLeast(alert.severity, route.minSeverity)) continue;
        for (const s of route.sinks) chosen.add(s);
        if (!route.continue) break;
      }
    }
    return [...chosen].filter((name) => {
      const sink = this.sinks[name];
      return sink !== undefined && severityAtLeast(alert.severity, sink.minSeverity);
    });
  }
}
