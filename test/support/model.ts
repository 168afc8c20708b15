/**
 * A small untrained clipwise model on disk for topology tests: same code path as the shipped
 * model, but 4 frames of 32×32 per clip so thousands of clips run in seconds.
 *
 * Why `backboneSeed`: `createClipwiseModel({ seed })` seeds the heads only; tfjs-layers draws
 * the backbone's initial weights from an unseeded generator, so two test processes get two
 * different models, and what an untrained model detects (nothing, or one event that never
 * closes) changes from run to run. Tests that compare runs, or that calibrate thresholds on
 * the model's outputs, pass `backboneSeed` to get the same model every time.
 */
import { mkdtemp } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClipwiseModel, saveClipwiseModel } from '../../src/model/clipModel.ts';
import { initRuntime } from '../../src/model/runtime.ts';
import type { HeadKind } from '../../src/model/heads.ts';

export const TEST_CLASSES = ['background', 'fall', 'run', 'wave'] as const;

/**
 * Writes a fresh test model to a temp directory; the same options give the same weights.
 *
 * @example
 * const dir = await makeTestModel({ clips: 5 });
 * // config: model: { path: dir }
 * @param opts.clips window length C (default 5)
 * @param opts.heads heads to include (default gcf)
 * @param opts.fps manifest frame rate (default 5)
 * @param opts.seed seed of the heads' weights (default 11)
 * @param opts.backboneSeed redraw the backbone's weights from this seed (default: tfjs's
 *   unseeded initializers, a different backbone every process)
 * @param opts.sharpen multiply the classifier weights so an untrained head's probabilities
 *   spread away from uniform and depend strongly on the input (tests that need events).
 * @returns the model directory
 */
export async function makeTestModel(opts: { clips?: number; heads?: HeadKind[]; fps?: number; seed?: number; backboneSeed?: number; sharpen?: number } = {}): Promise<string> {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-test-model-'));
  const model = createClipwiseModel({
    name: 'test-model',
    classes: TEST_CLASSES,
    backbone: { frames: 4, size: 32, dim: 32, widthMultiplier: 0.5 },
    head: { clips: opts.clips ?? 5, fusionDim: 16 },
    heads: opts.heads ?? ['gcf'],
    fps: opts.fps ?? 5,
    seed: opts.seed ?? 11,
  });
  if (opts.backboneSeed !== undefined) reseed(model.backbone, opts.backboneSeed);
  if (opts.sharpen !== undefined) {
    const k = opts.sharpen;
    for (const head of model.heads.values()) {
      const layer = head.getLayer('classifier');
      const scaled = layer.getWeights().map((w) => tf.mul(w, k));
      layer.setWeights(scaled);
      tf.dispose(scaled);
    }
  }
  await saveClipwiseModel(model, dir);
  model.dispose();
  return dir;
}

/**
 * Redraws every randomly initialised weight of `layers` from a seeded normal with He scaling,
 * √(2 / fan-in), where fan-in is everything but the output axis (depthwise kernels, with one
 * output per channel, use the 3×3 window alone, as the backbone's own initializer does), so
 * activations keep their scale. Constant weights (batch-norm gamma/beta/statistics, zero
 * biases) are kept.
 */
function reseed(model: { readonly layers: readonly { readonly name: string; getWeights(): tf.Tensor[]; setWeights(w: tf.Tensor[]): void }[] }, seed: number): void {
  let n = 0;
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    const next = weights.map((w) =>
      tf.tidy(() => {
        n += 1;
        const constant = tf.max(w).dataSync()[0] === tf.min(w).dataSync()[0];
        if (constant || w.rank < 2) return w.clone();
        const shape = w.shape;
        const out = shape[shape.length - 1] ?? 1;
        const fanIn = layer.name.endsWith('_dw_conv') ? (shape[0] ?? 1) * (shape[1] ?? 1) : w.size / out;
        return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed + n);
      }),
    );
    layer.setWeights(next);
    tf.dispose(next);
  }
}
