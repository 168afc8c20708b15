import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initRuntime } from '../../src/model/runtime.ts';
import { gcfLoss } from '../../src/model/loss.ts';
import { createHead, HEAD_CLIP_WEIGHTS, HEAD_KINDS } from '../../src/model/heads.ts';
import { ConfigError, ShapeError } from '../../src/errors.ts';
import { seededRandom } from './reference/heads64.ts';

const N = 4;
const K = 5;
const C = 6;

function fixture(seed: number): { probs: number[][]; att: number[][]; labels: number[] } {
  const rng = seededRandom(seed);
  const probs = Array.from({ length: N }, () => {
    const e = Array.from({ length: K }, () => Math.exp(rng.normal()));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
  const att = Array.from({ length: N }, () => Array.from({ length: C }, () => 0.02 + 0.96 * rng.uniform()));
  const labels = Array.from({ length: N }, () => Math.floor(rng.uniform() * K));
  return { probs, att, labels };
}

test('the loss is batch-mean cross-entropy plus λ × batch-mean of Σ_i att_i (L1 summed over clips)', async () => {
  await initRuntime({ backend: 'cpu' });
  const { probs, att, labels } = fixture(1);
  const ce = -labels.reduce((s, y, n) => s + Math.log((probs[n] as number[])[y] as number), 0) / N;
  const l1 = att.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0) / N;
  const p = tf.tensor2d(probs);
  const a = tf.tensor2d(att);
  const idx = tf.tensor1d(labels, 'int32');
  const oneHot = tf.tensor2d(labels.map((y) => Array.from({ length: K }, (_, k) => (k === y ? 1 : 0))));
  for (const lambda of [0, 0.01, 0.5]) {
    for (const target of [idx, oneHot]) {
      const loss = gcfLoss(target, p, a, lambda);
      assert.deepEqual(loss.shape, []);
      const got = loss.dataSync()[0] as number;
      const want = ce + lambda * l1;
      assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, want), `λ=${lambda}: ${got} vs ${want}`);
      loss.dispose();
    }
  }
  const noAtt = gcfLoss(idx, p, undefined, 0.5);
  assert.ok(Math.abs((noAtt.dataSync()[0] as number) - ce) < 1e-5);
  tf.dispose([p, a, idx, oneHot, noAtt]);
});

test('d loss / d att = λ / N for every clip: the penalty is summed over C and averaged over the batch', async () => {
  await initRuntime({ backend: 'cpu' });
  const { probs, att, labels } = fixture(2);
  const p = tf.tensor2d(probs);
  const a = tf.tensor2d(att);
  const y = tf.tensor1d(labels, 'int32');
  const lambda = 0.3;
  const g = tf.grad((x: tf.Tensor) => gcfLoss(y, p, x, lambda))(a);
  for (const v of g.dataSync()) assert.ok(Math.abs(v - lambda / N) < 1e-7, `gradient ${v}`);
  tf.dispose([p, a, y, g]);
});

test('bad loss inputs are typed errors', async () => {
  await initRuntime({ backend: 'cpu' });
  const p = tf.fill([N, K], 1 / K);
  const a = tf.fill([N, C], 0.5);
  const y = tf.zeros([N], 'int32');
  assert.throws(() => gcfLoss(y, p, a, -1), ConfigError);
  assert.throws(() => gcfLoss(y, p, a, Number.NaN), ConfigError);
  const wrongLabels = tf.zeros([N + 1], 'int32');
  const wrongTargets = tf.zeros([N, K + 1]);
  const wrongAtt = tf.zeros([N - 1, C]);
  const flatProbs = tf.zeros([N * K]);
  assert.throws(() => gcfLoss(wrongLabels, p, a, 0.1), ShapeError);
  assert.throws(() => gcfLoss(wrongTargets, p, a, 0.1), ShapeError);
  assert.throws(() => gcfLoss(y, p, wrongAtt, 0.1), ShapeError);
  assert.throws(() => gcfLoss(y, flatProbs, a, 0.1), ShapeError);
  tf.dispose([p, a, y, wrongLabels, wrongTargets, wrongAtt, flatProbs]);
});

for (const backend of ['cpu', 'wasm'] as const) {
  test(`${backend}: every trainable weight of every head gets a non-zero gradient through the loss`, async () => {
    await initRuntime({ backend });
    const rng = seededRandom(3);
    const x = tf.tensor3d(
      Array.from({ length: N * C * 8 }, () => rng.normal()),
      [N, C, 8],
    );
    const y = tf.tensor1d([0, 1, 2, 1], 'int32');
    for (const kind of HEAD_KINDS) {
      const model = createHead(kind, { clips: C, inputDim: 8, fusionDim: 6, fusionLayers: 2, attentionHidden: 3, numClasses: 3, seed: 5 });
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      assert.ok(vars.length > 0);
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => {
        const [probs, weights] = model.apply(x, { training: true }) as tf.Tensor[];
        if (probs === undefined) throw new Error('no probs');
        // Only a gate has a meaningful L1 penalty; softmax weights always sum to 1.
        return gcfLoss(y, probs, HEAD_CLIP_WEIGHTS[kind] === 'gate' ? weights : undefined, 0.1);
      }, vars);
      assert.equal(Object.keys(grads).length, vars.length);
      for (const v of vars) {
        const g = grads[v.name];
        assert.ok(g !== undefined, `${kind}: no gradient for ${v.name}`);
        const norm = tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0] as number);
        assert.ok(norm > 1e-9 && Number.isFinite(norm), `${kind}: gradient of ${v.name} is ${norm}`);
      }
      tf.dispose([value, ...Object.values(grads)]);
      assert.equal(tf.memory().numTensors, before, `${kind}: the training step leaked tensors`);
      model.dispose();
    }
    tf.dispose([x, y]);
  });
}
