import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initRuntime } from '../../src/model/runtime.ts';
import {
  createHead,
  HEAD_CLIP_WEIGHTS,
  HEAD_HAS_ATTENTION,
  HEAD_KINDS,
  predictWindows,
  validateWindows,
  type HeadConfig,
  type HeadKind,
} from '../../src/model/heads.ts';
import { GCF_TABLE3_CONFIG, headComplexity } from '../../src/model/headComplexity.ts';
import { InterClipFusion } from '../../src/model/layers/InterClipFusion.ts';
import { GatedClipAttention } from '../../src/model/layers/GatedClipAttention.ts';
import { AttentionWeighting } from '../../src/model/layers/AttentionWeighting.ts';
import { ClipPooling } from '../../src/model/layers/ClipPooling.ts';
import { ClipSelect } from '../../src/model/layers/ClipSelect.ts';
import { FixedClipWeights } from '../../src/model/layers/FixedClipWeights.ts';
import { ConfigError, NonFiniteInputError, ShapeError } from '../../src/errors.ts';
import {
  atw64,
  central64,
  dense64,
  fusionOnly64,
  gcf64,
  attentionOnly64,
  macs,
  seededRandom,
  type Fusion64,
  type Gate64,
  type Linear64,
  type Mat,
  type Out64,
} from './reference/heads64.ts';

type Rng = ReturnType<typeof seededRandom>;

const SMALL: HeadConfig = { clips: 6, inputDim: 12, fusionDim: 8, attentionHidden: 4, numClasses: 5, seed: 7 };

interface Case {
  readonly label: string;
  readonly kind: HeadKind;
  readonly config: HeadConfig;
}

const CASES: readonly Case[] = [
  { label: 'gcf softmax L=1', kind: 'gcf', config: { ...SMALL, normalization: 'softmax' } },
  { label: 'gcf mean L=1', kind: 'gcf', config: { ...SMALL, normalization: 'mean' } },
  { label: 'gcf softmax L=2', kind: 'gcf', config: { ...SMALL, normalization: 'softmax', fusionLayers: 2 } },
  { label: 'gcf mean L=2', kind: 'gcf', config: { ...SMALL, normalization: 'mean', fusionLayers: 2 } },
  { label: 'fusion only (softmax, L=2)', kind: 'fusionOnly', config: { ...SMALL, fusionLayers: 2 } },
  { label: 'attention only', kind: 'attentionOnly', config: SMALL },
  { label: 'atw', kind: 'atw', config: SMALL },
  { label: 'dense (D-Clips)', kind: 'dense', config: SMALL },
  { label: 'central (C-Clip), index 2', kind: 'central', config: { ...SMALL, centralIndex: 2 } },
];

function randomTensor(rng: Rng, shape: number[], scale: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Array.from({ length: n }, () => rng.normal() * scale), shape, 'float32');
}

/** Replace every weight with N(0, 1/fan_in) values (biases N(0, 0.25)) so biases are tested too. */
function randomizeWeights(model: tfl.LayersModel, rng: Rng): void {
  for (const layer of model.layers) {
    const current = layer.getWeights();
    if (current.length === 0) continue;
    const fresh = current.map((w) => randomTensor(rng, w.shape, w.rank >= 2 ? 1 / Math.sqrt(w.shape[0] ?? 1) : 0.5));
    layer.setWeights(fresh);
    tf.dispose(fresh);
  }
}

function weight(model: tfl.LayersModel, layerName: string, role: string): tf.Tensor {
  const layer = model.getLayer(layerName);
  const index = layer.weights.findIndex((w) => w.originalName === `${layerName}/${role}`);
  const value = layer.getWeights()[index];
  if (value === undefined) throw new Error(`no weight ${layerName}/${role}`);
  return value;
}
const mat = (t: tf.Tensor): number[][] => t.arraySync() as number[][];
const vec = (t: tf.Tensor): number[] => t.arraySync() as number[];

function fusionParams(model: tfl.LayersModel, layers: number): Fusion64[] {
  return Array.from({ length: layers }, (_, i) => {
    const name = `fusion_${i + 1}`;
    return {
      wq: mat(weight(model, name, 'wq')),
      wk: mat(weight(model, name, 'wk')),
      wv: mat(weight(model, name, 'wv')),
      wz: mat(weight(model, name, 'wz')),
    };
  });
}
function gateParams(model: tfl.LayersModel): Gate64 {
  const n = 'clip_attention';
  return {
    w1: mat(weight(model, n, 'w1')),
    b1: vec(weight(model, n, 'b1')),
    w2: mat(weight(model, n, 'w2')),
    b2: vec(weight(model, n, 'b2')),
  };
}
function classifierParams(model: tfl.LayersModel): Linear64 {
  return { w: mat(weight(model, 'classifier', 'kernel')), b: vec(weight(model, 'classifier', 'bias')) };
}

