import { mkdirSync, promises as fs, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Component } from '../component/component.js';
import type { Consumer } from '../component/component.js';
import type { McpEvent, McpTrafficEvent } from '../pipeline/events.js';
import { maskSecrets, maskSecretsInString } from '../pipeline/mask-secrets.js';
import type { Logger } from '../telemetry/logger.js';
import type { AuditLogConfig } from './audit-config.js';

/** One line of the audit log. Field names are stable: SIEM parsers key on them. */
export interface AuditRecord {
  timestamp: string;
  server: string;
  server_id: string;
  action: { method: string; tool?: string; prompt?: string; type: 'request' | 'notification'; direction: 'client_to_server' | 'server_to_client' };
  resource?: string;
  result: 'ok' | 'error' | 'tool_error';
  error_type?: string;
  jsonrpc_error_code?: number;
  trace_id?: string;
  span_id?: string;
  session?: string;
  client?: { name?: string; version?: string; address?: string };
  duration_ms?: number;
  arguments_size?: number;
  result_size?: number;
  /** Only with content capture on and `includeContent`; secrets masked. */
  arguments?: unknown;
  result_content?: unknown;
}

export interface AuditLogOptions {
  config: AuditLogConfig;
  /** `store.captureContent`: content is never written unless it is on. */
  captureContent: boolean;
  logger?: Logger;
  /** Clock for rotation decisions (tests drive it). */
  now?: () => number;
}

const ROTATED_SUFFIX = /^\.(\d{8}T\d{6}(?:\d{3})?Z)(?:-(\d+))?$/;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '');
}

function cap(s: string, max = 1024): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * Append-only JSON Lines audit trail of every MCP action, as an event consumer beside the store. Lines
 * are buffered and appended by one writer at a time (`flushIntervalMs`), so the pipeline never waits on
 * the disk; the buffer is bounded and overflow is counted and logged once a minute. The file is rotated
 * by size and age (renamed to `<file>.<UTC stamp>`, never rewritten), and rotated files are deleted by
 * count and age.
 */
export class AuditLog implements Consumer<McpEvent>, Component {
  private readonly file: string;
  private buffer: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private size = 0;
  private openedAt = 0;
  private closed = false;
  private lastDropLog = 0;
  /** Lines written, lines dropped (buffer full or write failure), files rotated, files deleted by retention. */
  readonly counters = { written: 0, dropped: 0, rotated: 0, deleted: 0, writeErrors: 0 };

