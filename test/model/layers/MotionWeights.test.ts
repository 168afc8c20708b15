import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '../../../src/errors.ts';
import { backboneLayout, createBackbone, motionCellSize } from '../../../src/model/backbone.ts';
import { loadLayersModel, saveLayersModel } from '../../../src/model/io.ts';
import { MotionWeights, motionWeights } from '../../../src/model/layers/MotionWeights.ts';
import { poolClipFeatures, SpatioTemporalAveragePool } from '../../../src/model/layers/SpatioTemporalAveragePool.ts';
import { initRuntime } from '../../../src/model/runtime.ts';
import { registerWasmTrainingKernels } from '../../../src/model/wasmTrainingKernels.ts';
import { createClipClassifier } from '../../../src/train/trainBackbone.ts';

before(async () => {
  await initRuntime({ backend: 'wasm' });
  registerWasmTrainingKernels();
});

// Two clips of T = 3 frames, 4×4 pixels, 1 channel, cells of 2×2 (so 2×2 cells per frame).
// Clip 0: a still scene. Clip 1: pixel (3, 0) (cell [1, 0]) goes 0 → 8 at frame 1, stays 8.
function clips(): tf.Tensor4D {
  const v = new Float32Array(2 * 3 * 16).fill(5);
  for (let t = 0; t < 3; t++) v[(3 + t) * 16 + 3 * 4 + 0] = t === 0 ? 0 : 8;
  return tf.tensor4d(v, [6, 4, 4, 1]);
}

test('motion weights: a still clip pools uniformly; a moving clip weights the cell that moved, the first frame taking the second\'s motion', () => {
  const x = clips();
  const w = motionWeights(x, 3, 2, 0.5);
  assert.deepEqual(w.shape, [6, 2, 2, 1]);
  const v = Array.from(w.dataSync());
  const still = v.slice(0, 12);
  const moving = v.slice(12);
  for (const u of still) assert.ok(Math.abs(u - 1 / 12) < 1e-6, `still clip weight ${u}`);
  const sum = (a: number[]): number => a.reduce((s, u) => s + u, 0);
  assert.ok(Math.abs(sum(still) - 1) < 1e-5 && Math.abs(sum(moving) - 1) < 1e-5, 'each clip sums to 1');
  // Clip 1's motion: frame 1, cell [1, 0] = |8 − 0| / 4 pixels = 2; every other cell 0; frame 0
  // copies frame 1's map, frame 2 has none. Mean over 12 cells = 4/12; floor 0.5 lifts each by 1/6.
  const lift = 0.5 * (4 / 12);
  const total = 4 + 12 * lift;
  const at = (t: number, r: number, c: number): number => moving[t * 4 + r * 2 + c] as number;
  assert.ok(Math.abs(at(0, 1, 0) - (2 + lift) / total) < 1e-5, `frame 0 cell [1,0]: ${at(0, 1, 0)}`);
  assert.ok(Math.abs(at(1, 1, 0) - (2 + lift) / total) < 1e-5, `frame 1 cell [1,0]: ${at(1, 1, 0)}`);
  assert.ok(Math.abs(at(2, 1, 0) - lift / total) < 1e-5, 'frame 2 has no motion');
  assert.ok(Math.abs(at(1, 0, 1) - lift / total) < 1e-5, 'cells without motion keep the floor');
  // Pooled with these weights, a feature that is 1 only in the moving cell comes out as its weight sum.
  const feat = tf.tensor4d(Array.from({ length: 24 }, (_, i) => (i % 4 === 2 ? 1 : 0)), [6, 2, 2, 1]);
  const pooled = poolClipFeatures(feat, 3, 'motion', w).dataSync();
  assert.ok(Math.abs((pooled[0] as number) - 3 / 12) < 1e-5, `still clip: the plain mean, got ${pooled[0]}`);
  assert.ok(Math.abs((pooled[1] as number) - (4 + 3 * lift) / total) < 1e-5, `moving clip: ${pooled[1]}`);
  assert.throws(() => poolClipFeatures(feat, 3, 'motion'), ShapeError, 'motion pooling without weights');
  assert.throws(() => poolClipFeatures(feat, 3, 'motion', tf.ones([6, 1, 2, 1])), ShapeError, 'weights of the wrong shape');
  tf.dispose([x, w, feat]);
});

test('the layer keeps its config through a round trip; bad arguments are ConfigErrors, a wrong rank a ShapeError', () => {
  const layer = new MotionWeights({ numFrames: 3, cellSize: 2, floor: 0.25, name: 'm' });
  const copy = new MotionWeights(layer.getConfig() as unknown as { numFrames: number; cellSize: number; floor: number });
  assert.deepEqual([copy.numFrames, copy.cellSize, copy.floor], [3, 2, 0.25]);
  assert.equal(copy.trainable, false);
  assert.throws(() => new MotionWeights({ numFrames: 0, cellSize: 2 }), ConfigError);
  assert.throws(() => new MotionWeights({ numFrames: 3, cellSize: 1.5 }), ConfigError);
  assert.throws(() => new MotionWeights({ numFrames: 3, cellSize: 2, floor: -1 }), ConfigError);
  const x = tf.ones([3, 4, 4]);
  assert.throws(() => layer.apply(x), ShapeError);
  x.dispose();
  assert.throws(() => new SpatioTemporalAveragePool({ numFrames: 3, spatial: 'median' as never }), ConfigError);
});

test('a motion-pooling backbone: its cell size lines up with the last feature map, it saves and reloads, and it trains', async () => {
  const cfg = { frames: 4, size: 32, widthMultiplier: 0.25, dim: 8, gsfBlocks: 1, temporalDifference: true, spatialPooling: 'motion' as const };
  const layout = backboneLayout(cfg);
  assert.equal(Math.ceil(cfg.size / motionCellSize(layout)), layout.finalSize);
  const model = createBackbone(cfg);
  assert.ok(model.getLayer('bb_motion') instanceof MotionWeights);
  const x = tf.randomUniform([2, 4, 32, 32, 3], 0, 255, 'float32', 3);
  const dir = await mkdtemp(join(tmpdir(), 'clipwise-motion-'));
  try {
    await saveLayersModel(model, dir);
    const loaded = await loadLayersModel(dir);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(b), Array.from(a), 'the reloaded model gives the same descriptors');
    loaded.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // One training step on wasm: gradients reach the convolutions (none flow into the weights' input path).
  const clf = createClipClassifier(model, 3, 1);
  clf.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });
  const stem = model.getLayer('bb_stem_conv').getWeights()[0] as tf.Tensor;
  const before0 = stem.dataSync().slice();
  const y = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
  const loss = (await clf.trainOnBatch(x, y)) as number;
  assert.ok(Number.isFinite(loss), `loss ${loss}`);
  const after0 = (model.getLayer('bb_stem_conv').getWeights()[0] as tf.Tensor).dataSync();
  assert.ok(after0.some((v, i) => v !== before0[i]), 'the stem was updated');
  tf.dispose([x, y]);
  clf.dispose();
});
