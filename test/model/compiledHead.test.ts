import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initRuntime } from '../../src/model/runtime.ts';
import { compileHead } from '../../src/model/compiledHead.ts';
import { createHead, HEAD_KINDS, predictWindows, validateWindowArrays, type HeadConfig, type HeadKind } from '../../src/model/heads.ts';
import { createClipwiseModel, createWindowHead, saveClipwiseModel } from '../../src/model/clipModel.ts';
import { NonFiniteInputError, ShapeError } from '../../src/errors.ts';

const COMPILED: readonly HeadKind[] = ['gcf', 'attentionOnly', 'fusionOnly'];

function windows(n: number, clips: number, dim: number, seed: number): tf.Tensor3D {
  return tf.randomNormal([n, clips, dim], 0, 1, 'float32', seed) as tf.Tensor3D;
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

test('the compiled gated and fusion heads give what predict gives (both fusion normalizations, 1 and 2 fusion layers)', async () => {
  await initRuntime({ backend: 'wasm' });
  const configs: HeadConfig[] = [
    { clips: 10, inputDim: 32, fusionDim: 16, numClasses: 5, dropout: 0.2, seed: 3 },
    { clips: 6, inputDim: 24, fusionDim: 8, fusionLayers: 2, normalization: 'mean', numClasses: 4, seed: 9 },
  ];
  for (const cfg of configs) {
    for (const kind of COMPILED) {
      const model = createHead(kind, cfg);
      const fast = compileHead(model, kind);
      assert.ok(fast, `${kind} compiles`);
      const x = windows(3, cfg.clips ?? 10, cfg.inputDim, 7);
      const ref = predictWindows(model, x);
      const got = fast.apply(x);
      assert.deepEqual(got.probs.shape, ref.probs.shape);
      assert.deepEqual(got.weights.shape, ref.weights.shape);
      assert.ok(maxDiff(got.probs, ref.probs) < 1e-6, `${kind} probs`);
      assert.ok(maxDiff(got.weights, ref.weights) < 1e-6, `${kind} clip weights`);
      // Not a constant: different windows give different outputs.
      const other = fast.apply(windows(3, cfg.clips ?? 10, cfg.inputDim, 8));
      assert.ok(maxDiff(other.probs, got.probs) > 1e-4, `${kind} depends on its input`);
      tf.dispose([x, ref.probs, ref.weights, got.probs, got.weights, other.probs, other.weights]);
      fast.dispose();
      model.dispose();
    }
  }
});

test('the other heads are not compiled (they fall back to predict)', async () => {
  await initRuntime({ backend: 'wasm' });
  for (const kind of HEAD_KINDS.filter((k) => !COMPILED.includes(k))) {
    const model = createHead(kind, { clips: 5, inputDim: 8, numClasses: 3, seed: 1 });
    assert.equal(compileHead(model, kind), undefined, kind);
    model.dispose();
  }
  // A head compiled as the wrong kind is refused rather than run with the wrong graph.
  const gcf = createHead('gcf', { clips: 5, inputDim: 8, numClasses: 3, seed: 1 });
  assert.equal(compileHead(gcf, 'attentionOnly'), undefined);
  assert.equal(compileHead(gcf, 'fusionOnly'), undefined);
  gcf.dispose();
});

test('a compiled head keeps its own weights and leaks no tensor over many calls', async () => {
  await initRuntime({ backend: 'wasm' });
  const model = createHead('gcf', { clips: 10, inputDim: 16, numClasses: 3, seed: 2 });
  const x = windows(2, 10, 16, 1);
  const before = tf.memory().numTensors;
  const fast = compileHead(model, 'gcf');
  assert.ok(fast);
  const built = tf.memory().numTensors;
  for (let i = 0; i < 100; i++) {
    const { probs, weights } = fast.apply(x);
    tf.dispose([probs, weights]);
  }
  assert.equal(tf.memory().numTensors, built);
  fast.dispose();
  assert.equal(tf.memory().numTensors, before);
  // Disposing the compiled pass must not free the model's variables.
  const ref = predictWindows(model, x);
  assert.equal(ref.probs.shape[0], 2);
  tf.dispose([ref.probs, ref.weights, x]);
  model.dispose();
});

test('windows checked in JavaScript: wrong length is a ShapeError, NaN or Infinity a NonFiniteInputError naming the window', () => {
  const shape = { clips: 4, inputDim: 3 };
  const ok = new Float32Array(12).fill(0.5);
  validateWindowArrays([ok, ok], shape);
  assert.throws(() => validateWindowArrays([], shape), ShapeError);
  assert.throws(
    () => validateWindowArrays([ok, new Float32Array(11)], shape),
    (err: unknown) => err instanceof ShapeError && /window 1 has 11 values, expected .* 4 × 3 = 12/.test(err.message),
  );
  const nan = ok.slice();
  nan[7] = Number.NaN;
  const inf = ok.slice();
  inf[0] = Number.NEGATIVE_INFINITY;
  assert.throws(
    () => validateWindowArrays([ok, nan, ok, inf], shape),
    (err: unknown) => err instanceof NonFiniteInputError && /batch index 1, 3 \(2 of 4\)/.test(err.message),
  );
  // Large finite values are not mistaken for overflow.
  validateWindowArrays([new Float32Array(12).fill(3e38)], shape);
});

test('createWindowHead serves the compiled head: same results as predict, bad windows rejected before upload', async () => {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-chead-'));
  try {
    const model = createClipwiseModel({
      classes: ['background', 'a', 'b'],
      backbone: { frames: 4, size: 32, widthMultiplier: 0.25, dim: 16, gsfBlocks: 1 },
      head: { clips: 5, fusionDim: 8 },
      heads: ['gcf'],
      seed: 4,
    });
    await saveClipwiseModel(model, dir);
    const layers = model.heads.get('gcf');
    assert.ok(layers);
    const x = windows(2, 5, 16, 3);
    const ref = predictWindows(layers, x);
    const refProbs = ref.probs.dataSync();
    const refWeights = ref.weights.dataSync();
    const flat = x.dataSync() as Float32Array;
    tf.dispose([ref.probs, ref.weights, x]);
    model.dispose();

    const head = await createWindowHead(dir);
    const got = await head.run([flat.slice(0, 80), flat.slice(80, 160)]);
    got.forEach((r, i) => {
      r.probs.forEach((p, k) => assert.ok(Math.abs(p - (refProbs[i * 3 + k] as number)) < 1e-6));
      r.weights.forEach((w, c) => assert.ok(Math.abs(w - (refWeights[i * 5 + c] as number)) < 1e-6));
    });
    const before = tf.memory().numTensors;
    const bad = flat.slice(0, 80);
    bad[40] = Number.NaN;
    await assert.rejects(head.run([flat.slice(0, 80), bad]), NonFiniteInputError);
    await assert.rejects(head.run([flat.slice(0, 79)]), ShapeError);
    assert.equal(tf.memory().numTensors, before, 'nothing uploaded for rejected windows');
    assert.deepEqual(await head.run([]), []);
    head.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
