import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tf.grad needs tfjs-core's gradient registry, which tfjs-layers' bundle fills.
import '@tensorflow/tfjs-layers';
import { initRuntime } from '../../src/model/runtime.ts';
import {
  registerWasmTrainingKernels,
  wasmTrainingKernelConfigs,
  WASM_TRAINING_KERNEL_NAMES,
} from '../../src/model/wasmTrainingKernels.ts';
import { BackendUnavailableError, ShapeError, UnsupportedKernelError } from '../../src/errors.ts';

type Shape4 = [number, number, number, number];
type Shape5 = [number, number, number, number, number];
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

before(async () => {
  await initRuntime({ backend: 'wasm' });
  registerWasmTrainingKernels();
});

/** Deterministic values in [-1, 1): tests must not depend on Math.random. */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** max |a − b| / max |b|: one number per tensor, robust to tiny reference entries. */
function relErr(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
  }
  return diff / (scale || 1);
}

/** Runs `f` on `backend` and returns the data of the tensors it returns (all disposed). */
async function runOn(backend: 'wasm' | 'cpu', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const data = out.map((t) => t.dataSync() as Float32Array);
  tf.dispose(out);
  await tf.setBackend('wasm');
  return data;
}

async function assertSameOnBoth(what: string, f: () => tf.Tensor[]): Promise<void> {
  const wasm = await runOn('wasm', f);
  const cpu = await runOn('cpu', f);
  assert.equal(wasm.length, cpu.length);
  wasm.forEach((w, i) => {
    const e = relErr(w, cpu[i] as Float32Array);
    assert.ok(e < 1e-4, `${what}, output ${i}: relative error ${e} (wasm vs cpu)`);
  });
}

function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

test('conv2d gradients (filter and input) on wasm equal the cpu backend', async () => {
  const cases: { x: Shape4; f: Shape4; s: number | [number, number]; pad: Pad }[] = [
    { x: [3, 10, 10, 4], f: [3, 3, 4, 5], s: 1, pad: 'same' },
    { x: [4, 10, 10, 4], f: [3, 3, 4, 5], s: 1, pad: 'valid' },
    { x: [1, 10, 9, 4], f: [3, 3, 4, 5], s: 1, pad: 'same' }, // batch 1: im2col path
    { x: [3, 10, 10, 4], f: [3, 3, 4, 5], s: 2, pad: 'same' },
    { x: [2, 9, 9, 4], f: [3, 3, 4, 5], s: 2, pad: 'same' }, // odd size: top = left = 1
    { x: [2, 11, 9, 4], f: [3, 3, 4, 5], s: 2, pad: 'valid' },
    { x: [3, 8, 8, 6], f: [1, 1, 6, 7], s: 1, pad: 'same' },
    { x: [3, 8, 8, 6], f: [1, 1, 6, 7], s: 2, pad: 'valid' },
    { x: [2, 9, 8, 3], f: [3, 2, 3, 4], s: [2, 1], pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
    { x: [2, 24, 8, 2], f: [3, 3, 2, 1], s: 1, pad: 'same' }, // GSF fuse: 2 → 1 channels
  ];
  for (const c of cases) {
    const xv = values(size(c.x), 1);
    const wv = values(size(c.f), 2);
    await assertSameOnBoth(`conv2d x${c.x} f${c.f} s${c.s} ${JSON.stringify(c.pad)}`, () => {
      const x = tf.tensor4d(xv, c.x);
      const w = tf.tensor4d(wv, c.f);
      const y = tf.conv2d(x, w, c.s, c.pad);
      const r = tf.tensor(values(y.size, 3), y.shape); // a non-uniform dy
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), r)))([
        x,
        w,
      ]);
      return [dx as tf.Tensor, dw as tf.Tensor];
    });
  }
});

