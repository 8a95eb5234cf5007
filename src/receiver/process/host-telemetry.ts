import type { Component, Consumer, CreateSettings } from '../../component/component.js';
import type { Config } from '../../config/schema.js';
import type { McpEvent } from '../../pipeline/events.js';
import { ServerRegistry } from '../../pipeline/server-registry.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { FileReceiver } from '../file/receiver.js';
import { NetworkReceiver } from '../network/receiver.js';
import { ProcFs } from './procfs.js';
import { ProcessReceiver } from './receiver.js';

/** The host receivers of one daemon and the server registry they share. */
export interface HostTelemetry {
  registry: ServerRegistry;
  process?: ProcessReceiver;
  file?: FileReceiver;
  network?: NetworkReceiver;
  /** In start order, named by config section. */
  components: [string, Component][];
}

/**
 * Builds the enabled host receivers around one {@link ServerRegistry}: it learns server pids from `events`
 * (span resources), so the caller adds it to the event bus; the receivers emit into `events`.
 */
export function createHostTelemetry(config: Config, events: Consumer<McpEvent> & { add(c: Consumer<McpEvent>): void }, logger: Logger, metrics: Metrics): HostTelemetry | undefined {
  const { process: pc, file: fc, network: nc } = config.receivers;
  if (!pc.enabled && !fc.enabled && !nc.enabled) return undefined;
  const registry = new ServerRegistry({
    procfs: new ProcFs(pc.procRoot),
    servers: config.servers,
    discovery: pc.discovery,
    maxServers: pc.maxServers,
    maxProcesses: pc.maxProcesses,
    logger: logger.child({ component: 'server-registry' }),
    metrics,
  });
  events.add(registry);
  const settings = (path: string): CreateSettings => ({ path, logger: logger.child({ component: path }), metrics });
  const host: HostTelemetry = { registry, components: [] };
  if (pc.enabled) {
    host.process = new ProcessReceiver(settings('receivers.process'), pc, events, registry);
    host.components.push(['receivers.process', host.process]);
  }
  if (fc.enabled) {
    host.file = new FileReceiver(settings('receivers.file'), fc, events, { registry, servers: config.servers });
    host.components.push(['receivers.file', host.file]);
  }
  if (nc.enabled) {
    host.network = new NetworkReceiver(settings('receivers.network'), nc, events, registry);
    host.components.push(['receivers.network', host.network]);
  }
  return host;
}
