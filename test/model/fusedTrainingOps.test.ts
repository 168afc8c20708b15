import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { initRuntime } from '../../src/model/runtime.ts';
import { registerWasmTrainingKernels } from '../../src/model/wasmTrainingKernels.ts';
import { batchNormTraining, clipByValueGrad, fusedTrainingAvailable } from '../../src/model/fusedTrainingOps.ts';
import { FusedBatchNormalization } from '../../src/model/layers/FusedBatchNormalization.ts';
import { ShapeError } from '../../src/errors.ts';

before(async () => {
  await initRuntime({ backend: 'wasm' });
  registerWasmTrainingKernels();
});

/** Deterministic values: tests must not depend on Math.random. */
function values(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = offset + scale * (s / 2 ** 31 - 1);
  }
  return out;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs((x[i] as number) - (y[i] as number)));
  return d;
}

/** tfjs-layers' own training BatchNorm arithmetic: moments, then batchNorm. */
function reference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const m = tf.moments(x, [...Array(x.rank - 1).keys()]);
  return { y: tf.batchNorm(x, m.mean, m.variance, beta, gamma, eps), mean: m.mean, variance: m.variance };
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`batchNormTraining on ${backend}: outputs, moments and gradients equal tfjs moments + batchNorm`, async () => {
    await tf.setBackend(backend);
    try {
      assert.equal(fusedTrainingAvailable(), true);
      tf.tidy(() => {
        const shape = [6, 5, 7, 12];
        const n = shape.reduce((a, b) => a * b, 1);
        // Offset and spread differ by channel in real activations; a large mean tests the variance's cancellation.
        const x = tf.tensor(values(n, 1, 3, 20), shape);
        const gamma = tf.tensor1d(values(12, 2, 0.5, 1));
        const beta = tf.tensor1d(values(12, 3));
        const w = tf.tensor(values(n, 4), shape);
        const fused = batchNormTraining(x, gamma, beta, 1e-3);
        const ref = reference(x, gamma, beta, 1e-3);
        assert.ok(maxAbsDiff(fused.y, ref.y) < 2e-5, `y differs by ${maxAbsDiff(fused.y, ref.y)}`);
        assert.ok(maxAbsDiff(fused.mean, ref.mean) < 2e-5);
        assert.ok(maxAbsDiff(fused.variance, ref.variance) < 1e-4);
        // A loss that weights every output differently, so each gradient term matters.
        const lossF = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(tf.mul(batchNormTraining(xx, g, b, 1e-3).y, w));
        const lossR = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(tf.mul(reference(xx, g, b, 1e-3).y, w));
        const gf = tf.grads(lossF)([x, gamma, beta]);
        const gr = tf.grads(lossR)([x, gamma, beta]);
        for (let i = 0; i < 3; i++) {
          const scale = tf.max(tf.abs(gr[i] as tf.Tensor)).dataSync()[0] as number;
          const d = maxAbsDiff(gf[i] as tf.Tensor, gr[i] as tf.Tensor);
          assert.ok(d <= 1e-4 * Math.max(1, scale), `gradient ${['x', 'gamma', 'beta'][i]}: max diff ${d} (scale ${scale})`);
        }
      });
    } finally {
      await tf.setBackend('wasm');
    }
  });
}

test('batchNormTraining refuses a gamma of the wrong size with a ShapeError', () => {
  tf.tidy(() => {
    assert.throws(() => batchNormTraining(tf.zeros([2, 3, 4]), tf.ones([3]), tf.zeros([4]), 1e-3), ShapeError);
    assert.throws(() => batchNormTraining(tf.zeros([4]), tf.ones([4]), tf.zeros([4]), 1e-3), ShapeError);
  });
});

test('the fused ClipByValue gradient equals the tfjs formula, bounds included, and tf.grad uses it', () => {
  tf.tidy(() => {
    const x = tf.tensor1d([-1, 0, 0.5, 3, 6, 6.5, 2, -0.1]);
    const dy = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]);
    // tfjs-core's own gradient: dy where min ≤ x ≤ max.
    const expected = tf.where(tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, 6)), dy, tf.zerosLike(dy));
    assert.deepEqual(Array.from(clipByValueGrad(dy, x, 0, 6).dataSync()), Array.from(expected.dataSync()));
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(v, 0, 6), dy)))(x);
    assert.deepEqual(Array.from(g.dataSync()), [0, 2, 3, 4, 5, 0, 7, 0]);
  });
});

function twinLayers(): { fused: tfl.layers.Layer; plain: tfl.layers.Layer } {
  const args = { momentum: 0.9, epsilon: 1e-3 };
  const fused = new FusedBatchNormalization({ ...args, name: 'fused_bn' });
  const plain = tfl.layers.batchNormalization({ ...args, name: 'plain_bn' });
  fused.build([null, 4, 4, 8]);
  plain.build([null, 4, 4, 8]);
  const weights = [tf.tensor1d(values(8, 5, 0.3, 1)), tf.tensor1d(values(8, 6)), tf.tensor1d(values(8, 7)), tf.tensor1d(values(8, 8, 0.5, 1.5))];
  fused.setWeights(weights);
  plain.setWeights(weights);
  tf.dispose(weights);
  return { fused, plain };
}

test('FusedBatchNormalization: training and inference outputs and moving averages equal BatchNormalization', () => {
  const { fused, plain } = twinLayers();
  const x = tf.tensor(values(3 * 4 * 4 * 8, 9, 2, 1), [3, 4, 4, 8]);
  for (const training of [true, false]) {
    tf.tidy(() => {
      const a = fused.apply(x, { training }) as tf.Tensor;
      const b = plain.apply(x, { training }) as tf.Tensor;
      assert.ok(maxAbsDiff(a, b) < 2e-5, `training=${training}: outputs differ by ${maxAbsDiff(a, b)}`);
    });
  }
  const fw = fused.getWeights();
  const pw = plain.getWeights();
  // gamma, beta, moving mean, moving variance: the training call moved the last two alike.
  for (let i = 0; i < 4; i++) assert.ok(maxAbsDiff(fw[i] as tf.Tensor, pw[i] as tf.Tensor) < 1e-5, `weight ${i}`);
  assert.ok(maxAbsDiff(fw[2] as tf.Tensor, tf.tensor1d(values(8, 7))) > 1e-3, 'the moving mean was updated');
  x.dispose();
  // Layers applied to concrete tensors only own their variables.
  for (const w of [...fused.weights, ...plain.weights]) w.dispose();
});

test('FusedBatchNormalization saves as a plain BatchNormalization and a training step leaks no tensor', async () => {
  const input = tfl.input({ shape: [4, 4, 3] });
  const conv = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) });
  const bn = new FusedBatchNormalization({ name: 'bn' });
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(
    tfl.layers.flatten().apply(tfl.layers.reLU({ maxValue: 6 }).apply(bn.apply(conv.apply(input)))),
  ) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const json = model.toJSON(undefined, false) as { config: { layers: { class_name: string }[] } };
  assert.ok(json.config.layers.some((l) => l.class_name === 'BatchNormalization'));
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const x = tf.tensor(values(8 * 48, 10, 50, 100), [8, 4, 4, 3]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 0, 1, 0, 1], 'int32'), 2);
  const first = (await model.trainOnBatch(x, y)) as number;
  const before = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 30; i++) last = (await model.trainOnBatch(x, y)) as number;
  assert.equal(tf.memory().numTensors, before, 'tensors stay flat over training steps');
  assert.ok(last < first, `loss falls on a fixed batch (${first} → ${last})`);
  tf.dispose([x, y]);
  model.dispose();
});
