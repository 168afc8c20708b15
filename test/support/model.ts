/**
 * A small untrained clipwise model on disk for topology tests: same code path as the shipped
 * model, but 4 frames of 32×32 per clip so thousands of clips run in seconds.
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
 * @param opts.sharpen multiply the classifier weights so an untrained head's probabilities
 *   spread away from uniform and depend strongly on the input (tests that need events).
 */
export async function makeTestModel(opts: { clips?: number; heads?: HeadKind[]; fps?: number; seed?: number; sharpen?: number } = {}): Promise<string> {
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
