import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initRuntime } from '../../src/model/runtime.ts';
import {
  backboneLayout,
  createBackbone,
  DEFAULT_BACKBONE_CONFIG,
  embedClips,
  foldBatchNorm,
  preprocessClip,
  preprocessClips,
  type BackboneConfig,
} from '../../src/model/backbone.ts';
import { backboneComplexity, gsfComplexity } from '../../src/model/flops.ts';
import { GateShiftFuse } from '../../src/model/layers/GateShiftFuse.ts';
import { TemporalDifference } from '../../src/model/layers/TemporalDifference.ts';
import { loadLayersModel, saveLayersModel } from '../../src/model/io.ts';
import { ConfigError, ShapeError } from '../../src/errors.ts';

/** A small config so cpu-backend tests stay fast; still 9 blocks, GSF, residuals. */
const SMALL: BackboneConfig = { frames: 4, size: 32, widthMultiplier: 0.5, dim: 16, gsfBlocks: 2 };

/** Random, non-trivial statistics for every BatchNormalization (a fresh model has μ=0, σ²=1). */
function randomizeBatchNorm(model: tfl.LayersModel): void {
  for (const l of model.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const shape = (l.getWeights()[0] as tf.Tensor).shape;
    const w = [
      tf.randomUniform(shape, 0.5, 1.5),
      tf.randomNormal(shape, 0, 0.2),
      tf.randomNormal(shape, 0, 0.2),
      tf.randomUniform(shape, 0.5, 2),
    ];
    l.setWeights(w);
    tf.dispose(w);
  }
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => (tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number) / (tf.max(tf.abs(b)).dataSync()[0] as number));
}

test('default backbone maps raw clips [N, 8, 112, 112, 3] to descriptors [N, 256] on wasm', async () => {
  await initRuntime({ backend: 'wasm' });
  const model = createBackbone();
  assert.deepEqual(model.inputs[0]?.shape, [null, 8, 112, 112, 3]);
  assert.deepEqual(model.outputs[0]?.shape, [null, DEFAULT_BACKBONE_CONFIG.dim]);
  const x = tf.randomUniform([2, 8, 112, 112, 3], 0, 255);
  const v = embedClips(model, x);
  assert.deepEqual(v.shape, [2, 256]);
  const values = v.dataSync();
  assert.ok(values.every((n) => Number.isFinite(n) && n >= 0 && n <= 6), 'ReLU6 + mean keeps descriptors in [0, 6]');
  // Different clips give different descriptors (the model is not constant).
  assert.ok(maxRelDiff(tf.slice(v, [0, 0], [1, 256]), tf.slice(v, [1, 0], [1, 256])) > 1e-3);
  tf.dispose([x, v]);
  model.dispose();
});

test('GSF blocks sit after the depthwise conv of the last gsfBlocks blocks', async () => {
  await initRuntime({ backend: 'cpu' });
  for (const gsfBlocks of [0, 2, 4]) {
    const model = createBackbone({ ...SMALL, gsfBlocks });
    const gsf = model.layers.filter((l) => l instanceof GateShiftFuse) as GateShiftFuse[];
    assert.equal(gsf.length, gsfBlocks);
    const layout = backboneLayout({ ...SMALL, gsfBlocks });
    const expectedBlocks = layout.blocks.slice(layout.blocks.length - gsfBlocks).map((b) => b.index);
    assert.deepEqual(
      gsf.map((l) => l.name),
      expectedBlocks.map((i) => `bb_b${i}_gsf`),
    );
    for (const l of gsf) {
      assert.equal(l.numFrames, SMALL.frames);
      const inbound = l.inboundNodes[0]?.inboundLayers[0];
      assert.equal(inbound?.getClassName(), 'DepthwiseConv2D');
    }
    model.dispose();
  }
});

