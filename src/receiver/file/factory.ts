import type { Consumer, CreateSettings, Factory } from '../../component/component.js';
import { fileReceiverSchema, type FileReceiverConfig } from '../../config/schema.js';
import type { McpEvent } from '../../pipeline/events.js';
import { FileReceiver } from './receiver.js';

/** Factory of the file receiver (`receivers.file`). */
export const fileReceiverFactory: Factory<FileReceiverConfig, never, McpEvent> = {
  type: 'file',
  kind: 'receiver',
  schema: fileReceiverSchema,
  createDefaultConfig: () => fileReceiverSchema.parse({}),
  validate(config, path) {
    const problems: string[] = [];
    if (config.sampleIntervalSeconds < 0.1) problems.push(`${path}.sampleIntervalSeconds: must be at least 0.1`);
    config.canaries.forEach((c, i) => {
      if (config.sensitivePaths.some((p) => p === c.path)) problems.push(`${path}.canaries[${i}].path: ${c.path} is also a sensitive path; a canary must be a decoy of its own, never a real credential file`);
    });
    return problems;
  },
  create(settings: CreateSettings, config: FileReceiverConfig, next: Consumer<McpEvent>) {
    return new FileReceiver(settings, config, next);
  },
};
