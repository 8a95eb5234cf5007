/**
 * The HTTP floor of the ingest bench: a node:http server that reads OTLP request bodies the way the daemon's
 * receiver does (one buffer of the declared length) and answers 200 without decoding them. Its CPU per span,
 * under the same load as the daemon, is what HTTP and the kernel's socket copies cost before mcpwatch does
 * anything; bench/ingest.ts runs it as the `http-floor` phase.
 *
 * It speaks just enough of the daemon's outside to be measured like one: the "mcpwatch started" log line
 * with its port, `/readyz`, and `/metrics` with the counters the bench reads.
 *
 * Usage: node dist-bench/bench/http-floor-server.js <spans per body>
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const spansPerBody = Number(process.argv[2] ?? 100);
let accepted = 0;
const answers = new Map<number, number>();

function answer(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  answers.set(status, (answers.get(status) ?? 0) + 1);
}

function readBody(req: IncomingMessage, done: (body: Buffer) => void): void {
  const declared = Number(req.headers['content-length'] ?? 0) || 0;
  let body = Buffer.allocUnsafe(declared);
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (size + chunk.length > body.length) {
      const grown = Buffer.allocUnsafe(Math.max(body.length * 2, size + chunk.length));
      body.copy(grown, 0, 0, size);
      body = grown;
    }
    chunk.copy(body, size);
    size += chunk.length;
  });
  req.on('end', () => done(body.subarray(0, size)));
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/v1/traces') {
    const type = req.headers['content-type'] === 'application/json' ? 'application/json' : 'application/x-protobuf';
    readBody(req, () => {
      accepted += spansPerBody;
      answer(res, 200, type, type === 'application/json' ? '{}' : '');
    });
    return;
  }
  if (req.url === '/readyz') return answer(res, 200, 'text/plain', 'ready\n');
  if (req.url === '/metrics') {
    const lines = [`mcpwatch_receiver_accepted_spans_total{receiver="otlp"} ${accepted}`];
    for (const [status, n] of answers) lines.push(`mcpwatch_receiver_requests_total{receiver="otlp",status="${status}"} ${n}`);
    return answer(res, 200, 'text/plain', `${lines.join('\n')}\n`);
  }
  answer(res, 404, 'text/plain', 'not found\n');
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'mcpwatch started', admin: { port }, otlp: { port } })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  process.exit(0);
});
