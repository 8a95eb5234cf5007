import type { Consumer, CreateSettings, Factory } from '../../component/component.js';
import { networkReceiverSchema, type NetworkReceiverConfig } from '../../config/schema.js';
import type { McpEvent } from '../../pipeline/events.js';
import { NetworkReceiver } from './receiver.js';

/** Factory of the network receiver (`receivers.network`). */
export const networkReceiverFactory: Factory<NetworkReceiverConfig, never, McpEvent> = {
  type: 'network',
  kind: 'receiver',
  schema: networkReceiverSchema,
  createDefaultConfig: () => networkReceiverSchema.parse({}),
  validate(config, path) {
    const problems: string[] = [];
    if (config.intervalSeconds < 0.1) problems.push(`${path}.intervalSeconds: must be at least 0.1; socket tables are re-read whole every sample`);
    return problems;
  },
  create(settings: CreateSettings, config: NetworkReceiverConfig, next: Consumer<McpEvent>) {
    return new NetworkReceiver(settings, config, next);
  },
};
