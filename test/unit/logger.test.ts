import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, LogOnce } from '../../src/telemetry/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('logger', () => {
  it('writes JSON lines and redacts secrets at any of the configured depths', () => {
    const { lines, logger } = capture();
    logger.info({ config: { auth: { bearerToken: 'tok-1' } }, sink: { webhookUrl: 'https://hooks.slack.test/T/B/x' }, req: { headers: { authorization: 'Bearer tok-2' } } }, 'loaded');
    const text = JSON.stringify(lines);
    expect(lines[0]?.msg).toBe('loaded');
    expect(text).not.toContain('tok-1');
    expect(text).not.toContain('tok-2');
    expect(text).not.toContain('hooks.slack.test');
    expect(text).toContain('[redacted]');
  });

  it('keeps untrusted data nested, so a sender cannot overwrite the log schema', () => {
    const { lines, logger } = capture();
    const hostile = { msg: 'forged', level: 60, time: 0 };
    logger.warn({ span: hostile }, 'odd span');
    expect(lines[0]).toMatchObject({ msg: 'odd span', level: 40, span: { msg: 'forged', level: 60 } });
  });
});

describe('LogOnce', () => {
  it('lets one line per key through per interval', () => {
    const once = new LogOnce(1000);
    expect(once.shouldLog('a', 0)).toBe(true);
    expect(once.shouldLog('a', 500)).toBe(false);
    expect(once.shouldLog('b', 500)).toBe(true);
    expect(once.shouldLog('a', 1500)).toBe(true);
  });
});
