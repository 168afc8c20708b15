import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initRuntime } from '../../src/model/runtime.ts';
import { GateShiftFuse, GSF_WEIGHT_NAMES, gsfChannels } from '../../src/model/layers/GateShiftFuse.ts';
import { ConfigError, ShapeError } from '../../src/errors.ts';
import { gsf64, type Gsf64Dims, type Gsf64Params } from './reference/gsf64.ts';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normals(rand: () => number, count: number, std = 1, mean = 0): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}
function uniforms(rand: () => number, count: number, lo: number, hi: number): Float64Array {
  return Float64Array.from({ length: count }, () => lo + (hi - lo) * rand());
}

/** Random GSF weights, with non-trivial BN statistics, in both the reference's and the layer's form. */
function randomParams(rand: () => number, c: number, epsilon: number): Gsf64Params {
  const half = c / 2;
  return {
    c,
    // Scale keeps tanh mostly unsaturated so the gate values vary.
    gateKernel: normals(rand, 27 * half * 2, 0.6 / Math.sqrt(27 * half)),
    gateBias: normals(rand, 2, 0.2),
    fuseKernel: normals(rand, 3 * 3 * 2 * 2, 1.0),
    fuseBias: normals(rand, 2, 0.3),
    bnGamma: uniforms(rand, c, 0.5, 1.5),
    bnBeta: normals(rand, c, 0.3),
    bnMean: normals(rand, c, 0.5),
    bnVar: uniforms(rand, c, 0.3, 2.5),
    epsilon,
  };
}