/** The float64 reference of a built head, its weights read back from the model. */
function reference(c: Case, model: tfl.LayersModel): (v: Mat) => Out64 {
  const normalization = c.config.normalization ?? 'softmax';
  const fusion = (): Fusion64[] => fusionParams(model, c.config.fusionLayers ?? 1);
  switch (c.kind) {
    case 'gcf': {
      const p = { fusion: fusion(), gate: gateParams(model), classifier: classifierParams(model), normalization };
      return (v) => gcf64(v, p);
    }
    case 'fusionOnly': {
      const p = { fusion: fusion(), classifier: classifierParams(model), normalization };
      return (v) => fusionOnly64(v, p);
    }
    case 'attentionOnly': {
      const p = { gate: gateParams(model), classifier: classifierParams(model) };
      return (v) => attentionOnly64(v, p);
    }
    case 'atw': {
      const p = { w: mat(weight(model, 'atw_weights', 'w')).map((r) => r[0] as number), classifier: classifierParams(model) };
      return (v) => atw64(v, p);
    }
    case 'dense': {
      const p = { classifier: classifierParams(model) };
      return (v) => dense64(v, p);
    }
    case 'central': {
      const p = { classifier: classifierParams(model), index: c.config.centralIndex ?? 3 };
      return (v) => central64(v, p);
    }
  }
}

const maxAbs = (xs: readonly number[]): number => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
function relErr(got: readonly number[], want: readonly number[]): number {
  assert.equal(got.length, want.length);
  return maxAbs(got.map((g, i) => g - (want[i] as number))) / maxAbs(want);
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`${backend}: every head equals the float64 reference written from the papers`, async (t) => {
    await initRuntime({ backend });
    const rng = seededRandom(2024);
    let worst = 0;
    for (const c of CASES) {
      const model = createHead(c.kind, c.config);
      randomizeWeights(model, rng);
      const ref = reference(c, model);
      const x = randomTensor(rng, [3, SMALL.clips ?? 0, SMALL.inputDim], 1);
      const windows = x.arraySync() as number[][][];
      const { probs, weights } = predictWindows(model, x);
      const p = probs.arraySync();
      const w = weights.arraySync();
      for (let n = 0; n < windows.length; n++) {
        const want = ref(windows[n] as number[][]);
        const gotP = p[n] as number[];
        const gotW = w[n] as number[];
        const eP = relErr(gotP, want.probs);
        const eW = relErr(gotW, want.weights);
        assert.ok(eP < 1e-5, `${c.label} window ${n}: probs rel. error ${eP}`);
        assert.ok(eW < 1e-5, `${c.label} window ${n}: clip weights rel. error ${eW}`);
        worst = Math.max(worst, eP, eW);
        // The comparison is only worth something if the outputs are far from trivial.
        assert.ok(Math.max(...want.probs) - Math.min(...want.probs) > 0.02, `${c.label}: degenerate probs`);
        if (HEAD_CLIP_WEIGHTS[c.kind] === 'gate' || HEAD_CLIP_WEIGHTS[c.kind] === 'softmax') {
          assert.ok(Math.max(...want.weights) - Math.min(...want.weights) > 0.01, `${c.label}: degenerate weights`);
        }
        assert.ok(Math.abs(gotP.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'probabilities sum to 1');
        if (HEAD_CLIP_WEIGHTS[c.kind] === 'gate') assert.ok(gotW.every((a) => a > 0 && a < 1), 'att in (0,1)');
      }
      tf.dispose([x, probs, weights]);
      model.dispose();
    }
    t.diagnostic(`worst max-abs error / max-abs value over ${CASES.length} heads: ${worst.toExponential(2)}`);
  });
}

