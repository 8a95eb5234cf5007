import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { basename } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { MCPWATCH, RESOURCE, OTEL } from '../../semconv/attributes.js';
import type { Logger } from '../../telemetry/logger.js';
import { CHAIN_SUPPORTED, ChainServer, processTreeResolver } from '../chain.js';
import { DEFAULT_MAX_FRAME_BYTES, JsonRpcFramer } from '../jsonrpc-framer.js';
import type { Direction } from '../message-tracker.js';
import { commandLine, stdioServerId } from '../server-identity.js';
import { SpanEmitter } from '../span-emitter.js';
import { ObservationQueue } from '../observation-queue.js';
import { TapRecorder, nowMs, type MessageContext, type SpanSink } from '../tap-recorder.js';
import { launchWithParentDeathSignal } from './parent-death-signal.js';
import { openOutputPair, settleChunk, stdinSource, streamSource, writeCopies, type ByteSource } from './reused-reads.js';

/**
 * `mcpwatch wrap -- CMD [ARGS...]`: runs a stdio MCP server as a child and relays its stdin and stdout
 * byte for byte, emitting a span per JSON-RPC message to the daemon.
 *
 * Relay first, look second: every chunk is written on before it is framed and parsed, nothing on the
 * relay path waits for export, and a large message's hashing waits until the relay is idle
 * (`observation-queue.ts`). Backpressure is passed through (a slow reader
 * pauses the writer) so the tap holds at most one chunk per direction, plus at most `maxFrameBytes` per
 * direction for parsing. stderr is inherited, untouched. The tap's stdin (when a pipe or a socket) and
 * the server's stdout are read into reused buffers, not a fresh buffer per read (`reused-reads.ts`).
 *
 * Lifecycle (MCP stdio transport, "Shutdown"): when the client closes stdin, the child's stdin is closed;
 * if the child has not exited after `shutdownGraceMs`, it gets SIGTERM, then SIGKILL. SIGINT, SIGTERM and
 * SIGHUP sent to the tap are forwarded. The child's exit code (128 + signal number when it was killed by
 * a signal) becomes the tap's. If the tap itself exits for any reason, the child is killed: on an orderly
 * exit by the tap, and on Linux even when the tap is SIGKILLed, by the kernel (`parent-death-signal.ts`).
 */

