import { describe, expect, it } from 'vitest';
import { peekOversize } from '../../src/tap/jsonrpc-message.js';

/**
 * A message over the tap's parse cap is relayed whole but only its first and last bytes are looked at:
 * its `id` and `method` are guessed from top-level members at either end, never from nested ones.
 */

const BIG = 'x'.repeat(100);

describe('peekOversize', () => {
  it('finds the id of an SDK-ordered response at the end ({result, jsonrpc, id})', () => {
    const text = `{"result":{"content":[{"type":"text","text":"${BIG}"}]},"jsonrpc":"2.0","id":42}`;
    expect(peekOversize(text.slice(0, 40), text.slice(-40))).toEqual({ id: 42 });
  });

  it('finds a string id with escaped quotes, and a negative number id', () => {
    const text = `{"result":{},"jsonrpc":"2.0","id":"a\\"b"}`;
    expect(peekOversize(text.slice(0, 10), text)).toEqual({ id: 'a\\"b' });
    expect(peekOversize('{"result":', '"jsonrpc":"2.0","id":-7}\r')).toEqual({ id: -7 });
  });

  it('finds the id at the start when the message begins with jsonrpc and id', () => {
    const head = `{"jsonrpc":"2.0","id":"req-9","result":{"content":"${BIG}`;
    expect(peekOversize(head, `${BIG}"}}`)).toEqual({ id: 'req-9' });
  });

  it('finds method and id of a request written method first (SDK clients)', () => {
    const text = `{"method":"tools/call","params":{"name":"upload","arguments":{"blob":"${BIG}"}},"jsonrpc":"2.0","id":3}`;
    expect(peekOversize(text.slice(0, 60), text.slice(-60))).toEqual({ id: 3, method: 'tools/call' });
  });

  it('finds the method after jsonrpc and id at the start', () => {
    expect(peekOversize(`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"${BIG}`, `${BIG}"}}`)).toEqual({
      id: 1,
      method: 'resources/read',
    });
  });

  it('finds the method of a notification written method last', () => {
    const tail = `${BIG}"}},"method":"notifications/message","jsonrpc":"2.0"}`;
    expect(peekOversize('{"params":{"level":"info","data":"', tail)).toEqual({ method: 'notifications/message' });
  });

  it('never takes an id or method from a nested object', () => {
    // The result's last member is an "id" and its content mentions a method: neither is the envelope's.
    const tail = `${BIG}"}],"meta":{"id":5}}}`;
    expect(peekOversize('{"result":{"content":[{"method":"tools/call","text":"', tail)).toEqual({});
    expect(peekOversize('{"result":{"id":"inner","method":"x"', '}}')).toEqual({});
  });

  it('gives nothing for text that is not JSON-RPC', () => {
    expect(peekOversize('hello world', 'bye')).toEqual({});
    expect(peekOversize('', '')).toEqual({});
  });
});
