/**
 * What holding decoded spans costs: decode a request, let it wait in a FIFO of `depth` decoded requests,
 * then normalize and store it (the recent store with its default limits, new trace ids per request).
 * `depth` 0 is the pipeline with nothing waiting; 150 is about what the span queue's 64 MiB byte budget
 * holds of these 442 KB bodies. The difference is the cost of promoting waiting object graphs out of the
 * young generation (BENCHMARKS.md, "Ingest").
 *
 *   node --import tsx bench/queue-hold.ts [depth ...]     (default: 0 150 0 150)
 */
import { storeSchema } from '../src/config/schema.js';
import { decodeProtobufTraces } from '../src/receiver/otlp/decode-protobuf.js';
import type { DecodedTraces } from '../src/receiver/otlp/span.js';
import { RecentStore } from '../src/store/recent-store.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { makeMcpSpans, toProtobuf } from '../test/helpers/mcp-spans.js';
import { normalizeAndStore } from './ceilings.js';
import { stampTraceIds, traceIdOffsets } from './unique-ids.js';

const bodies = Array.from({ length: 50 }, (_, i) => Buffer.from(toProtobuf(makeMcpSpans({ count: 100, seed: 1000 + i, argBytes: [100, 10_000] }))));
const offsets = bodies.map((b) => traceIdOffsets('protobuf', b));

function measure(depth: number): number[] {
  const metrics = new Metrics();
  const store = new RecentStore(storeSchema.parse({}), metrics);
  const waiting: DecodedTraces[] = [];
  let pass = 0;
  const step = (k: number) => {
    // A copy per request, as the HTTP layer makes one.
    const body = Buffer.from(bodies[k % bodies.length]!);
    stampTraceIds('protobuf', body, offsets[k % bodies.length]!, ++pass);
    waiting.push(decodeProtobufTraces(body));
    while (waiting.length > depth) normalizeAndStore(store, waiting.shift()!);
  };
  // Fill the store first, so every measured span also evicts one.
  for (let k = 0; k < 3000; k++) step(k);
  const rates: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const start = process.cpuUsage();
    for (let k = 0; k < 2000; k++) step(k);
    const used = process.cpuUsage(start);
    rates.push((2000 * 100) / ((used.user + used.system) / 1e6));
  }
  metrics.close();
  return rates;
}

const depths = process.argv.slice(2).map(Number);
for (const depth of depths.length > 0 ? depths : [0, 150, 0, 150]) {
  const rates = measure(depth);
  process.stdout.write(`depth ${depth} requests (${depth * 100} decoded spans waiting): ${rates.map((r) => `${(r / 1000).toFixed(1)}k`).join(' ')} spans / CPU s\n`);
}
