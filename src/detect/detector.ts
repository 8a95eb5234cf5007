import type { z } from 'zod';
import type { AlertInput } from '../alert/types.js';
import type { McpEvent } from '../pipeline/events.js';
import type { Logger } from '../telemetry/logger.js';
import type { DetectorManifest } from './manifest.js';

/**
 * The contract between the detector engine and detection content. A detector module lives in
 * `detectors/<id>/` (detector.yaml + logic + README) and exports a `DetectorModule`. The engine loads the
 * manifest, validates the detector's config with `configSchema`, applies the user's exceptions before
 * `onEvent` is called, and ticks every detector once a second so windows can close without traffic.
 */
export interface DetectorModule<TConfig = unknown> {
  /** zod schema of `detectors.<id>` settings (besides the engine's own `enabled` and `exceptions`); parsing `{}` gives defaults. */
  configSchema: z.ZodType<TConfig>;
  create(ctx: DetectorContext<TConfig>): Detector;
}

export interface Detector {
  /** Called for each event whose kind is in the manifest's `sources` and that no exception covers. Must not throw or block. */
  onEvent(event: McpEvent): void;
  /** Called about once a second with the engine clock (for windows, sweeps, resolving). */
  onTick?(now: number): void;
  /** Serialisable learned state (baselines, graphs, pins) for persistence; restored by `restore`. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /** How many entities the detector tracks and in which baseline phase; for `/metrics` and `mcpwatch detectors`. */
  stats?(): DetectorStats;
}

/** Tracked entities by baseline phase (`none` = state without a baseline, e.g. windows or pending reads). */
export interface DetectorStats {
  learning: number;
  armed: number;
  none?: number;
}

export interface DetectorContext<TConfig = unknown> {
  readonly manifest: DetectorManifest;
  readonly config: TConfig;
  readonly logger: Logger;
  /** The engine's clock (Unix ms); tests drive it, detectors never call Date.now() directly. */
  now(): number;
  /**
   * Raise an alert. The engine fills `detector` and the manifest's default severity when omitted, and
   * passes it to the alert manager; evidence must explain observed versus expected.
   */
  fire(alert: Omit<AlertInput, 'detector' | 'severity'> & Partial<Pick<AlertInput, 'severity'>>): void;
  /** End a firing alert of this detector (same server / tool / key as it fired with). */
  resolve(alert: { server: string; tool?: string; key?: string; time?: number }): void;
  /** Count a bounded-state eviction under `mcpwatch_detector_state_evictions_total{detector}`. */
  countEviction(n?: number): void;
}