test('clip weights have the documented meaning for every head', async () => {
  await initRuntime({ backend: 'cpu' });
  const x = randomTensor(seededRandom(5), [4, 6, 12], 2);
  for (const kind of HEAD_KINDS) {
    const model = createHead(kind, { ...SMALL, seed: 11 });
    const { probs, weights } = predictWindows(model, x);
    const w = weights.arraySync();
    assert.deepEqual(weights.shape, [4, 6]);
    assert.deepEqual(probs.shape, [4, 5]);
    for (const row of w) {
      const sum = row.reduce((a, b) => a + b, 0);
      switch (HEAD_CLIP_WEIGHTS[kind]) {
        case 'gate':
          assert.ok(row.every((a) => a > 0 && a < 1), `${kind}: gate outside (0,1): ${row}`);
          break;
        case 'softmax':
          assert.ok(Math.abs(sum - 1) < 1e-5 && row.every((a) => a > 0), `${kind}: not a distribution`);
          break;
        case 'uniform':
          for (const a of row) assert.ok(Math.abs(a - 1 / 6) < 1e-7);
          break;
        case 'oneHot':
          assert.deepEqual(row, [0, 0, 0, 1, 0, 0]); // ⌊6/2⌋ = 3
          break;
      }
    }
    assert.equal(HEAD_HAS_ATTENTION[kind], HEAD_CLIP_WEIGHTS[kind] === 'gate' || HEAD_CLIP_WEIGHTS[kind] === 'softmax');
    tf.dispose([probs, weights]);
    model.dispose();
  }
  x.dispose();
});

test('bad windows are typed errors with clear messages, and leak nothing', async () => {
  await initRuntime({ backend: 'cpu' });
  const model = createHead('gcf', SMALL);
  const before = tf.memory().numTensors;
  const expectShape = (x: tf.Tensor, pattern: RegExp): void => {
    assert.throws(
      () => predictWindows(model, x),
      (err: unknown) => err instanceof ShapeError && pattern.test(err.message),
    );
    x.dispose();
  };
  expectShape(tf.zeros([6, 12]), /rank 3.*got rank 2/);
  expectShape(tf.zeros([1, 2, 6, 12]), /rank 3.*got rank 4/);
  expectShape(tf.zeros([2, 5, 12]), /6 clips, got 5/);
  expectShape(tf.zeros([2, 6, 13]), /12 values, got 13/);
  expectShape(tf.zeros([0, 6, 12]), /empty batch/);
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    const values = new Float32Array(3 * 6 * 12).fill(0.5);
    values[1 * 72 + 4 * 12 + 7] = bad; // window 1, clip 4, feature 7
    const x = tf.tensor3d(values, [3, 6, 12]);
    assert.throws(
      () => predictWindows(model, x),
      (err: unknown) => err instanceof NonFiniteInputError && /batch index 1 \(1 of 3\)/.test(err.message),
    );
    assert.throws(() => validateWindows(x, { clips: 6, inputDim: 12 }), NonFiniteInputError);
    x.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('an invalid head config is a ConfigError naming the fields', () => {
  assert.throws(
    () => createHead('gcf', { inputDim: 0, numClasses: 3, dropout: 1, centralIndex: 10 }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map((i) => i.path).sort(), ['centralIndex', 'dropout', 'inputDim']);
      return true;
    },
  );
});

for (const backend of ['cpu', 'wasm'] as const) {
  test(`${backend}: 1,000 forward passes of the GCF head leave tf.memory().numTensors unchanged`, async () => {
    await initRuntime({ backend });
    const model = createHead('gcf', { clips: 4, inputDim: 8, fusionDim: 4, numClasses: 3, seed: 3 });
    const x = randomTensor(seededRandom(9), [1, 4, 8], 1);
    const warm = predictWindows(model, x);
    tf.dispose([warm.probs, warm.weights]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) {
      const { probs, weights } = predictWindows(model, x);
      tf.dispose([probs, weights]);
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    model.dispose();
  });
}

test('every custom layer survives a getConfig → fromConfig round trip, computing the same values, leaking nothing', async () => {
  await initRuntime({ backend: 'cpu' });
  const rng = seededRandom(31);
  const x = randomTensor(rng, [2, 6, 12], 1);
  const w = tf.tidy(() => tf.softmax(randomTensor(rng, [2, 6], 1)));
  const layers: { layer: tfl.layers.Layer; inputs: tf.Tensor | tf.Tensor[]; key: string }[] = [
    { layer: new InterClipFusion({ units: 5, normalization: 'mean', seed: 1, name: 'f' }), inputs: x, key: 'normalization' },
    { layer: new GatedClipAttention({ hidden: 3, seed: 2, name: 'g' }), inputs: x, key: 'hidden' },
    { layer: new AttentionWeighting({ seed: 3, name: 'a' }), inputs: x, key: 'seed' },
    { layer: new ClipPooling({ mode: 'gatedResidual', name: 'p' }), inputs: [x, w], key: 'mode' },
    { layer: new ClipPooling({ mode: 'weighted', name: 'pw' }), inputs: [x, w], key: 'mode' },
    { layer: new ClipSelect({ index: 4, name: 's' }), inputs: x, key: 'index' },
    { layer: new FixedClipWeights({ clipWeights: [0, 0.1, 0.2, 0.3, 0.4, 0], name: 'c' }), inputs: x, key: 'clipWeights' },
  ];
  for (const { layer, inputs, key } of layers) {
    const original = layer.apply(inputs) as tf.Tensor;
    // Layer.apply outside a model is not wrapped in a tidy: only the layer's own tidy keeps
    // its intermediates from leaking.
    const count = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) (layer.apply(inputs) as tf.Tensor).dispose();
    assert.equal(tf.memory().numTensors, count, `${layer.getClassName()} leaked tensors`);
    const config = layer.getConfig();
    assert.ok(key in config, `${layer.getClassName()} config has ${key}`);
    // Look the class up by name, as a model loader does, rather than through the import.
    const entry = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()];
    assert.ok(entry !== undefined, `${layer.getClassName()} is registered`);
    const [cls, fromConfig] = entry;
    const copy = fromConfig(cls, config) as tfl.layers.Layer;
    assert.equal(copy.constructor, layer.constructor);
    assert.deepEqual(copy.getConfig(), config);
    const first = copy.apply(inputs) as tf.Tensor; // builds the copy
    first.dispose();
    copy.setWeights(layer.getWeights());
    const again = copy.apply(inputs) as tf.Tensor;
    assert.deepEqual(Array.from(again.dataSync()), Array.from(original.dataSync()), layer.getClassName());
    tf.dispose([original, again]);
    layer.dispose();
    copy.dispose();
  }
  tf.dispose([x, w]);
});

