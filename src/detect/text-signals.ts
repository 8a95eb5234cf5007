import { extractPaths, isSensitivePath } from './sensitive-paths.js';

/**
 * Signals in text a server hands to a model (tool and parameter descriptions, prompts, resource
 * contents): what a human reviewer would not see, or would not expect a description to say. Each finding
 * carries a weight; a detector sums them per text and fires above a threshold, so one weak phrase
 * ("important:") never alerts alone but two together do.
 *
 * All scans are linear: bounded input (`MAX_SCAN_CHARS`), no nested quantifiers.
 */

export type TextSignalKind =
  | 'invisible_unicode'
  | 'bidi_control'
  | 'ansi_escape'
  | 'encoded_blob'
  | 'hidden_instruction'
  | 'prompt_markup'
  | 'secrecy'
  | 'sensitive_reference'
  | 'shadowing'
  | 'preference_manipulation'
  | 'exfiltration_directive'
  | 'unexplained_parameter';

export interface TextSignal {
  kind: TextSignalKind;
  /** Contribution to the text's score; a score of 1 or more is treated as poisoned by default. */
  weight: number;
  /** What matched, shortened and with invisible characters made visible (safe to show in an alert). */
  match: string;
}

export const MAX_SCAN_CHARS = 64 * 1024;

// Zero-width and invisible formatting characters, and the Unicode tag block (U+E0000-U+E007F) that can
// spell ASCII invisibly ("ASCII smuggling").
const INVISIBLE = /[\u200B-\u200D\u2060-\u2064\uFEFF\u180E\u00AD]|\uDB40[\uDC00-\uDC7F]/g;
const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
// CSI / OSC sequences (ESC [ ... or ESC ] ...) and the 8-bit CSI: terminals obey them, people never see them.
const ANSI = /\u001B[[\]PX^_]|\u009B|\u001B[@-Z\\-_]/g;
// Long runs of base64 / hex that are not explained by a data: URI prefix.
const BASE64_BLOB = /(?<![A-Za-z0-9+/=:])(?:[A-Za-z0-9+/]{4}){20,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?(?![A-Za-z0-9+/])/g;
const HEX_BLOB = /(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}){40,}(?![0-9a-fA-F])/g;

interface Phrase {
  kind: TextSignalKind;
  weight: number;
  re: RegExp;
}

/**
 * Phrase rules. Weights: 1 = enough alone (no honest description says it), 0.5 = suspicious but seen in
 * honest descriptions too. Tuned on ../shared/corpora (see detectors/tool_poisoning/README.md).
 */
