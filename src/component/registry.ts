import type { Factory } from './component.js';
import { otlpReceiverFactory } from '../receiver/otlp/factory.js';
import { processReceiverFactory } from '../receiver/process/factory.js';
import { fileReceiverFactory } from '../receiver/file/factory.js';
import { networkReceiverFactory } from '../receiver/network/factory.js';
import { detectorEngineFactory } from '../detect/factory.js';

/**
 * Every component factory the daemon can build, keyed by config section. The conformance test runs over
 * this list, so a factory that is not registered here is not tested and not configurable.
 */
export const FACTORIES: { section: string; factory: Factory<any, any, any> }[] = [
  { section: 'receivers.otlp', factory: otlpReceiverFactory },
  { section: 'receivers.process', factory: processReceiverFactory },
  { section: 'receivers.file', factory: fileReceiverFactory },
  { section: 'receivers.network', factory: networkReceiverFactory },
  { section: 'detectors', factory: detectorEngineFactory },
];
