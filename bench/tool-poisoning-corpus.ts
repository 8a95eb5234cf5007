/**
 * Precision and recall of `tool_poisoning` on the public MCP attack corpora beside the repository
 * (../shared/corpora, see its README for sources and licences). The corpora are read at run time, never
 * copied. Run: `npx tsx bench/tool-poisoning-corpus.ts` (add `--verbose` to list every miss and false
 * alarm). test/detectors/tool-poisoning-corpus.test.ts asserts minimum figures so a regression fails.
 *
 * Labelled sets (each definition once, deduplicated by name + parameters + description):
 * - agent-egress-bench `cases/**` with `input_type: mcp_tool_definition`: `expected_verdict` block = poisoned,
 *   allow = benign (the benign verbose tool and the security-scanner look-alike).
 * - MSB `data/attack_tool_definitions.extracted.json`: variants preference_manipulation,
 *   out_of_scope_parameter and their mix = poisoned when description or parameters differ from every
 *   benign definition; `benign` = benign. name_overlap, tool_transfer, the runtime-selected Word server and
 *   renamed-but-identical copies attack through names or results, not descriptions: they are reported
 *   apart ("not a description attack") and left out of precision and recall.
 * - safe-mcp SAFE-T1001 test logs: labels follow the upstream detection rule (markup, hidden characters =
 *   poisoned; the plain and HTML-comment/heading look-alikes = benign).
 * - safe-mcp SAFE-T1008 test logs: groups shadowing_patterns, cross_tool_references, email_hijacking,
 *   cross_origin_attempts, sleeper_tools = poisoned; legitimate_tools = benign; tool_impersonation (benign
 *   description, malicious behaviour) reported apart.
 * - hartmann `tests/fixtures/registry/example-server-v1|v2.yaml`: v2 `profile.get` = poisoned; v1
 *   `profile.get` and v2 `message.send` = benign.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { analyseDefinition, type AnalyseOptions } from '../detectors/tool_poisoning/analyse.js';
import type { CatalogItem } from '../src/detect/tool-catalog.js';

export type Label = 'poisoned' | 'benign' | 'not_description_attack';

export interface CorpusCase {
  /** Corpus-relative file and the item's name inside it. */
  source: string;
  set: string;
  label: Label;
  item: CatalogItem;
}

export const CORPORA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/corpora');

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function egressBench(root: string): CorpusCase[] {
  const out: CorpusCase[] = [];
  for (const file of walk(join(root, 'agent-egress-bench/cases')).filter((f) => f.endsWith('.json'))) {
    const c = JSON.parse(readFileSync(file, 'utf8')) as {
      input_type?: string;
      expected_verdict?: string;
      payload?: { jsonrpc_messages?: { result?: { tools?: CatalogItem[] } }[] };
    };
    if (c.input_type !== 'mcp_tool_definition') continue;
    for (const msg of c.payload?.jsonrpc_messages ?? []) {
      for (const tool of msg.result?.tools ?? []) {
        out.push({
          source: `${relative(root, file)}#${tool.name}`,
          set: 'agent-egress-bench',
          label: c.expected_verdict === 'block' ? 'poisoned' : 'benign',
          item: tool,
        });
      }
    }
  }
  return out;
}

function msb(root: string): CorpusCase[] {
  const file = join(root, 'msb/data/attack_tool_definitions.extracted.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    tools: { variant: string; tool_name: string; params: string[]; description: string }[];
  };
  const POISONED = new Set(['preference_manipulation', 'out_of_scope_parameter', 'preference_manipulation-out_of_scope_parameter']);
  const shape = (t: { params: string[]; description: string }): string =>
    `${[...t.params].sort().join(',')}|${t.description.replace(/\s+/g, ' ').trim()}`;
  const benignShapes = new Set(data.tools.filter((t) => t.variant === 'benign').map(shape));
  const byKey = new Map<string, CorpusCase>();
  for (const t of data.tools) {
    // A variant file also defines renamed copies of the benign tools (the Word server's files hold every
    // variant's functions): a definition whose description and parameters equal a benign one carries no
    // description-level attack, whatever file it sits in.
    const label: Label =
      t.variant === 'benign'
        ? 'benign'
        : POISONED.has(t.variant) && !benignShapes.has(shape(t))
          ? 'poisoned'
          : 'not_description_attack';
    const key = `${t.tool_name}|${t.params.join(',')}|${t.description.replace(/\s+/g, ' ').trim()}`;
    const prior = byKey.get(key);
    // The same definition can sit in several variant files; a description-level label wins.
    if (prior && (prior.label !== 'not_description_attack' || label === 'not_description_attack')) continue;
    const properties: Record<string, unknown> = {};
    // MSB tools are Python functions: parameters are typed strings documented in the docstring.
    for (const p of t.params) properties[p] = { type: 'string' };
    byKey.set(key, {
      source: `msb/data/attack_tool_definitions.extracted.json#${t.variant}/${t.tool_name}`,
      set: 'msb',
      label,
      item: { name: t.tool_name, description: t.description, inputSchema: { type: 'object', properties } },
    });
  }
  return [...byKey.values()];
}

