import type { Consumer, CreateSettings, Factory } from '../../component/component.js';
import { processReceiverSchema, type ProcessReceiverConfig } from '../../config/schema.js';
import type { McpEvent } from '../../pipeline/events.js';
import { ProcessReceiver } from './receiver.js';

/** Factory of the process receiver (`receivers.process`). The daemon shares one server registry among host receivers. */
export const processReceiverFactory: Factory<ProcessReceiverConfig, never, McpEvent> = {
  type: 'process',
  kind: 'receiver',
  schema: processReceiverSchema,
  createDefaultConfig: () => processReceiverSchema.parse({}),
  validate(config, path) {
    const problems: string[] = [];
    if (config.intervalSeconds < 0.1) problems.push(`${path}.intervalSeconds: must be at least 0.1; /proc scans more often than that cost more than they tell`);
    if (!config.procRoot.startsWith('/')) problems.push(`${path}.procRoot: must be an absolute path, e.g. /proc`);
    return problems;
  },
  create(settings: CreateSettings, config: ProcessReceiverConfig, next: Consumer<McpEvent>) {
    return new ProcessReceiver(settings, config, next);
  },
};
