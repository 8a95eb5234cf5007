import { z } from 'zod';
import { auditLogSchema } from '../audit/audit-config.js';
import { detectorsSectionSchema } from '../detect/settings.js';

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
    /** Requests taken on at once, from their headers until their answer; beyond this new requests get 429 before their body is read. */
    maxInflightRequests: z.number().int().positive().default(64),
    /** Sum of the body sizes of the requests in flight (declared, or as read when larger); beyond it 429 before the body is read. */
    maxInflightBytes: z.number().int().positive().default(128 * 1024 * 1024),
    /** Longest the receiver decodes and hands on accepted requests in one event-loop turn (at least one request) before it yields, so that under load connections are still accepted (one per turn) and refusals answered. */
    processingSliceMilliseconds: z.number().positive().max(1000).default(2),
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
    /** Append-only JSON Lines audit log of every MCP action (src/audit/audit-config.ts). */
    audit: auditLogSchema.default(auditLogSchema.parse({})),
  })
  .strict();

export const pipelineSchema = z
  .object({
    /** Spans waiting between the receivers and normalization; a full queue answers senders 503. */
    queueCapacitySpans: z.number().int().positive().default(50_000),
    /**
     * Request-body bytes (after decompression) waiting between the receivers and normalization; the
     * bound that holds memory when spans are large. Decoded spans take roughly 2-3x their wire size.
     */
    queueCapacityBytes: z.number().int().positive().default(64 * 1024 * 1024),
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
    /** Directories the server is expected to work in: watched by `receivers.file`, `.env` files in them are sensitive. */
    roots: z.array(z.string().min(1)).optional(),
  })
  .strict();

const seconds = z.number().positive();

export const processReceiverSchema = z
  .object({
    /** Sample MCP server processes (Linux /proc). Also turns off the server registry's /proc scan when all host receivers are off. */
    enabled: z.boolean().default(true),
    /** Seconds between samples: CPU, RSS, threads, descriptors, children, new descendants, listeners, exits. */
    intervalSeconds: seconds.default(5),
    /** Where procfs is mounted (a host's /proc bind-mounted into a container, for instance). */
    procRoot: z.string().min(1).default('/proc'),
    /** MCP server trees monitored at once; more are refused and counted. */
    maxServers: z.number().int().positive().default(256),
    /** Processes scanned per sample on the whole host; bounds memory and time on very busy hosts. */
    maxProcesses: z.number().int().positive().default(32_768),
    /** Descendants remembered per server (for exec and exit events); beyond it new descendants are not reported. */
    maxProcessesPerServer: z.number().int().positive().default(1024),
    restartLoop: z
      .object({
        /** Window in which starts of the same server are counted. */
        windowSeconds: seconds.default(300),
        /** Starts within the window that make a restart loop. */
        starts: z.number().int().min(2).default(3),
      })
      .strict()
      .default({ windowSeconds: 300, starts: 3 }),
    discovery: z
      .object({
        /** Look for MCP servers nobody registered: launch commands and stdio children of MCP clients. */
        enabled: z.boolean().default(true),
        /** Package or image patterns (`*` wildcard) that are MCP servers; `mcp` as a word of a name always is. */
        knownPackages: z
          .array(z.string().min(1))
          .default(['@modelcontextprotocol/server-*', '@playwright/mcp', '@upstash/context7-mcp', '@notionhq/notion-mcp-server', '@sentry/mcp-server', 'mcp-server-*', 'mcp/*', 'ghcr.io/github/github-mcp-server']),
        /** Process names of MCP clients whose stdio children are servers (Claude, Cursor, VS Code, Codex). */
        clientNames: z.array(z.string().min(1)).default(['claude', 'Claude', 'cursor', 'Cursor', 'code', 'Code', 'code-insiders', 'codium', 'codex']),
      })
      .strict()
      .default({
        enabled: true,
        knownPackages: ['@modelcontextprotocol/server-*', '@playwright/mcp', '@upstash/context7-mcp', '@notionhq/notion-mcp-server', '@sentry/mcp-server', 'mcp-server-*', 'mcp/*', 'ghcr.io/github/github-mcp-server'],
        clientNames: ['claude', 'Claude', 'cursor', 'Cursor', 'code', 'Code', 'code-insiders', 'codium', 'codex'],
      }),
  })
  .strict();