test('depthwiseConv2d gradients on wasm equal the cpu backend (multiplier 1 and 2)', async () => {
  const cases: { x: Shape4; k: number; m: number; s: number; pad: Pad }[] = [
    { x: [3, 10, 10, 12], k: 3, m: 1, s: 1, pad: 'same' },
    { x: [3, 10, 10, 12], k: 3, m: 1, s: 2, pad: 'same' },
    { x: [2, 9, 9, 12], k: 3, m: 1, s: 2, pad: 'same' },
    { x: [2, 11, 9, 5], k: 3, m: 2, s: 2, pad: 'valid' },
    { x: [2, 8, 8, 6], k: 1, m: 1, s: 1, pad: 'same' },
    { x: [2, 9, 10, 4], k: 3, m: 2, s: 1, pad: [[0, 0], [0, 2], [1, 1], [0, 0]] },
  ];
  for (const c of cases) {
    const f: Shape4 = [c.k, c.k, c.x[3], c.m];
    const xv = values(size(c.x), 4);
    const wv = values(size(f), 5);
    await assertSameOnBoth(`depthwise x${c.x} k${c.k} m${c.m} s${c.s} ${JSON.stringify(c.pad)}`, () => {
      const x = tf.tensor4d(xv, c.x);
      const w = tf.tensor4d(wv, f);
      const y = tf.depthwiseConv2d(x, w, c.s, c.pad);
      const r = tf.tensor(values(y.size, 6), y.shape);
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), r));
      const [dx, dw] = tf.grads(loss)([x, w]);
      return [dx as tf.Tensor, dw as tf.Tensor];
    });
  }
});

test('Conv2DBackpropFilter / Conv2DBackpropInput accept NCHW like the cpu backend', async () => {
  const x: Shape4 = [2, 3, 9, 9];
  const f: Shape4 = [3, 3, 3, 4];
  const pads: (number | 'same' | Pad)[] = ['same', [[0, 0], [0, 0], [2, 0], [1, 3]]];
  for (const pad of pads) {
    const info = tf.backend_util.computeConv2DInfo(x, f, 2, 1, pad, undefined, false, 'channelsFirst');
    const xv = values(size(x), 7);
    const dyv = values(size(info.outShape), 8);
    const fv = values(size(f), 9);
    await assertSameOnBoth(`NCHW ${JSON.stringify(pad)}`, () => {
      const attrs = { strides: 2, pad, dataFormat: 'NCHW' };
      const dy = tf.tensor(dyv, info.outShape);
      return [
        runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, x), dy }, { ...attrs, filterShape: f }),
        runKernel('Conv2DBackpropInput', { dy, filter: tf.tensor(fv, f) }, { ...attrs, inputShape: x }),
      ];
    });
  }
});

/** Direct loops for a dilated depthwise conv's gradients (the cpu kernels ignore dilation). */
function depthwiseGradReference(
  x: Float32Array,
  xs: Shape4,
  w: Float32Array,
  fs: Shape4,
  dy: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): { dw: Float32Array; dx: Float32Array } {
  const [n, h, wd, c] = xs;
  const [kh, kw, , m] = fs;
  const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dwl } = info;
  const { top, left } = info.padInfo;
  const dW = new Float32Array(size(fs));
  const dX = new Float32Array(size(xs));
  for (let b = 0; b < n; b++)
    for (let a = 0; a < ho; a++)
      for (let col = 0; col < wo; col++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const y = a * sh + i * dh - top;
            const xc = col * sw + j * dwl - left;
            if (y < 0 || y >= h || xc < 0 || xc >= wd) continue;
            for (let k = 0; k < c; k++)
              for (let q = 0; q < m; q++) {
                const g = dy[((b * ho + a) * wo + col) * c * m + k * m + q] ?? 0;
                const xi = ((b * h + y) * wd + xc) * c + k;
                const wi = ((i * kw + j) * c + k) * m + q;
                dW[wi] = (dW[wi] ?? 0) + (x[xi] ?? 0) * g;
                dX[xi] = (dX[xi] ?? 0) + (w[wi] ?? 0) * g;
              }
          }
  return { dw: dW, dx: dX };
}

