import type { Logger } from '../../telemetry/logger.js';
import { maskAlert } from '../mask-alert.js';
import type { DeliveryJob } from '../queue/types.js';
import type { AlertSink } from './types.js';

/**
 * The default sink: one JSON log line per alert. The alert is nested under `alert` (pino habit: untrusted
 * text never becomes a top-level log field) and masked like in every other sink.
 */
export class LogSink implements AlertSink {
  readonly concurrency = 4;
  constructor(
    readonly name: string,
    private readonly logger: Logger,
  ) {}

  readonly deliver = async (job: DeliveryJob): Promise<void> => {
    for (const alert of job.alerts) {
      this.logger.warn({ alert: maskAlert(alert), sink: this.name, notification: job.id }, `alert ${alert.status}`);
    }
  };
}
