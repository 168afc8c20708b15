/**
 * Benchmark: the wasm training kernels of src/model/wasmTrainingKernels.ts against the wasm
 * package's own kernels (where it has them), wasm matMul, and the `cpu` backend; then one SGD
 * training step of a small MobileNetV2-style stack (112×112, batch 8) on wasm and on cpu.
 *
 * Run: `npx tsx bench/wasmKernels.ts` (≈ 2 minutes on an idle 2-core machine, most of it the cpu backend;
 * `--quick` halves the repeats).
 * Prints a table, then one JSON line (`{"bench":"wasmKernels",…}`) for tooling.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tf.grad and optimizers need tfjs-core's gradient registry; tfjs-core's node bundle leaves it
// empty, tfjs-layers' bundle fills the shared global one.
import '@tensorflow/tfjs-layers';
import { initRuntime } from '../src/model/runtime.ts';
import { registerWasmTrainingKernels } from '../src/model/wasmTrainingKernels.ts';

const quick = process.argv.includes('--quick');

interface KernelCase {
  readonly label: string;
  readonly kernel: string;
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly attrs: Readonly<Record<string, unknown>>;
  /** 2 × multiply-adds of the forward convolution (the gradient does the same work). */
  readonly flops: number;
}

interface Row {
  label: string;
  kernel: string;
  gflop: number;
  newWasmMs?: number;
  oldWasmMs?: number;
  cpuMs?: number;
}

function prod(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

function conv2dCase(label: string, x: [number, number, number, number], f: [number, number, number, number], s: number, pad: 'same' | 'valid'): KernelCase[] {
  const info = tf.backend_util.computeConv2DInfo(x, f, s, 1, pad);
  const flops = 2 * prod(info.outShape) * f[0] * f[1] * f[2];
  const attrs = { strides: s, pad, dataFormat: 'NHWC' };
  return [
    { label, kernel: 'Conv2DBackpropFilter', inputs: { x, dy: info.outShape }, attrs: { ...attrs, filterShape: f }, flops },
    { label, kernel: 'Conv2DBackpropInput', inputs: { dy: info.outShape, filter: f }, attrs: { ...attrs, inputShape: x }, flops },
  ];
}

function depthwiseCase(label: string, x: [number, number, number, number], k: number, s: number): KernelCase[] {
  const f: [number, number, number, number] = [k, k, x[3], 1];
  const info = tf.backend_util.computeConv2DInfo(x, f, s, 1, 'same', undefined, true);
  const flops = 2 * prod(info.outShape) * k * k;
  const attrs = { strides: s, dilations: 1, pad: 'same' };
  return [
    { label, kernel: 'DepthwiseConv2dNativeBackpropFilter', inputs: { x, dy: info.outShape }, attrs: { ...attrs, filterShape: f }, flops },
    { label, kernel: 'DepthwiseConv2dNativeBackpropInput', inputs: { dy: info.outShape, filter: f }, attrs: { ...attrs, inputShape: x }, flops },
  ];
}

function conv3dCase(label: string, x: [number, number, number, number, number], cout: number): KernelCase[] {
  const f: [number, number, number, number, number] = [3, 3, 3, x[4], cout];
  const info = tf.backend_util.computeConv3DInfo(x, f, 1, 1, 'same');
  const flops = 2 * prod(info.outShape) * 27 * x[4];
  const attrs = { strides: 1, pad: 'same' };
  return [
    { label, kernel: 'Conv3D', inputs: { x, filter: f }, attrs: { ...attrs, dataFormat: 'NDHWC', dilations: 1 }, flops },
    { label, kernel: 'Conv3DBackpropFilterV2', inputs: { x, dy: info.outShape }, attrs: { ...attrs, filterShape: f }, flops },
    { label, kernel: 'Conv3DBackpropInputV2', inputs: { dy: info.outShape, filter: f }, attrs: { ...attrs, inputShape: x }, flops },
  ];
}

// Shapes of the layers of a MobileNetV2-style backbone at 112×112, batch 8, and GSF gates
// (3×3×3 conv3d, one output plane per group) on clips of 8 frames.
const CASES: KernelCase[] = [
  ...conv2dCase('stem 3x3 s2 3→16 @112', [8, 112, 112, 3], [3, 3, 3, 16], 2, 'same'),
  ...conv2dCase('pw 1x1 16→96 @56', [8, 56, 56, 16], [1, 1, 16, 96], 1, 'same'),
  ...conv2dCase('pw 1x1 96→24 @28', [8, 28, 28, 96], [1, 1, 96, 24], 1, 'same'),
  ...conv2dCase('3x3 s1 32→32 @28', [8, 28, 28, 32], [3, 3, 32, 32], 1, 'same'),
  ...conv2dCase('GSF fuse 3x3 2→1 @[c/2×T]', [16, 24, 8, 2], [3, 3, 2, 1], 1, 'same'),
  ...depthwiseCase('dw 3x3 s1 96 @56', [8, 56, 56, 96], 3, 1),
  ...depthwiseCase('dw 3x3 s2 96 @56', [8, 56, 56, 96], 3, 2),
  ...depthwiseCase('dw 3x3 s1 144 @14', [8, 14, 14, 144], 3, 1),
  ...conv3dCase('GSF gate 24→1 [2,8,14,14]', [2, 8, 14, 14, 24], 1),
  ...conv3dCase('GSF gate 80→1 [2,8,7,7]', [2, 8, 7, 7, 80], 1),
  ...conv3dCase('conv3d 16→2 [8,8,28,28]', [8, 8, 28, 28, 16], 2),
];

function makeInputs(c: KernelCase): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, shape] of Object.entries(c.inputs)) out[name] = tf.randomNormal(shape.slice());
  return out;
}