test('depthwise gradient kernels honour dilations (against direct loops)', () => {
  for (const { xs, fs, pad } of [
    { xs: [2, 11, 10, 3] as Shape4, fs: [3, 3, 3, 1] as Shape4, pad: 'same' as const },
    { xs: [2, 12, 9, 2] as Shape4, fs: [3, 2, 2, 2] as Shape4, pad: 'valid' as const },
  ]) {
    const info = tf.backend_util.computeConv2DInfo(xs, fs, 1, 2, pad, undefined, true);
    const xv = values(size(xs), 10);
    const wv = values(size(fs), 11);
    const dyv = values(size(info.outShape), 12);
    const ref = depthwiseGradReference(xv, xs, wv, fs, dyv, info);
    const attrs = { strides: 1, dilations: 2, pad };
    const dw = tf.tidy(() =>
      runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor(xv, xs), dy: tf.tensor(dyv, info.outShape) }, { ...attrs, filterShape: fs }),
    );
    const dx = tf.tidy(() =>
      runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor(dyv, info.outShape), filter: tf.tensor(wv, fs) }, { ...attrs, inputShape: xs }),
    );
    assert.ok(relErr(dw.dataSync() as Float32Array, ref.dw) < 1e-5, `dilated dW ${xs} ${fs} ${pad}`);
    assert.ok(relErr(dx.dataSync() as Float32Array, ref.dx) < 1e-5, `dilated dX ${xs} ${fs} ${pad}`);
    tf.dispose([dw, dx]);
  }
});

test('Conv2DBackpropFilter honours a dilations attribute (against direct loops)', () => {
  for (const xs of [[1, 11, 10, 3], [5, 11, 10, 3]] as Shape4[]) {
    const fs: Shape4 = [3, 2, 3, 2];
    const info = tf.backend_util.computeConv2DInfo(xs, fs, 1, 2, 'same');
    const xv = values(size(xs), 29);
    const dyv = values(size(info.outShape), 30);
    const [n, h, w, c] = xs;
    const ref = new Float32Array(size(fs));
    for (let b = 0; b < n; b++)
      for (let a = 0; a < info.outHeight; a++)
        for (let col = 0; col < info.outWidth; col++)
          for (let i = 0; i < fs[0]; i++)
            for (let j = 0; j < fs[1]; j++) {
              const y = a + 2 * i - info.padInfo.top;
              const xc = col + 2 * j - info.padInfo.left;
              if (y < 0 || y >= h || xc < 0 || xc >= w) continue;
              for (let k = 0; k < c; k++)
                for (let o = 0; o < fs[3]; o++) {
                  const wi = ((i * fs[1] + j) * c + k) * fs[3] + o;
                  ref[wi] = (ref[wi] ?? 0) + (xv[((b * h + y) * w + xc) * c + k] ?? 0) * (dyv[((b * info.outHeight + a) * info.outWidth + col) * fs[3] + o] ?? 0);
                }
            }
    const dw = tf.tidy(() =>
      runKernel(
        'Conv2DBackpropFilter',
        { x: tf.tensor(xv, xs), dy: tf.tensor(dyv, info.outShape) },
        { strides: 1, dilations: 2, pad: 'same', dataFormat: 'NHWC', filterShape: fs },
      ),
    );
    assert.ok(relErr(dw.dataSync() as Float32Array, ref) < 1e-5, `dilated conv2d dW, batch ${n}`);
    dw.dispose();
  }
});

test('conv3d forward and gradients on wasm equal the cpu backend (GSF gate shapes)', async () => {
  const cases: { x: Shape5; f: Shape5; s: number | [number, number, number]; pad: 'same' | 'valid' }[] = [
    { x: [2, 6, 7, 7, 6], f: [3, 3, 3, 6, 1], s: 1, pad: 'same' },
    { x: [2, 5, 6, 6, 4], f: [3, 3, 3, 4, 2], s: 1, pad: 'valid' },
    { x: [1, 7, 8, 6, 3], f: [3, 2, 3, 3, 2], s: [2, 1, 2], pad: 'same' },
  ];
  for (const c of cases) {
    const xv = values(size(c.x), 13);
    const wv = values(size(c.f), 14);
    await assertSameOnBoth(`conv3d x${c.x} f${c.f} s${c.s} ${c.pad}`, () => {
      const x = tf.tensor5d(xv, c.x);
      const w = tf.tensor5d(wv, c.f);
      const y = tf.conv3d(x, w, c.s, c.pad);
      const r = tf.tensor(values(y.size, 15), y.shape);
      const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, c.s, c.pad), r));
      const [dx, dw] = tf.grads(loss)([x, w]);
      return [y, dx as tf.Tensor, dw as tf.Tensor];
    });
  }
});

