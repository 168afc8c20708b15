/**
 * Benchmark: where the backbone's time goes, kernel by kernel (tf.profile), on one backend, one
 * thread, for both inference paths side by side: the layers model with BatchNorm folded
 * (`foldBatchNorm`, what workers ran before) and the compiled channel-group pass
 * (`compileInferenceBackbone`, what they run now), with the largest difference between their
 * descriptors.
 *
 * Run: `npx tsx bench/backboneProfile.ts [--backend wasm|cpu] [--batch 8] [--model DIR] [--repeats 5]`
 * (≈ 20 s on wasm). Without --model it builds the shipped architecture untrained
 * (speed does not depend on weights). Prints a table of kernels by total time per path, then one JSON line.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { createBackbone, embedClips, foldBatchNorm, preprocessClips, resolveBackboneConfig } from '../src/model/backbone.ts';
import { compileInferenceBackbone } from '../src/model/fastBackbone.ts';
import { backboneComplexity } from '../src/model/flops.ts';
import { loadManifest, manifestBackboneConfig } from '../src/model/clipModel.ts';
import { loadLayersModel } from '../src/model/io.ts';
import { initRuntime, type BackendRequest } from '../src/model/runtime.ts';
import { DEFAULT_BENCH_BACKBONE } from '../src/bench/model.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '8' },
    model: { type: 'string' },
    repeats: { type: 'string', default: '5' },
  },
});
const batch = Number(values.batch);
const repeats = Number(values.repeats);
const rt = await initRuntime({ backend: values.backend as BackendRequest });

const config = values.model ? manifestBackboneConfig(await loadManifest(values.model)) : DEFAULT_BENCH_BACKBONE;
const cfg = resolveBackboneConfig(config);
const trained = values.model ? await loadLayersModel(`${values.model}/backbone`) : createBackbone(cfg);
const layers = await foldBatchNorm(trained);
const compiled = compileInferenceBackbone(trained, cfg);
if (!compiled) throw new Error('not the default backbone architecture: no compiled path');

const clipBytes = cfg.frames * cfg.size * cfg.size * 3;
const clips = Array.from({ length: batch }, (_, i) => Uint8Array.from({ length: clipBytes }, (_, j) => (j * 31 + i * 7) & 255));
const mflop = backboneComplexity(cfg).mflopsPerClip;
const paths: Record<string, (x: tf.Tensor) => tf.Tensor> = { layers: (x) => embedClips(layers, x), compiled: (x) => compiled.apply(x) };
const x0 = preprocessClips(clips, cfg.frames, cfg.size, cfg.size);
const outs = Object.values(paths).map((f) => f(x0));
const [a, b] = outs.map((o) => o.dataSync());
let maxDiff = 0;
for (let i = 0; i < (a as Float32Array).length; i++) maxDiff = Math.max(maxDiff, Math.abs((a as Float32Array)[i]! - (b as Float32Array)[i]!));
tf.dispose([x0, ...outs]);
console.log(`backend ${rt.backend}, batch ${batch}, config ${JSON.stringify(cfg)}, ${mflop.toFixed(0)} MFLOP/clip; max |layers − compiled| = ${maxDiff.toExponential(2)}`);

const result: Record<string, unknown> = {};
for (const [name, forward] of Object.entries(paths)) {
  const run = async (): Promise<void> => {
    const x = preprocessClips(clips, cfg.frames, cfg.size, cfg.size);
    const y = forward(x);
    await y.data();
    tf.dispose([x, y]);
  };
  await run(); // warm-up: kernel setup, weight upload
  const wall: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await run();
    wall.push(performance.now() - t0);
  }
  const byKernel = new Map<string, { ms: number; calls: number }>();
  const prof = await tf.profile(run);
  for (const k of prof.kernels) {
    // Fused ops appear twice (the op scope and its kernel): count kernels only.
    if (k.name.endsWith('__op')) continue;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls += 1;
    byKernel.set(k.name, e);
  }
  const kernelMs = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  const best = Math.min(...wall);
  console.log(`\n${name}: best ${best.toFixed(1)} ms / batch = ${(best / batch).toFixed(2)} ms/clip, ${((mflop * batch) / best).toFixed(2)} GFLOP/s`);
  console.log(`kernel                          calls   ms     share`);
  const rows = [...byKernel.entries()].sort((p, q) => q[1].ms - p[1].ms);
  for (const [k, e] of rows) {
    console.log(`${k.padEnd(30)} ${String(e.calls).padStart(5)} ${e.ms.toFixed(1).padStart(7)} ${((100 * e.ms) / kernelMs).toFixed(1).padStart(6)}%`);
  }
  result[name] = {
    msPerClip: best / batch,
    gflops: (mflop * batch) / best,
    kernels: Object.fromEntries(rows.map(([k, e]) => [k, { ms: +e.ms.toFixed(2), calls: e.calls }])),
  };
}
console.log(JSON.stringify({ bench: 'backboneProfile', backend: rt.backend, batch, mflopPerClip: mflop, maxDiff, ...result }));
layers.dispose();
compiled.dispose();
