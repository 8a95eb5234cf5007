import type { AlertInput } from '../alert/types.js';
import type { McpEvent } from '../pipeline/events.js';
import type { DetectorExceptions } from './manifest.js';

/**
 * User exceptions (Falco's override hooks): allowlists by server, tool, path and destination, applied by
 * the engine so a detector never has to know about them. An event is dropped before the detector sees
 * it; an alert is dropped when its server, tool, or its `path` / `destination` label is allowlisted (for
 * alerts built from several events, such as a read followed by a send).
 *
 * Patterns are literal except `*`, which matches any run of characters; matching is case-insensitive for
 * paths and destinations (host names and file systems on macOS/Windows are), exact case for the rest.
 */
export class ExceptionMatcher {
  private readonly servers: RegExp[];
  private readonly tools: RegExp[];
  private readonly paths: RegExp[];
  private readonly destinations: RegExp[];
  readonly empty: boolean;

  constructor(exceptions: DetectorExceptions) {
    this.servers = exceptions.servers.map((p) => glob(p, false));
    this.tools = exceptions.tools.map((p) => glob(p, false));
    this.paths = exceptions.paths.map((p) => glob(p, true));
    this.destinations = exceptions.destinations.map((p) => glob(p, true));
    this.empty = this.servers.length + this.tools.length + this.paths.length + this.destinations.length === 0;
  }

  /** Whether the event is covered by an exception (and must not reach the detector). */
  coversEvent(event: McpEvent): boolean {
    if (this.empty) return false;
    if (this.matchesServer(event.server.name, event.server.id)) return true;
    switch (event.kind) {
      case 'mcp':
        return (
          (event.tool !== undefined && any(this.tools, event.tool)) ||
          (event.resourceUri !== undefined && any(this.paths, event.resourceUri))
        );
      case 'file':
        return any(this.paths, event.path);
      case 'network': {
        const r = event.remote;
        return (
          any(this.destinations, r.address) ||
          any(this.destinations, `${r.address}:${r.port}`) ||
          (r.hostname !== undefined && (any(this.destinations, r.hostname) || any(this.destinations, `${r.hostname}:${r.port}`)))
        );
      }
      case 'process':
        return event.executable !== undefined && any(this.paths, event.executable);
    }
  }

  /** Whether an alert is covered by an exception (its server, tool, or `path` / `destination` label). */
  coversAlert(alert: Pick<AlertInput, 'server' | 'tool' | 'labels'>): boolean {
    if (this.empty) return false;
    if (any(this.servers, alert.server)) return true;
    if (alert.tool !== undefined && any(this.tools, alert.tool)) return true;
    const path = alert.labels?.path;
    if (path !== undefined && any(this.paths, path)) return true;
    const destination = alert.labels?.destination;
    return destination !== undefined && any(this.destinations, destination);
  }

  private matchesServer(name: string, id: string): boolean {
    return any(this.servers, name) || any(this.servers, id);
  }
}

function any(patterns: readonly RegExp[], value: string): boolean {
  for (const p of patterns) if (p.test(value)) return true;
  return false;
}

function glob(pattern: string, caseInsensitive: boolean): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, caseInsensitive ? 'si' : 's');
}
