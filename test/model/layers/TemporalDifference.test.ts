import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../../src/errors.ts';
import { initRuntime } from '../../../src/model/runtime.ts';
import { frameDifferences, TemporalDifference } from '../../../src/model/layers/TemporalDifference.ts';

/** Seeded values so a failure reproduces. */
function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 4 - 2);
}

/** Reference in plain JS: out[n, t, p, 0..C) = x, out[n, t, p, C..2C) = x[t] − x[t−1] (0 at t = 0). */
function reference(x: Float32Array, N: number, T: number, P: number, C: number): Float32Array {
  const out = new Float32Array(N * T * P * 2 * C);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let p = 0; p < P; p++) {
        for (let c = 0; c < C; c++) {
          const at = ((n * T + t) * P + p) * C + c;
          const cur = x[at] as number;
          const prev = t === 0 ? cur : (x[((n * T + t - 1) * P + p) * C + c] as number);
          const o = ((n * T + t) * P + p) * 2 * C;
          out[o + c] = cur;
          out[o + C + c] = cur - prev;
        }
      }
    }
  }
  return out;
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`${backend}: output = concat(x_t, x_t − x_{t−1}) per clip, zero difference at each clip's first frame`, async () => {
    await initRuntime({ backend });
    const [N, T, H, W, C] = [3, 4, 5, 6, 3];
    const data = values(N * T * H * W * C, 11);
    const x = tf.tensor4d(data, [N * T, H, W, C]);
    const layer = new TemporalDifference({ numFrames: T });
    const before = tf.memory().numTensors;
    const y = layer.apply(x) as tf.Tensor;
    assert.equal(tf.memory().numTensors, before + 1, 'only the output is left');
    assert.deepEqual(y.shape, [N * T, H, W, 2 * C]);
    const got = y.dataSync();
    const want = reference(data, N, T, H * W, C);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs((got[i] as number) - (want[i] as number)) < 1e-6, `value ${i}: ${got[i]} vs ${want[i]}`);
    // Clips do not leak into each other: the first frame of clip 1 has an exactly zero difference
    // although frame 3 of clip 0 differs from it.
    const frame = H * W * 2 * C;
    for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) assert.equal(got[T * frame + p * 2 * C + C + c], 0);
    tf.dispose([x, y]);
  });
}

test('frameDifferences: same differences as the layer, T = 1 gives zeros, a batch not divisible by T is a ShapeError', async () => {
  await initRuntime({ backend: 'cpu' });
  const data = values(2 * 3 * 2 * 2 * 2, 5);
  const x = tf.tensor4d(data, [6, 2, 2, 2]);
  const d = frameDifferences(x, 3);
  const want = reference(data, 2, 3, 4, 2);
  const got = d.dataSync();
  for (let i = 0; i < got.length; i++) {
    const frame = Math.floor(i / 8);
    const rest = i % 8;
    const w = want[frame * 16 + Math.floor(rest / 2) * 4 + 2 + (rest % 2)] as number;
    assert.ok(Math.abs((got[i] as number) - w) < 1e-6);
  }
  const z = frameDifferences(x, 1);
  assert.ok(z.dataSync().every((v) => v === 0));
  assert.throws(() => frameDifferences(x, 4), (e: unknown) => e instanceof ShapeError && /6 is not a multiple of numFrames 4/.test(e.message));
  tf.dispose([x, d, z]);
});

test('config round trip: getConfig → fromConfig rebuilds the layer; bad numFrames and ranks are typed errors', async () => {
  await initRuntime({ backend: 'cpu' });
  const layer = new TemporalDifference({ numFrames: 8, name: 'tdiff' });
  const config = layer.getConfig();
  assert.equal(config['numFrames'], 8);
  assert.equal(config['name'], 'tdiff');
  const copy = tf.serialization.SerializationMap.getMap().classNameMap['TemporalDifference'];
  assert.ok(copy, 'registered for deserialisation');
  const rebuilt = tfl.layers.Layer.fromConfig(TemporalDifference, config) as TemporalDifference;
  assert.equal(rebuilt.numFrames, 8);
  assert.deepEqual(rebuilt.computeOutputShape([null, 112, 112, 3]), [null, 112, 112, 6]);
  assert.throws(() => new TemporalDifference({ numFrames: 0 }), ConfigError);
  assert.throws(() => layer.computeOutputShape([null, 8, 112, 112, 3]), ShapeError);
  // Inside a functional model it survives a JSON round trip (what saved backbones do).
  const input = tfl.input({ shape: [4, 4, 3] });
  const out = new TemporalDifference({ numFrames: 2 }).apply(input) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const json = model.toJSON(null, false) as tf.serialization.ConfigDict;
  const again = await tfl.models.modelFromJSON({ modelTopology: json });
  const x = tf.tensor4d(values(2 * 4 * 4 * 3, 3), [2, 4, 4, 3]);
  const a = model.predict(x) as tf.Tensor;
  const b = again.predict(x) as tf.Tensor;
  assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
  tf.dispose([x, a, b]);
  model.dispose();
  again.dispose();
});