/** Median wall time (ms) of `f` after one warm-up call; `f` must block until done. */
function timeIt(f: () => void, reps: number): number {
  f();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

function timeKernel(c: KernelCase, reps: number): number {
  const inputs = makeInputs(c);
  try {
    return timeIt(() => {
      const r = tf.engine().runKernel(c.kernel, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor;
      r.dataSync();
      r.dispose();
    }, reps);
  } finally {
    tf.dispose(Object.values(inputs));
  }
}

function hasKernel(name: string, backend: string): boolean {
  const k: tf.KernelConfig | undefined = tf.getKernel(name, backend);
  return k !== undefined;
}

function matMulGflops(m: number, k: number, n: number, reps: number): number {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const ms = timeIt(() => tf.matMul(a, b).dispose(), reps);
  tf.dispose([a, b]);
  return (2 * m * k * n) / ms / 1e6;
}

// --- the training step ----------------------------------------------------------------------

interface Block {
  readonly expand: number;
  readonly out: number;
  readonly stride: number;
}

// MobileNetV2 (width 0.5) truncated after the 14×14 stage: stem 16, then (t, c, s) blocks.
const BLOCKS: readonly Block[] = [
  { expand: 1, out: 8, stride: 1 },
  { expand: 6, out: 12, stride: 2 },
  { expand: 6, out: 12, stride: 1 },
  { expand: 6, out: 16, stride: 2 },
  { expand: 6, out: 16, stride: 1 },
  { expand: 6, out: 32, stride: 2 },
  { expand: 6, out: 32, stride: 1 },
];
const CLASSES = 10;

type Params = Map<string, tf.Variable>;

function seededInit(shape: number[], fanIn: number, seed: number): tf.Tensor {
  return tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), Math.sqrt(2 / fanIn));
}

function makeParams(): Params {
  const p: Params = new Map();
  let seed = 1;
  const add = (name: string, shape: number[], fanIn: number) => p.set(name, tf.variable(seededInit(shape, fanIn, seed++), true, name));
  const bn = (name: string, c: number) => {
    p.set(`${name}/gamma`, tf.variable(tf.ones([c]), true, `${name}/gamma`));
    p.set(`${name}/beta`, tf.variable(tf.zeros([c]), true, `${name}/beta`));
  };
  add('stem', [3, 3, 3, 16], 27);
  bn('stem', 16);
  let cin = 16;
  BLOCKS.forEach((b, i) => {
    const hidden = cin * b.expand;
    if (b.expand !== 1) {
      add(`b${i}/expand`, [1, 1, cin, hidden], cin);
      bn(`b${i}/expand`, hidden);
    }
    add(`b${i}/dw`, [3, 3, hidden, 1], 9);
    bn(`b${i}/dw`, hidden);
    add(`b${i}/project`, [1, 1, hidden, b.out], hidden);
    bn(`b${i}/project`, b.out);
    cin = b.out;
  });
  add('head', [cin, CLASSES], cin);
  return p;
}

