/**
 * In-process ceilings, measured in the bench process on the very bodies the daemon is sent: what one CPU
 * second buys for a raw parse (`JSON.parse`, a plain protobufjs decode), for mcpwatch's own decoders, and
 * for decode + normalize. The gap between these and the daemon's figure is HTTP, the queue, the store and
 * metrics.
 */
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import { decodeJsonTraceBytes } from '../src/receiver/otlp/decode-json-bytes.js';
import { decodeProtobufTraces } from '../src/receiver/otlp/decode-protobuf.js';
import { storeSchema } from '../src/config/schema.js';
import type { McpEvent } from '../src/pipeline/events.js';
import { normalizeSpan } from '../src/pipeline/normalize.js';
import { WireText, type AttributeValue, type DecodedTraces } from '../src/receiver/otlp/span.js';
import { OTEL } from '../src/semconv/attributes.js';
import { sha256HexOfBytes } from '../src/pipeline/sha256.js';
import { RecentStore } from '../src/store/recent-store.js';
import { Metrics } from '../src/telemetry/metrics.js';
import { stampTraceIds, traceIdOffsets } from './unique-ids.js';

/** The slice of the protobufjs-generated OTLP root (shipped in @opentelemetry/otlp-transformer) used here. */
interface GeneratedOtlpRoot {
  opentelemetry: {
    proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode(body: Uint8Array): { resourceSpans?: unknown[] } } } } } };
  };
}

/**
 * Loads the protobufjs static code generated from the OTLP .proto files, as installed; nothing of it is
 * copied into this repository. It is an internal path of the package, hence the explicit error.
 */
function loadGeneratedRoot(): GeneratedOtlpRoot {
  const require = createRequire(import.meta.url);
  const candidates = ['@opentelemetry/otlp-transformer/build/src/generated/root.js', '@opentelemetry/otlp-transformer/build/esm/generated/root.js'];
  for (const id of candidates) {
    try {
      return require(id) as GeneratedOtlpRoot;
    } catch {
      // try the next layout
    }
  }
  throw new Error(`cannot find the generated OTLP protobuf root in @opentelemetry/otlp-transformer (tried ${candidates.join(', ')})`);
}

export interface Body {
  protobuf: Buffer;
  json: Buffer;
  spans: number;
}

export interface CeilingResult {
  name: string;
  encoding: 'protobuf' | 'json';
  /** Median over the repetitions. */
  spansPerCpuSecond: number;
  reps: number[];
  /** Body bytes per CPU second at the median (input size, not output). */
  mbPerCpuSecond: number;
}

type Work = (body: Body) => number;

