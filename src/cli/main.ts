import { Command, CommanderError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { ConfigError, loadConfig, maskSecrets } from '../config/load.js';
import { EXIT } from './exit-codes.js';
import { registerQueryCommands } from './commands/query.js';
import { registerAlertCommands } from './commands/alerts.js';
import { registerProxyCommand } from './commands/proxy.js';
import { registerWrapCommand } from './commands/wrap.js';
import { registerDetectorsCommand } from './commands/detectors.js';
import { registerDemoCommand } from './commands/demo.js';
import { validateDetectorSettings } from '../detect/factory.js';
import { runDaemon } from './run-daemon.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** Detector settings need the detectors' own schemas (loaded from disk): a typo fails like any config error (78). */
async function checkDetectorSettings(config: ReturnType<typeof loadConfig>): Promise<void> {
  const problems = await validateDetectorSettings(config.detectors);
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Builds the `mcpwatch` command tree; exported so tests can drive it in-process. */
export function buildProgram(): Command {
  const program = new Command('mcpwatch')
    .description(
      'Runtime behaviour monitor for Model Context Protocol (MCP) servers.\n' +
        'Receives OpenTelemetry traces of MCP traffic, normalizes them, keeps recent events queryable,\n' +
        'and reports its own health on the admin endpoint.',
    )
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  const configOptions = (cmd: Command) =>
    cmd
      .addOption(new Option('-c, --config <file>', 'YAML config file; repeat to merge several (later wins)').default([]).argParser(collect))
      .addOption(new Option('--set <key=value>', 'override one setting, e.g. --set receivers.otlp.endpoint=127.0.0.1:4318').default([]).argParser(collect));

  configOptions(
    program
      .command('start')
      .description('Run the daemon. Without --config it runs on embedded defaults: OTLP/HTTP on 127.0.0.1:4318, admin on 127.0.0.1:9464.')
      .addHelpText(
        'after',
        '\nExamples:\n  mcpwatch start\n  mcpwatch start --config /etc/mcpwatch/mcpwatch.yaml\n  MCPWATCH_ADMIN__LOGLEVEL=debug mcpwatch start --set store.maxEvents=50000\n\nSignals: SIGTERM or SIGINT stop intake, drain queues and exit 0 within admin.shutdownTimeoutSeconds.',
      ),
  ).action(async (opts: { config: string[]; set: string[] }) => {
    const config = loadConfig({ files: opts.config, set: opts.set });
    await checkDetectorSettings(config);
    process.exitCode = await runDaemon(config);
  });

  configOptions(
    program
      .command('validate')
      .description('Check a configuration (schema, listeners, secrets files) without starting anything; exit 78 if invalid.')
      .addHelpText('after', '\nExample:\n  mcpwatch validate --config mcpwatch.yaml'),
  ).action(async (opts: { config: string[]; set: string[] }) => {
    await checkDetectorSettings(loadConfig({ files: opts.config, set: opts.set }));
    process.stdout.write(`configuration is valid${opts.config.length ? ` (${opts.config.join(', ')})` : ' (embedded defaults)'}\n`);
  });

  configOptions(
    program
      .command('print-config')
      .description('Print the effective configuration (defaults, files, environment and --set merged) with secrets masked.')
      .option('--json', 'print JSON instead of YAML'),
  ).action((opts: { config: string[]; set: string[]; json?: boolean }) => {
    const config = maskSecrets(loadConfig({ files: opts.config, set: opts.set }));
    process.stdout.write(opts.json ? `${JSON.stringify(config, null, 2)}\n` : toYaml(config));
  });

  registerQueryCommands(program);
  registerAlertCommands(program);
  registerDetectorsCommand(program);
  registerWrapCommand(program);
  registerProxyCommand(program);
  registerDemoCommand(program);
  return program;
}

/** Runs the CLI and returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`mcpwatch: ${err.message}\n`);
      return EXIT.config;
    }
    process.stderr.write(`mcpwatch: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
}