test('backboneComplexity counts exactly the parameters tfjs builds, and FLOPs match the built layers', async () => {
  await initRuntime({ backend: 'cpu' });
  const configs: BackboneConfig[] = [
    {},
    { widthMultiplier: 0.5, dim: 128 },
    { gsfBlocks: 0 },
    { gsfBlocks: 5, channelRatio: 0.5, frames: 4, size: 96 },
    { widthMultiplier: 1.4, size: 100 },
    { temporalDifference: true, widthMultiplier: 0.5 },
  ];
  for (const config of configs) {
    const model = createBackbone(config);
    const c = backboneComplexity(config);
    assert.equal(c.params, model.countParams(), JSON.stringify(config));
    const trainable = model.trainableWeights.reduce((s, w) => s + w.shape.reduce<number>((a, b) => a * (b ?? 0), 1), 0);
    assert.equal(c.trainableParams, trainable, JSON.stringify(config));

    // Independent FLOP count from the built model's kernels and output shapes.
    const T = model.inputs[0]?.shape[1] as number;
    let flops = 0;
    for (const l of model.layers) {
      const cls = l.getClassName();
      const out = l.outputShape as number[];
      if (cls === 'Conv2D' || cls === 'DepthwiseConv2D') {
        const kernel = l.getWeights()[0] as tf.Tensor;
        flops += 2 * kernel.size * (out[1] as number) * (out[2] as number) * T;
      } else if (l instanceof GateShiftFuse) {
        flops += gsfComplexity(l.gsfChannels, T, out[1] as number, out[2] as number).flopsPerClip;
      }
    }
    assert.ok(Math.abs(c.mflopsPerClip - flops / 1e6) < 1e-6, `${c.mflopsPerClip} vs ${flops / 1e6}`);
    model.dispose();
  }
  // The default stays small enough to commit and fast enough for wasm.
  const d = backboneComplexity();
  assert.ok(d.params > 100_000 && d.params < 600_000, `default params ${d.params}`);
  assert.ok(d.mflopsPerClip > 100 && d.mflopsPerClip < 1000, `default MFLOP ${d.mflopsPerClip}`);
  // GSF's own count is the paper's 27·c (+ fusion, biases, BN).
  assert.equal(gsfComplexity(96, 8, 7, 7).params, 27 * 96 + 36 + 4 + 4 * 96);
});

test('every trainable backbone weight gets a non-zero gradient (cpu)', async () => {
  await initRuntime({ backend: 'cpu' });
  const model = createBackbone(SMALL);
  const x = tf.randomUniform([2, 4, 32, 32, 3], 0, 255);
  const probe = tf.randomNormal([2, 16]);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, probe)) as tf.Scalar,
    vars,
  );
  assert.equal(Object.keys(grads).length, vars.length);
  const dead: string[] = [];
  for (const v of vars) {
    const g = grads[v.name];
    const m = g === undefined ? 0 : tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0] as number);
    if (!(m > 0 && Number.isFinite(m))) dead.push(v.name);
  }
  assert.deepEqual(dead, [], `weights without gradient: ${dead.join(', ')}`);
  tf.dispose([x, probe, value, ...Object.values(grads)]);
  model.dispose();
});

test('GSF makes the descriptor depend on frame order; without GSF it is order-invariant', async () => {
  await initRuntime({ backend: 'cpu' });
  const x = tf.randomUniform([1, 4, 32, 32, 3], 0, 255);
  const reversed = tf.reverse(x, 1);
  for (const gsfBlocks of [0, 2]) {
    const model = createBackbone({ ...SMALL, gsfBlocks });
    const a = embedClips(model, x);
    const b = embedClips(model, reversed);
    const diff = maxRelDiff(a, b);
    if (gsfBlocks === 0) assert.ok(diff < 1e-5, `per-frame CNN + mean should ignore order (${diff})`);
    else assert.ok(diff > 1e-3, `GSF backbone ignores frame order (${diff})`);
    tf.dispose([a, b]);
    model.dispose();
  }
  tf.dispose([x, reversed]);
});

test('raw RGB bytes go in unscaled; the model rescales to [-1, 1] inside', async () => {
  await initRuntime({ backend: 'cpu' });
  const [T, H, W] = [4, 32, 32];
  const bytes = Uint8Array.from({ length: T * H * W * 3 }, (_, i) => (i * 37) % 256);
  const x = preprocessClip(bytes, T, H, W);
  assert.deepEqual(x.shape, [1, T, H, W, 3]);
  assert.equal(x.dtype, 'float32');
  assert.deepEqual(Array.from(x.dataSync()), Array.from(bytes));
  const two = preprocessClips([bytes, bytes.map((v) => 255 - v)], T, H, W);
  assert.deepEqual(two.shape, [2, T, H, W, 3]);
  assert.equal(two.dataSync()[T * H * W * 3], 255 - (bytes[0] as number));

  const model = createBackbone(SMALL);
  const rescale = model.getLayer('bb_rescale');
  const scaled = rescale.apply(tf.tensor1d([0, 127.5, 255])) as tf.Tensor;
  const s = Array.from(scaled.dataSync());
  assert.ok(Math.abs((s[0] as number) + 1) < 1e-6 && Math.abs(s[1] as number) < 1e-6 && Math.abs((s[2] as number) - 1) < 1e-6);
  tf.dispose([x, two, scaled]);
  model.dispose();
});