/** Runs `work` over the bodies round-robin until `minCpuMs` of CPU is spent; returns spans per CPU second. */
function measureOnce(bodies: Body[], encoding: 'protobuf' | 'json', work: Work, minCpuMs: number): { spansPerCpuSecond: number; bytesPerCpuSecond: number; sink: number } {
  const start = process.cpuUsage();
  let spans = 0;
  let bytes = 0;
  let sink = 0;
  let cpuMs = 0;
  let i = 0;
  while (cpuMs < minCpuMs) {
    for (let k = 0; k < bodies.length; k++, i++) {
      const body = bodies[i % bodies.length]!;
      sink += work(body);
      spans += body.spans;
      bytes += body[encoding].length;
    }
    const used = process.cpuUsage(start);
    cpuMs = (used.user + used.system) / 1000;
  }
  return { spansPerCpuSecond: spans / (cpuMs / 1000), bytesPerCpuSecond: bytes / (cpuMs / 1000), sink };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function countSpans(traces: DecodedTraces): number {
  return traces.spans.length;
}

function normalizeAll(traces: DecodedTraces, captureContent: boolean): number {
  let events = 0;
  for (const span of traces.spans) if (normalizeSpan(span, { captureContent })) events++;
  return events;
}

/** The daemon's pipeline after decoding, without its queue: normalize every span, then store spans and events. */
export function normalizeAndStore(store: RecentStore, traces: DecodedTraces): number {
  const events: McpEvent[] = [];
  for (const span of traces.spans) {
    const event = normalizeSpan(span, { captureContent: false });
    if (event) events.push(event);
  }
  store.addSpans(traces.spans);
  store.addEvents(events);
  return events.length;
}

/**
 * decode + normalize + the recent store with its default limits, filled first so every measured span
 * also evicts one (the daemon's steady state). The gap between this and decode + normalize is the store's
 * own work plus the garbage collection its retained items cause.
 */
function storeWork(bodies: Body[], encoding: 'protobuf' | 'json'): Work {
  const metrics = new Metrics();
  const store = new RecentStore(storeSchema.parse({}), metrics);
  const decode = (b: Body): DecodedTraces => (encoding === 'protobuf' ? decodeProtobufTraces(b.protobuf) : decodeJsonTraceBytes(b.json, { wireText: true }));
  // New trace ids for every pass over a body (see unique-ids.ts); stamped in place, which is safe here
  // because nothing holds a body between calls.
  const offsets = new Map(bodies.map((b) => [b, traceIdOffsets(encoding, b[encoding])]));
  let pass = 0;
  const work: Work = (b) => {
    stampTraceIds(encoding, b[encoding], offsets.get(b)!, ++pass);
    return normalizeAndStore(store, decode(b));
  };
  const limits = storeSchema.parse({});
  for (let i = 0; store.stats().spans < limits.maxSpans && store.stats().evictedSpans === 0; i++) work(bodies[i % bodies.length]!);
  return work;
}

/**
 * The payload bytes whose sha256 the normalizer must compute for each body: every span's tool arguments and
 * result as sent (UTF-8), copied out once so the measured work is the hashing alone.
 */
function payloadsOf(body: Body): Buffer[] {
  const out: Buffer[] = [];
  const bytes = (v: AttributeValue | undefined): Buffer | undefined =>
    v instanceof WireText ? Buffer.from(v.bytes()) : typeof v === 'string' ? Buffer.from(v, 'utf8') : undefined;
  for (const span of decodeProtobufTraces(body.protobuf).spans) {
    for (const key of [OTEL.genAiToolCallArguments, OTEL.genAiToolCallResult]) {
      const b = bytes(span.attributes[key]);
      if (b !== undefined) out.push(b);
    }
  }
  return out;
}

/**
 * A floor, not a ceiling: what the arguments' and results' fingerprints cost alone (sha256 of their bytes
 * as sent, as the normalizer hashes large payloads). Every MCP span pays at least this, whatever the decoder,
 * because the fingerprint is sha256 by contract (taps, detectors and the API compare them); small payloads
 * pay more in the daemon, which hashes their canonical JSON. Reported beside the 2x budget (ingest.ts).
 */
function fingerprintFloorWork(bodies: Body[]): Work {
  const payloads = new Map(bodies.map((b) => [b, payloadsOf(b)]));
  return (b) => {
    let n = 0;
    for (const p of payloads.get(b)!) n += sha256HexOfBytes(p).length;
    return n;
  };
}

/** The ceilings, each the median of `reps` repetitions after one discarded warm-up repetition. */
export function measureCeilings(bodies: Body[], opts: { reps: number; minCpuMs: number }): CeilingResult[] {
  const root = loadGeneratedRoot();
  const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
  // `store`: the work is built (and the store filled) only when the case runs, so one store's memory is
  // not held through the other cases.
  const cases: { name: string; encoding: 'protobuf' | 'json'; work: Work; store?: boolean }[] = [
    { name: 'raw: protobufjs decode (generated OTLP root)', encoding: 'protobuf', work: (b) => ExportTraceServiceRequest.decode(b.protobuf).resourceSpans?.length ?? 0 },
    { name: 'floor: sha256 of every tool argument and result (the fingerprints alone)', encoding: 'protobuf', work: fingerprintFloorWork(bodies) },
    { name: 'mcpwatch decodeProtobufTraces', encoding: 'protobuf', work: (b) => countSpans(decodeProtobufTraces(b.protobuf)) },
    { name: 'mcpwatch decodeProtobufTraces + normalizeSpan', encoding: 'protobuf', work: (b) => normalizeAll(decodeProtobufTraces(b.protobuf), false) },
    { name: 'mcpwatch decodeProtobufTraces + normalizeSpan + recent store (full, default limits)', encoding: 'protobuf', work: () => 0, store: true },
    { name: 'raw: JSON.parse (utf8 Buffer -> string -> parse)', encoding: 'json', work: (b) => (JSON.parse(b.json.toString('utf8')) as unknown) === null ? 0 : 1 },
    { name: 'mcpwatch decodeJsonTraceBytes', encoding: 'json', work: (b) => countSpans(decodeJsonTraceBytes(b.json, { wireText: true })) },
    { name: 'mcpwatch decodeJsonTraceBytes + normalizeSpan', encoding: 'json', work: (b) => normalizeAll(decodeJsonTraceBytes(b.json, { wireText: true }), false) },
    { name: 'mcpwatch decodeJsonTraceBytes + normalizeSpan + recent store (full, default limits)', encoding: 'json', work: () => 0, store: true },
  ];
  const results: CeilingResult[] = [];
  for (const c of cases) {
    const work = c.store ? storeWork(bodies, c.encoding) : c.work;
    measureOnce(bodies, c.encoding, work, opts.minCpuMs);
    const reps: number[] = [];
    const mb: number[] = [];
    for (let r = 0; r < opts.reps; r++) {
      const once = measureOnce(bodies, c.encoding, work, opts.minCpuMs);
      reps.push(once.spansPerCpuSecond);
      mb.push(once.bytesPerCpuSecond / 1e6);
    }
    results.push({ name: c.name, encoding: c.encoding, spansPerCpuSecond: median(reps), reps, mbPerCpuSecond: median(mb) });
  }
  return results;
}