const canarySchema = z
  .object({
    /** Where to plant the decoy (`~` is the watched home). Never overwrites a file mcpwatch did not plant. */
    path: z.string().min(1),
    /** What the decoy looks like: AWS credentials, an SSH private key, a .env file, or a generic token. */
    kind: z.enum(['aws', 'ssh', 'env', 'token']).default('token'),
  })
  .strict();

export const fileReceiverSchema = z
  .object({
    /** Watch sensitive paths and server roots (chokidar), sample open files, check canaries. */
    enabled: z.boolean().default(true),
    /** Home directory whose `~` paths are watched; defaults to the daemon user's home. */
    home: z.string().min(1).optional(),
    /** Sensitive files and directories (`~` = `home`): credentials, shell rc files, MCP client configs. */
    sensitivePaths: z
      .array(z.string().min(1))
      .default([
        '~/.ssh', '~/.aws', '~/.config/gcloud', '~/.kube', '~/.docker/config.json', '~/.netrc',
        '~/.bashrc', '~/.bash_profile', '~/.profile', '~/.zshrc', '~/.zprofile', '~/.config/fish/config.fish',
        '~/.claude.json', '~/.claude/settings.json', '~/.config/Claude/claude_desktop_config.json',
        '~/Library/Application Support/Claude/claude_desktop_config.json', '~/.cursor/mcp.json',
        '~/.config/Code/User/settings.json', '~/.config/Code/User/mcp.json', '~/.codex/config.toml',
      ]),
    /** Also watch each registered server's declared `roots` (and treat `.env` files in them as sensitive). */
    watchServerRoots: z.boolean().default(true),
    /** Directory levels watched below a sensitive directory or a root (inotify watches cost kernel memory). */
    depth: z.number().int().min(0).max(16).default(3),
    /** Seconds between open-file samples of server trees, canary atime checks and rechecks of missing paths. */
    sampleIntervalSeconds: seconds.default(5),
    /** Decoy credentials to plant; a read of one is reported with high confidence. */
    canaries: z.array(canarySchema).default([]),
    /** Watched paths at most (each directory costs an inotify watch); beyond it paths are reported unwatched. */
    maxWatchedPaths: z.number().int().positive().default(4096),
  })
  .strict();

export const networkReceiverSchema = z
  .object({
    /** Sample sockets of MCP server trees. */
    enabled: z.boolean().default(true),
    /** Seconds between samples: connections, new destinations, bytes per connection, closes. */
    intervalSeconds: seconds.default(5),
    /** Per-connection byte counters from `ss -tinHe` (iproute2; netlink, no per-process scan); `off` skips them. */
    byteCounters: z.enum(['ss', 'off']).default('ss'),
    /** Look remote addresses up in reverse DNS (cached; off by default: it leaks lookups and costs time). */
    reverseDns: z.boolean().default(false),
    /** Names resolved at start whose addresses count as cloud metadata endpoints. */
    metadataHosts: z.array(z.string().min(1)).default(['metadata.google.internal']),
    /** Connections tracked at once across all servers; beyond it new connections are not reported. */
    maxConnections: z.number().int().positive().default(10_000),
    /** Destinations remembered per server for new-destination events (least recently seen forgotten first). */
    maxDestinationsPerServer: z.number().int().positive().default(1024),
  })
  .strict();