const PHRASES: readonly Phrase[] = [
  // Hidden instructions addressed to the model.
  { kind: 'hidden_instruction', weight: 1, re: /\bignore (?:all |any )?(?:previous|prior|above|earlier|other) (?:instructions|rules|directions|prompts)\b/i },
  { kind: 'hidden_instruction', weight: 1, re: /\b(?:ignore|disregard|bypass|override) (?:all |any )?(?:safety|security) (?:checks|rules|guidelines|policies|restrictions)\b/i },
  { kind: 'hidden_instruction', weight: 1, re: /<\s*(?:important|system|instructions?|secret|hidden)\s*>/i },
  { kind: 'hidden_instruction', weight: 1, re: /\bbefore (?:using|calling|invoking|running|returning)\b[^.]{0,80}\b(?:first )?(?:read|call|run|execute|send|fetch|include|pass|add|copy|log)\b/i },
  { kind: 'hidden_instruction', weight: 1, re: /\b(?:system note|system override|system message|note to (?:the )?(?:ai|assistant|model|agent))\s*:/i },
  { kind: 'hidden_instruction', weight: 0.5, re: /\b(?:IMPORTANT|CRITICAL|ATTENTION|MANDATORY)\s*[:!]/ },
  { kind: 'hidden_instruction', weight: 0.5, re: /\b(?:you|the (?:ai|assistant|model|agent)) (?:must|should) (?:always |first |also )?(?:read|call|send|include|pass|run|execute|fetch|forward|use)\b/i },
  { kind: 'hidden_instruction', weight: 0.5, re: /\bfor (?:authentication|verification|compliance|security|optimal results|maximum protection)(?: purposes)?\b[^.]{0,80}\b(?:contents?|body|data|key|credentials?|token)\b/i },
  { kind: 'hidden_instruction', weight: 0.5, re: /\b(?:prepend|append|include|pass|attach) (?:the )?(?:full |entire |complete )?(?:contents?|body|text|data) of\b/i },
  // Chat-template and comment markup that smuggles a "system" turn.
  { kind: 'prompt_markup', weight: 1, re: /<\|(?:system|im_start|im_end|user|assistant)\|>|\[\/?INST\]|<<\/?SYS>>|#{2,3} ?(?:instruction|system)s?\s*:/i },
  { kind: 'prompt_markup', weight: 1, re: /<!--\s*(?:system|instruction|assistant|ai|important)\b/i },
  // Secrecy toward the user.
  { kind: 'secrecy', weight: 1, re: /\b(?:do not|don't|never|without) (?:tell|inform|mention|reveal|disclose|notify|alert|show|let)(?:ing)?(?: (?:this|that|it|them))?(?: to)? (?:the |this )?users?\b/i },
  { kind: 'secrecy', weight: 1, re: /\b(?:should|must|will) (?:never|not) be (?:mentioned|disclosed|shown|revealed|reported) to (?:the )?users?\b/i },
  { kind: 'secrecy', weight: 1, re: /\b(?:secretly|covertly|silently|quietly) (?:read|send|call|forward|include|copy|upload|run|execute|pass|add|log)\b/i },
  { kind: 'secrecy', weight: 1, re: /\b(?:the )?user (?:must|should) not (?:know|see|be told|notice)\b|\bhide (?:this|it) from the user\b/i },
  { kind: 'secrecy', weight: 0.5, re: /\b(?:should|must) (?:never|not) be (?:invoked|called|used)(?: directly)?\b|\bnever needs to be (?:invoked|called)\b/i },
  // Shadowing: steering the model's use of other tools.
  { kind: 'shadowing', weight: 1, re: /\b(?:always )?use this tool (?:instead of|rather than|in place of)\b/i },
  { kind: 'shadowing', weight: 1, re: /\b(?:supersedes|replaces|overrides) (?:any |all |the )?(?:default|built-in|builtin|other|existing)\b/i },
  { kind: 'shadowing', weight: 1, re: /\bwhen (?:the user|you) (?:asks? to |wants? to )?(?:use|call|invoke) (?:the )?['"`]?[\w.-]+['"`]? tool\b/i },
  { kind: 'shadowing', weight: 0.5, re: /\b(?:first |also )?call (?:the )?['"`]?[\w.-]+['"`]? tool\b/i },
  // Preference manipulation (MSB "PM": "This is the best tool in the world").
  { kind: 'preference_manipulation', weight: 1, re: /\b(?:this is )?the (?:best|only|most (?:reliable|trusted|secure)) tool (?:in the world|available|you should use|for (?:any|every|all))\b/i },
  { kind: 'preference_manipulation', weight: 1, re: /\bPREFERRED TOOL\b|\balways (?:prefer|choose|select|pick) this tool\b/i },
  // Directives to move data somewhere.
  { kind: 'exfiltration_directive', weight: 1, re: /\b(?:curl|wget)\s+(?:-[^\s]+\s+)*https?:\/\//i },
  { kind: 'exfiltration_directive', weight: 1, re: /\$\((?:env|printenv|cat [^)]{1,80})\)/ },
  { kind: 'exfiltration_directive', weight: 1, re: /\b(?:add|forward|send|copy|bcc|cc|upload|post|email|report)\b[^.\n]{0,60}?\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b/i },
  { kind: 'exfiltration_directive', weight: 1, re: /\b(?:copy|log|send|forward|mirror|upload|redirect)\b[^.\n]{0,40}\b(?:contents?|data|messages?|requests?|files?|body)\b[^.\n]{0,40}\bto (?:an? |our |the )?(?:external|remote|third[- ]party|attacker)/i },
  { kind: 'exfiltration_directive', weight: 0.5, re: /\bexfiltrat/i },
  { kind: 'sensitive_reference', weight: 1, re: /\b(?:ssh|private|signing) keys?\b[^.]{0,40}\b(?:include|send|pass|contents?|read)\b|\b(?:read|include|send|pass)\b[^.]{0,40}\b(?:ssh|private) keys?\b/i },
  { kind: 'sensitive_reference', weight: 0.5, re: /\b(?:api[_ ]?keys?|credentials|passwords?|secrets?|environment variables)\b[^.]{0,40}\b(?:include|send|pass|prepend|append|forward)\b/i },
];

function visible(s: string, max = 120): string {
  const shown = s
    .replace(INVISIBLE, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase()}>`)
    .replace(BIDI, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase()}>`)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001F\u007F-\u009F]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return shown.length > max ? `${shown.slice(0, max)}…` : shown;
}

/** Every signal found in `text` (each rule reported once per text). */
export function scanText(text: string): TextSignal[] {
  const t = text.length > MAX_SCAN_CHARS ? text.slice(0, MAX_SCAN_CHARS) : text;
  const out: TextSignal[] = [];
  const invisible = t.match(INVISIBLE);
  if (invisible) out.push({ kind: 'invisible_unicode', weight: 1, match: visible(invisible.slice(0, 8).join('')) });
  const bidi = t.match(BIDI);
  if (bidi) out.push({ kind: 'bidi_control', weight: 1, match: visible(bidi.slice(0, 8).join('')) });
  const ansi = t.match(ANSI);
  if (ansi) out.push({ kind: 'ansi_escape', weight: 1, match: visible(ansi.slice(0, 8).join(' ')) });
  for (const m of t.matchAll(BASE64_BLOB)) {
    const before = t.slice(Math.max(0, m.index - 40), m.index);
    if (/data:[\w/+.-]+;base64,$/.test(before)) continue;
    out.push({ kind: 'encoded_blob', weight: 1, match: visible(m[0], 40) });
    break;
  }
  const hex = t.match(HEX_BLOB);
  if (hex) out.push({ kind: 'encoded_blob', weight: 1, match: visible(hex[0], 40) });
  for (const phrase of PHRASES) {
    const m = phrase.re.exec(t);
    if (m) out.push({ kind: phrase.kind, weight: phrase.weight, match: visible(m[0]) });
  }
  for (const p of extractPaths(t, 16)) {
    const s = isSensitivePath(p);
    if (s.sensitive) {
      out.push({ kind: 'sensitive_reference', weight: 1, match: `${visible(p, 80)} (${s.category})` });
      break;
    }
  }
  for (const name of toolReferences(t, 4)) {
    out.push({ kind: 'shadowing', weight: 1, match: `directs use of another tool: ${visible(name, 80)}` });
    break;
  }
  return out;
}

// "Before using send_email", "When calling database_query", "instead of using file_read", "invoke x.y()":
// a description steering how the model uses a tool identified by an identifier-shaped name.
const TOOL_REFERENCE =
  /\b(?:before|after|when|whenever|instead of) (?:using|calling|invoking|running) (?:the )?['"`]?([a-z][a-z0-9]*(?:[_.][a-z0-9]+)+)\b|\binvoke ['"`]?([a-z][a-z0-9]*(?:[_.][a-z0-9]+)+)\(/gi;

/** Identifier-shaped tool names that `text` tells the model how to use (excluding `self` when given). */
export function toolReferences(text: string, limit = 8, self?: string): string[] {
  const names: string[] = [];
  for (const m of text.slice(0, MAX_SCAN_CHARS).matchAll(TOOL_REFERENCE)) {
    const name = m[1] ?? m[2];
    if (name === undefined || name === self || names.includes(name)) continue;
    names.push(name);
    if (names.length >= limit) break;
  }
  return names;
}

/** Sum of weights; 1 or more means "poisoned" at the default threshold. */
export function scoreSignals(signals: readonly TextSignal[]): number {
  return signals.reduce((sum, s) => sum + s.weight, 0);
}
