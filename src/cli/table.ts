import { sanitizeForTerminal } from './sanitize.js';

/** One column of a CLI table. */
export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
  /** Longer cells are cut with an ellipsis so one hostile value cannot push every other column away. */
  maxWidth?: number;
}

const DEFAULT_MAX_WIDTH = 60;
const GAP = '  ';

/** Width in terminal cells, counting code points (wide CJK and emoji glyphs are not special-cased). */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function cut(s: string, max: number): string {
  if (width(s) <= max) return s;
  return `${[...s].slice(0, Math.max(0, max - 1)).join('')}…`;
}

/**
 * Renders rows under aligned headers. Every cell goes through `sanitizeForTerminal`, so callers may pass
 * untrusted values as they are.
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => columns.map((col, i) => cut(sanitizeForTerminal(row[i]), col.maxWidth ?? DEFAULT_MAX_WIDTH)));
  const widths = columns.map((col, i) => Math.max(width(col.header), ...cells.map((r) => width(r[i]!))));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => {
        const pad = ' '.repeat(widths[i]! - width(v));
        return columns[i]!.align === 'right' ? pad + v : v + pad;
      })
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}