function setLayerWeights(layer: GateShiftFuse, p: Gsf64Params): void {
  const c = p.c;
  const f32 = (a: ArrayLike<number>): Float32Array => Float32Array.from(a);
  const shapes: Record<(typeof GSF_WEIGHT_NAMES)[number], number[]> = {
    gate_kernel: [3, 3, 3, c / 2, 2],
    gate_bias: [2],
    fuse_kernel: [3, 3, 2, 2],
    fuse_bias: [2],
    bn_gamma: [c],
    bn_beta: [c],
    bn_moving_mean: [c],
    bn_moving_variance: [c],
  };
  const values: Record<(typeof GSF_WEIGHT_NAMES)[number], ArrayLike<number>> = {
    gate_kernel: p.gateKernel,
    gate_bias: p.gateBias,
    fuse_kernel: p.fuseKernel,
    fuse_bias: p.fuseBias,
    bn_gamma: p.bnGamma,
    bn_beta: p.bnBeta,
    bn_moving_mean: p.bnMean,
    bn_moving_variance: p.bnVar,
  };
  const tensors = GSF_WEIGHT_NAMES.map((name) => tf.tensor(f32(values[name]), shapes[name]));
  // The layer's own weight names must be in the documented order.
  assert.deepEqual(
    layer.weights.map((w) => w.originalName.split('/').pop()),
    [...GSF_WEIGHT_NAMES],
  );
  layer.setWeights(tensors);
  tf.dispose(tensors);
}

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): { err: number; scale: number } {
  assert.equal(actual.length, expected.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    err = Math.max(err, Math.abs((actual[i] as number) - (expected[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  return { err: err / scale, scale };
}

/** Runs the layer (inference mode) on x laid out [N*T, H, W, C]. */
function runLayer(layer: GateShiftFuse, x: Float64Array, d: Gsf64Dims, training = false): Float32Array {
  const xt = tf.tensor4d(Float32Array.from(x), [d.n * d.t, d.h, d.w, d.ch]);
  const y = layer.apply(xt, { training }) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  tf.dispose([xt, y]);
  return out;
}

const CASES: { name: string; d: Gsf64Dims; ratio: number; seed: number }[] = [
  // Non-square frames and an odd T catch H/W and time-axis mix-ups; ratio < 1 keeps pass-through channels.
  { name: 'ratio 0.5, pass-through channels', d: { n: 2, t: 5, h: 5, w: 3, ch: 24 }, ratio: 0.5, seed: 1 },
  { name: 'ratio 1, all channels gated', d: { n: 1, t: 4, h: 3, w: 4, ch: 16 }, ratio: 1, seed: 2 },
];

for (const backend of ['cpu', 'wasm'] as const) {
  for (const k of CASES) {
    test(`GSF forward equals the float64 reference (${backend}, ${k.name})`, async () => {
      await initRuntime({ backend });
      const rand = rng(k.seed);
      const c = gsfChannels(k.d.ch, k.ratio);
      const layer = new GateShiftFuse({ numFrames: k.d.t, channelRatio: k.ratio, epsilon: 1e-3 });
      const x = normals(rand, k.d.n * k.d.t * k.d.h * k.d.w * k.d.ch, 1.0, 0.2);
      runLayer(layer, x, k.d); // builds the weights
      assert.equal(layer.gsfChannels, c);
      const p = randomParams(rand, c, 1e-3);
      setLayerWeights(layer, p);

      const got = runLayer(layer, x, k.d);
      const want = gsf64(x, k.d, p);
      const { err } = relErr(got, want);
      assert.ok(err < 1e-5, `max-abs error / max-abs value = ${err}`);

      // The same reference with the two shift directions swapped must NOT match: the test
      // above is sensitive to the direction of each group's shift.
      const swapped = gsf64(x, k.d, p, { swapShifts: true });
      const wrong = relErr(got, swapped).err;
      assert.ok(wrong > 1e-2, `swapped-direction reference agrees too well (${wrong})`);
      layer.dispose();
    });
  }
}

test('GSF shifts group 1 towards the past and group 2 towards the future, zero-filling clip ends', async () => {
  await initRuntime({ backend: 'cpu' });
  const d: Gsf64Dims = { n: 2, t: 4, h: 2, w: 3, ch: 12 };
  const c = 8; // ratio 2/3 → 8 gated channels, groups 0..3 and 4..7, 4 pass-through
  const rand = rng(7);
  const x = normals(rand, d.n * d.t * d.h * d.w * d.ch);
  const layer = new GateShiftFuse({ numFrames: d.t, channelRatio: 2 / 3 });
  runLayer(layer, x, d);
  assert.equal(layer.gsfChannels, c);
  // Gate ≡ tanh(30) = 1 (y = x, r = 0) and fusion weight ≡ σ(30) = 1: output = shifted input.
  setLayerWeights(layer, {
    ...randomParams(rand, c, 1e-3),
    gateKernel: new Float64Array(27 * (c / 2) * 2),
    gateBias: [30, 30],
    fuseKernel: new Float64Array(36),
    fuseBias: [30, 30],
  });
  const out = runLayer(layer, x, d);
  const at = (a: ArrayLike<number>, n: number, t: number, h: number, w: number, k: number): number =>
    a[(((n * d.t + t) * d.h + h) * d.w + w) * d.ch + k] as number;
  for (let n = 0; n < d.n; n++)
    for (let t = 0; t < d.t; t++)
      for (let h = 0; h < d.h; h++)
        for (let w = 0; w < d.w; w++)
          for (let k = 0; k < d.ch; k++) {
            let want: number;
            if (k < c / 2) want = t + 1 < d.t ? at(x, n, t + 1, h, w, k) : 0; // y'1[t] = y1[t+1]
            else if (k < c) want = t > 0 ? at(x, n, t - 1, h, w, k) : 0; // y'2[t] = y2[t−1]
            else want = at(x, n, t, h, w, k);
            const got = at(out, n, t, h, w, k);
            assert.ok(Math.abs(got - want) < 1e-5, `n=${n} t=${t} h=${h} w=${w} k=${k}: ${got} vs ${want}`);
          }
  layer.dispose();
});

test('GSF in training mode normalises with batch statistics and updates the moving ones', async () => {
  await initRuntime({ backend: 'cpu' });
  const d: Gsf64Dims = { n: 2, t: 3, h: 3, w: 3, ch: 8 };
  const rand = rng(11);
  const x = normals(rand, d.n * d.t * d.h * d.w * d.ch, 2.0, 1.0);
  const layer = new GateShiftFuse({ numFrames: d.t, channelRatio: 1, momentum: 0.9 });
  runLayer(layer, x, d);
  const p = randomParams(rand, 8, 1e-3);
  setLayerWeights(layer, p);

  // Batch statistics (biased variance) of the gated channels, computed here in float64.
  const count = x.length / d.ch;
  const mean = new Float64Array(8);
  const variance = new Float64Array(8);
  for (let i = 0; i < x.length; i++) mean[i % d.ch] = (mean[i % d.ch] as number) + (x[i] as number) / count;
  for (let i = 0; i < x.length; i++) {
    const k = i % d.ch;
    variance[k] = (variance[k] as number) + ((x[i] as number) - (mean[k] as number)) ** 2 / count;
  }
  const got = runLayer(layer, x, d, true);
  const want = gsf64(x, d, { ...p, bnMean: mean, bnVar: variance });
  assert.ok(relErr(got, want).err < 1e-5, 'training output differs from reference with batch statistics');

  const [mm, mv] = layer.getWeights().slice(6) as [tf.Tensor, tf.Tensor];
  const mmv = mm.dataSync();
  const mvv = mv.dataSync();
  for (let k = 0; k < 8; k++) {
    assert.ok(Math.abs((mmv[k] as number) - (0.9 * (p.bnMean[k] as number) + 0.1 * (mean[k] as number))) < 1e-5);
    assert.ok(Math.abs((mvv[k] as number) - (0.9 * (p.bnVar[k] as number) + 0.1 * (variance[k] as number))) < 1e-4);
  }
  layer.dispose();
});

test('every GSF weight gets a non-zero gradient (cpu)', async () => {
  await initRuntime({ backend: 'cpu' });
  const layer = new GateShiftFuse({ numFrames: 4, channelRatio: 0.5 });
  const rand = rng(5);
  const xt = tf.tensor4d(Float32Array.from(normals(rand, 2 * 4 * 4 * 4 * 16)), [8, 4, 4, 16]);
  const probe = tf.tensor4d(Float32Array.from(normals(rand, 8 * 4 * 4 * 16)), [8, 4, 4, 16]);
  tf.dispose(layer.apply(xt) as tf.Tensor); // build
  for (const training of [true, false]) {
    const { grads, value } = tf.variableGrads(
      () => tf.sum(tf.mul(layer.apply(xt, { training }) as tf.Tensor, probe)) as tf.Scalar,
      layer.trainableWeights.map((w) => w.read() as tf.Variable),
    );
    assert.equal(Object.keys(grads).length, 6, 'six trainable weights');
    for (const w of layer.trainableWeights) {
      const g = grads[(w.read() as tf.Variable).name];
      assert.ok(g !== undefined, `no gradient for ${w.name}`);
      const norm = tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0] as number);
      assert.ok(norm > 0 && Number.isFinite(norm), `zero/non-finite gradient for ${w.name} (training=${training})`);
    }
    tf.dispose([value, ...Object.values(grads)]);
  }
  tf.dispose([xt, probe]);
  layer.dispose();
});

test('GSF config round trip and save/load through tfjs IO keep outputs', async () => {
  await initRuntime({ backend: 'cpu' });
  const layer = new GateShiftFuse({ numFrames: 3, channelRatio: 0.5, epsilon: 1e-4, momentum: 0.95, name: 'gsf_rt' });
  const config = layer.getConfig();
  assert.equal(config['numFrames'], 3);
  assert.equal(config['channelRatio'], 0.5);
  assert.equal(config['epsilon'], 1e-4);
  assert.equal(config['momentum'], 0.95);
  assert.equal(config['name'], 'gsf_rt');
  const again = GateShiftFuse.fromConfig(GateShiftFuse, config) as GateShiftFuse;
  assert.deepEqual(again.getConfig(), config);

  const input = tfl.input({ shape: [4, 4, 8] });
  const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
  const rand = rng(3);
  setLayerWeights(layer, randomParams(rand, 4, 1e-4));
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  assert.ok(saved !== undefined);
  assert.match(JSON.stringify(saved.modelTopology), /GateShiftFuse/);
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved));
  const x = tf.tensor4d(Float32Array.from(normals(rand, 6 * 4 * 4 * 8)), [6, 4, 4, 8]);
  const a = model.predict(x) as tf.Tensor;
  const b = loaded.predict(x) as tf.Tensor;
  assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
  const gsf = loaded.layers.find((l) => l instanceof GateShiftFuse);
  assert.ok(gsf instanceof GateShiftFuse && gsf.numFrames === 3 && gsf.channelRatio === 0.5);
  tf.dispose([x, a, b]);
  model.dispose();
  loaded.dispose();
});

test('GSF forward passes leak no tensors', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await initRuntime({ backend });
    const layer = new GateShiftFuse({ numFrames: 4 });
    const x = tf.randomNormal([8, 5, 5, 32]);
    tf.dispose(layer.apply(x) as tf.Tensor); // build: creates the weights
    const before = tf.memory().numTensors;
    for (let i = 0; i < 25; i++) {
      tf.dispose(layer.apply(x) as tf.Tensor);
      tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
    }
    assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
    x.dispose();
    layer.dispose();
  }
});

