import { scanText, scoreSignals, type TextSignal } from '../../src/detect/text-signals.js';
import { modelVisibleStrings, type CatalogItem } from '../../src/detect/tool-catalog.js';

/**
 * The description-level analysis behind `tool_poisoning`, free of detector state so the corpus bench
 * (bench/tool-poisoning-corpus.ts) measures exactly what the detector runs.
 */

export interface PoisoningFinding extends TextSignal {
  /** Where in the definition: `description`, `inputSchema.properties.query.description`, ... */
  where: string;
}

export interface PoisoningVerdict {
  poisoned: boolean;
  score: number;
  findings: PoisoningFinding[];
}

export interface AnalyseOptions {
  /** Score at or above which a definition counts as poisoned. */
  threshold: number;
  /** Also score free-text parameters nothing explains, and parameters that ask about the model or conversation. */
  unexplainedParameters: boolean;
}

// Parameters that make the model report on itself or its conversation (MSB "out-of-scope parameter").
const OUT_OF_SCOPE_PARAM =
  /^(?:llm|model|ai|assistant|agent)_?(?:model_?)?(?:name|id|version|type)$|^(?:system_?prompt|conversation(?:_?history)?|chat_?history|previous_?messages|context_?window|sidenote|side_note|hidden_?notes?)$/i;
const OUT_OF_SCOPE_DESCRIPTION =
  /\b(?:name|version|identity) of the (?:llm|ai|model|assistant|agent)\b|\b(?:llm|model|assistant|agent) (?:model )?that calls\b|\b(?:system prompt|conversation history|chat history|previous messages)\b/i;
// Free-text parameter names that can carry anything, so an unexplained one is a side channel.
const FREE_TEXT_PARAM = /^(?:notes?|sidenote|extra|data|context|metadata|comment|feedback|debug(?:_?info)?|details|payload|info|memo|annotation)$/i;

interface ParamInfo {
  name: string;
  type?: unknown;
  description?: string;
}

function parametersOf(item: CatalogItem): ParamInfo[] {
  const schema = item.inputSchema;
  if (typeof schema !== 'object' || schema === null) return [];
  const props = (schema as Record<string, unknown>)['properties'];
  if (typeof props !== 'object' || props === null || Array.isArray(props)) return [];
  return Object.entries(props as Record<string, unknown>)
    .slice(0, 256)
    .map(([name, v]) => {
      const p = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
      const info: ParamInfo = { name, type: p['type'] };
      if (typeof p['description'] === 'string') info.description = p['description'];
      return info;
    });
}

function parameterFindings(item: CatalogItem): PoisoningFinding[] {
  const out: PoisoningFinding[] = [];
  const description = (item.description ?? '').toLowerCase();
  for (const p of parametersOf(item)) {
    const where = `inputSchema.properties.${p.name}`;
    if (OUT_OF_SCOPE_PARAM.test(p.name) || (p.description !== undefined && OUT_OF_SCOPE_DESCRIPTION.test(p.description))) {
      out.push({ kind: 'unexplained_parameter', weight: 1, match: `parameter "${p.name}" asks about the calling model or conversation`, where });
      continue;
    }
    const isString = p.type === undefined || p.type === 'string';
    const explained = (p.description !== undefined && p.description.trim().length > 0) || description.includes(p.name.toLowerCase());
    if (isString && !explained && FREE_TEXT_PARAM.test(p.name)) {
      out.push({ kind: 'unexplained_parameter', weight: 0.5, match: `free-text parameter "${p.name}" is not explained`, where });
    }
  }
  return out;
}

/** Scores one tool / prompt / resource definition. Each signal kind counts once per definition. */
export function analyseDefinition(item: CatalogItem, opts: AnalyseOptions): PoisoningVerdict {
  const findings: PoisoningFinding[] = [];
  const seen = new Set<string>();
  for (const { where, text } of modelVisibleStrings(item)) {
    for (const signal of scanText(text)) {
      // A description naming its own tool ("before calling search_docs, ...") is not shadowing.
      if (signal.kind === 'shadowing' && signal.match.endsWith(`: ${item.name}`)) continue;
      const id = `${signal.kind}:${signal.weight}`;
      if (seen.has(id)) continue;
      seen.add(id);
      findings.push({ ...signal, where });
    }
  }
  if (opts.unexplainedParameters) findings.push(...parameterFindings(item));
  const score = scoreSignals(findings);
  return { poisoned: score >= opts.threshold, score, findings };
}

/** Scores free text a model reads at `prompts/get` or `resources/read` time. */
export function analyseText(text: string, where: string, threshold: number): PoisoningVerdict {
  const findings = scanText(text).map((s) => ({ ...s, where }));
  const score = scoreSignals(findings);
  return { poisoned: score >= threshold, score, findings };
}
