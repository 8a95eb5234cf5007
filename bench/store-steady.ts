/**
 * Decode + normalize + the recent store, in-process, in steady state: the store is filled to its default
 * limits first, so every measured span also evicts one. Runs for `BENCH_CPU_SECONDS` (default 2) of CPU and
 * prints spans per CPU second. Longer than a repetition of the ingest bench's store ceiling (0.4 CPU s),
 * whose result depends on whether a full mark-compact falls inside it; meant for A/B comparisons of store
 * changes, run alternately against the other build (see BENCHMARKS.md, "Third session").
 *
 *   node --import tsx bench/store-steady.ts                     # protobuf bodies
 *   BENCH_ENCODING=json node --import tsx bench/store-steady.ts
 *   BENCH_STORE='{"maxSpans":1000}' node --import tsx bench/store-steady.ts   # store limits (storeSchema)
 *   node --expose-gc --import tsx bench/store-steady.ts         # also the heap the full store holds
 */
import { storeSchema } from '../src/config/schema.js';
import { decodeJsonTraceBytes } from '../src/receiver/otlp/decode-json-bytes.js';
import { decodeProtobufTraces } from '../src/receiver/otlp/decode-protobuf.js';
import { RecentStore } from '../src/store/recent-store.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { makeMcpSpans, toJson, toProtobuf } from '../test/helpers/mcp-spans.js';
import { normalizeAndStore } from './ceilings.js';
import { stampTraceIds, traceIdOffsets } from './unique-ids.js';

const encoding = process.env['BENCH_ENCODING'] === 'json' ? 'json' : 'protobuf';
const cpuSeconds = Number(process.env['BENCH_CPU_SECONDS'] ?? 2);
const limits = storeSchema.parse(JSON.parse(process.env['BENCH_STORE'] ?? '{}'));

// The ingest bench's bodies: 50 requests of 100 spans, seeds 1000..1049, arguments 100 B..10 KB.
const bodies: Buffer[] = [];
for (let i = 0; i < 50; i++) {
  const spans = makeMcpSpans({ count: 100, seed: 1000 + i, argBytes: [100, 10_000] });
  bodies.push(encoding === 'protobuf' ? Buffer.from(toProtobuf(spans)) : Buffer.from(toJson(spans), 'utf8'));
}
const offsets = bodies.map((b) => traceIdOffsets(encoding, b));
const metrics = new Metrics();
const store = new RecentStore(limits, metrics);
let pass = 0;

/** One request: new trace ids (stamped in place), decode, normalize, store. */
function ingest(i: number): void {
  const body = bodies[i % bodies.length]!;
  stampTraceIds(encoding, body, offsets[i % bodies.length]!, ++pass);
  normalizeAndStore(store, encoding === 'protobuf' ? decodeProtobufTraces(body) : decodeJsonTraceBytes(body, { wireText: true }));
}

let i = 0;
// Measured once both spans and events are evicted: before that the span ring is still filling and growing.
while (store.stats().evictedSpans === 0 || store.stats().evictedEvents === 0) ingest(i++);
const start = process.cpuUsage();
let spans = 0;
for (;;) {
  ingest(i++);
  spans += 100;
  if (i % 50 !== 0) continue;
  const used = process.cpuUsage(start);
  const seconds = (used.user + used.system) / 1e6;
  if (seconds >= cpuSeconds) {
    // With --expose-gc: the heap the full store holds, after a full collection.
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const held = store.stats();
    const heap = gc ? `, heap after GC ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB` : '';
    console.log(`${encoding} decode + normalize + store: ${Math.round(spans / seconds)} spans/CPU s (${spans} spans, ${seconds.toFixed(2)} CPU s${heap}; store holds ${held.spans} spans, ${held.events} events)`);
    break;
  }
}
metrics.close();
