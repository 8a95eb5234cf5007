import { z } from 'zod';

/**
 * The whole configuration, with every default in one place. Parsing `{}` yields the embedded defaults
 * the daemon runs on without a config file: loopback listeners, in-process alert queue, log sink.
 */

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}$/, 'must be HOST:PORT, e.g. 127.0.0.1:4318 or [::1]:4318');

const bearerAuth = z
  .object({
    /** Token senders must present as `Authorization: Bearer <token>`. Required for non-loopback binds. */
    bearerToken: z.string().min(16, 'must be at least 16 characters').optional(),
  })
  .strict()
  .default({});

export const otlpReceiverSchema = z
  .object({
    /** Turn the receiver off (host-telemetry-only deployments). */
    enabled: z.boolean().default(true),
    /** Where OTLP/HTTP is served. Loopback by default; anything else requires `auth.bearerToken`. */
    endpoint: hostPort.default('127.0.0.1:4318'),
    /** Largest request body accepted, counted after decompression (413 beyond). */
    maxRequestBodyBytes: z.number().int().positive().default(16 * 1024 * 1024),
    /** Requests read or decoded at once; beyond this new requests get 429 before their body is read. */
    maxInflightRequests: z.number().int().positive().default(64),
    /** Sum of declared body sizes being handled at once; beyond it 429 before the body is read. */
    maxInflightBytes: z.number().int().positive().default(128 * 1024 * 1024),
    /** `Retry-After` seconds sent with 429 and 503. */
    retryAfterSeconds: z.number().int().positive().default(2),
    /** Time allowed to receive a whole request body before the connection is dropped. */
    requestTimeoutSeconds: z.number().positive().default(30),
    auth: bearerAuth,
  })
  .strict();

export const storeSchema = z
  .object({
    /** Normalized events kept for queries; oldest evicted first. */
    maxEvents: z.number().int().positive().default(100_000),
    /** Raw spans kept for trace queries; oldest evicted first. */
    maxSpans: z.number().int().positive().default(200_000),
    /** Approximate bytes for events and spans together; oldest evicted first. */
    maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Keep tool arguments and results in events (opt-in; secrets are masked first). */
    captureContent: z.boolean().default(false),
  })
  .strict();

export const pipelineSchema = z
  .object({
    /** Spans waiting between the receivers and normalization; a full queue answers senders 503. */
    queueCapacitySpans: z.number().int().positive().default(200_000),
    /** How long shutdown waits for queued spans to be processed. */
    drainTimeoutSeconds: z.number().positive().default(5),
  })
  .strict();

export const adminSchema = z
  .object({
    /** Admin HTTP server: /metrics, /livez, /readyz, /api. Loopback by default. */
    endpoint: hostPort.default('127.0.0.1:9464'),
    auth: bearerAuth,
    /** Log level: fatal, error, warn, info, debug, trace, silent. */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Time SIGTERM/SIGINT allows for draining before the daemon exits anyway. */
    shutdownTimeoutSeconds: z.number().positive().default(10),
  })
  .strict();

export const registeredServerSchema = z
  .object({
    name: z.string().min(1),
    command: z.string().optional(),
    executable: z.string().optional(),
    packageVersion: z.string().optional(),
  })
  .strict();

export const configSchema = z
  .object({
    receivers: z
      .object({ otlp: otlpReceiverSchema.default(otlpReceiverSchema.parse({})) })
      .passthrough()
      .default({ otlp: otlpReceiverSchema.parse({}) }),
    pipeline: pipelineSchema.default(pipelineSchema.parse({})),
    /** Per-detector settings, keyed by detector id (see `mcpwatch detectors`). */
    detectors: z.record(z.string(), z.unknown()).default({}),
    /** Alert queue, routes, sinks and silences. */
    alerts: z.record(z.string(), z.unknown()).default({}),
    store: storeSchema.default(storeSchema.parse({})),
    admin: adminSchema.default(adminSchema.parse({})),
    /** The trusted-server registry. */
    servers: z.array(registeredServerSchema).default([]),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type OtlpReceiverConfig = z.infer<typeof otlpReceiverSchema>;
export type StoreConfig = z.infer<typeof storeSchema>;
export type AdminConfig = z.infer<typeof adminSchema>;
export type PipelineConfig = z.infer<typeof pipelineSchema>;