test('wrong clip shapes and configs are typed errors with clear messages', async () => {
  await initRuntime({ backend: 'cpu' });
  const model = createBackbone(SMALL);
  const bad: [number[], RegExp][] = [
    [[4, 32, 32, 3], /clips \[N, 4, 32, 32, 3\].*got \[4, 32, 32, 3\]/],
    [[1, 8, 32, 32, 3], /got \[1, 8, 32, 32, 3\]/],
    [[1, 4, 64, 64, 3], /got \[1, 4, 64, 64, 3\]/],
    [[1, 4, 32, 32, 1], /got \[1, 4, 32, 32, 1\]/],
  ];
  for (const [shape, msg] of bad) {
    const x = tf.zeros(shape);
    assert.throws(() => embedClips(model, x), (e: unknown) => e instanceof ShapeError && msg.test(e.message));
    x.dispose();
  }
  assert.throws(
    () => preprocessClip(new Uint8Array(10), 4, 32, 32),
    (e: unknown) => e instanceof ShapeError && /10 bytes, expected T·H·W·3 = 4·32·32·3 = 12288/.test(e.message),
  );
  assert.throws(
    () => createBackbone({ frames: 0, gsfBlocks: 99 }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.map((i) => i.path).join(',') === 'frames,gsfBlocks' &&
      /frames must be an integer/.test(e.message),
  );
  assert.throws(() => createBackbone({ channelRatio: 0 }), ConfigError);
  model.dispose();
});

test('forward passes leak no tensors (wasm, default config)', async () => {
  await initRuntime({ backend: 'wasm' });
  const model = createBackbone();
  const x = tf.randomUniform([1, 8, 112, 112, 3], 0, 255);
  tf.dispose(embedClips(model, x));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 8; i++) tf.dispose(embedClips(model, x));
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});

