import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * Paths pino replaces with `[redacted]` wherever a secret might be logged by mistake. Untrusted data is
 * always nested under a key (`log.warn({ span }, ...)`), never spread into top-level fields, so these
 * paths and the log schema cannot be spoofed by a sender.
 */
export const REDACT_PATHS = [
  '*.bearerToken',
  '*.*.bearerToken',
  '*.*.*.bearerToken',
  '*.authorization',
  '*.headers.authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.webhookUrl',
  '*.url_secret',
];

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
}

/** JSON lines to stdout (or `destination`), secrets redacted. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'mcpwatch',
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous: the daemon logs rarely (problems are logged once, not per item), and a log line that
    // is lost when the process exits is worth more than the microseconds saved.
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Logs a recurring problem once per `key` per interval instead of once per item, so a hostile sender
 * cannot flood the log ("log once, not per item").
 */
export class LogOnce {
  private readonly last = new Map<string, number>();
  constructor(private readonly intervalMs = 60_000) {}

  shouldLog(key: string, now = Date.now()): boolean {
    const prev = this.last.get(key);
    if (prev !== undefined && now - prev < this.intervalMs) return false;
    if (this.last.size > 1000) this.last.clear();
    this.last.set(key, now);
    return true;
  }
}