export interface WrapOptions {
  command: string;
  args: string[];
  /** `service.name`; defaults to the command's base name. */
  name?: string;
  /** OTLP/HTTP traces endpoint of the daemon. */
  endpoint: string;
  /** Bearer token of the daemon's OTLP receiver, when it requires one. */
  bearerToken?: string;
  captureContent: boolean;
  logger: Logger;
  /** Longest line parsed; longer lines are relayed but only counted. */
  maxFrameBytes?: number;
  maxSpanQueue?: number;
  shutdownGraceMs?: number;
  /** Streams to relay (the process's own by default; tests and benches pass others). */
  stdin?: Readable;
  stdout?: Writable;
  /** Replaces the OTLP emitter (tests). */
  sink?: SpanSink;
  /** Kill the child when the tap dies, through setpriv where available (default true). */
  parentDeathSignal?: boolean;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Runs the wrapped server to completion; resolves with the exit code the tap should exit with. */
export async function runWrap(opts: WrapOptions): Promise<number> {
  const stdin: ByteSource = opts.stdin ? streamSource(opts.stdin) : (stdinSource() ?? streamSource(process.stdin));
  const stdout = opts.stdout ?? process.stdout;
  const log = opts.logger;

  let child: ChildProcess;
  // setpriv execs the server in place: same pid, and the span identity below uses the server's own command.
  const launch = launchWithParentDeathSignal(opts.command, opts.args, log, { disabled: opts.parentDeathSignal === false });
  const pair = await openOutputPair();
  if (!pair) log.debug({}, 'server stdout through a plain pipe (no socket pair here): a fresh buffer per read');
  try {
    child = spawn(launch.command, launch.args, { stdio: ['pipe', pair?.theirs ?? 'pipe', 'inherit'] });
  } catch (err) {
    pair?.source.stream.destroy();
    log.error({ command: opts.command, error: (err as Error).message }, 'cannot start the server');
    return 1;
  } finally {
    // The child has its own copy now; ours must go, or the output would never end. destroy() closes the
    // descriptor only: end() would shut the socket down for the child too.
    pair?.theirs.destroy();
  }
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawned) {
    pair?.source.stream.destroy();
    log.error({ command: opts.command, error: spawned.message }, 'cannot start the server');
    return 1;
  }
  const childIn = child.stdin!;
  const childOut: ByteSource = pair?.source ?? streamSource(child.stdout!);
  const killChild = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killChild);

  const serverId = stdioServerId(opts.command, opts.args);
  const emitter = opts.sink
    ? undefined
    : new SpanEmitter({
        endpoint: opts.endpoint,
        ...(opts.bearerToken ? { bearerToken: opts.bearerToken } : {}),
        logger: log,
        ...(opts.maxSpanQueue !== undefined ? { maxQueueSize: opts.maxSpanQueue } : {}),
        resource: {
          [RESOURCE.serviceName]: opts.name ?? basename(opts.command),
          [RESOURCE.processPid]: child.pid ?? 0,
          [RESOURCE.processCommandLine]: commandLine(opts.command, opts.args),
          [MCPWATCH.serverId]: serverId,
          [OTEL.networkTransport]: 'pipe',
        },
      });
  const sink: SpanSink = opts.sink ?? emitter!;
  const recorder = new TapRecorder({ sink, logger: log, tapKind: 'stdio', transport: 'pipe', serverId, captureContent: opts.captureContent });
  const chainServer = new ChainServer(() => recorder.servedCalls(), log);
  await chainServer.start();
  const resolveParent = CHAIN_SUPPORTED ? processTreeResolver(process.pid, 'process_tree') : undefined;

  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  // One queue for both directions: messages are observed in the order they arrived (`observation-queue.ts`).
  const queue = new ObservationQueue({
    maxPendingBytes: 2 * maxFrameBytes,
    onError: (err) => log.debug({ error: err.message }, 'frame not recorded'),
  });
  const observe = (direction: Direction) => {
    // Chunks are read into reused buffers, so the framer copies what it keeps, into a line store that a
    // frame hands back once observed. Large payloads are hashed by the queue, between relay reads, not by
    // the framer during them.
    const framer = new JsonRpcFramer({ maxFrameBytes, hashWhileStreaming: false });
    const ctx: MessageContext = resolveParent ? { direction, scope: 'stdio', resolveParent } : { direction, scope: 'stdio' };
    return {
      chunk(chunk: Buffer) {
        const atMs = nowMs();
        for (const out of framer.push(chunk)) {
          if (out.kind === 'frame') queue.run(out.bytes.length, () => recorder.onFrame(out.bytes, { ...ctx, atMs }), out.release);
          else if (out.kind === 'large') queue.large(out, (frame) => recorder.onLargeFrame(frame, { ...ctx, atMs }));
          else queue.run(0, () => recorder.onOversize(out, { ...ctx, atMs }));
        }
      },
      end() {
        const rest = framer.end();
        if (rest) queue.run(0, () => recorder.onTruncated(rest.kind === 'frame' ? rest.bytes.length : rest.size, ctx));
      },
    };
  };

  relay(stdin, childIn, observe('client_to_server'), () => {
    // The client is gone or done: close the server's stdin, then escalate if it does not exit.
    childIn.end();
    const grace = opts.shutdownGraceMs ?? 5000;
    const term = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(killChild, grace).unref();
    }, grace);
    term.unref();
  });
  const outDone = new Promise<void>((resolve) => relay(childOut, stdout, observe('server_to_client'), resolve));

  const forward = (sig: NodeJS.Signals) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const handlers = FORWARDED_SIGNALS.map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // Everything the child wrote before exiting is relayed before the tap exits.
  await Promise.race([outDone, new Promise((r) => setTimeout(r, 2000).unref())]);
  for (const [sig, h] of handlers) process.off(sig, h);
  process.off('exit', killChild);
  // The tap's own stdin must not keep the process alive (the client may never close it).
  if (!opts.stdin) stdin.stream.pause();

  queue.flush();
  await recorder.close();
  chainServer.close();
  await emitter?.shutdown(1000);
  const stats = recorder.stats();
  const spans = emitter?.stats();
  if (stats.invalidFrames + stats.oversizeFrames + stats.truncatedFrames > 0 || (spans && spans.droppedQueueFull + spans.droppedExportFailed > 0)) {
    log.warn({ tap: { ...stats, spans } }, 'tap summary');
  } else {
    log.info({ tap: { ...stats, spans } }, 'tap summary');
  }
  if (exit.code !== null) return exit.code;
  const signum = exit.signal ? osConstants.signals[exit.signal] : undefined;
  return signum !== undefined ? 128 + signum : 1;
}

/**
 * Copies `from` to `to` chunk by chunk, writing each chunk before it is observed, and pausing `from`
 * while `to` is full. Write errors (the reader went away) end the copy without throwing.
 */
function relay(source: ByteSource, to: Writable, observer: { chunk(c: Buffer): void; end(): void }, onEnd: () => void): void {
  const from = source.stream;
  const copies = writeCopies(to);
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    observer.end();
    onEnd();
  };
  to.on('error', () => {
    from.unpipe?.();
    finish();
  });
  let waiting = false;
  source.onChunk((chunk: Buffer) => {
    if (!to.write(chunk) && !waiting) {
      waiting = true;
      from.pause();
      to.once('drain', () => {
        waiting = false;
        from.resume();
      });
    }
    settleChunk(source, to, copies);
    observer.chunk(chunk);
  });
  from.on('end', finish);
  from.on('error', finish);
}