test('dilated conv3d forward on wasm equals the cpu backend', async () => {
  const x: Shape5 = [2, 7, 8, 7, 3];
  const f: Shape5 = [3, 3, 2, 3, 2];
  const xv = values(size(x), 31);
  const wv = values(size(f), 32);
  for (const dilations of [[2, 1, 1], [1, 2, 2]] as [number, number, number][]) {
    await assertSameOnBoth(`conv3d dilations ${dilations}`, () => [
      tf.conv3d(tf.tensor5d(xv, x), tf.tensor5d(wv, f), 1, 'same', 'NDHWC', dilations),
    ]);
  }
});

test('Tile on wasm equals the cpu backend for float32, int32 and bool', async () => {
  const cases: { shape: number[]; reps: number[] }[] = [
    { shape: [1, 1, 1, 5], reps: [2, 3, 4, 1] },
    { shape: [2, 3], reps: [3, 2] },
    { shape: [2, 1, 3], reps: [1, 4, 2] },
    { shape: [1, 2, 1, 3], reps: [2, 2, 3, 1] },
    { shape: [3], reps: [0] },
  ];
  for (const { shape, reps } of cases) {
    const v = values(size(shape), 16);
    await assertSameOnBoth(`tile ${shape} x ${reps}`, () => [
      tf.tile(tf.tensor(v, shape), reps),
      tf.cast(tf.tile(tf.cast(tf.mul(tf.tensor(v, shape), 100), 'int32'), reps), 'float32'),
      tf.cast(tf.tile(tf.greater(tf.tensor(v, shape), 0), reps), 'float32'),
    ]);
  }
});

/** One SGD step of a tiny MobileNetV2-style block with batch norm: every gradient kernel at once. */
function trainingGrads(): tf.Tensor[] {
  const x = tf.tensor4d(values(2 * 16 * 16 * 3, 17), [2, 16, 16, 3]);
  const params = {
    stem: tf.tensor4d(values(3 * 3 * 3 * 8, 18), [3, 3, 3, 8]),
    expand: tf.tensor4d(values(8 * 16, 19), [1, 1, 8, 16]),
    dw: tf.tensor4d(values(3 * 3 * 16, 20), [3, 3, 16, 1]),
    project: tf.tensor4d(values(16 * 8, 21), [1, 1, 16, 8]),
    gamma: tf.tensor1d(values(16, 22).map((v) => 1 + v / 4)),
    beta: tf.tensor1d(values(16, 23)),
  };
  const f = (stem: tf.Tensor, expand: tf.Tensor, dw: tf.Tensor, project: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
    const h0 = tf.relu6(tf.conv2d(x, stem as tf.Tensor4D, 2, 'same'));
    const h1 = tf.conv2d(h0, expand as tf.Tensor4D, 1, 'same');
    const { mean, variance } = tf.moments(h1, [0, 1, 2]);
    const h2 = tf.relu6(tf.batchNorm(h1, mean as tf.Tensor1D, variance as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-3));
    const h3 = tf.relu6(tf.depthwiseConv2d(h2, dw as tf.Tensor4D, 2, 'same'));
    const h4 = tf.conv2d(h3, project as tf.Tensor4D, 1, 'same');
    return tf.mean(tf.square(tf.sub(h4, 0.5)));
  };
  const args = [params.stem, params.expand, params.dw, params.project, params.gamma, params.beta];
  const { value, grads } = tf.valueAndGrads((...a: tf.Tensor[]) => {
    const [s, e, d, p, g, b] = a;
    if (s === undefined || e === undefined || d === undefined || p === undefined || g === undefined || b === undefined) throw new Error('args');
    return f(s, e, d, p, g, b) as tf.Scalar;
  })(args);
  return [value, ...grads];
}

test('a MobileNetV2-style block with batch norm trains on wasm with the cpu backend gradients', async () => {
  await assertSameOnBoth('training step gradients', trainingGrads);
});

