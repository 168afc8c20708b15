import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createBackbone, embedClips, foldBatchNorm, preprocessClips, type BackboneConfig } from '../../src/model/backbone.ts';
import { ShapeError } from '../../src/errors.ts';
import { compileInferenceBackbone } from '../../src/model/fastBackbone.ts';
import { initRuntime } from '../../src/model/runtime.ts';

/** Every weight of the model perturbed, seeded: BN statistics, GSF gates and fusion all non-trivial. */
function randomize(model: tfl.LayersModel, seed: number): void {
  let s = seed;
  const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length === 0) continue;
    const next = ws.map((w, i) => {
      const name = layer.weights[i]?.originalName ?? '';
      const v = (w.dataSync() as Float32Array).map((x) => {
        if (/variance|gamma/.test(name)) return 0.5 + rnd();
        if (/mean|beta|bias/.test(name)) return rnd() - 0.5;
        // Kernels: keep the initialiser's scale, jittered, with some sign flips.
        return x * (0.6 + 0.8 * rnd()) * (rnd() < 0.1 ? -1 : 1);
      });
      return tf.tensor(v, w.shape);
    });
    layer.setWeights(next);
    tf.dispose(next);
  }
}

function clipsFor(cfg: Required<Pick<BackboneConfig, 'frames' | 'size'>>, n: number, seed: number): Uint8Array[] {
  const len = cfg.frames * cfg.size * cfg.size * 3;
  return Array.from({ length: n }, (_, i) => Uint8Array.from({ length: len }, (_, j) => (j * 31 + i * 7 + seed * 13 + (j >> 7) * 5) & 255));
}

// GSF in every block (block 0 has no expansion conv) and GSF in the last two only; odd size, so
// the stride-2 'same' padding is asymmetric; T = 4 exercises the time shifts at both clip ends.
const CASES: readonly { name: string; cfg: BackboneConfig & { frames: number; size: number } }[] = [
  { name: 'GSF in every block', cfg: { frames: 4, size: 33, widthMultiplier: 0.5, dim: 16, gsfBlocks: 9 } },
  { name: 'GSF in the last two blocks', cfg: { frames: 3, size: 32, widthMultiplier: 0.75, dim: 24, gsfBlocks: 2, channelRatio: 0.5 } },
  { name: 'temporal-difference stem', cfg: { frames: 4, size: 33, widthMultiplier: 0.5, dim: 16, gsfBlocks: 2, temporalDifference: true } },
  { name: 'spatial max pooling', cfg: { frames: 4, size: 33, widthMultiplier: 0.5, dim: 16, gsfBlocks: 2, spatialPooling: 'max' } },
  { name: 'motion-weighted pooling', cfg: { frames: 4, size: 33, widthMultiplier: 0.5, dim: 16, gsfBlocks: 2, temporalDifference: true, spatialPooling: 'motion' } },
];

for (const backend of ['wasm', 'cpu'] as const) {
  for (const { name, cfg } of CASES) {
    test(`${backend}: the compiled pass gives the layers model's descriptors (${name})`, async () => {
      await initRuntime({ backend });
      const model = createBackbone(cfg);
      randomize(model, 7);
      const folded = await foldBatchNorm(model);
      const fast = compileInferenceBackbone(model, cfg);
      assert.ok(fast, 'the default architecture compiles');
      assert.equal(fast.dim, cfg.dim);
      const x = preprocessClips(clipsFor(cfg, 3, 1), cfg.frames, cfg.size, cfg.size);
      try {
        const want = embedClips(folded, x);
        const before = tf.memory().numTensors;
        const got = fast.apply(x);
        assert.equal(tf.memory().numTensors, before + 1, 'only the result tensor is left');
        assert.deepEqual(got.shape, [3, cfg.dim]);
        const a = want.dataSync();
        const b = got.dataSync();
        let scale = 0;
        for (const v of a) scale = Math.max(scale, Math.abs(v));
        assert.ok(scale > 0.1, 'descriptors are not degenerate');
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= 1e-4 * scale, `descriptor ${i}: ${a[i]} vs ${b[i]}`);
        tf.dispose([want, got]);
      } finally {
        x.dispose();
        const held = tf.memory().numTensors;
        fast.dispose();
        assert.ok(tf.memory().numTensors < held, 'dispose frees the compiled weights');
        folded.dispose();
        model.dispose();
      }
    });
  }
}

test('models that are not the default backbone are not compiled; a wrong input shape is a ShapeError', async () => {
  await initRuntime({ backend: 'wasm' });
  const other = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
  assert.equal(compileInferenceBackbone(other, {}), undefined);
  other.dispose();
  const cfg = { frames: 2, size: 16, widthMultiplier: 0.25, dim: 8, gsfBlocks: 1 };
  const model = createBackbone(cfg);
  assert.equal(compileInferenceBackbone(model, { ...cfg, frames: 4 }), undefined, 'config does not match the model');
  const fast = compileInferenceBackbone(model, cfg);
  assert.ok(fast);
  const wrong = tf.zeros([1, 3, 16, 16, 3]);
  assert.throws(() => fast.apply(wrong), ShapeError);
  wrong.dispose();
  fast.dispose();
  model.dispose();
});
