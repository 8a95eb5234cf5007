import { InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { createLogger, type Logger } from '../../telemetry/logger.js';

/** Where the taps send spans when neither `--endpoint` nor `MCPWATCH_OTLP_ENDPOINT` is set. */
export const DEFAULT_TAP_ENDPOINT = 'http://127.0.0.1:4318/v1/traces';
export const TAP_ENDPOINT_ENV = 'MCPWATCH_OTLP_ENDPOINT';
/**
 * Bearer token for a daemon whose OTLP receiver requires one. An environment variable, never a flag, so
 * it does not show in `ps` or in the client config's argument list.
 */
export const TAP_TOKEN_ENV = 'MCPWATCH_OTLP_TOKEN';

/** The token from the environment, as runWrap / McpProxy options. */
export function tapTokenOption(): { bearerToken?: string } {
  const token = process.env[TAP_TOKEN_ENV];
  return token ? { bearerToken: token } : {};
}

/** `--endpoint`: a full URL, or `host:port` meaning `http://host:port/v1/traces`. */
export function parseEndpoint(value: string): string {
  const withScheme = /^[a-z][a-z\d+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError('must be a URL (http://host:4318/v1/traces) or host:port');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('must be an http or https URL');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
  return url.toString();
}

export function parseByteSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024) throw new InvalidArgumentError('must be an integer number of bytes, at least 1024');
  return n;
}

/**
 * The taps log JSON lines to stderr: for `wrap`, stdout is the MCP channel itself and must carry nothing
 * but the server's bytes.
 */
export function tapLogger(level: string): Logger {
  return createLogger({ level, destination: pino.destination({ dest: 2, sync: true }) });
}