test('no tensors or wasm buffers leak across many gradient calls', () => {
  const x = tf.tensor4d(values(2 * 12 * 12 * 8, 24), [2, 12, 12, 8]);
  const w = tf.tensor4d(values(3 * 3 * 8 * 4, 25), [3, 3, 8, 4]);
  const dwf = tf.tensor4d(values(3 * 3 * 8, 26), [3, 3, 8, 1]);
  const x5 = tf.tensor5d(values(1 * 4 * 6 * 6 * 3, 27), [1, 4, 6, 6, 3]);
  const w5 = tf.tensor5d(values(27 * 3, 28), [3, 3, 3, 3, 1]);
  const v = tf.tensor1d([1, 2, 3]);
  // No tidy here: a tensor a kernel forgot to release must stay visible to the counts below.
  const once = () => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.add(
        tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
        tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 1, 'same')),
      ),
    )([x, w, dwf]);
    const g3 = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, 1, 'same')))([x5, w5]);
    const t = tf.tile(v, [4]);
    tf.dispose([...g, ...g3, t]);
  };
  once(); // first calls may create lazily cached state
  const backend = tf.backend();
  const tensorsBefore = tf.memory().numTensors;
  const idsBefore = backend.numDataIds();
  for (let i = 0; i < 20; i++) once();
  assert.equal(tf.memory().numTensors, tensorsBefore, 'tfjs tensors leaked');
  assert.equal(backend.numDataIds(), idsBefore, 'wasm data buffers leaked');
  tf.dispose([x, w, dwf, x5, w5, v]);
});

test('registration is idempotent, installs every kernel, and logs no override warning twice', () => {
  const warnings: unknown[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args);
  };
  try {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(warnings, []);
  for (const config of wasmTrainingKernelConfigs) {
    assert.equal(tf.getKernel(config.kernelName, 'wasm').kernelFunc, config.kernelFunc, config.kernelName);
  }
  assert.deepEqual(
    wasmTrainingKernelConfigs.map((c) => c.kernelName),
    [...WASM_TRAINING_KERNEL_NAMES],
  );
});

test('registration refuses to run before the wasm backend package is loaded', () => {
  const conv = tf.getKernel('Conv2D', 'wasm');
  tf.unregisterKernel('Conv2D', 'wasm');
  try {
    assert.throws(() => registerWasmTrainingKernels(), BackendUnavailableError);
  } finally {
    tf.registerKernel(conv);
  }
});

test('unsupported attributes and bad shapes fail with clear typed errors', () => {
  const x = tf.zeros([1, 6, 6, 2]);
  const dy = tf.zeros([1, 6, 6, 3]);
  const base = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
  const expectUnsupported = (fn: () => unknown, attribute: string, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof UnsupportedKernelError && e.attribute === attribute && pattern.test(e.message));
  expectUnsupported(() => runKernel('Conv2DBackpropFilter', { x, dy }, { ...base, dataFormat: 'NWHC' }), 'dataFormat', /NHWC/);
  expectUnsupported(
    () => runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: tf.zeros([1, 3, 3, 2]) }, { ...base, strides: 2, dilations: 2, filterShape: [3, 3, 2, 1] }),
    'dilations',
    /either must be all 1/,
  );
  expectUnsupported(() => runKernel('Conv2DBackpropFilter', { x: tf.zeros([1, 6, 6, 2], 'int32'), dy }, base), 'dtype', /float32/);
  expectUnsupported(() => runKernel('Conv2DBackpropFilter', { x, dy }, { ...base, pad: 'full' }), 'pad', /same/);
  expectUnsupported(
    () => runKernel('Conv3D', { x: tf.zeros([1, 2, 4, 4, 2]), filter: tf.zeros([1, 1, 1, 2, 1]) }, { strides: 1, pad: 'same', dataFormat: 'NCDHW', dilations: 1 }),
    'dataFormat',
    /NDHWC/,
  );
  expectUnsupported(() => runKernel('Tile', { x: tf.tensor1d(['a'], 'string') }, { reps: [2] }), 'dtype', /string/);
  assert.throws(
    () => runKernel('Conv2DBackpropFilter', { x, dy: tf.zeros([1, 5, 6, 3]) }, base),
    (e: unknown) => e instanceof ShapeError && /dy has shape \[1, 5, 6, 3\], expected \[1, 6, 6, 3\]/.test(e.message),
  );
  tf.dispose([x, dy]);
});
