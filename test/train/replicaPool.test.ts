import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, TrainingWorkerError } from '../../src/errors.ts';
import { createBackbone } from '../../src/model/backbone.ts';
import { initRuntime } from '../../src/model/runtime.ts';
import { registerWasmTrainingKernels } from '../../src/model/wasmTrainingKernels.ts';
import { createRng } from '../../src/synth/prng.ts';
import type { ClipBatch, ClipSampler } from '../../src/train/clipSampler.ts';
import { modelWeights, optimizerArrays, StageOneReplica } from '../../src/train/replica.ts';
import { createReplicaPool } from '../../src/train/replicaPool.ts';
import { ScheduledAdam } from '../../src/train/schedule.ts';
import { createClipClassifier, trainBackboneStage } from '../../src/train/trainBackbone.ts';

const K = 3;
const SHAPE = [4, 32, 32, 3] as const;
const PER = SHAPE.reduce((a, b) => a * b, 1);

await initRuntime({ backend: 'wasm' });
registerWasmTrainingKernels();

function tinyModel(seed = 1): tfl.LayersModel {
  const bb = createBackbone({ size: 32, frames: 4, widthMultiplier: 0.25, dim: 16, gsfBlocks: 1, temporalDifference: true });
  return createClipClassifier(bb, K, seed);
}

/** Clips whose class shows in their motion: 0 still, 1 brightening, 2 flickering (plus noise). */
function batchOf(n: number, seed: number): ClipBatch {
  const rng = createRng(seed);
  const x = new Float32Array(n * PER);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % K;
    labels[i] = y;
    for (let t = 0; t < 4; t++) {
      const level = y === 0 ? 100 : y === 1 ? 60 + 40 * t : t % 2 === 0 ? 40 : 200;
      for (let j = 0; j < PER / 4; j++) x[i * PER + t * (PER / 4) + j] = level + rng.range(-20, 20);
    }
  }
  return { x, labels, n };
}


function maxDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((v, k) => {
    const u = b[k] as Float32Array;
    assert.equal(v.length, u.length);
    for (let j = 0; j < v.length; j++) m = Math.max(m, Math.abs((v[j] as number) - (u[j] as number)));
  });
  return m;
}

test('two replicas on distinct shares train as the average of their gradients: the synced model equals a one-thread reference', async () => {
  const main = tinyModel();
  const start = modelWeights(main);
  const mainOpt = new ScheduledAdam(2e-3);
  // The reference: two in-thread replicas from the same weights, gradients averaged by hand,
  // the same update applied to both (what the pool does across threads).
  const refA = new StageOneReplica(tinyModel(), new ScheduledAdam(2e-3), K);
  const refB = new StageOneReplica(tinyModel(), new ScheduledAdam(2e-3), K);
  refA.setWeights(start);
  refB.setWeights(start);
  const pool = await createReplicaPool({ model: main, optimizer: mainOpt, numClasses: K, workers: 2, learningRate: 2e-3 });
  try {
    const rates = [1e-3, 2e-3, 1.5e-3, 5e-4];
    for (let s = 0; s < rates.length; s++) {
      const batch = batchOf(4, 10 + s);
      const r = await pool.step(batch, rates[s] as number);
      const ga = refA.gradients(batch.x.slice(0, 2 * PER), batch.labels.slice(0, 2), 2);
      const gb = refB.gradients(batch.x.slice(2 * PER), batch.labels.slice(2), 2);
      const avg = ga.grads.map((g, k) => g.map((v, j) => 0.5 * v + 0.5 * ((gb.grads[k] as Float32Array)[j] as number)));
      refA.apply(avg, rates[s] as number);
      refB.apply(avg, rates[s] as number);
      assert.ok(Math.abs(r.loss - (ga.loss + gb.loss) / 2) < 1e-4, `step ${s}: loss ${r.loss} vs ${(ga.loss + gb.loss) / 2}`);
    }
    await pool.syncInto(main, mainOpt);
  } finally {
    await pool.close();
  }
  // Trainable weights: the same updates. Moving statistics: the average of the two replicas'.
  const trainable = new Set(main.trainableWeights.map((w) => w.originalName));
  const a = refA.weights();
  const b = refB.weights();
  const expected = a.map((w, k) => (trainable.has((main.weights[k] as tfl.LayerVariable).originalName) ? w : w.map((v, j) => (v + ((b[k] as Float32Array)[j] as number)) / 2)));
  const got = modelWeights(main);
  assert.ok(maxDiff(got, start) > 1e-4, 'the main model was updated');
  assert.ok(maxDiff(got, expected) < 1e-5, `synced weights differ from the reference by ${maxDiff(got, expected)}`);
  // Adam's state came along (a checkpoint saved now resumes where the replicas were).
  const optGot = await optimizerArrays(mainOpt);
  const optRef = await refA.optimizerState();
  assert.equal(optGot[0]?.[0], 4, 'four updates counted');
  assert.ok(maxDiff(optGot, optRef) < 1e-6, 'Adam moments equal the reference');
  main.dispose();
  mainOpt.dispose();
  for (const r of [refA, refB]) {
    r.model.dispose();
    r.optimizer.dispose();
  }
});

