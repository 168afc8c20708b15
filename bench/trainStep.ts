/**
 * Benchmark: one training step of each stage of `clipwise train`, as the trainer runs it —
 * stage 1 (backbone + clip classifier, `trainOnBatch` on the wasm backend with the training
 * kernels) and stage 2 (one head on a batch of windows of descriptors) — so the model card's
 * training time can be checked against a per-step cost.
 *
 * Run: `npx tsx bench/trainStep.ts [--quick]` (about a minute; `--quick` does fewer repeats).
 * Prints a table, then one JSON line (`{"bench":"trainStep",…}`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createBackbone } from '../src/model/backbone.ts';
import { createHead, HEAD_KINDS } from '../src/model/heads.ts';
import { gcfLoss } from '../src/model/loss.ts';
import { initRuntime } from '../src/model/runtime.ts';
import { FUSED_TRAINING_ENV } from '../src/model/fusedTrainingOps.ts';
import { registerWasmTrainingKernels } from '../src/model/wasmTrainingKernels.ts';
import { ScheduledAdam } from '../src/train/schedule.ts';
import { createClipClassifier } from '../src/train/trainBackbone.ts';

const quick = process.argv.includes('--quick');
const repeats = quick ? 3 : 8;

await initRuntime({ backend: 'wasm' });
registerWasmTrainingKernels();

interface Row {
  readonly what: string;
  readonly batch: number;
  readonly msPerStep: number;
  readonly msPerItem: number;
}
const rows: Row[] = [];

async function time(fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up: kernel setup, first allocations
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) await fn();
  return (performance.now() - t0) / repeats;
}

// Fused BatchNorm / ReLU6 gradient (the trainer's default) against tfjs' own ops, interleaved
// so both see the same machine load.
for (const batch of [2, 4]) {
  const model = createClipClassifier(createBackbone(), 7, 1);
  model.compile({ optimizer: new ScheduledAdam(1e-3), loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([batch, 8, 112, 112, 3], 0, 255);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 7), 'int32'), 7);
  const ms = { fused: 0, tfjs: 0 };
  for (let round = 0; round < 2; round++) {
    for (const mode of ['fused', 'tfjs'] as const) {
      process.env[FUSED_TRAINING_ENV] = mode === 'fused' ? 'on' : 'off';
      ms[mode] += (await time(async () => {
        await model.trainOnBatch(x, y);
      })) / 2;
    }
  }
  delete process.env[FUSED_TRAINING_ENV];
  for (const mode of ['fused', 'tfjs'] as const) {
    const what = `stage 1: backbone + classifier (8×112×112 clips), ${mode === 'fused' ? 'fused BatchNorm/ReLU6 grad' : "tfjs' ops"}`;
    rows.push({ what, batch, msPerStep: ms[mode], msPerItem: ms[mode] / batch });
  }
  tf.dispose([x, y]);
  model.dispose();
}

for (const kind of HEAD_KINDS) {
  const head = createHead(kind, { inputDim: 256, numClasses: 7, clips: 10, seed: 1 });
  const optimizer = new ScheduledAdam(1e-3);
  const vars = head.trainableWeights.map((w) => w.read() as tf.Variable);
  const batch = 32;
  const x = tf.randomNormal([batch, 10, 256]);
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 7), 'int32');
  const ms = await time(async () => {
    const cost = optimizer.minimize(
      () => {
        const [p, a] = head.apply(x, { training: true }) as tf.Tensor[];
        return gcfLoss(y, p as tf.Tensor, a, 1e-3);
      },
      true,
      vars,
    );
    await cost?.data();
    cost?.dispose();
  });
  rows.push({ what: `stage 2: head ${kind} (windows 10×256)`, batch, msPerStep: ms, msPerItem: ms / batch });
  tf.dispose([x, y]);
  optimizer.dispose();
  head.dispose();
}

console.log('| step | batch | ms / step | ms / item |');
console.log('|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.what} | ${r.batch} | ${r.msPerStep.toFixed(1)} | ${r.msPerItem.toFixed(2)} |`);
console.log(JSON.stringify({ bench: 'trainStep', backend: tf.getBackend(), repeats, rows }));
