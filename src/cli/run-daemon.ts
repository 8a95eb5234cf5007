import type { Config } from '../config/schema.js';
import { Daemon } from '../daemon.js';
import { EXIT } from './exit-codes.js';

/**
 * Runs the daemon in the foreground until SIGTERM/SIGINT. Returns the process exit code: 0 after a clean
 * shutdown, 1 when start-up fails or shutdown overruns `admin.shutdownTimeoutSeconds`.
 */
export async function runDaemon(config: Config): Promise<number> {
  const daemon = new Daemon(config);
  try {
    await daemon.start();
  } catch (err) {
    daemon.logger.fatal({ err: (err as Error).message }, 'mcpwatch could not start');
    daemon.logger.flush();
    process.stderr.write(`mcpwatch: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
  // Never crash after start-up: a stray exception is logged, counted by the log, and the daemon goes on.
  process.on('uncaughtException', (err) => daemon.logger.error({ err }, 'uncaught exception (daemon continues)'));
  process.on('unhandledRejection', (err) => daemon.logger.error({ err }, 'unhandled rejection (daemon continues)'));

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      daemon.logger.info({ signal }, 'signal received');
      const deadline = setTimeout(() => {
        daemon.logger.error({ timeoutSeconds: config.admin.shutdownTimeoutSeconds }, 'shutdown deadline passed; exiting anyway');
        daemon.logger.flush();
        resolve(EXIT.failure);
      }, config.admin.shutdownTimeoutSeconds * 1000);
      deadline.unref();
      daemon.shutdown().then(
        () => {
          clearTimeout(deadline);
          resolve(EXIT.ok);
        },
        (err: unknown) => {
          clearTimeout(deadline);
          daemon.logger.error({ err: (err as Error).message }, 'shutdown failed');
          resolve(EXIT.failure);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
