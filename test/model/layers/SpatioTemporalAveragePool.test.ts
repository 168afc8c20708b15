import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initRuntime } from '../../../src/model/runtime.ts';
import { SpatioTemporalAveragePool } from '../../../src/model/layers/SpatioTemporalAveragePool.ts';
import { ConfigError } from '../../../src/errors.ts';

before(async () => {
  await initRuntime({ backend: 'wasm' });
});

// Two clips of T = 2 frames, 2×2 positions, D = 2 channels; clip 1's channel 0 has one bright spot.
const T = 2;
function frames(): tf.Tensor4D {
  const v = new Float32Array(4 * 2 * 2 * 2);
  for (let f = 0; f < 4; f++) for (let p = 0; p < 4; p++) {
    v[(f * 4 + p) * 2] = f < 2 ? 1 : p === 3 && f === 2 ? 9 : 1; // channel 0
    v[(f * 4 + p) * 2 + 1] = p + f; // channel 1
  }
  return tf.tensor4d(v, [4, 2, 2, 2]);
}

test('mean pooling averages each clip over T·H·W; max pooling averages each frame\'s spatial maximum over T', () => {
  const x = frames();
  const mean = new SpatioTemporalAveragePool({ numFrames: T }).apply(x) as tf.Tensor;
  const max = new SpatioTemporalAveragePool({ numFrames: T, spatial: 'max' }).apply(x) as tf.Tensor;
  // Clip 1, channel 0: the spot of 9 is 1 of 8 positions → mean 2, max-pool (9 + 1) / 2 = 5.
  // Channel 1 = p + f: clip 0 mean over f∈{0,1}, p∈0..3 = 2; frame maxima 3, 4 → 3.5. Clip 1: 4 and 5.5.
  assert.deepEqual(Array.from(mean.dataSync()), [1, 2, 2, 4]);
  assert.deepEqual(Array.from(max.dataSync()), [1, 3.5, 5, 5.5]);
  tf.dispose([x, mean, max]);
});

test('the pooling mode survives a config round trip; configs saved before it existed load as mean; a bad mode is a ConfigError', () => {
  const pool = new SpatioTemporalAveragePool({ numFrames: T, spatial: 'max', name: 'p' });
  const cfg = pool.getConfig();
  assert.equal(cfg['spatial'], 'max');
  const copy = new SpatioTemporalAveragePool(cfg as unknown as { numFrames: number; spatial: 'max' });
  assert.equal(copy.spatial, 'max');
  const plain = new SpatioTemporalAveragePool({ numFrames: T });
  assert.equal('spatial' in plain.getConfig(), false, 'the default leaves the saved JSON as before');
  // A model JSON from before the option: no `spatial` key.
  const input = tfl.input({ shape: [2, 2, 2] });
  const model = tfl.model({ inputs: input, outputs: plain.apply(input) as tfl.SymbolicTensor });
  const json = JSON.parse(JSON.stringify(model.toJSON(undefined, false))) as tf.serialization.ConfigDict;
  const loaded = tfl.models.modelFromJSON({ modelTopology: json } as never);
  assert.throws(() => new SpatioTemporalAveragePool({ numFrames: T, spatial: 'median' as never }), ConfigError);
  return loaded.then((m) => {
    const layer = m.layers.find((l) => l instanceof SpatioTemporalAveragePool) as SpatioTemporalAveragePool | undefined;
    assert.equal(layer?.spatial, 'mean');
    m.dispose();
    model.dispose();
  });
});