function safeMcp(root: string): CorpusCase[] {
  const out: CorpusCase[] = [];
  const t1001 = join(root, 'safe-mcp/techniques/SAFE-T1001/test-logs.json');
  const T1001_POISONED = new Set(['data_processor', 'api_client', 'analyzer', 'formatter', 'helper']);
  for (const line of readFileSync(t1001, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { tool_name: string; tool_description: string };
    out.push({
      source: `safe-mcp/techniques/SAFE-T1001/test-logs.json#${row.tool_name}`,
      set: 'safe-mcp',
      label: T1001_POISONED.has(row.tool_name) ? 'poisoned' : 'benign',
      item: { name: row.tool_name, description: row.tool_description },
    });
  }
  const t1008 = join(root, 'safe-mcp/techniques/SAFE-T1008/test-logs.json');
  const groups = JSON.parse(readFileSync(t1008, 'utf8')) as Record<string, { tool_name: string; tool_description: string }[]>;
  for (const [group, rows] of Object.entries(groups)) {
    const label: Label =
      group === 'legitimate_tools' ? 'benign' : group === 'tool_impersonation' ? 'not_description_attack' : 'poisoned';
    for (const row of rows) {
      out.push({
        source: `safe-mcp/techniques/SAFE-T1008/test-logs.json#${group}/${row.tool_name}`,
        set: 'safe-mcp',
        label,
        item: { name: row.tool_name, description: row.tool_description },
      });
    }
  }
  return out;
}

function hartmann(root: string): CorpusCase[] {
  const out: CorpusCase[] = [];
  for (const version of ['v1', 'v2']) {
    const rel = `mcp-injection-experiments-hartmann/tests/fixtures/registry/example-server-${version}.yaml`;
    const doc = parseYaml(readFileSync(join(root, rel), 'utf8')) as {
      tools: { name: string; description: string; schema?: unknown }[];
    };
    for (const tool of doc.tools) {
      out.push({
        source: `${rel}#${tool.name}`,
        set: 'hartmann',
        label: version === 'v2' && tool.name === 'profile.get' ? 'poisoned' : 'benign',
        item: { name: tool.name, description: tool.description, inputSchema: tool.schema },
      });
    }
  }
  return out;
}

/** Every labelled definition in the corpora; throws if the corpora folder is missing. */
export function loadCorpus(root = CORPORA_DIR): CorpusCase[] {
  if (!existsSync(root)) throw new Error(`corpora not found at ${root} (expected ../shared/corpora beside the repository)`);
  return [...egressBench(root), ...msb(root), ...safeMcp(root), ...hartmann(root)];
}

export interface Figures {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number;
  recall: number;
  /** Flagged / total among definitions whose attack is not in the description. */
  otherFlagged: number;
  otherTotal: number;
  misses: CorpusCase[];
  falseAlarms: CorpusCase[];
}

export const DEFAULT_OPTIONS: AnalyseOptions = { threshold: 1, unexplainedParameters: true };

export function evaluate(cases: readonly CorpusCase[], opts: AnalyseOptions = DEFAULT_OPTIONS): Figures {
  const f: Figures = { tp: 0, fp: 0, fn: 0, tn: 0, precision: 0, recall: 0, otherFlagged: 0, otherTotal: 0, misses: [], falseAlarms: [] };
  for (const c of cases) {
    const flagged = analyseDefinition(c.item, opts).poisoned;
    if (c.label === 'not_description_attack') {
      f.otherTotal += 1;
      if (flagged) f.otherFlagged += 1;
    } else if (c.label === 'poisoned') {
      if (flagged) f.tp += 1;
      else {
        f.fn += 1;
        f.misses.push(c);
      }
    } else if (flagged) {
      f.fp += 1;
      f.falseAlarms.push(c);
    } else f.tn += 1;
  }
  f.precision = f.tp + f.fp === 0 ? 1 : f.tp / (f.tp + f.fp);
  f.recall = f.tp + f.fn === 0 ? 1 : f.tp / (f.tp + f.fn);
  return f;
}

function main(): void {
  const verbose = process.argv.includes('--verbose');
  const cases = loadCorpus();
  const sets = ['all', ...new Set(cases.map((c) => c.set))];
  console.log('set                  poisoned benign   TP  FP  FN  TN  precision recall');
  for (const set of sets) {
    const subset = set === 'all' ? cases : cases.filter((c) => c.set === set);
    const f = evaluate(subset);
    const pos = subset.filter((c) => c.label === 'poisoned').length;
    const neg = subset.filter((c) => c.label === 'benign').length;
    console.log(
      `${set.padEnd(20)} ${String(pos).padStart(8)} ${String(neg).padStart(6)} ${String(f.tp).padStart(4)}${String(f.fp).padStart(4)}${String(f.fn).padStart(4)}${String(f.tn).padStart(4)}  ${f.precision.toFixed(3).padStart(9)} ${f.recall.toFixed(3).padStart(6)}`,
    );
  }
  const all = evaluate(cases);
  console.log(`not a description attack (name overlap, tool transfer, impersonation): flagged ${all.otherFlagged}/${all.otherTotal}`);
  if (verbose) {
    for (const c of all.misses) console.log(`MISS  ${c.source}: ${JSON.stringify(c.item.description?.slice(0, 160))}`);
    for (const c of all.falseAlarms) {
      const v = analyseDefinition(c.item, DEFAULT_OPTIONS);
      console.log(`FALSE ${c.source}: ${v.findings.map((x) => `${x.kind}@${x.where}:${x.match}`).join(' | ')}`);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
