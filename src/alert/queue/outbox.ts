import { mkdirSync, openSync, closeSync, readFileSync, writeSync, unlinkSync, fsyncSync, renameSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeadLetter, DeliveryJob } from './types.js';

type OutboxRecord =
  | { op: 'add'; job: DeliveryJob }
  | { op: 'done'; ids: string[] }
  | { op: 'dead'; letter: DeadLetter }
  | { op: 'revive'; ids: string[] };

interface Entry {
  job: DeliveryJob;
  dead?: DeadLetter;
}

const FILE = 'outbox.jsonl';
const LOCK = 'outbox.lock';
/** Rewrite the file once it is this large and mostly records of finished jobs. */
const COMPACT_BYTES = 1024 * 1024;

/**
 * A local, append-only, fsynced record of notifications: the durable store of the in-process queue, and
 * where notifications wait while Redis is unreachable. `add` resolves only after `fdatasync`, so a job it
 * acknowledged survives the process being killed and the machine losing power.
 *
 * Format: one JSON record per line (`add`, `done`, `dead`, `revive`); state is rebuilt by replaying the
 * lines. A torn last line (killed mid-write) is ignored: its `add` was never acknowledged. Appends from one
 * event-loop turn share one write and one fsync (group commit). One daemon owns a directory at a time
 * (`outbox.lock` holds its pid).
 */
export class Outbox {
  private readonly entries = new Map<string, Entry>();
  private handle?: FileHandle;
  private buffered: OutboxRecord[] = [];
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private writing?: Promise<void>;
  private bytes = 0;
  private closed = false;
  private readonly file: string;
  private readonly lockFile: string;

  constructor(readonly dir: string) {
    this.file = join(dir, FILE);
    this.lockFile = join(dir, LOCK);
  }

  /** Takes the directory lock and replays the file. Throws a sentence when another live process owns it. */
  async open(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.takeLock();
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let rec: OutboxRecord;
      try {
        rec = JSON.parse(line) as OutboxRecord;
      } catch {
        continue; // torn write at the end of a killed run: never acknowledged
      }
      this.apply(rec);
    }
    this.handle = await open(this.file, 'a', 0o600);
    this.bytes = Buffer.byteLength(text);
    // A torn last line must go before anything is appended after it, or the next record would be glued to
    // it and lost; rewriting from the replayed state also drops finished jobs.
    if (this.bytes > 0 && (this.entries.size === 0 || !text.endsWith('\n'))) await this.rewrite();
  }

  /** Records jobs durably (fsync) and resolves after. Jobs already held are not added twice. */
  add(jobs: readonly DeliveryJob[]): Promise<void> {
    const fresh = jobs.filter((j) => !this.entries.has(j.id));
    for (const job of fresh) this.entries.set(job.id, { job });
    return this.append(fresh.map((job) => ({ op: 'add', job })));
  }

  /** Forgets finished jobs (delivered, or handed to Redis). */
  done(ids: readonly string[]): Promise<void> {
    const held = ids.filter((id) => this.entries.delete(id));
    return held.length ? this.append([{ op: 'done', ids: held }]) : Promise.resolve();
  }

  /** Moves a job to the dead-letter list. */
  dead(letter: DeadLetter): Promise<void> {
    const e = this.entries.get(letter.id);
    if (!e) return Promise.resolve();
    e.dead = letter;
    return this.append([{ op: 'dead', letter }]);
  }

  /** Brings dead letters back to pending; returns the revived jobs. */
  async revive(ids: readonly string[]): Promise<DeliveryJob[]> {
    const revived: DeliveryJob[] = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (e?.dead) {
        delete e.dead;
        revived.push(e.job);
      }
    }
    if (revived.length) await this.append([{ op: 'revive', ids: revived.map((j) => j.id) }]);
    return revived;
  }

  /** Jobs waiting for delivery (or for Redis), oldest first. */
  pending(): DeliveryJob[] {
    return [...this.entries.values()].filter((e) => !e.dead).map((e) => e.job);
  }

  deadLetters(): DeadLetter[] {
    return [...this.entries.values()].flatMap((e) => (e.dead ? [e.dead] : []));
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Jobs held (pending and dead). */
  get size(): number {
    return this.entries.size;
  }

  /** Flushes, closes the file and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush().catch(() => undefined);
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    try {
      unlinkSync(this.lockFile);
    } catch {
      // already gone
    }
  }

  private apply(rec: OutboxRecord): void {
    switch (rec.op) {
      case 'add':
        if (!this.entries.has(rec.job.id)) this.entries.set(rec.job.id, { job: rec.job });
        break;
      case 'done':
        for (const id of rec.ids) this.entries.delete(id);
        break;
      case 'dead': {
        const e = this.entries.get(rec.letter.id);
        if (e) e.dead = rec.letter;
        break;
      }
      case 'revive':
        for (const id of rec.ids) {
          const e = this.entries.get(id);
          if (e) delete e.dead;
        }
        break;
    }
  }

  private append(records: OutboxRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.closed || !this.handle) return Promise.reject(new Error('outbox is closed'));
    this.buffered.push(...records);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    void this.flush();
    return done;
  }

  /** One writer at a time; whatever was appended meanwhile goes out in the next write. */
  private flush(): Promise<void> {
    this.writing ??= (async () => {
      try {
        while (this.buffered.length > 0) {
          const records = this.buffered;
          const waiters = this.waiters;
          this.buffered = [];
          this.waiters = [];
          try {
            const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
            await this.handle!.write(text);
            await this.handle!.datasync();
            this.bytes += Buffer.byteLength(text);
            for (const w of waiters) w.resolve();
          } catch (err) {
            for (const w of waiters) w.reject(err);
          }
          if (this.entries.size === 0 || (this.bytes > COMPACT_BYTES && this.bytes > 8 * this.liveBytesEstimate())) {
            await this.rewrite().catch(() => undefined);
          }
        }
      } finally {
        this.writing = undefined;
      }
    })();
    return this.writing;
  }

  private liveBytesEstimate(): number {
    let n = 0;
    for (const e of this.entries.values()) n += 200 + e.job.alerts.length * 600;
    return n;
  }

  /** Writes the live state to a new file, fsyncs it, and renames it over the old one (atomic). */
  private async rewrite(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const lines: string[] = [];
    for (const e of this.entries.values()) {
      lines.push(JSON.stringify({ op: 'add', job: e.job }));
      if (e.dead) lines.push(JSON.stringify({ op: 'dead', letter: e.dead }));
    }
    const text = lines.length ? lines.join('\n') + '\n' : '';
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await this.handle?.close();
    renameSync(tmp, this.file);
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.handle = await open(this.file, 'a', 0o600);
    this.bytes = Buffer.byteLength(text);
  }

  private takeLock(): void {
    for (let i = 0; i < 2; i++) {
      try {
        const fd = openSync(this.lockFile, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(readFileSync(this.lockFile, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
          throw new Error(`alerts.queue.outboxDir ${this.dir} is in use by process ${pid}; give each daemon its own directory`);
        }
        unlinkSync(this.lockFile); // left behind by a process that died
      }
    }
    throw new Error(`alerts.queue.outboxDir ${this.dir}: cannot take ${LOCK}`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
