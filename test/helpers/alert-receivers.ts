import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createConnection } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

/** One request a local receiver got. */
export interface Received {
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  body: unknown;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** A local HTTP receiver that records every request and answers what `answer` says. */
export class LocalReceiver {
  readonly requests: Received[] = [];
  private server?: Server;
  constructor(private answer: (req: Received, n: number) => Answer | Promise<Answer> = () => ({ status: 200, body: 'ok' })) {}

  setAnswer(answer: (req: Received, n: number) => Answer | Promise<Answer>): void {
    this.answer = answer;
  }

  async start(port = 0): Promise<string> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch {
          body = undefined;
        }
        const r: Received = { at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, body };
        this.requests.push(r);
        void Promise.resolve(this.answer(r, this.requests.length)).then((a) => {
          res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
          res.end(a.body ?? '');
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Resolves true when something answers PING on host:port. */
export function redisAnswers(port = 6379, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/**
 * The shared Redis of the test suite (127.0.0.1:6379). A test that needs it fails, never skips, when it is
 * missing, so CI (`CI=true`) cannot pass without having run it.
 */
export async function requireRedis(): Promise<string> {
  if (!(await redisAnswers())) {
    throw new Error(`Redis is not answering on 127.0.0.1:6379${process.env.CI === 'true' ? ' (CI=true: Redis tests must run)' : ''}; start redis-server`);
  }
  return 'redis://127.0.0.1:6379';
}

/** A private `redis-server` (AOF on, fsync always) in a temp dir, for tests that kill it. */
export class RedisProcess {
  private child?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'mcpwatch-redis-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      if (await redisAnswers(this.port, '127.0.0.1', 200)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** SIGKILL: no shutdown save, only what the AOF already holds survives. */
  async kill(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function tempDir(prefix = 'mcpwatch-alert-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Deletes every key of a test's BullMQ prefix from the shared Redis. */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/**
 * Checks a body the way Slack's incoming webhooks do (documented limits), returning the problems. Also
 * flags what escaping must prevent: a mention or link that did not come from mcpwatch itself.
 */
export function slackProblems(body: unknown, allowedLinkPrefix: string): string[] {
  const p: string[] = [];
  if (typeof body !== 'object' || body === null) return ['invalid_payload: not JSON'];
  const b = body as { text?: unknown; blocks?: unknown };
  if (typeof b.text !== 'string' || b.text === '') p.push('no_text');
  else if (b.text.length > 40_000) p.push('text over 40000');
  const texts: string[] = typeof b.text === 'string' ? [b.text] : [];
  if (b.blocks !== undefined) {
    if (!Array.isArray(b.blocks)) p.push('invalid_blocks: not an array');
    else {
      if (b.blocks.length > 50) p.push('invalid_blocks: more than 50 blocks');
      for (const block of b.blocks as Record<string, unknown>[]) {
        const type = block.type;
        if (type === 'section') {
          const t = block.text as { type?: string; text?: string } | undefined;
          const fields = block.fields as { type?: string; text?: string }[] | undefined;
          if (!t && !fields) p.push('invalid_blocks: section without text or fields');
          if (t) {
            if (t.type !== 'mrkdwn' && t.type !== 'plain_text') p.push('invalid_blocks: bad text type');
            if (typeof t.text !== 'string' || t.text.length === 0 || t.text.length > 3000) p.push(`invalid_blocks: section text length ${t.text?.length}`);
            else texts.push(t.text);
          }
          if (fields) {
            if (fields.length > 10) p.push('invalid_blocks: more than 10 fields');
            for (const f of fields) {
              if (typeof f.text !== 'string' || f.text.length > 2000) p.push('invalid_blocks: field text');
              else texts.push(f.text);
            }
          }
        } else if (type === 'context') {
          const els = block.elements as { text?: string }[] | undefined;
          if (!Array.isArray(els) || els.length === 0 || els.length > 10) p.push('invalid_blocks: context elements');
          else for (const e of els) if (typeof e.text === 'string') texts.push(e.text);
        } else if (type !== 'divider' && type !== 'header') p.push(`invalid_blocks: unknown block type ${String(type)}`);
      }
    }
  }
  for (const t of texts) {
    for (const m of t.matchAll(/<([^>]*)>/g)) {
      const inner = m[1]!;
      if (inner.startsWith('!') || inner.startsWith('@') || inner.startsWith('#')) p.push(`unescaped mention ${inner}`);
      else if (!inner.startsWith(allowedLinkPrefix)) p.push(`link not from mcpwatch: ${inner}`);
    }
  }
  return p;
}
