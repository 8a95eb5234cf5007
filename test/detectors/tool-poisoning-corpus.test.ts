import { describe, expect, it } from 'vitest';
import { evaluate, loadCorpus } from '../../bench/tool-poisoning-corpus.js';

// Reads ../shared/corpora at run time (sources and licences in its README); figures are reported in
// detectors/tool_poisoning/README.md. A rule change that costs precision or recall fails here.
describe('tool_poisoning on the public corpora', () => {
  const cases = loadCorpus();
  const f = evaluate(cases);

  it('covers every labelled set', () => {
    expect(new Set(cases.map((c) => c.set))).toEqual(new Set(['agent-egress-bench', 'msb', 'safe-mcp', 'hartmann']));
    expect(f.tp + f.fn).toBeGreaterThanOrEqual(70);
    expect(f.tn + f.fp).toBeGreaterThanOrEqual(30);
  });

  it('keeps precision at or above 0.95 and recall at or above 0.90', () => {
    expect(f.precision).toBeGreaterThanOrEqual(0.95);
    expect(f.recall).toBeGreaterThanOrEqual(0.9);
  });

  it('does not flag honest descriptions of tools whose attack is in the name or behaviour', () => {
    expect(f.otherFlagged).toBe(0);
  });
});
