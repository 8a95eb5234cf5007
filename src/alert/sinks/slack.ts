import type { z } from 'zod';
import type { slackSinkSchema } from '../../config/schema.js';
import { maskAlert } from '../mask-alert.js';
import type { DeliveryContext, DeliveryJob } from '../queue/types.js';
import type { TrackedAlert } from '../types.js';
import { postJson } from './http-post.js';
import { slackMessage } from './slack-message.js';
import type { AlertSink } from './types.js';

export type SlackSinkConfig = z.infer<typeof slackSinkSchema>;

/**
 * Slack incoming webhook. Slack allows about one message per second per webhook and answers 429 with
 * `Retry-After` beyond; the queue enforces `maxPerSecond` across every daemon and pauses the sink for
 * `Retry-After` (no request lands before it expires). When notifications pile up (at least
 * `digestThreshold` waiting), the next message folds them into one digest instead of trickling out one
 * per second.
 */
export class SlackSink implements AlertSink {
  /** One at a time: with one message per second allowed, parallel requests only earn 429s. */
  readonly concurrency = 1;
  readonly maxPerSecond: number;

  constructor(
    readonly name: string,
    private readonly config: SlackSinkConfig,
  ) {
    this.maxPerSecond = config.maxPerSecond;
  }

  readonly deliver = async (job: DeliveryJob, ctx: DeliveryContext): Promise<void> => {
    let current = job;
    if (current.alerts.length < this.config.digestMaxAlerts && (await ctx.backlog()) + 1 >= this.config.digestThreshold) {
      current = await ctx.absorbBacklog(this.config.digestMaxAlerts - current.alerts.length);
    }
    const message = slackMessage(current.alerts.map((a) => maskAlert(a as TrackedAlert)));
    await postJson(this.config.webhook, JSON.stringify(message), {}, this.config.timeoutSeconds * 1000);
  };
}