function param(p: Params, name: string): tf.Variable {
  const v = p.get(name);
  if (v === undefined) throw new Error(`missing parameter ${name}`);
  return v;
}

function batchNorm(p: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm<tf.Rank.R4>(x, mean as tf.Tensor1D, variance as tf.Tensor1D, param(p, `${name}/beta`) as tf.Tensor1D, param(p, `${name}/gamma`) as tf.Tensor1D, 1e-3);
}

function forwardLoss(p: Params, images: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  let x = tf.relu6(batchNorm(p, 'stem', tf.conv2d(images, param(p, 'stem') as tf.Tensor4D, 2, 'same')));
  let cin = 16;
  BLOCKS.forEach((b, i) => {
    const inp = x;
    let h = x;
    if (b.expand !== 1) h = tf.relu6(batchNorm(p, `b${i}/expand`, tf.conv2d(h, param(p, `b${i}/expand`) as tf.Tensor4D, 1, 'same')));
    h = tf.relu6(batchNorm(p, `b${i}/dw`, tf.depthwiseConv2d(h, param(p, `b${i}/dw`) as tf.Tensor4D, b.stride, 'same')));
    h = batchNorm(p, `b${i}/project`, tf.conv2d(h, param(p, `b${i}/project`) as tf.Tensor4D, 1, 'same'));
    x = b.stride === 1 && cin === b.out ? tf.add(inp, h) : h;
    cin = b.out;
  });
  const logits = tf.matMul(tf.mean(x, [1, 2]), param(p, 'head'));
  return tf.losses.softmaxCrossEntropy(labels, logits);
}

/** FLOPs of one forward pass (convolutions and the head only), for context. */
function forwardFlops(batch: number): number {
  let h = 56;
  let f = 2 * batch * h * h * 27 * 16;
  let cin = 16;
  for (const b of BLOCKS) {
    const hidden = cin * b.expand;
    if (b.expand !== 1) f += 2 * batch * h * h * cin * hidden;
    h = Math.ceil(h / b.stride);
    f += 2 * batch * h * h * 9 * hidden + 2 * batch * h * h * hidden * b.out;
    cin = b.out;
  }
  return f + 2 * batch * cin * CLASSES;
}

interface StepResult {
  /** Median ms per step (forward, backward, SGD update). */
  ms: number;
  /** Loss of the very first step, before any update: equal on every backend. */
  firstLoss: number;
  /** Tensors alive after the timed steps minus before them. */
  leaked: number;
  /** Top kernels of one extra step by self time (wasm only; kernels inside kernels count twice). */
  top?: { kernel: string; ms: number }[];
}

async function trainStep(reps: number, profile: boolean): Promise<StepResult> {
  const params = makeParams();
  const images = tf.randomUniform([8, 112, 112, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const labels = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), CLASSES), 'float32') as tf.Tensor2D;
  const opt = tf.train.sgd(0.01);
  const vars = [...params.values()];
  let loss = Number.NaN;
  const step = () => {
    const l = opt.minimize(() => forwardLoss(params, images, labels), true, vars);
    loss = l?.dataSync()[0] ?? Number.NaN;
    l?.dispose();
  };
  step();
  const firstLoss = loss;
  const before = tf.memory().numTensors;
  const ms = timeIt(step, reps);
  const leaked = tf.memory().numTensors - before;
  let top: { kernel: string; ms: number }[] | undefined;
  if (profile) {
    const info = await tf.profile(step);
    const byKernel = new Map<string, number>();
    for (const k of info.kernels) {
      const t = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + t);
    }
    top = [...byKernel.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([kernel, t]) => ({ kernel, ms: round(t, 1) }));
  }
  opt.dispose();
  tf.dispose([images, labels, ...vars]);
  return top === undefined ? { ms, firstLoss, leaked } : { ms, firstLoss, leaked, top };
}

// --- main -----------------------------------------------------------------------------------

await initRuntime({ backend: 'wasm' });
const kernelReps = quick ? 2 : 4;
const rows: Row[] = CASES.map((c) => ({ label: c.label, kernel: c.kernel, gflop: c.flops / 1e9 }));