const severity = z.enum(['info', 'low', 'medium', 'high', 'critical']);
const httpUrl = z.string().url('must be an http(s) URL').regex(/^https?:\/\//i, 'must be an http(s) URL');

export const alertQueueSchema = z
  .object({
    /** `redis://[user:pass@]host:port[/db]`: BullMQ on this Redis (run it with AOF on). Absent: in-process queue. */
    redis: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
    /** Redis password, kept out of the URL so `print-config` can mask it (`password_file` works too). */
    password: z.string().optional(),
    /** Key prefix of the BullMQ queues; daemons sharing a Redis must use the same prefix to share work. */
    prefix: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _').default('mcpwatch'),
    /**
     * Directory of the local fsynced outbox: the durable record of the in-process queue, and where alerts
     * wait while Redis is unreachable. Default: `$STATE_DIRECTORY` (systemd) or `~/.local/state/mcpwatch`.
     */
    outboxDir: z.string().min(1).optional(),
    /** Delivery attempts per notification before it goes to the dead-letter list. */
    maxAttempts: z.number().int().min(1).max(1000).default(30),
    /** Exponential backoff with jitter between attempts: base delay and its cap. */
    backoffBaseSeconds: z.number().positive().default(1),
    backoffMaxSeconds: z.number().positive().default(60),
    /** How long a daemon owns a delivery it started; after a crash another daemon takes it over after this. */
    lockSeconds: z.number().min(1).default(30),
    /** How long enqueueing to Redis may take before the alert goes to the local outbox instead. */
    enqueueTimeoutSeconds: z.number().positive().default(2),
    /** How long delivered notifications are remembered in Redis so a re-sent job id is not delivered twice. */
    dedupRetentionSeconds: z.number().int().positive().default(24 * 3600),
  })
  .strict();

const sinkCommon = {
  /** Only alerts at least this severe reach this sink. */
  minSeverity: severity.default('info'),
  /** Deliveries in flight at once from this daemon. */
  concurrency: z.number().int().min(1).max(64).optional(),
};

export const slackSinkSchema = z
  .object({
    type: z.literal('slack'),
    /** The incoming-webhook URL (a secret: prefer `webhook_file`). */
    webhook: httpUrl,
    /** Messages per second to this webhook; Slack allows one. */
    maxPerSecond: z.number().positive().max(1).default(1),
    /** When at least this many notifications wait, the next message is a digest of them. */
    digestThreshold: z.number().int().min(2).default(5),
    /** Most alerts in one digest message (Slack allows 50 blocks per message). */
    digestMaxAlerts: z.number().int().min(2).max(40).default(20),
    timeoutSeconds: z.number().positive().default(10),
    ...sinkCommon,
  })
  .strict();

export const webhookSinkSchema = z
  .object({
    type: z.literal('webhook'),
    /** Receives the Alertmanager webhook v4 body. */
    url: httpUrl,
    /** HMAC-SHA256 key of `X-Mcpwatch-Signature` (prefer `secret_file`); unsigned when absent. */
    secret: z.string().min(16, 'must be at least 16 characters').optional(),
    timeoutSeconds: z.number().positive().default(10),
    ...sinkCommon,
  })
  .strict();

export const alertmanagerSinkSchema = z
  .object({
    type: z.literal('alertmanager'),
    /** Base URL of Alertmanager; alerts go to `<url>/api/v2/alerts`. */
    url: httpUrl,
    /** Firing alerts are sent again this often, so Alertmanager does not time them out. */
    resendIntervalSeconds: z.number().positive().default(60),
    timeoutSeconds: z.number().positive().default(10),
    ...sinkCommon,
  })
  .strict();

export const logSinkSchema = z.object({ type: z.literal('log'), ...sinkCommon }).strict();

export const sinkSchema = z.discriminatedUnion('type', [slackSinkSchema, webhookSinkSchema, alertmanagerSinkSchema, logSinkSchema]);

const matchList = z.array(z.string().min(1)).min(1);

export const alertRouteSchema = z
  .object({
    /** Alerts of these detectors (any when absent). */
    detectors: matchList.optional(),
    /** Alerts of these servers (any when absent). */
    servers: matchList.optional(),
    /** Alerts at least this severe. */
    minSeverity: severity.default('info'),
    /** Sink names (keys of `alerts.sinks`). */
    sinks: z.array(z.string().min(1)).min(1),
    /** Keep matching later routes after this one (default: the first matching route wins). */
    continue: z.boolean().default(false),
  })
  .strict();

export const silenceSchema = z
  .object({
    /** Alerts of this detector / server / tool; every given matcher must match. */
    detector: z.string().min(1).optional(),
    server: z.string().min(1).optional(),
    tool: z.string().min(1).optional(),
    /** RFC 3339 end; the silence stops applying after it. */
    endsAt: z.string().datetime({ offset: true }),
    startsAt: z.string().datetime({ offset: true }).optional(),
    author: z.string().min(1).max(200),
    comment: z.string().max(2000).default(''),
  })
  .strict();

export const alertsSchema = z
  .object({
    queue: alertQueueSchema.default(alertQueueSchema.parse({})),
    /** Named sinks. The default is one `log` sink. */
    sinks: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), sinkSchema).default({ log: { type: 'log', minSeverity: 'info' } }),
    /** First matching route wins (unless `continue`); no routes: every alert goes to every sink. */
    routes: z.array(alertRouteSchema).default([]),
    /** Silences from configuration (more can be added through the API). */
    silences: z.array(silenceSchema).default([]),
    /** Notifications of the same detector and server within this window go out together. 0: at once. */
    groupWaitSeconds: z.number().min(0).default(0),
    /** A still-firing alert is notified again after this long (unless acknowledged). */
    repeatIntervalSeconds: z.number().positive().default(4 * 3600),
    /** Alerts kept for `/api/alerts` (oldest resolved ones evicted first). */
    maxAlerts: z.number().int().positive().default(10_000),
    /** Link to a trace in the trace backend; `{traceId}` is replaced, e.g. `https://tempo.example/explore?traceId={traceId}`. */
    traceLinkTemplate: z.string().includes('{traceId}', { message: 'must contain {traceId}' }).optional(),
    /** Base URL of this daemon's admin API, used as `generatorURL` / `externalURL` in Alertmanager bodies. */
    externalUrl: httpUrl.optional(),
    /**
     * Optional: send one span per alert (and, with `reexportSpans`, the held spans of its traces tagged with
     * the alert id) to an OTLP/HTTP traces endpoint, so responders find alerts in their trace backend.
     */
    traceExport: z
      .object({
        /** Full OTLP/HTTP traces URL, e.g. `http://tempo:4318/v1/traces`. */
        endpoint: httpUrl,
        /** Extra request headers (e.g. a tenant id or an Authorization header); `print-config` masks every value. */
        headers: z.record(z.string(), z.string()).default({}),
        reexportSpans: z.boolean().default(true),
        timeoutSeconds: z.number().positive().default(10),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((alerts, ctx) => {
    alerts.routes.forEach((route, i) =>
      route.sinks.forEach((name, j) => {
        if (!(name in alerts.sinks)) {
          ctx.addIssue({ code: 'custom', path: ['routes', i, 'sinks', j], message: `no sink named "${name}" in alerts.sinks` });
        }
      }),
    );
  });

export const configSchema = z
  .object({
    receivers: z
      .object({
        otlp: otlpReceiverSchema.default(otlpReceiverSchema.parse({})),
        process: processReceiverSchema.default(processReceiverSchema.parse({})),
        file: fileReceiverSchema.default(fileReceiverSchema.parse({})),
        network: networkReceiverSchema.default(networkReceiverSchema.parse({})),
      })
      .passthrough()
      .default({
        otlp: otlpReceiverSchema.parse({}),
        process: processReceiverSchema.parse({}),
        file: fileReceiverSchema.parse({}),
        network: networkReceiverSchema.parse({}),
      }),
    pipeline: pipelineSchema.default(pipelineSchema.parse({})),
    /** Per-detector settings, keyed by detector id (see `mcpwatch detectors`). */
    detectors: detectorsSectionSchema.default(detectorsSectionSchema.parse({})),
    /** Alert queue, routes, sinks and silences. */
    alerts: alertsSchema.default(alertsSchema.parse({})),
    store: storeSchema.default(storeSchema.parse({})),
    admin: adminSchema.default(adminSchema.parse({})),
    /** The trusted-server registry. */
    servers: z.array(registeredServerSchema).default([]),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type OtlpReceiverConfig = z.infer<typeof otlpReceiverSchema>;
export type RegisteredServerConfig = z.infer<typeof registeredServerSchema>;
export type ProcessReceiverConfig = z.infer<typeof processReceiverSchema>;
export type FileReceiverConfig = z.infer<typeof fileReceiverSchema>;
export type NetworkReceiverConfig = z.infer<typeof networkReceiverSchema>;
export type StoreConfig = z.infer<typeof storeSchema>;
export type AdminConfig = z.infer<typeof adminSchema>;
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type AlertsConfig = z.infer<typeof alertsSchema>;
export type AlertQueueConfig = z.infer<typeof alertQueueSchema>;
export type SinkConfig = z.infer<typeof sinkSchema>;
export type AlertRouteConfig = z.infer<typeof alertRouteSchema>;
export type SilenceConfig = z.infer<typeof silenceSchema>;