test('every head survives a save → load round trip through memory with identical outputs', async () => {
  await initRuntime({ backend: 'cpu' });
  const x = randomTensor(seededRandom(77), [3, 6, 12], 1);
  for (const kind of HEAD_KINDS) {
    const model = createHead(kind, { ...SMALL, fusionLayers: 2, normalization: 'mean', centralIndex: 1, dropout: 0.2 });
    randomizeWeights(model, seededRandom(kind.length));
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    assert.ok(saved !== undefined);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved));
    assert.equal(loaded.countParams(), model.countParams());
    const a = predictWindows(model, x);
    const b = predictWindows(loaded, x);
    assert.deepEqual(b.probs.arraySync(), a.probs.arraySync(), `${kind} probs`);
    assert.deepEqual(b.weights.arraySync(), a.weights.arraySync(), `${kind} weights`);
    tf.dispose([a.probs, a.weights, b.probs, b.weights]);
    model.dispose();
    loaded.dispose();
  }
  x.dispose();
});

test('headComplexity counts what the model holds and what the reference computes', async () => {
  await initRuntime({ backend: 'cpu' });
  const configs: HeadConfig[] = [
    SMALL,
    { ...SMALL, fusionLayers: 3, attentionHidden: 9, clips: 5, centralIndex: 0 },
    { clips: 10, inputDim: 20, numClasses: 7, fusionDim: 16 },
  ];
  for (const config of configs) {
    for (const kind of HEAD_KINDS) {
      const model = createHead(kind, config);
      const { params, mflops } = headComplexity(kind, config);
      assert.equal(params, model.countParams(), `${kind} params`);
      const c: Case = { label: kind, kind, config };
      const ref = reference(c, model);
      const clips = config.clips ?? 10;
      const v = Array.from({ length: clips }, () => Array.from({ length: config.inputDim }, () => 0.1));
      macs.count = 0;
      ref(v);
      assert.ok(Math.abs(mflops * 1e6 - 2 * macs.count) < 1e-6, `${kind} FLOPs: ${mflops * 1e6} vs 2×${macs.count}`);
      model.dispose();
    }
  }
  // The paper's configuration (Table 3: 0.86 M parameters, 15 MFLOPs without the backbone).
  const paper = headComplexity('gcf', GCF_TABLE3_CONFIG);
  const model = createHead('gcf', GCF_TABLE3_CONFIG);
  assert.equal(paper.params, model.countParams());
  model.dispose();
  assert.ok(Math.abs(paper.params / 0.86e6 - 1) < 0.02, `params ${paper.params}`);
  assert.ok(Math.abs(paper.mflops / 15 - 1) < 0.06, `MFLOPs ${paper.mflops}`);
});
