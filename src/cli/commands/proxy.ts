import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_MAX_FRAME_BYTES } from '../../tap/jsonrpc-framer.js';
import { EXIT } from '../exit-codes.js';
import { DEFAULT_TAP_ENDPOINT, TAP_ENDPOINT_ENV, parseByteSize, parseEndpoint, tapLogger, tapTokenOption } from './tap-options.js';
import { isLoopbackHost } from '../../config/endpoint.js';

export const DEFAULT_PROXY_LISTEN = '127.0.0.1:7410';

interface ProxyCliOptions {
  upstream: URL;
  listen: { host: string; port: number };
  name?: string;
  endpoint?: string;
  captureContent?: boolean;
  allowRemote?: boolean;
  logLevel: string;
  maxMessageBytes: number;
}

function parseUpstream(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http(s) URL, e.g. http://127.0.0.1:3001/mcp');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('must be an http or https URL');
  return url;
}

function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new InvalidArgumentError('must be HOST:PORT, e.g. 127.0.0.1:7410');
  return { host: (m[1] ?? m[2])!, port };
}

/** `mcpwatch proxy --upstream URL [--listen HOST:PORT] [--name NAME]` (DESIGN.md). */
export function registerProxyCommand(program: Command): void {
  program
    .command('proxy')
    .description(
      'Tap a Streamable HTTP (or legacy HTTP+SSE) MCP server: relay every request and response unchanged and\n' +
        'send a span per JSON-RPC message to the daemon. Point the client at the proxy with the upstream\'s path.',
    )
    .requiredOption('--upstream <url>', 'the MCP server URL, e.g. http://127.0.0.1:3001/mcp', parseUpstream)
    .addOption(new Option('--listen <host:port>', 'where the proxy listens (loopback by default)').default(parseListen(DEFAULT_PROXY_LISTEN), DEFAULT_PROXY_LISTEN).argParser(parseListen))
    .option('--name <name>', 'server name (service.name); defaults to the upstream host')
    .option('--endpoint <url>', `daemon OTLP/HTTP traces endpoint (default ${DEFAULT_TAP_ENDPOINT}, or ${TAP_ENDPOINT_ENV})`, parseEndpoint)
    .option('--capture-content', 'also record tool arguments and results (secrets masked)')
    .option('--allow-remote', 'allow a non-loopback --listen address (the proxy adds no authentication of its own)')
    .addOption(new Option('--log-level <level>', 'log level (JSON lines on stderr)').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .addOption(new Option('--max-message-bytes <n>', 'largest body or SSE event parsed; larger ones are relayed and counted').default(DEFAULT_MAX_FRAME_BYTES).argParser(parseByteSize))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  mcpwatch proxy --upstream http://127.0.0.1:3001/mcp --name everything\n' +
        '      then connect the client to http://127.0.0.1:7410/mcp\n' +
        '  mcpwatch proxy --upstream https://mcp.example.com/mcp --listen 127.0.0.1:9000 --endpoint 127.0.0.1:4318\n' +
        '  mcpwatch proxy --upstream http://127.0.0.1:3001/sse     (legacy HTTP+SSE: /sse and /messages are both relayed)\n' +
        '\nSIGINT or SIGTERM: stop listening, flush spans, exit 0.',
    )
    .action(async (opts: ProxyCliOptions) => {
      if (!isLoopbackHost(opts.listen.host) && !opts.allowRemote) {
        process.stderr.write(`mcpwatch proxy: --listen ${opts.listen.host} is not a loopback address; add --allow-remote to expose the proxy\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const logger = tapLogger(opts.logLevel);
      const envEndpoint = process.env[TAP_ENDPOINT_ENV];
      // Loaded on use: other commands need none of the tap. The OpenTelemetry SDK itself is loaded only by
      // the tap's span export worker thread (src/tap/export-worker.ts), never on this thread.
      const { McpProxy } = await import('../../tap/http/proxy.js');
      const proxy = new McpProxy({
        upstream: opts.upstream,
        host: opts.listen.host,
        port: opts.listen.port,
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        endpoint: opts.endpoint ?? (envEndpoint ? parseEndpoint(envEndpoint) : DEFAULT_TAP_ENDPOINT),
        ...tapTokenOption(),
        captureContent: opts.captureContent === true,
        logger,
        maxFrameBytes: opts.maxMessageBytes,
      });
      let address;
      try {
        address = await proxy.start();
      } catch (err) {
        logger.error({ error: (err as Error).message }, 'cannot listen');
        process.exitCode = EXIT.failure;
        return;
      }
      logger.info({ listen: `${address.address}:${address.port}`, upstream: opts.upstream.origin }, 'proxy listening');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await proxy.shutdown();
      logger.info({ tap: proxy.stats() }, 'tap summary');
      process.exitCode = EXIT.ok;
    });
}
