/**
 * Makes untrusted text (tool names, server names, paths, error messages from the wild) safe to print on a
 * terminal. C0 controls, DEL and C1 controls could start escape sequences (retitle the window, rewrite
 * earlier lines, hide text), and bidirectional controls can reorder what is shown (Trojan Source,
 * CVE-2021-42574); each is replaced by a visible escape such as `\x1b` or `\u202e`.
 */

const UNSAFE_FOR_TERMINAL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `value` as text with every terminal control and bidi control replaced by a visible escape. */
export function sanitizeForTerminal(value: unknown): string {
  const s = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  return s.replace(UNSAFE_FOR_TERMINAL, escapeChar);
}