const matmul512 = matMulGflops(512, 512, 512, kernelReps);
const matmulTall = matMulGflops(144, 25088, 32, kernelReps);

CASES.forEach((c, i) => {
  if (hasKernel(c.kernel, 'wasm')) (rows[i] as Row).oldWasmMs = timeKernel(c, quick ? 1 : 2);
});
registerWasmTrainingKernels();
CASES.forEach((c, i) => {
  (rows[i] as Row).newWasmMs = timeKernel(c, kernelReps);
});
const wasmStep = await trainStep(quick ? 2 : 4, true);

await tf.setBackend('cpu');
CASES.forEach((c, i) => {
  (rows[i] as Row).cpuMs = timeKernel(c, 1);
});
const cpuStep = await trainStep(quick ? 1 : 2, false);

const gf = (gflop: number, ms: number | undefined) => (ms === undefined ? '   n/a' : (gflop / (ms / 1e3)).toFixed(2).padStart(6));
const msStr = (ms: number | undefined) => (ms === undefined ? '     n/a' : ms.toFixed(1).padStart(8));
console.log(`wasm matMul: 512x512x512 ${matmul512.toFixed(1)} GFLOP/s, 144x25088x32 ${matmulTall.toFixed(1)} GFLOP/s\n`);
console.log(
  'case'.padEnd(28) + 'kernel'.padEnd(37) + ' GFLOP' + '   new ms GFLOP/s' + '   old ms GFLOP/s' + '   cpu ms GFLOP/s' + '  new/cpu',
);
for (const r of rows) {
  const speedup = r.newWasmMs !== undefined && r.cpuMs !== undefined ? (r.cpuMs / r.newWasmMs).toFixed(1) + 'x' : 'n/a';
  console.log(
    r.label.padEnd(28) +
      r.kernel.padEnd(37) +
      r.gflop.toFixed(3).padStart(6) +
      msStr(r.newWasmMs) +
      ' ' +
      gf(r.gflop, r.newWasmMs) +
      msStr(r.oldWasmMs) +
      ' ' +
      gf(r.gflop, r.oldWasmMs) +
      msStr(r.cpuMs) +
      ' ' +
      gf(r.gflop, r.cpuMs) +
      speedup.padStart(9),
  );
}
const fwd = forwardFlops(8) / 1e9;
console.log(
  `\ntrain step (MobileNetV2-style, 112x112, batch 8, ~${fwd.toFixed(2)} GFLOP forward): ` +
    `wasm ${wasmStep.ms.toFixed(0)} ms/step, cpu ${cpuStep.ms.toFixed(0)} ms/step, ` +
    `cpu/wasm ${(cpuStep.ms / wasmStep.ms).toFixed(1)}x ` +
    `(first-step loss wasm ${wasmStep.firstLoss.toFixed(5)} vs cpu ${cpuStep.firstLoss.toFixed(5)}; ` +
    `leaked tensors wasm ${wasmStep.leaked}, cpu ${cpuStep.leaked})`,
);
console.log(`wasm step, top kernels (ms, nested kernels counted in their callers too): ${(wasmStep.top ?? []).map((t) => `${t.kernel} ${t.ms}`).join(', ')}`);
console.log(
  JSON.stringify({
    bench: 'wasmKernels',
    matMulGflops: { '512x512x512': round(matmul512), '144x25088x32': round(matmulTall) },
    kernels: rows.map((r) => ({
      case: r.label,
      kernel: r.kernel,
      gflop: round(r.gflop, 4),
      newWasmMs: maybe(r.newWasmMs),
      oldWasmMs: maybe(r.oldWasmMs),
      cpuMs: maybe(r.cpuMs),
    })),
    trainStep: {
      forwardGflop: round(fwd, 3),
      wasmMs: round(wasmStep.ms),
      cpuMs: round(cpuStep.ms),
      cpuOverWasm: round(cpuStep.ms / wasmStep.ms),
      firstLoss: { wasm: round(wasmStep.firstLoss, 5), cpu: round(cpuStep.firstLoss, 5) },
      wasmTopKernels: wasmStep.top ?? [],
    },
  }),
);

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function maybe(v: number | undefined): number | null {
  return v === undefined ? null : round(v);
}
