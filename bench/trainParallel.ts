/**
 * Stage-1 training throughput: one thread (tfjs-layers' trainOnBatch, what `clipwise train`
 * does with `--workers 1`) against data-parallel replicas in worker threads (`--workers 2`),
 * on the default backbone (8×112×112 clips, temporal-difference stem), interleaved in rounds
 * so every variant sees the same machine load.
 *
 * Run: `npx tsx bench/trainParallel.ts [--quick]` (about 3 minutes; `--quick`: fewer steps).
 * Prints a markdown table and one JSON line.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createBackbone } from '../src/model/backbone.ts';
import { initRuntime } from '../src/model/runtime.ts';
import { registerWasmTrainingKernels } from '../src/model/wasmTrainingKernels.ts';
import { createRng } from '../src/synth/prng.ts';
import type { ClipBatch } from '../src/train/clipSampler.ts';
import { createReplicaPool } from '../src/train/replicaPool.ts';
import { ScheduledAdam } from '../src/train/schedule.ts';
import { createClipClassifier } from '../src/train/trainBackbone.ts';

const quick = process.argv.includes('--quick');
const steps = quick ? 4 : 10;
const rounds = 2;
const K = 7;
const SHAPE = [8, 112, 112, 3];
const PER = SHAPE.reduce((a, b) => a * b, 1);

await initRuntime({ backend: 'wasm' });
registerWasmTrainingKernels();

function batchOf(n: number, seed: number): ClipBatch {
  const rng = createRng(seed);
  const x = new Float32Array(n * PER);
  for (let i = 0; i < x.length; i++) x[i] = rng.range(0, 255);
  return { x, labels: Int32Array.from({ length: n }, (_, i) => i % K), n };
}

interface Variant {
  readonly what: string;
  readonly workers: number;
  readonly batch: number;
}
const variants: Variant[] = [
  { what: 'one thread (trainOnBatch)', workers: 1, batch: 4 },
  { what: '2 replicas, batch split 2 + 2', workers: 2, batch: 4 },
  { what: '2 replicas, batch split 4 + 4', workers: 2, batch: 8 },
];

const model = createClipClassifier(createBackbone({ temporalDifference: true }), K, 1);
const optimizer = new ScheduledAdam(1e-3);
model.compile({ optimizer, loss: 'categoricalCrossentropy' });

async function timeVariant(v: Variant): Promise<number> {
  const batches = Array.from({ length: steps + 1 }, (_, s) => batchOf(v.batch, s));
  if (v.workers === 1) {
    const run = async (b: ClipBatch): Promise<void> => {
      const x = tf.tensor(b.x, [b.n, ...SHAPE]);
      const y = tf.oneHot(tf.tensor1d(b.labels, 'int32'), K);
      await model.trainOnBatch(x, y);
      tf.dispose([x, y]);
    };
    await run(batches[0] as ClipBatch); // warm-up
    const t0 = performance.now();
    for (let s = 1; s <= steps; s++) await run(batches[s] as ClipBatch);
    return (performance.now() - t0) / steps;
  }
  const pool = await createReplicaPool({ model, optimizer, numClasses: K, workers: v.workers, learningRate: 1e-3 });
  try {
    await pool.step(batches[0] as ClipBatch, 1e-3); // warm-up: kernel setup in each worker
    const t0 = performance.now();
    for (let s = 1; s <= steps; s++) await pool.step(batches[s] as ClipBatch, 1e-3);
    return (performance.now() - t0) / steps;
  } finally {
    await pool.close();
  }
}

const ms = new Map<Variant, number>(variants.map((v) => [v, 0]));
for (let r = 0; r < rounds; r++) {
  for (const v of variants) ms.set(v, (ms.get(v) as number) + (await timeVariant(v)) / rounds);
}
const base = (ms.get(variants[0] as Variant) as number) / (variants[0] as Variant).batch;
const rows = variants.map((v) => {
  const perStep = ms.get(v) as number;
  return { what: v.what, workers: v.workers, batch: v.batch, msPerStep: perStep, msPerClip: perStep / v.batch, clipsPerSecondVsOneThread: base / (perStep / v.batch) };
});
console.log('| stage-1 training (8×112×112 clips, wasm) | workers | batch | ms / step | ms / clip | clips/s vs one thread |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.what} | ${r.workers} | ${r.batch} | ${r.msPerStep.toFixed(0)} | ${r.msPerClip.toFixed(0)} | ${r.clipsPerSecondVsOneThread.toFixed(2)}× |`);
console.log(JSON.stringify({ bench: 'trainParallel', steps, rounds, cores: (await import('node:os')).availableParallelism(), rows }));
model.dispose();
optimizer.dispose();
