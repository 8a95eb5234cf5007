import { type Command, InvalidArgumentError } from 'commander';
import { parseSince, SinceParseError } from '../api/since.js';
import { AdminClientError, type ClientOptions } from './client.js';
import { EXIT } from './exit-codes.js';
import { sanitizeForTerminal } from './sanitize.js';

/** Ends the command with a usage error (exit 2) and the message. */
export function usage(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: EXIT.usage, code: 'mcpwatch.usage' });
}

/** Rejects an unreadable `--since` before anything is sent to the daemon. */
export function checkSince(cmd: Command, since: string | undefined): void {
  if (since === undefined) return;
  try {
    parseSince(since);
  } catch (err) {
    if (err instanceof SinceParseError) usage(cmd, `--since ${err.message}`);
    throw err;
  }
}

/**
 * Runs one query and prints its output. Connection and daemon failures are reported on stderr with exit
 * code 1 rather than thrown, so the command behaves the same under any entry point.
 */
export async function run(cmd: Command, body: () => Promise<string>): Promise<void> {
  const output = cmd.configureOutput();
  let text: string;
  try {
    text = await body();
  } catch (err) {
    if (!(err instanceof AdminClientError)) throw err;
    // The daemon's message may quote what a sender sent; it is not printed raw.
    const line = `mcpwatch: ${sanitizeForTerminal(err.message)}\n`;
    if (output.writeErr) output.writeErr(line);
    else process.stderr.write(line);
    process.exitCode = EXIT.failure;
    return;
  }
  if (output.writeOut) output.writeOut(text);
  else process.stdout.write(text);
}

/** Options every command that talks to a running daemon takes. */
export interface ConnectionOptions {
  admin: string;
  token?: string;
  json?: boolean;
}

export function client(opts: ConnectionOptions): ClientOptions {
  return { admin: opts.admin, ...(opts.token ? { token: opts.token } : {}) };
}

/** `--json` output: indented, one trailing newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** commander parser for `--limit`-like options: a whole number from 1 to `max`. */
export function positiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
    if (!(n >= 1 && n <= max)) {
      // Commander's default exit code for a rejected option argument is 1; a bad option is a usage error.
      const err = new InvalidArgumentError(`Must be a whole number from 1 to ${max}.`);
      err.exitCode = EXIT.usage;
      throw err;
    }
    return n;
  };
}
