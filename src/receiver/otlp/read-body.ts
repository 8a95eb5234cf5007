import type { IncomingMessage } from 'node:http';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { PipelineError } from '../../component/errors.js';

const gunzipAsync = promisify(gunzip);

export type ContentEncoding = 'identity' | 'gzip';

/**
 * Reads a request body, refusing it once it passes `limit` bytes AFTER decompression.
 *
 * The compressed bytes are capped at `limit` as they arrive, then inflated by zlib with `maxOutputLength`
 * = `limit`: zlib stops and fails as soon as its output would pass the limit, so a 1 KB gzip bomb that
 * inflates to 1 GB costs at most `limit` bytes of memory and is answered 413. Inflating runs on the libuv
 * thread pool, off the event loop.
 */
export async function readBody(req: IncomingMessage, encoding: ContentEncoding, limit: number): Promise<Buffer> {
  const raw = await collect(req, limit);
  if (encoding === 'identity' || raw.length === 0) return raw;
  try {
    return await gunzipAsync(raw, { maxOutputLength: limit });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new PipelineError('MCPW_ERR_BODY_TOO_LARGE', `request body exceeds ${limit} bytes after gzip decompression`);
    }
    throw new PipelineError('MCPW_ERR_MALFORMED', `Content-Encoding is gzip but the body is not valid gzip (${code ?? 'inflate failed'})`);
  }
}

function collect(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        // Stop buffering; the handler answers 413 and closes the connection.
        req.pause();
        finish(new PipelineError('MCPW_ERR_BODY_TOO_LARGE', `request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(new PipelineError('MCPW_ERR_MALFORMED', `request body could not be read: ${err.message}`));
    const onAborted = () => finish(new PipelineError('MCPW_ERR_MALFORMED', 'client aborted the request body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
