/** Process exit codes (DESIGN.md): sysexits-style where one applies. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** EX_CONFIG from sysexits.h. */
  config: 78,
} as const;
