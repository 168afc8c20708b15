/**
 * The model a benchmark runs: the shipped one when it is there, else a generated, untrained
 * model of the shipped architecture (speed does not depend on the weights).
 *
 * @example
 * const { dir, generated } = await resolveBenchModel({});
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackboneConfig } from '../model/backbone.ts';
import { MANIFEST_FILE } from '../model/clipModel.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../train/trainModel.ts';

/** The backbone the shipped model is trained with (read from the training defaults). */
export const DEFAULT_BENCH_BACKBONE: BackboneConfig = DEFAULT_TRAIN_OPTIONS.backbone ?? {};

/** Where the shipped model lives. */
export const SHIPPED_MODEL_DIR = fileURLToPath(new URL('../../models/default', import.meta.url));

/** Where a generated stand-in is written once and reused. */
export const GENERATED_MODEL_DIR = fileURLToPath(new URL('../../.cache/bench-model', import.meta.url));

/** Which model a bench runs, and whether it was generated. */
export interface BenchModel {
  readonly dir: string;
  /** True when no model folder was found and an untrained one of the shipped architecture was generated. */
  readonly generated: boolean;
}

/**
 * Pick the bench model: `dir` when given; else models/default when it has a manifest; else a
 * generated untrained model of the shipped architecture under .cache/bench-model.
 *
 * @param opts.dir - a model folder chosen by the user (used as it is)
 * @param opts.generatedDir - where to write a generated model (tests pass a temp dir)
 * @param opts.backbone - architecture of a generated model (tests pass a tiny one)
 * @returns the folder and whether it was generated
 */
export async function resolveBenchModel(opts: { dir?: string; generatedDir?: string; backbone?: BackboneConfig; clips?: number }): Promise<BenchModel> {
  if (opts.dir !== undefined) return { dir: opts.dir, generated: false };
  if (opts.backbone === undefined && existsSync(join(SHIPPED_MODEL_DIR, MANIFEST_FILE))) return { dir: SHIPPED_MODEL_DIR, generated: false };
  const dir = opts.generatedDir ?? GENERATED_MODEL_DIR;
  if (!existsSync(join(dir, MANIFEST_FILE))) {
    const { initRuntime } = await import('../model/runtime.ts');
    const { createClipwiseModel, saveClipwiseModel } = await import('../model/clipModel.ts');
    const { SYNTH_CLASSES } = await import('../synth/spec.ts');
    await initRuntime({ backend: 'auto' });
    const model = createClipwiseModel({
      name: 'clipwise-bench-untrained',
      classes: SYNTH_CLASSES,
      seed: 1,
      heads: ['gcf'],
      backbone: opts.backbone ?? DEFAULT_BENCH_BACKBONE,
      head: { clips: opts.clips ?? 10, fusionDim: 128 },
    });
    await saveClipwiseModel(model, dir);
    model.dispose();
  }
  return { dir, generated: true };
}
