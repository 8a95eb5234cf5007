import { type Command, Option } from 'commander';
import { DEFAULT_MAX_FRAME_BYTES } from '../../tap/jsonrpc-framer.js';
import { EXIT } from '../exit-codes.js';
import { DEFAULT_TAP_ENDPOINT, TAP_ENDPOINT_ENV, parseByteSize, parseEndpoint, tapLogger, tapTokenOption } from './tap-options.js';

interface WrapCliOptions {
  name?: string;
  endpoint?: string;
  captureContent?: boolean;
  logLevel: string;
  maxMessageBytes: number;
}

/** `mcpwatch wrap [--name NAME] [--endpoint URL] [--capture-content] -- CMD [ARGS...]` (DESIGN.md). */
export function registerWrapCommand(program: Command): void {
  program
    .command('wrap')
    .description(
      'Run a stdio MCP server through the tap: every byte is relayed unchanged both ways, and a span per\n' +
        'JSON-RPC message goes to the daemon. If the daemon is down, traffic flows on and spans are dropped.',
    )
    .argument('<command...>', 'the server command and its arguments, after --')
    .option('--name <name>', 'server name (service.name); defaults to the command name')
    .option('--endpoint <url>', `daemon OTLP/HTTP traces endpoint (default ${DEFAULT_TAP_ENDPOINT}, or ${TAP_ENDPOINT_ENV})`, parseEndpoint)
    .option('--capture-content', 'also record tool arguments and results (secrets masked); sizes and fingerprints are always recorded')
    .addOption(new Option('--log-level <level>', 'log level of the tap (JSON lines on stderr)').choices(['debug', 'info', 'warn', 'error', 'silent']).default('warn'))
    .addOption(new Option('--max-message-bytes <n>', 'longest message parsed; longer ones are relayed and counted').default(DEFAULT_MAX_FRAME_BYTES).argParser(parseByteSize))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  mcpwatch wrap --name fs -- npx -y @modelcontextprotocol/server-filesystem /path/to/projects\n' +
        '  mcpwatch wrap --endpoint 127.0.0.1:4318 --capture-content -- node ./my-server.js --verbose\n' +
        '\nIn an MCP client config, put "mcpwatch" as the command and ["wrap", "--name", "fs", "--", ...the old command] as args.\n' +
        'The exit code is the server\'s (128 + signal number if it was killed). SIGINT, SIGTERM and SIGHUP are forwarded.',
    )
    .action(async (command: string[], opts: WrapCliOptions) => {
      const [cmd, ...args] = command;
      if (cmd === undefined) {
        process.stderr.write('mcpwatch wrap: missing the server command after --\n');
        process.exitCode = EXIT.usage;
        return;
      }
      const envEndpoint = process.env[TAP_ENDPOINT_ENV];
      // Loaded on use: other commands need none of the tap. The OpenTelemetry SDK itself is loaded only by
      // the tap's span export worker thread (src/tap/export-worker.ts), never on this thread.
      const { runWrap } = await import('../../tap/stdio/wrap.js');
      process.exitCode = await runWrap({
        command: cmd,
        args,
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        endpoint: opts.endpoint ?? (envEndpoint ? parseEndpoint(envEndpoint) : DEFAULT_TAP_ENDPOINT),
        ...tapTokenOption(),
        captureContent: opts.captureContent === true,
        logger: tapLogger(opts.logLevel),
        maxFrameBytes: opts.maxMessageBytes,
      });
    });
}