  constructor(private readonly opts: AuditLogOptions) {
    this.file = resolve(opts.config.path);
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.file), { recursive: true });
    try {
      const st = statSync(this.file);
      this.size = st.size;
      this.openedAt = st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
    } catch {
      this.size = 0;
      this.openedAt = this.now();
    }
    this.timer = setInterval(() => void this.flush(), this.opts.config.flushIntervalMs);
    this.timer.unref();
  }

  /** Takes every MCP event of the batch; never refuses (the audit log is an observer, not the primary). */
  consume(batch: readonly McpEvent[]): boolean {
    if (this.closed) return true;
    for (const event of batch) {
      if (event.kind !== 'mcp') continue;
      if (this.buffer.length >= this.opts.config.maxBufferedLines) {
        this.counters.dropped += 1;
        this.logDrops();
        continue;
      }
      this.buffer.push(`${JSON.stringify(this.record(event))}\n`);
    }
    return true;
  }

  /** The audit line for one event (exported behaviour: tests and docs rely on it). */
  record(e: McpTrafficEvent): AuditRecord {
    const r: AuditRecord = {
      timestamp: new Date(e.time).toISOString(),
      server: cap(e.server.name, 256),
      server_id: cap(e.server.id, 256),
      action: { method: cap(e.method, 256), type: e.messageType, direction: e.direction },
      result: e.outcome,
    };
    if (e.tool !== undefined) r.action.tool = cap(e.tool, 256);
    if (e.prompt !== undefined) r.action.prompt = cap(e.prompt, 256);
    // Resource URIs can carry tokens in query strings: mask secret shapes like any other text.
    if (e.resourceUri !== undefined) r.resource = maskSecretsInString(cap(e.resourceUri, 2048));
    if (e.errorType !== undefined) r.error_type = cap(e.errorType, 256);
    if (e.jsonRpcErrorCode !== undefined) r.jsonrpc_error_code = e.jsonRpcErrorCode;
    if (e.traceId !== undefined) r.trace_id = e.traceId;
    if (e.spanId !== undefined) r.span_id = e.spanId;
    if (e.sessionId !== undefined) r.session = maskSecretsInString(cap(e.sessionId, 256));
    if (e.client !== undefined) {
      const c: NonNullable<AuditRecord['client']> = {};
      if (e.client.name !== undefined) c.name = cap(e.client.name, 256);
      if (e.client.version !== undefined) c.version = cap(e.client.version, 64);
      if (e.client.address !== undefined) c.address = cap(e.client.address, 128);
      r.client = c;
    }
    if (e.durationMs !== undefined) r.duration_ms = e.durationMs;
    if (e.arguments?.size !== undefined) r.arguments_size = e.arguments.size;
    if (e.result?.size !== undefined) r.result_size = e.result.size;
    if (this.opts.captureContent && this.opts.config.includeContent) {
      // Content arrives masked from normalization; masking again is cheap and keeps this file safe on its own.
      if (e.arguments?.content !== undefined) r.arguments = maskSecrets(e.arguments.content);
      if (e.result?.content !== undefined) r.result_content = maskSecrets(e.result.content);
    }
    return r;
  }

  /** Writes buffered lines (rotating first when due). Resolves when they are on disk. */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.writeBuffered());
    return this.writing;
  }

  private async writeBuffered(): Promise<void> {
    while (this.buffer.length > 0) {
      const lines = this.buffer;
      this.buffer = [];
      // Write in chunks that fit the size limit, rotating between them.
      let chunk = '';
      let count = 0;
      for (const line of lines) {
        const bytes = Buffer.byteLength(line);
        if (this.size + Buffer.byteLength(chunk) + bytes > this.opts.config.maxFileBytes && (chunk.length > 0 || this.size > 0)) {
          await this.append(chunk, count);
          chunk = '';
          count = 0;
          await this.rotate();
        } else if (chunk.length === 0 && this.size > 0 && this.now() - this.openedAt > this.opts.config.maxFileAgeHours * 3600_000) {
          await this.rotate();
        }
        chunk += line;
        count += 1;
      }
      await this.append(chunk, count);
    }
  }

  private async append(chunk: string, count: number): Promise<void> {
    if (chunk.length === 0) return;
    try {
      await fs.appendFile(this.file, chunk, { mode: 0o640 });
      if (this.size === 0) this.openedAt = this.now();
      this.size += Buffer.byteLength(chunk);
      this.counters.written += count;
    } catch (err) {
      this.counters.writeErrors += 1;
      this.counters.dropped += count;
      this.opts.logger?.error({ err, file: this.file }, 'audit log write failed; lines dropped');
    }
  }

  /** Renames the current file aside and applies retention. Never rewrites a written line. */
  async rotate(): Promise<void> {
    if (this.size === 0) return;
    const base = `${this.file}.${stamp(this.now())}`;
    let target = base;
    for (let i = 1; ; i += 1) {
      try {
        await fs.access(target);
        target = `${base}-${i}`;
      } catch {
        break;
      }
    }
    try {
      await fs.rename(this.file, target);
      this.counters.rotated += 1;
    } catch (err) {
      this.opts.logger?.error({ err, file: this.file }, 'audit log rotation failed');
      return;
    }
    this.size = 0;
    this.openedAt = this.now();
    await this.applyRetention();
  }

  /** Deletes rotated files beyond `retainFiles` or older than `retainDays`. */
  async applyRetention(): Promise<void> {
    const dir = dirname(this.file);
    const name = basename(this.file);
    let rotated: { path: string; stamp: string; mtime: number }[] = [];
    try {
      const entries = await fs.readdir(dir);
      for (const entry of entries) {
        if (!entry.startsWith(`${name}.`)) continue;
        const m = ROTATED_SUFFIX.exec(entry.slice(name.length));
        if (!m) continue;
        const path = join(dir, entry);
        const st = await fs.stat(path);
        rotated.push({ path, stamp: `${m[1]}-${(m[2] ?? '0').padStart(6, '0')}`, mtime: st.mtimeMs });
      }
    } catch {
      return;
    }
    rotated = rotated.sort((a, b) => (a.stamp < b.stamp ? 1 : -1)); // newest first
    const oldest = this.now() - this.opts.config.retainDays * 86_400_000;
    for (const [i, f] of rotated.entries()) {
      if (i < this.opts.config.retainFiles && f.mtime >= oldest) continue;
      try {
        await fs.unlink(f.path);
        this.counters.deleted += 1;
      } catch {
        // Already gone (another instance's retention, or an operator): nothing to do.
      }
    }
  }

  private logDrops(): void {
    const now = this.now();
    if (now - this.lastDropLog < 60_000) return;
    this.lastDropLog = now;
    this.opts.logger?.warn({ dropped: this.counters.dropped, maxBufferedLines: this.opts.config.maxBufferedLines }, 'audit log buffer full; lines dropped');
  }

  /** Flushes and stops; idempotent, safe without start. */
  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.closed) {
      this.closed = true;
      await this.flush();
    }
    await this.writing;
  }
}