test('GSF rejects wrong shapes and configs with typed errors', async () => {
  await initRuntime({ backend: 'cpu' });
  const layer = new GateShiftFuse({ numFrames: 4 });
  const x5 = tf.zeros([1, 4, 3, 3, 8]);
  assert.throws(() => layer.apply(x5), (e: unknown) => e instanceof ShapeError && /rank-4.*got rank 5/.test(e.message));
  const x = tf.zeros([8, 3, 3, 8]);
  tf.dispose(layer.apply(x) as tf.Tensor);
  const odd = tf.zeros([6, 3, 3, 8]);
  assert.throws(() => layer.apply(odd), (e: unknown) => e instanceof ShapeError && /not a multiple of numFrames 4/.test(e.message));
  const wide = tf.zeros([8, 3, 3, 12]);
  assert.throws(() => layer.apply(wide), (e: unknown) => e instanceof ShapeError && /built for 8 channels, got 12/.test(e.message));
  assert.throws(() => new GateShiftFuse({ numFrames: 0 }), ConfigError);
  assert.throws(() => new GateShiftFuse({ numFrames: 8, channelRatio: 1.5 }), ConfigError);
  assert.throws(() => gsfChannels(2, 0.25), ShapeError);
  assert.equal(gsfChannels(384, 0.25), 96);
  assert.equal(gsfChannels(30, 0.5), 12);
  assert.equal(gsfChannels(8, 0.1), 4);
  tf.dispose([x5, x, odd, wide]);
  layer.dispose();
});
