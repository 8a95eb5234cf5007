import type { Consumer, CreateSettings, Factory } from '../../component/component.js';
import { checkExposedListener } from '../../config/endpoint.js';
import { otlpReceiverSchema, type OtlpReceiverConfig } from '../../config/schema.js';
import { OtlpHttpReceiver } from './receiver.js';
import type { DecodedSpan } from './span.js';

/** Factory of the OTLP/HTTP trace receiver (`receivers.otlp`). */
export const otlpReceiverFactory: Factory<OtlpReceiverConfig, never, DecodedSpan> = {
  type: 'otlp',
  kind: 'receiver',
  schema: otlpReceiverSchema,
  createDefaultConfig: () => otlpReceiverSchema.parse({}),
  validate(config, path) {
    const problems = checkExposedListener(path, config.endpoint, config.auth.bearerToken);
    if (config.maxInflightBytes < config.maxRequestBodyBytes) {
      problems.push(`${path}.maxInflightBytes: must be at least maxRequestBodyBytes (${config.maxRequestBodyBytes}), or no maximal request could ever be accepted`);
    }
    return problems;
  },
  create(settings: CreateSettings, config: OtlpReceiverConfig, next: Consumer<DecodedSpan>) {
    return new OtlpHttpReceiver(settings, config, next);
  },
};