test('a batch smaller than the pool: the idle replica still applies every update and the synced model equals the reference', async () => {
  const main = tinyModel();
  const start = modelWeights(main);
  const mainOpt = new ScheduledAdam(2e-3);
  const refs = [new StageOneReplica(tinyModel(), new ScheduledAdam(2e-3), K), new StageOneReplica(tinyModel(), new ScheduledAdam(2e-3), K)];
  for (const r of refs) r.setWeights(start);
  const pool = await createReplicaPool({ model: main, optimizer: mainOpt, numClasses: K, workers: 2, learningRate: 2e-3 });
  try {
    // n = 1: worker 0 sits the step out; n = 3: shares 1 + 2 (gradients weighted 1/3, 2/3).
    const sizes = [1, 3, 1, 1, 2];
    for (let s = 0; s < sizes.length; s++) {
      const n = sizes[s] as number;
      const batch = batchOf(n, 40 + s);
      await pool.step(batch, 1e-3);
      const cut = Math.floor(n / 2);
      const shares = [
        { from: 0, to: cut },
        { from: cut, to: n },
      ];
      const got = shares.map((sh, i) => (sh.to > sh.from ? { n: sh.to - sh.from, g: (refs[i] as StageOneReplica).gradients(batch.x.slice(sh.from * PER, sh.to * PER), batch.labels.slice(sh.from, sh.to), sh.to - sh.from) } : undefined));
      const live = got.filter((x): x is NonNullable<typeof x> => x !== undefined);
      // Summed in float32 share by share, as the pool does: Adam turns a rounding difference in
      // a near-zero gradient into a full step, so the reference must round the same way.
      const avg = (live[0] as (typeof live)[number]).g.grads.map((g0) => new Float32Array(g0.length));
      for (const x of live) {
        avg.forEach((sum, k) => {
          const g = x.g.grads[k] as Float32Array;
          for (let j = 0; j < g.length; j++) sum[j] = (sum[j] as number) + (x.n / n) * (g[j] as number);
        });
      }
      for (const r of refs) r.apply(avg, 1e-3);
    }
    await pool.syncInto(main, mainOpt);
  } finally {
    await pool.close();
  }
  const trainable = new Set(main.trainableWeights.map((w) => w.originalName));
  const [a, b] = refs.map((r) => r.weights()) as [Float32Array[], Float32Array[]];
  const expected = a.map((w, k) => (trainable.has((main.weights[k] as tfl.LayerVariable).originalName) ? w : w.map((v, j) => (v + ((b[k] as Float32Array)[j] as number)) / 2)));
  const got = modelWeights(main);
  assert.ok(maxDiff(got, start) > 1e-4, 'the main model was updated');
  assert.ok(maxDiff(got, expected) < 1e-5, `synced weights differ from the reference by ${maxDiff(got, expected)}`);
  assert.equal((await optimizerArrays(mainOpt))[0]?.[0], 5, 'five updates counted, the idle steps included');
  main.dispose();
  mainOpt.dispose();
  for (const r of refs) {
    r.model.dispose();
    r.optimizer.dispose();
  }
});

