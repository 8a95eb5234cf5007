/**
 * normalizeSpan throughput, single core (run: `node --import tsx bench/normalize.ts`).
 * Spans come from the flavour fixtures (decoded once), so the mix is what real instrumentations emit.
 * Reports spans/s per fixture mix, with content capture off (the default) and on.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJsonTracesObject } from '../src/receiver/otlp/decode-json.js';
import type { DecodedSpan } from '../src/receiver/otlp/span.js';
import { normalizeSpan } from '../src/pipeline/normalize.js';

const root = join(import.meta.dirname, '..', 'test', 'fixtures', 'otlp');

function spansOf(dir: string): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  for (const f of readdirSync(join(root, dir)).filter((n) => n.endsWith('.json'))) {
    out.push(...decodeJsonTracesObject(JSON.parse(readFileSync(join(root, dir, f), 'utf8')) as unknown).spans);
  }
  return out;
}

function run(label: string, spans: DecodedSpan[], captureContent: boolean): void {
  const opts = { captureContent };
  let sink = 0;
  // Warm up, then time at least ~1 s.
  for (let i = 0; i < 20_000; i++) sink += normalizeSpan(spans[i % spans.length]!, opts) ? 1 : 0;
  const n = 300_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += normalizeSpan(spans[i % spans.length]!, opts) ? 1 : 0;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${label.padEnd(34)} capture=${captureContent ? 'on ' : 'off'}  ${Math.round(n / s).toLocaleString('en-US').padStart(10)} spans/s  (${sink % 7})`);
}

for (const dir of ['otel', 'gateway', 'span-name', 'shinzo', 'openllmetry']) {
  run(dir, spansOf(dir), false);
}
run('openllmetry (payload-heavy)', spansOf('openllmetry'), true);
