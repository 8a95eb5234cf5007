import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MCPWATCH, MCPWATCH_TAP } from '../../src/semconv/attributes.js';
import { runWrap } from '../../src/tap/stdio/wrap.js';
import type { TapSpan } from '../../src/tap/span-emitter.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { REPO_ROOT } from '../helpers/daemon.js';

/**
 * Through `runWrap`, large results are hashed after they were relayed (`observation-queue.ts`): the spans
 * still carry the fingerprint of the payload as sent, and calls interleaved with large results still pair
 * with their own responses.
 */

const SIZED = join(REPO_ROOT, 'test', 'fixtures', 'servers', 'sized-result-server.mjs');

describe('wrap: large results', () => {
  it('each call of a run of 1 MB results gets its size and the fingerprint of its result as sent', async () => {
    const bytes = 1024 * 1024;
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const spans: TapSpan[] = [];
    const done = runWrap({
      command: process.execPath,
      args: [SIZED, String(bytes)],
      endpoint: 'http://127.0.0.1:9/v1/traces',
      captureContent: false,
      logger: silentLogger(),
      stdin,
      stdout,
      sink: { record: (s) => spans.push(s) },
    });
    let lines = 0;
    const answered = new Promise<void>((resolve) =>
      stdout.on('data', (d: Buffer) => {
        for (const c of d) if (c === 0x0a && ++lines === 5) resolve();
      }),
    );
    for (let id = 1; id <= 5; id++) stdin.write(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"t${id}","arguments":{"n":${id}}}}\n`);
    await answered;
    stdin.end();
    expect(await done).toBe(0);

    const result = JSON.stringify({ content: [{ type: 'text', text: 'x'.repeat(bytes) }] });
    const fingerprint = createHash('sha256').update(result).digest('hex').slice(0, 32);
    expect(spans.map((s) => s.name).sort()).toEqual(['tools/call t1', 'tools/call t2', 'tools/call t3', 'tools/call t4', 'tools/call t5']);
    for (const s of spans) {
      expect(s.attributes[MCPWATCH.resultFingerprint]).toBe(fingerprint);
      expect(s.attributes[MCPWATCH.resultSize]).toBe(Buffer.byteLength(result));
      expect(s.attributes[MCPWATCH_TAP.unanswered]).toBeUndefined();
    }
  });
});