test('replica workers keep their tensor count flat over many steps', async () => {
  const main = tinyModel();
  const opt = new ScheduledAdam(1e-3);
  const pool = await createReplicaPool({ model: main, optimizer: opt, numClasses: K, workers: 2, learningRate: 1e-3 });
  try {
    const counts: (readonly number[])[] = [];
    for (let s = 0; s < 24; s++) counts.push((await pool.step(batchOf(4, s), 1e-3)).workerTensors);
    await pool.syncInto(main, opt);
    const after = (await pool.step(batchOf(4, 99), 1e-3)).workerTensors;
    assert.deepEqual(counts[23], counts[3], `tensors per worker: step 4 ${String(counts[3])}, step 24 ${String(counts[23])}`);
    assert.deepEqual(after, counts[3], 'a sync leaves no tensors behind in the workers');
  } finally {
    await pool.close();
  }
  // And none on this thread from the syncs (the optimizer's replaced moments are disposed).
  const before = tf.memory().numTensors;
  const pool2 = await createReplicaPool({ model: main, optimizer: opt, numClasses: K, workers: 2, learningRate: 1e-3 });
  try {
    for (let s = 0; s < 3; s++) {
      await pool2.step(batchOf(4, s), 1e-3);
      await pool2.syncInto(main, opt);
    }
  } finally {
    await pool2.close();
  }
  assert.equal(tf.memory().numTensors, before);
  main.dispose();
  opt.dispose();
});

test('a malformed batch fails the step with a TrainingWorkerError naming the problem; fewer than 2 workers is a ConfigError', async () => {
  const main = tinyModel();
  const opt = new ScheduledAdam(1e-3);
  await assert.rejects(createReplicaPool({ model: main, optimizer: opt, numClasses: K, workers: 1, learningRate: 1e-3 }), ConfigError);
  const pool = await createReplicaPool({ model: main, optimizer: opt, numClasses: K, workers: 2, learningRate: 1e-3 });
  try {
    const good = batchOf(4, 1);
    // Clips of the wrong size: 4 clips' worth of values for 4 clips of a larger shape would not
    // divide; here each clip is one value short.
    const bad: ClipBatch = { x: good.x.slice(0, 4 * (PER - 1)), labels: good.labels, n: 4 };
    await assert.rejects(pool.step(bad, 1e-3), (e: unknown) => e instanceof TrainingWorkerError && /ShapeError/.test(e.message) && /expected 2 clips/.test(e.message));
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.step(batchOf(4, 2), 1e-3), /closed/);
  main.dispose();
  opt.dispose();
});

test('trainBackboneStage with 2 workers trains, validates and checkpoints from the synced model', async () => {
  const model = tinyModel();
  const opt = new ScheduledAdam(3e-3);
  const sampler: ClipSampler = {
    counts: [10, 10, 10],
    nearAction: 0,
    classes: [0, 1, 2],
    batch: (rng, n) => batchOf(n, Math.floor(rng.range(0, 1e6))),
  };
  const val = batchOf(12, 777);
  const start = modelWeights(model);
  const seenAtEpoch: number[] = [];
  const records = await trainBackboneStage({
    model,
    optimizer: opt,
    sampler,
    val: { x: val.x, labels: val.labels, n: val.n, shape: [...SHAPE] },
    numClasses: K,
    epochs: 2,
    stepsPerEpoch: 6,
    batchSize: 4,
    learningRate: 3e-3,
    seed: 1,
    workers: 2,
    onEpoch: async () => {
      // What a checkpoint saves: the replicas' state, synced before the callback.
      seenAtEpoch.push(maxDiff(modelWeights(model), start));
    },
  });
  assert.equal(records.length, 2);
  assert.ok(records.every((r) => Number.isFinite(r.trainLoss) && r.val !== undefined && Number.isFinite(r.val.acc)));
  assert.ok((seenAtEpoch[0] as number) > 1e-4 && (seenAtEpoch[1] as number) > (seenAtEpoch[0] as number) * 0.5, `weights moved: ${String(seenAtEpoch)}`);
  assert.equal((await optimizerArrays(opt))[0]?.[0], 12, 'the main optimizer counts every step');
  model.dispose();
  opt.dispose();
});