test('save/load round trip through model.json + weights.bin keeps outputs', async () => {
  await initRuntime({ backend: 'cpu' });
  const dir = await mkdtemp(join(tmpdir(), 'clipwise-backbone-'));
  try {
    const model = createBackbone(SMALL);
    randomizeBatchNorm(model);
    await saveLayersModel(model, dir);
    const loaded = await loadLayersModel(dir);
    assert.equal(loaded.countParams(), model.countParams());
    const gsf = loaded.layers.filter((l) => l instanceof GateShiftFuse) as GateShiftFuse[];
    assert.equal(gsf.length, 2);
    assert.ok(gsf.every((l) => l.numFrames === 4 && l.channelRatio === 0.25));
    const x = tf.randomUniform([2, 4, 32, 32, 3], 0, 255);
    const a = embedClips(model, x);
    const b = embedClips(loaded, x);
    assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('foldBatchNorm gives the same descriptors with conv-BN pairs folded', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await initRuntime({ backend });
    const model = createBackbone(SMALL);
    randomizeBatchNorm(model);
    const fast = await foldBatchNorm(model);
    const bnBefore = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length;
    const bnAfter = fast.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    // Only the BNs after GSF modules remain (GSF is not linear, so they cannot fold).
    assert.deepEqual(
      bnAfter.map((l) => l.name),
      ['bb_b7_dw_bn', 'bb_b8_dw_bn'],
    );
    assert.ok(bnBefore > 20);
    const x = tf.randomUniform([2, 4, 32, 32, 3], 0, 255);
    const a = embedClips(model, x);
    const b = embedClips(fast, x);
    const diff = maxRelDiff(b, a);
    assert.ok(diff < 1e-4, `${backend}: folded model differs by ${diff}`);
    tf.dispose([x, a, b]);
    model.dispose();
    fast.dispose();
  }
});

test('temporalDifference: off by default (1.0.0 layers unchanged); on, the stem sees the frame and its difference', async () => {
  await initRuntime({ backend: 'cpu' });
  const plain = createBackbone(SMALL);
  assert.equal(backboneLayout(SMALL).stemInChannels, 3);
  assert.ok(!plain.layers.some((l) => l instanceof TemporalDifference), 'no difference layer unless asked for');
  assert.equal((plain.getLayer('bb_stem_conv').getWeights()[0] as tf.Tensor).shape[2], 3);
  assert.equal(backboneLayout({}).config.temporalDifference, false);

  const cfg: BackboneConfig = { ...SMALL, gsfBlocks: 0, temporalDifference: true };
  const model = createBackbone(cfg);
  assert.equal(backboneLayout(cfg).stemInChannels, 6);
  const diff = model.getLayer('bb_tdiff');
  assert.ok(diff instanceof TemporalDifference && diff.numFrames === SMALL.frames);
  assert.equal(diff.inboundNodes[0]?.inboundLayers[0]?.name, 'bb_rescale');
  assert.equal(model.getLayer('bb_stem_conv').inboundNodes[0]?.inboundLayers[0]?.name, 'bb_tdiff');
  const stem = model.getLayer('bb_stem_conv');
  const [kernel] = stem.getWeights() as [tf.Tensor4D];
  assert.deepEqual(kernel.shape.slice(0, 3), [3, 3, 6]);
  assert.throws(() => createBackbone({ temporalDifference: 'yes' as unknown as boolean }), ConfigError);

  // Without GSF the network is per-frame, so only the difference input can make it see order.
  const x = tf.randomUniform([1, 4, 32, 32, 3], 0, 255);
  const reversed = tf.reverse(x, 1);
  const a = embedClips(model, x);
  const b = embedClips(model, reversed);
  assert.ok(maxRelDiff(a, b) > 1e-3, 'the difference input makes the descriptor depend on frame order');
  // A static clip has zero differences: zeroing the difference half of the stem kernel changes
  // nothing for it, but changes a moving clip's descriptor.
  const still = tf.tile(tf.slice(x, [0, 0, 0, 0, 0], [1, 1, 32, 32, 3]), [1, 4, 1, 1, 1]);
  const stillBefore = embedClips(model, still);
  const movingBefore = embedClips(model, x);
  const mask = tf.concat([tf.ones([3, 3, 3, kernel.shape[3]]), tf.zeros([3, 3, 3, kernel.shape[3]])], 2);
  const zeroed = tf.mul(kernel, mask);
  stem.setWeights([zeroed]);
  const stillAfter = embedClips(model, still);
  const movingAfter = embedClips(model, x);
  assert.ok(maxRelDiff(stillAfter, stillBefore) < 1e-6, 'a static clip does not use the difference channels');
  assert.ok(maxRelDiff(movingAfter, movingBefore) > 1e-3, 'a moving clip does');
  tf.dispose([x, reversed, a, b, still, stillBefore, movingBefore, mask, zeroed, stillAfter, movingAfter]);
  plain.dispose();
  model.dispose();
});

test('temporalDifference: every trainable weight gets a gradient, and save/load keeps the outputs', async () => {
  await initRuntime({ backend: 'cpu' });
  const cfg: BackboneConfig = { ...SMALL, temporalDifference: true };
  const model = createBackbone(cfg);
  randomizeBatchNorm(model);
  const x = tf.randomUniform([2, 4, 32, 32, 3], 0, 255);
  const probe = tf.randomNormal([2, 16]);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, probe)) as tf.Scalar, vars);
  const dead = vars.filter((v) => {
    const g = grads[v.name];
    return !(g !== undefined && tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0] as number) > 0);
  });
  assert.deepEqual(dead.map((v) => v.name), []);
  tf.dispose([value, probe, ...Object.values(grads)]);
  const dir = await mkdtemp(join(tmpdir(), 'clipwise-backbone-tdiff-'));
  try {
    await saveLayersModel(model, dir);
    const loaded = await loadLayersModel(dir);
    assert.ok(loaded.getLayer('bb_tdiff') instanceof TemporalDifference);
    const a = embedClips(model, x);
    const b = embedClips(loaded, x);
    assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
    tf.dispose([a, b]);
    loaded.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  x.dispose();
  model.dispose();
});
