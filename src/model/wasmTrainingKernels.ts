/**
 * Fast convolution gradient kernels (and a fast `Tile`) for the tfjs wasm backend.
 *
 * Why: `@tensorflow/tfjs-backend-wasm` 4.22.0 has no `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter` or `DepthwiseConv2dNativeBackpropInput` kernel, so any
 * gradient through `conv2d` / `depthwiseConv2d` throws there; its `Conv2DBackpropInput`,
 * `Conv3D`, `Conv3DBackpropFilterV2` and `Conv3DBackpropInputV2` are scalar loops
 * (≈ 0.3–2 GFLOP/s against ≈ 20–35 GFLOP/s for its XNNPACK `conv2d`), and its `Tile` (used by
 * every batchNorm gradient) costs ≈ 100 ns per element. The `cpu` backend has the kernels
 * but runs them at ≈ 0.01–1 GFLOP/s. Training the backbone on a CPU-only machine needs them.
 *
 * How (bench/wasmKernels.ts has the numbers behind each choice):
 * - conv2d filter gradient: dW[i,j,ci,co] = Σ_{n,a,b} xpad[n, a·s+i·d, b·s+j·d, ci]·dy[n,a,b,co]
 *   is itself a convolution whose input is x with batch and channels swapped (`[Cin, H, W, N]`),
 *   whose filter is dy (`[Ho, Wo, N, Cout]`, dilated by the stride) and whose output is the
 *   `[Cin, kh, kw, Cout]` gradient; XNNPACK walks it with an indirection buffer, no im2col copy.
 *   1×1 stride-1: one matMul xᵀ·dy. Batch < 4, stride 1: per-tap slices + matMul.
 * - conv2d input gradient: stride 1, a conv of dy with the flipped filter; stride s, one conv
 *   producing the s² sub-pixel phases as channels, then depth-to-space.
 * - depthwise filter gradient: one input-stationary JavaScript pass over the wasm heap (every
 *   wasm-op formulation measured 2–7× slower); depthwise input gradient: a depthwise conv of
 *   the zero-upsampled dy with the flipped filter.
 * - conv3d and its gradients: sums over temporal taps of 2D convolutions over all frames.
 * - Tile: broadcast adds.
 * All but the depthwise filter gradient run as ordinary tfjs ops under `tf.tidy` inside the
 * kernel, so every intermediate is released and the result is handed to the engine as a
 * TensorInfo owned by the backend.
 *
 * @example
 * await initRuntime({ backend: 'wasm' });
 * registerWasmTrainingKernels();
 * const dw = tf.grad((w: tf.Tensor4D) => tf.sum(tf.conv2d(x, w, 1, 'same')))(w); // now on wasm
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { BackendUnavailableError, ShapeError, UnsupportedKernelError } from '../errors.ts';
import { float32View, registerFusedClipGradient } from './fusedTrainingOps.ts';
import { registerFusedBatchNormalization } from './layers/FusedBatchNormalization.ts';

type Pair = [number, number];
type Triple = [number, number, number];
type Shape4 = [number, number, number, number];
type Shape5 = [number, number, number, number, number];
type ExplicitPad = [Pair, Pair, Pair, Pair];
type Pad2D = 'same' | 'valid' | number | ExplicitPad;
type RoundingMode = 'floor' | 'round' | 'ceil';
type Conv2DInfo = backend_util.Conv2DInfo;

/** Below this batch size a stride-1 filter gradient uses im2col + matMul (measured crossover ≈ 4). */
const SMALL_BATCH = 4;

/** The tfjs kernels this module registers for the `wasm` backend. */
export const WASM_TRAINING_KERNEL_NAMES = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'Conv3D',
  'Conv3DBackpropFilterV2',
  'Conv3DBackpropInputV2',
  'Tile',
] as const;

export type WasmTrainingKernelName = (typeof WASM_TRAINING_KERNEL_NAMES)[number];

// ---------------------------------------------------------------------------------------------
// Attribute parsing: kernel attrs arrive untyped; reject what is not implemented, clearly.

function fail(kernel: string, attribute: string, message: string): never {
  throw new UnsupportedKernelError(kernel, attribute, `${kernel} on wasm: ${message}`);
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function readTuple<N extends 2 | 3>(
  kernel: string,
  attrs: NamedAttrMap,
  name: string,
  n: N,
  fallback?: number,
): N extends 2 ? Pair : Triple {
  const v = attrs[name] ?? fallback;
  let out: number[] | undefined;
  if (isInt(v)) out = new Array<number>(n).fill(v);
  else if (Array.isArray(v) && v.length === n && v.every(isInt)) out = v.slice() as number[];
  // tfjs also accepts the rank-length NHWC form [1, s, s, 1] in a few places.
  else if (Array.isArray(v) && v.length === n + 2 && v.every(isInt) && v[0] === 1 && v[n + 1] === 1) {
    out = (v as number[]).slice(1, n + 1);
  }
  if (out === undefined || out.some((x) => x < 1)) {
    fail(kernel, name, `attribute '${name}' must be a positive integer or ${n} of them, got ${JSON.stringify(v)}`);
  }
  return out as N extends 2 ? Pair : Triple;
}

function readPad2D(kernel: string, attrs: NamedAttrMap): Pad2D {
  const p = attrs['pad'];
  if (typeof p === 'string' && (p === 'same' || p === 'valid')) return p;
  if (isInt(p) && p >= 0) return p;
  if (
    Array.isArray(p) &&
    p.length === 4 &&
    p.every((q) => Array.isArray(q) && q.length === 2 && q.every((x) => isInt(x) && x >= 0))
  ) {
    return p as ExplicitPad;
  }
  return fail(kernel, 'pad', `pad must be 'same', 'valid', a number or explicit [[t,b]…] pairs, got ${JSON.stringify(p)}`);
}

function readPad3D(kernel: string, attrs: NamedAttrMap): 'same' | 'valid' {
  const p = attrs['pad'];
  if (typeof p === 'string' && (p === 'same' || p === 'valid')) return p;
  return fail(kernel, 'pad', `pad must be 'same' or 'valid', got ${JSON.stringify(p)}`);
}

function readRounding(kernel: string, attrs: NamedAttrMap): RoundingMode | undefined {
  const r = attrs['dimRoundingMode'];
  if (r === undefined || r === null) return undefined;
  if (typeof r === 'string' && (r === 'floor' || r === 'round' || r === 'ceil')) return r;
  return fail(kernel, 'dimRoundingMode', `dimRoundingMode must be floor, round or ceil, got ${JSON.stringify(r)}`);
}

function readShape<N extends 4 | 5>(kernel: string, attrs: NamedAttrMap, name: string, rank: N): N extends 4 ? Shape4 : Shape5 {
  const v = attrs[name];
  if (!Array.isArray(v) || v.length !== rank || !v.every((x) => isInt(x) && x >= 0)) {
    fail(kernel, name, `attribute '${name}' must be a rank-${rank} shape, got ${JSON.stringify(v)}`);
  }
  return (v as number[]).slice() as N extends 4 ? Shape4 : Shape5;
}

/** 'NHWC' → false, 'NCHW' → true; anything else is refused. */
function readChannelsFirst(kernel: string, attrs: NamedAttrMap): boolean {
  const f = attrs['dataFormat'] ?? 'NHWC';
  if (f === 'NHWC') return false;
  if (f === 'NCHW') return true;
  return fail(kernel, 'dataFormat', `dataFormat must be 'NHWC' or 'NCHW', got ${JSON.stringify(f)}`);
}

function checkStridesOrDilations(kernel: string, strides: readonly number[], dilations: readonly number[]): void {
  if (strides.some((s) => s > 1) && dilations.some((d) => d > 1)) {
    fail(kernel, 'dilations', `strides ${JSON.stringify(strides)} and dilations ${JSON.stringify(dilations)}: either must be all 1`);
  }
}

function input(kernel: string, inputs: NamedTensorInfoMap, name: string, rank: number): TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new ShapeError(`${kernel} on wasm: missing input '${name}'`);
  if (t.shape.length !== rank) {
    throw new ShapeError(`${kernel} on wasm: input '${name}' must be rank ${rank}, got shape [${t.shape.join(', ')}]`, {
      actual: t.shape,
    });
  }
  if (t.dtype !== 'float32') fail(kernel, 'dtype', `input '${name}' must be float32, got ${t.dtype}`);
  return t;
}

function expectShape(kernel: string, what: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((v, i) => v !== expected[i])) {
    throw new ShapeError(
      `${kernel} on wasm: ${what} has shape [${actual.join(', ')}], expected [${expected.join(', ')}]`,
      { expected, actual },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Running tfjs ops inside a kernel and handing the result back to the engine.

interface RefCountingBackend {
  incRef(dataId: object): void;
}

function isRefCounting(b: unknown): b is RefCountingBackend {
  return typeof b === 'object' && b !== null && typeof (b as { incRef?: unknown }).incRef === 'function';
}

/**
 * Runs `body` on tensors for the two inputs under `tf.tidy` and returns its result as a bare
 * TensorInfo the backend owns. Why: the engine wraps a kernel's TensorInfo output in a new
 * tensor, so the result gets one extra backend reference before our own tensor is disposed;
 * every intermediate dies with the tidy scope.
 */
function composite(
  backend: unknown,
  a: TensorInfo,
  b: TensorInfo,
  body: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
): TensorInfo {
  if (!isRefCounting(backend)) {
    throw new BackendUnavailableError('wasm', undefined, 'wasm training kernels: the backend has no incRef(); tfjs-core 4.x is required');
  }
  const out = tf.tidy(() => {
    const ta = asTensor(backend, a);
    const tb = asTensor(backend, b);
    const r = body(ta, tb);
    // Returning an input unchanged would let the dispose below free the caller's tensor.
    return r === ta || r === tb ? tf.clone(r) : r;
  });
  backend.incRef(out.dataId);
  const result: TensorInfo = { dataId: out.dataId, shape: out.shape.slice(), dtype: out.dtype };
  out.dispose();
  return result;
}

function asTensor(backend: RefCountingBackend, info: TensorInfo): tf.Tensor {
  if (info instanceof tf.Tensor) return info;
  // A bare TensorInfo (a kernel calling this one directly): the wrapper gets its own backend
  // reference, so disposing it at the end of the tidy leaves the caller's data alive.
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info);
}

// ---------------------------------------------------------------------------------------------
// Layout helpers (all through wasm kernels written in C++ or XNNPACK, never per-element JS).

function r3(t: tf.Tensor, shape: [number, number, number]): tf.Tensor3D {
  return tf.reshape<tf.Rank.R3>(t, shape);
}

function r4(t: tf.Tensor, shape: Shape4): tf.Tensor4D {
  return tf.reshape<tf.Rank.R4>(t, shape);
}

function shape4(t: tf.Tensor): Shape4 {
  const [a = 0, b = 0, c = 0, d = 0] = t.shape;
  return [a, b, c, d];
}

/**
 * `t[:, offH:offH+h, offW:offW+w, :]` as at most two slices over long contiguous runs
 * (the wasm Slice kernel copies one innermost run per JS call, so a plain 4D slice of an
 * NHWC tensor would make one call per pixel).
 */
function crop(t: tf.Tensor, offH: number, offW: number, h: number, w: number): tf.Tensor4D {
  const [n, hc, wc, c] = shape4(t);
  let r: tf.Tensor = t;
  if (offH !== 0 || h !== hc) r = tf.slice(tf.reshape(r, [n, hc, wc * c]), [0, offH, 0], [n, h, wc * c]);
  if (offW !== 0 || w !== wc) r = tf.slice(tf.reshape(r, [n * h, wc * c]), [0, offW * c], [n * h, w * c]);
  return tf.reshape(r, [n, h, w, c]);
}

/** Inserts s−1 zeros after every row (sH) and column (sW): dyU[a·s] = dy[a], length Ho·s. */
function zeroUpsample(t: tf.Tensor4D, sH: number, sW: number): tf.Tensor4D {
  const [n, h, w, c] = shape4(t);
  let r: tf.Tensor4D = t;
  if (sH > 1) {
    r = tf.reshape(tf.pad(tf.reshape(r, [n * h, 1, w * c]), [[0, 0], [0, sH - 1], [0, 0]]), [n, h * sH, w, c]);
  }
  if (sW > 1) {
    const hh = h * sH;
    r = tf.reshape(tf.pad(tf.reshape(r, [n * hh * w, 1, c]), [[0, 0], [0, sW - 1], [0, 0]]), [n, hh, w * sW, c]);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// 2D kernels, NHWC, on tensors. `info` is tfjs's own forward-conv description, so shapes,
// 'same' padding and dimRoundingMode match every other backend exactly.

/**
 * dy, transposed into the filter of the filter-gradient convolution: [Ho, Wo, N, Cout].
 * Split out so conv3d's filter gradient packs it once for all temporal taps (XNNPACK caches
 * the packed filter by tensor).
 */
function dyAsFilter(dy: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(dy, [1, 2, 0, 3]);
}

function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo, dyFilter?: tf.Tensor4D): tf.Tensor4D {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outHeight: ho, outWidth: wo, outChannels: cout } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left, bottom, right } = info.padInfo;
  if (n * ho * wo === 0) return tf.zeros([kh, kw, cin, cout]);
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && top === 0 && left === 0 && bottom === 0 && right === 0) {
    // Pointwise: one GEMM. XNNPACK's fast path needs an untransposed left operand.
    const xT = tf.transpose(tf.reshape(x, [n * h * w, cin]));
    return tf.reshape(tf.matMul(xT, tf.reshape(dy, [n * ho * wo, cout])), [1, 1, cin, cout]);
  }
  const padB = Math.max(0, (ho - 1) * sh + (kh - 1) * dh + 1 - h - top);
  const padR = Math.max(0, (wo - 1) * sw + (kw - 1) * dw + 1 - w - left);
  if (n < SMALL_BATCH && sh === 1 && sw === 1 && dyFilter === undefined) {
    // With 1–3 images the convolution below gets 1–3 channels per filter tap, too few for
    // XNNPACK's GEMM; im2col per tap (one slice over rows of Wo floats) + matMul wins.
    const hp = h + top + padB;
    const wp = w + left + padR;
    const xc = r3(tf.transpose(tf.pad(x, [[0, 0], [top, padB], [left, padR], [0, 0]]), [3, 0, 1, 2]), [cin * n, hp, wp]);
    const dy2 = tf.reshape(dy, [n * ho * wo, cout]); // packed once: XNNPACK caches it per tensor
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const tap = tf.reshape(tf.slice(xc, [0, i * dh, j * dw], [cin * n, ho, wo]), [cin, n * ho * wo]);
        taps.push(tf.matMul(tap, dy2));
      }
    }
    return r4(tf.stack(taps), [kh, kw, cin, cout]);
  }
  const g = tf.conv2d(
    tf.transpose(x, [3, 1, 2, 0]), // [Cin, H, W, N]: batch ↔ channels
    dyFilter ?? dyAsFilter(dy),
    [dh, dw],
    [[0, 0], [top, padB], [left, padR], [0, 0]],
    'NHWC',
    [sh, sw],
  ); // [Cin, ≥kh, ≥kw, Cout]
  return tf.transpose(crop(g, 0, 0, kh, kw), [1, 2, 0, 3]);
}

/**
 * Depthwise filter gradient, as one pass of plain JavaScript over the tensors' wasm memory:
 * for each dy pixel, the kh·kw input pixels it touched, multiply-add along channels.
 * Why not XNNPACK: every formulation as wasm ops measured slower (bench/wasmKernels.ts,
 * shapes [8,56,56,96]…[8,14,14,144]): a depthwise conv with dy as an Ho×Wo-tap filter streams
 * the whole input once per output tap (≈ 0.1–0.4 GFLOP/s), a grouped full conv wastes g× on
 * tiny GEMM tiles, and shifted slices + mul + sums pay the JavaScript `Slice` kernel 9 times.
 * This loop is input-stationary (each dy row stays in L1 for its kh·kw taps) and allocates
 * nothing but the [kh, kw, C, m] result; accumulation is in float64.
 */
function depthwiseFilterGrad(backend: unknown, x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo, outChannels: cm } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, filterHeight: kh, filterWidth: kw } = info;
  const m = cm / c;
  const { top, left } = info.padInfo;
  const xv = float32View(x, backend);
  const dv = float32View(dy, backend);
  const acc = new Float64Array(kh * kw * cm);
  for (let b = 0; b < n; b++) {
    for (let a = 0; a < ho; a++) {
      const dyRow = (b * ho + a) * wo * cm;
      for (let i = 0; i < kh; i++) {
        const xr = a * sh + i * dh - top;
        if (xr < 0 || xr >= h) continue;
        const xRow = (b * h + xr) * w * c;
        for (let j = 0; j < kw; j++) {
          const tap = (i * kw + j) * cm;
          // Output columns whose input column xc = col·sW + j·dW − left lies inside [0, W).
          const col0 = Math.max(0, Math.ceil((left - j * dw) / sw));
          const col1 = Math.min(wo, Math.floor((w - 1 + left - j * dw) / sw) + 1);
          const xBase = xRow + (j * dw - left) * c;
          const xStep = sw * c;
          if (m === 1) {
            // Four channels at a time in locals, columns innermost: 2× the naive loop in V8.
            let k = 0;
            for (; k + 4 <= c; k += 4) {
              let s0 = 0;
              let s1 = 0;
              let s2 = 0;
              let s3 = 0;
              for (let col = col0; col < col1; col++) {
                const xo = xBase + col * xStep + k;
                const d0 = dyRow + col * cm + k;
                s0 += (xv[xo] as number) * (dv[d0] as number);
                s1 += (xv[xo + 1] as number) * (dv[d0 + 1] as number);
                s2 += (xv[xo + 2] as number) * (dv[d0 + 2] as number);
                s3 += (xv[xo + 3] as number) * (dv[d0 + 3] as number);
              }
              acc[tap + k] = (acc[tap + k] as number) + s0;
              acc[tap + k + 1] = (acc[tap + k + 1] as number) + s1;
              acc[tap + k + 2] = (acc[tap + k + 2] as number) + s2;
              acc[tap + k + 3] = (acc[tap + k + 3] as number) + s3;
            }
            for (; k < c; k++) {
              let s0 = 0;
              for (let col = col0; col < col1; col++) s0 += (xv[xBase + col * xStep + k] as number) * (dv[dyRow + col * cm + k] as number);
              acc[tap + k] = (acc[tap + k] as number) + s0;
            }
          } else {
            for (let col = col0; col < col1; col++) {
              const xo = xBase + col * xStep;
              const d0 = dyRow + col * cm;
              for (let k = 0; k < c; k++) {
                const xk = xv[xo + k] as number;
                for (let q = 0; q < m; q++) {
                  const o = tap + k * m + q;
                  acc[o] = (acc[o] as number) + xk * (dv[d0 + k * m + q] as number);
                }
              }
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(Float32Array.from(acc), [kh, kw, c, m]);
}

/**
 * dx of a conv whose forward is described by `info`, given dy and the transformed filter
 * `flt` (flipped; [kh, kw, Cout, Cin] for conv2d, [kh, kw, C·m, 1] for depthwise):
 * dx[y] = Σ_i dyU[y + top − i·d]·W[i] = (dyU padded by (kh−1)·d − top) ⋆ flip(W).
 */
function inputGrad(dy: tf.Tensor4D, flt: tf.Tensor4D, info: Conv2DInfo, depthwise: boolean): tf.Tensor4D {
  const { inHeight: h, inWidth: w, outHeight: ho, outWidth: wo, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  const dyU = zeroUpsample(dy, sh, sw);
  const hu = ho * sh;
  const wu = wo * sw;
  const pt = (kh - 1) * dh - top;
  const pl = (kw - 1) * dw - left;
  const ptC = Math.max(pt, 0);
  const plC = Math.max(pl, 0);
  const offH = ptC - pt;
  const offW = plC - pl;
  const pb = Math.max(0, offH + h + (kh - 1) * dh - hu - ptC);
  const pr = Math.max(0, offW + w + (kw - 1) * dw - wu - plC);
  const pads: ExplicitPad = [[0, 0], [ptC, pb], [plC, pr], [0, 0]];
  const g = depthwise
    ? tf.depthwiseConv2d(dyU, flt, 1, pads, 'NHWC', [dh, dw])
    : tf.conv2d(dyU, flt, 1, pads, 'NHWC', [dh, dw]);
  return crop(g, offH, offW, h, w);
}

function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  if (info.strideHeight > 1 || info.strideWidth > 1) return conv2dInputGradSubPixel(dy, filter, info);
  const flt = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
  return inputGrad(dy, flt, info, false);
}

/**
 * Strided conv2d input gradient as one stride-1 conv producing all sH·sW output phases as
 * channels, then depth-to-space. Why: zero-upsampling dy wastes (s²−1)/s² of the work and
 * two full-size pad passes. With y + top = p·s + r, dx[y] = Σ_u dy[p − u]·W[r + u·s], so the
 * phase-r sub-filter is W's rows r, r+s, … flipped; all phases share the input dy.
 * Dilation is 1 here (tfjs forbids strides and dilations both > 1).
 */
function conv2dInputGradSubPixel(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outHeight: ho, outWidth: wo, outChannels: cout } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const u = Math.ceil(kh / sh);
  const v = Math.ceil(kw / sw);
  const wp = tf.pad(filter, [[0, u * sh - kh], [0, v * sw - kw], [0, 0], [0, 0]]);
  // F[a, b, co, (r, r', ci)] = W[r + (u−1−a)·sH, r' + (v−1−b)·sW, ci, co]
  const w6 = tf.reverse(tf.reshape(wp, [u, sh, v, sw, cin, cout]), [0, 2]);
  const f = r4(tf.transpose(w6, [0, 2, 5, 1, 3, 4]), [u, v, cout, sh * sw * cin]);
  const p = Math.floor((h + top - 1) / sh) + 1;
  const q = Math.floor((w + left - 1) / sw) + 1;
  const z = tf.conv2d(dy, f, 1, [[0, 0], [u - 1, Math.max(0, p - ho)], [v - 1, Math.max(0, q - wo)], [0, 0]]);
  const zc = crop(z, 0, 0, p, q); // [N, P, Q, sH·sW·Cin]
  // Interleave phases: row p·sH + r, column q·sW + r'.
  const y = r4(tf.transpose(tf.reshape(zc, [n * p, q, sh, sw * cin]), [0, 2, 1, 3]), [n, p * sh, q * sw, cin]);
  return crop(y, top, left, h, w);
}

function depthwiseInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const [kh, kw, c, m] = shape4(filter);
  const flt = r4(tf.reverse(filter, [0, 1]), [kh, kw, c * m, 1]);
  const dx = inputGrad(dy, flt, info, true); // [N, H, W, C·m]: one plane per (c, q)
  if (m === 1) return dx;
  const [n, h, w] = shape4(dx);
  return tf.sum(tf.reshape(dx, [n, h, w, c, m]), 4);
}

// ---------------------------------------------------------------------------------------------
// Kernel functions.

function conv2dAttrs(kernel: string, attrs: NamedAttrMap) {
  const strides = readTuple(kernel, attrs, 'strides', 2);
  // Conv2D's gradient kernels carry no dilations in tfjs; honour them if a caller passes some.
  const dilations = readTuple(kernel, attrs, 'dilations', 2, 1);
  checkStridesOrDilations(kernel, strides, dilations);
  const channelsFirst = readChannelsFirst(kernel, attrs);
  const pad = readPad2D(kernel, attrs);
  return {
    strides,
    dilations,
    // Explicit pads follow the data format; the work below is done in NHWC.
    pad: channelsFirst && Array.isArray(pad) ? ([pad[0], pad[2], pad[3], pad[1]] as ExplicitPad) : pad,
    rounding: readRounding(kernel, attrs),
    channelsFirst,
  };
}

function toNHWC(s: Shape4, channelsFirst: boolean): Shape4 {
  return channelsFirst ? [s[0], s[2], s[3], s[1]] : s;
}

const conv2dBackpropFilter: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'Conv2DBackpropFilter';
  const x = input(k, inputs, 'x', 4);
  const dy = input(k, inputs, 'dy', 4);
  const a = conv2dAttrs(k, attrs);
  const filterShape = readShape(k, attrs, 'filterShape', 4);
  const xShape = toNHWC(x.shape as Shape4, a.channelsFirst);
  if (xShape[3] !== filterShape[2]) {
    throw new ShapeError(`${k} on wasm: x has ${xShape[3]} channels but filterShape expects ${filterShape[2]}`, {
      expected: filterShape,
      actual: x.shape,
    });
  }
  const info = backend_util.computeConv2DInfo(xShape, filterShape, a.strides, a.dilations, a.pad, a.rounding, false);
  expectShape(k, 'dy', toNHWC(dy.shape as Shape4, a.channelsFirst), info.outShape);
  return composite(backend, x, dy, (xt, dyt) => {
    const x4 = xt as tf.Tensor4D;
    const dy4 = dyt as tf.Tensor4D;
    return a.channelsFirst
      ? conv2dFilterGrad(tf.transpose(x4, [0, 2, 3, 1]), tf.transpose(dy4, [0, 2, 3, 1]), info)
      : conv2dFilterGrad(x4, dy4, info);
  });
};

const conv2dBackpropInput: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'Conv2DBackpropInput';
  const dy = input(k, inputs, 'dy', 4);
  const filter = input(k, inputs, 'filter', 4);
  const a = conv2dAttrs(k, attrs);
  const inShape = toNHWC(readShape(k, attrs, 'inputShape', 4), a.channelsFirst);
  const fShape = filter.shape as Shape4;
  if (inShape[3] !== fShape[2]) {
    throw new ShapeError(`${k} on wasm: inputShape has ${inShape[3]} channels but the filter expects ${fShape[2]}`, {
      expected: fShape,
      actual: inShape,
    });
  }
  const info = backend_util.computeConv2DInfo(inShape, fShape, a.strides, a.dilations, a.pad, a.rounding, false);
  expectShape(k, 'dy', toNHWC(dy.shape as Shape4, a.channelsFirst), info.outShape);
  return composite(backend, dy, filter, (dyt, ft) => {
    const dy4 = dyt as tf.Tensor4D;
    const f4 = ft as tf.Tensor4D;
    if (!a.channelsFirst) return conv2dInputGrad(dy4, f4, info);
    return tf.transpose(conv2dInputGrad(tf.transpose(dy4, [0, 2, 3, 1]), f4, info), [0, 3, 1, 2]);
  });
};

function depthwiseAttrs(kernel: string, attrs: NamedAttrMap) {
  const strides = readTuple(kernel, attrs, 'strides', 2);
  const dilations = readTuple(kernel, attrs, 'dilations', 2, 1);
  checkStridesOrDilations(kernel, strides, dilations);
  if (readChannelsFirst(kernel, attrs)) fail(kernel, 'dataFormat', "only 'NHWC' is supported (as in tfjs)");
  return { strides, dilations, pad: readPad2D(kernel, attrs), rounding: readRounding(kernel, attrs) };
}

const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'DepthwiseConv2dNativeBackpropFilter';
  const x = input(k, inputs, 'x', 4);
  const dy = input(k, inputs, 'dy', 4);
  const a = depthwiseAttrs(k, attrs);
  const filterShape = readShape(k, attrs, 'filterShape', 4);
  if (x.shape[3] !== filterShape[2]) {
    throw new ShapeError(`${k} on wasm: x has ${x.shape[3]} channels but filterShape expects ${filterShape[2]}`, {
      expected: filterShape,
      actual: x.shape,
    });
  }
  const info = backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, a.strides, a.dilations, a.pad, a.rounding, true);
  expectShape(k, 'dy', dy.shape, info.outShape);
  return composite(backend, x, dy, (xt, dyt) => depthwiseFilterGrad(backend, xt as tf.Tensor4D, dyt as tf.Tensor4D, info));
};

const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'DepthwiseConv2dNativeBackpropInput';
  const dy = input(k, inputs, 'dy', 4);
  const filter = input(k, inputs, 'filter', 4);
  const a = depthwiseAttrs(k, attrs);
  const inShape = readShape(k, attrs, 'inputShape', 4);
  const fShape = filter.shape as Shape4;
  if (inShape[3] !== fShape[2]) {
    throw new ShapeError(`${k} on wasm: inputShape has ${inShape[3]} channels but the filter expects ${fShape[2]}`, {
      expected: fShape,
      actual: inShape,
    });
  }
  const info = backend_util.computeConv2DInfo(inShape, fShape, a.strides, a.dilations, a.pad, a.rounding, true);
  expectShape(k, 'dy', dy.shape, info.outShape);
  return composite(backend, dy, filter, (dyt, ft) => depthwiseInputGrad(dyt as tf.Tensor4D, ft as tf.Tensor4D, info));
};

// ---------------------------------------------------------------------------------------------
// Conv3D as temporal sums of 2D convolutions over frames (NDHWC only, as in tfjs).

function conv3dAttrs(kernel: string, attrs: NamedAttrMap, withDilations: boolean) {
  const f = attrs['dataFormat'] ?? 'NDHWC';
  if (f !== 'NDHWC') fail(kernel, 'dataFormat', `only 'NDHWC' is supported, got ${JSON.stringify(f)}`);
  const strides = readTuple(kernel, attrs, 'strides', 3);
  const dilations = withDilations ? readTuple(kernel, attrs, 'dilations', 3, 1) : ([1, 1, 1] as Triple);
  if (!withDilations && attrs['dilations'] !== undefined && readTuple(kernel, attrs, 'dilations', 3).some((d) => d !== 1)) {
    fail(kernel, 'dilations', 'dilations other than 1 are not supported');
  }
  checkStridesOrDilations(kernel, strides, dilations);
  return { strides, dilations, pad: readPad3D(kernel, attrs) };
}

/** The per-frame 2D problem of a conv3d: batch N·D frames, same spatial geometry. */
function frameInfo(info: backend_util.Conv3DInfo, frames: number, cin: number, cout: number): Conv2DInfo {
  const { top, bottom, left, right } = info.padInfo;
  return backend_util.computeConv2DInfo(
    [frames, info.inHeight, info.inWidth, cin],
    [info.filterHeight, info.filterWidth, cin, cout],
    [info.strideHeight, info.strideWidth],
    [info.dilationHeight, info.dilationWidth],
    [[0, 0], [top, bottom], [left, right], [0, 0]],
  );
}

/**
 * Frames `start + t·step` for t < count from `[N, Dp, R]` as `[N, count, R]`, with one slice
 * over contiguous runs of R (Dp must be a multiple of `step` when step > 1).
 */
function depthFrames(t: tf.Tensor3D, start: number, count: number, step: number): tf.Tensor3D {
  const [n = 0, dp = 0, r = 0] = t.shape;
  if (step === 1) return tf.slice(t, [0, start, 0], [n, count, r]);
  const q = Math.floor(start / step);
  const rem = start % step;
  return tf.slice(r3(t, [n, dp / step, step * r]), [0, q, rem * r], [n, count, r]);
}

/** Zero-pads axis 1 of `[N, D, R]` so that `need` frames exist after `front`, rounded up to `multiple`. */
function padDepth(t: tf.Tensor3D, front: number, need: number, multiple: number): tf.Tensor3D {
  const d = t.shape[1] ?? 0;
  let total = Math.max(need, d + front);
  total = Math.ceil(total / multiple) * multiple;
  const back = total - d - front;
  return front === 0 && back === 0 ? t : tf.pad(t, [[0, 0], [front, back], [0, 0]]);
}

const conv3d: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'Conv3D';
  const x = input(k, inputs, 'x', 5);
  const filter = input(k, inputs, 'filter', 5);
  const a = conv3dAttrs(k, attrs, true);
  if (x.shape[4] !== filter.shape[3]) {
    throw new ShapeError(`${k} on wasm: x has ${x.shape[4]} channels but the filter expects ${filter.shape[3]}`, {
      expected: filter.shape,
      actual: x.shape,
    });
  }
  const info = backend_util.computeConv3DInfo(x.shape as Shape5, filter.shape as Shape5, a.strides, a.dilations, a.pad);
  return composite(backend, x, filter, (xt, ft) => {
    const { batchSize: n, inDepth: d, inHeight: h, inWidth: w, inChannels: cin } = info;
    const { outDepth: dOut, outHeight: ho, outWidth: wo, outChannels: cout, filterDepth: kd } = info;
    const { strideDepth: sd, dilationDepth: dd } = info;
    if (n * dOut * ho * wo === 0) return tf.zeros(info.outShape);
    // All temporal taps in one XNNPACK conv: output channel k·Cout + co is tap k.
    const [, kh, kw] = filter.shape as Shape5;
    const wcat = r4(tf.transpose(ft, [1, 2, 3, 0, 4]), [kh, kw, cin, kd * cout]);
    const frames = r4(xt, [n * d, h, w, cin]);
    const { top, bottom, left, right } = info.padInfo;
    const z = tf.conv2d(frames, wcat, [info.strideHeight, info.strideWidth], [[0, 0], [top, bottom], [left, right], [0, 0]], 'NHWC', [
      info.dilationHeight,
      info.dilationWidth,
    ]); // [N·D, Ho, Wo, kd·Cout]
    const r = ho * wo * cout;
    // [kd, N·D, Ho·Wo, Cout] so each tap is a contiguous block.
    const taps = tf.transpose(tf.reshape(z, [n * d * ho * wo, kd, cout]), [1, 0, 2]);
    const front = info.padInfo.front;
    const need = (dOut - 1) * sd + (kd - 1) * dd + 1; // frames read, counted from the padded start
    const parts: tf.Tensor3D[] = [];
    for (let i = 0; i < kd; i++) {
      const tap = r3(tf.slice(taps, [i, 0, 0], [1, n * d * ho * wo, cout]), [n, d, r]);
      parts.push(depthFrames(padDepth(tap, front, need, sd), i * dd, dOut, sd));
    }
    return tf.reshape(parts.length === 1 ? (parts[0] as tf.Tensor3D) : tf.addN(parts), info.outShape);
  });
};

const conv3dBackpropInput: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'Conv3DBackpropInputV2';
  const dy = input(k, inputs, 'dy', 5);
  const filter = input(k, inputs, 'filter', 5);
  const a = conv3dAttrs(k, attrs, false);
  const inShape = readShape(k, attrs, 'inputShape', 5);
  if (inShape[4] !== filter.shape[3]) {
    throw new ShapeError(`${k} on wasm: inputShape has ${inShape[4]} channels but the filter expects ${filter.shape[3]}`, {
      expected: filter.shape,
      actual: inShape,
    });
  }
  const info = backend_util.computeConv3DInfo(inShape, filter.shape as Shape5, a.strides, 1, a.pad);
  expectShape(k, 'dy', dy.shape, info.outShape);
  return composite(backend, dy, filter, (dyt, ft) => {
    const { batchSize: n, inDepth: d, inHeight: h, inWidth: w, inChannels: cin } = info;
    const { outDepth: dOut, outHeight: ho, outWidth: wo, outChannels: cout, filterDepth: kd } = info;
    const sd = info.strideDepth;
    if (n * dOut * ho * wo === 0) return tf.zeros(inShape);
    const [, kh, kw] = filter.shape as Shape5;
    // Every frame of dy back through all temporal taps at once: input channel k·Cin + ci.
    const wcat = r4(tf.transpose(ft, [1, 2, 0, 3, 4]), [kh, kw, kd * cin, cout]);
    const fInfo = frameInfo(info, n * dOut, kd * cin, cout);
    const y = conv2dInputGrad(r4(dyt, [n * dOut, ho, wo, cout]), wcat, fInfo); // [N·Do, H, W, kd·Cin]
    const r = h * w * cin;
    const taps = tf.transpose(tf.reshape(y, [n * dOut * h * w, kd, cin]), [1, 0, 2]);
    // dx[z] = Σ_k Y_k[t] over z = t·sd + k − front: upsample t by sd, then shift each tap.
    const front = info.padInfo.front;
    const parts: tf.Tensor3D[] = [];
    for (let i = 0; i < kd; i++) {
      let tap = r3(tf.slice(taps, [i, 0, 0], [1, n * dOut * h * w, cin]), [n, dOut, r]);
      if (sd > 1) tap = r3(tf.pad(r3(tap, [n * dOut, 1, r]), [[0, 0], [0, sd - 1], [0, 0]]), [n, dOut * sd, r]);
      // dx[z] = tap[z + front − i]: pad i frames in front, read from `front`.
      parts.push(depthFrames(padDepth(tap, i, front + d, 1), front, d, 1));
    }
    return tf.reshape(parts.length === 1 ? (parts[0] as tf.Tensor3D) : tf.addN(parts), inShape);
  });
};

const conv3dBackpropFilter: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'Conv3DBackpropFilterV2';
  const x = input(k, inputs, 'x', 5);
  const dy = input(k, inputs, 'dy', 5);
  const a = conv3dAttrs(k, attrs, false);
  const filterShape = readShape(k, attrs, 'filterShape', 5);
  if (x.shape[4] !== filterShape[3]) {
    throw new ShapeError(`${k} on wasm: x has ${x.shape[4]} channels but filterShape expects ${filterShape[3]}`, {
      expected: filterShape,
      actual: x.shape,
    });
  }
  const info = backend_util.computeConv3DInfo(x.shape as Shape5, filterShape, a.strides, 1, a.pad);
  expectShape(k, 'dy', dy.shape, info.outShape);
  return composite(backend, x, dy, (xt, dyt) => {
    const { batchSize: n, inDepth: d, inHeight: h, inWidth: w, inChannels: cin } = info;
    const { outDepth: dOut, outHeight: ho, outWidth: wo, outChannels: cout, filterDepth: kd } = info;
    const sd = info.strideDepth;
    if (n * dOut * ho * wo === 0) return tf.zeros(filterShape);
    const fInfo = frameInfo(info, n * dOut, cin, cout);
    const dyFrames = r4(dyt, [n * dOut, ho, wo, cout]);
    const dyFilter = dyAsFilter(dyFrames); // shared by all taps: packed once
    const front = info.padInfo.front;
    const xp = padDepth(r3(xt, [n, d, h * w * cin]), front, (dOut - 1) * sd + kd, sd);
    const grads: tf.Tensor4D[] = [];
    for (let i = 0; i < kd; i++) {
      const xi = r4(depthFrames(xp, i, dOut, sd), [n * dOut, h, w, cin]);
      grads.push(conv2dFilterGrad(xi, dyFrames, fInfo, dyFilter));
    }
    return tf.stack(grads);
  });
};

// ---------------------------------------------------------------------------------------------
// Tile as broadcasts. Why: tfjs's batchNorm gradient tiles per-channel vectors to the full
// activation shape, and the wasm Tile kernel computes an index per element (≈ 100 ns each):
// it was 40 % of a MobileNetV2 training step. A broadcast add runs at memory speed.

function tileByBroadcast(x: tf.Tensor, reps: readonly number[]): tf.Tensor {
  const shape = x.shape.slice();
  let cur = x;
  for (let i = 0; i < reps.length; ) {
    let r = reps[i] ?? 1;
    if (r === 1) {
      i++;
      continue;
    }
    // Consecutive size-1 axes that all repeat tile as one broadcast.
    let j = i;
    if (shape[i] === 1) {
      while (j + 1 < reps.length && shape[j + 1] === 1 && (reps[j + 1] ?? 1) > 1) {
        j++;
        r *= reps[j] ?? 1;
      }
    }
    const p = shape.slice(0, i).reduce((a, b) => a * b, 1);
    const q = shape.slice(i).reduce((a, b) => a * b, 1);
    // [P, 1, D·Q'] + zeros[P, r, D·Q']: copy t of the block lands at t·D + d along axis i.
    cur = tf.add(tf.reshape(cur, [p, 1, q]), tf.zeros([p, r, q], cur.dtype));
    for (let k = i; k <= j; k++) shape[k] = (shape[k] ?? 1) * (reps[k] ?? 1);
    i = j + 1;
  }
  return tf.reshape(cur, shape);
}

const tile: KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const k = 'Tile';
  const x = inputs['x'];
  if (x === undefined) throw new ShapeError(`${k} on wasm: missing input 'x'`);
  const reps = attrs['reps'];
  if (!Array.isArray(reps) || reps.length !== x.shape.length || !reps.every((r) => isInt(r) && r >= 0)) {
    fail(k, 'reps', `reps must be ${x.shape.length} non-negative integers, got ${JSON.stringify(reps)}`);
  }
  const r = reps as number[];
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    fail(k, 'dtype', `dtype ${x.dtype} is not supported (float32, int32, bool)`);
  }
  return composite(backend, x, x, (xt) => {
    if (r.some((v) => v === 0)) return tf.zeros(xt.shape.map((d, i) => d * (r[i] ?? 1)), xt.dtype);
    if (xt.dtype === 'bool') return tf.cast(tileByBroadcast(tf.cast(xt, 'int32'), r), 'bool');
    return tileByBroadcast(xt, r);
  });
};

// ---------------------------------------------------------------------------------------------
// Registration.

const KERNEL_FUNCS: Readonly<Record<WasmTrainingKernelName, KernelFunc>> = {
  Conv2DBackpropFilter: conv2dBackpropFilter,
  Conv2DBackpropInput: conv2dBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
  Conv3D: conv3d,
  Conv3DBackpropFilterV2: conv3dBackpropFilter,
  Conv3DBackpropInputV2: conv3dBackpropInput,
  Tile: tile,
};

/** The kernel configs this module provides, e.g. to register them under another backend name. */
export const wasmTrainingKernelConfigs: readonly KernelConfig[] = WASM_TRAINING_KERNEL_NAMES.map((kernelName) => ({
  kernelName,
  backendName: 'wasm',
  kernelFunc: KERNEL_FUNCS[kernelName],
}));

/**
 * Register fast convolution-gradient kernels (and fast `Conv3D`, `Tile`) for the tfjs `wasm`
 * backend: the kernels named in `WASM_TRAINING_KERNEL_NAMES`.
 *
 * Why: without it, `tf.grad` through `conv2d` / `depthwiseConv2d` throws on wasm, and conv3d,
 * conv2d input gradients and batchNorm gradients (Tile) crawl; with it, a MobileNetV2-style
 * training step on wasm runs ≈ 60–100× faster than on the `cpu` backend (bench/wasmKernels.ts).
 * Idempotent: kernels already registered by this module are left alone; the wasm package's
 * own versions of `Conv2DBackpropInput`, `Conv3D`, `Conv3DBackpropFilterV2`,
 * `Conv3DBackpropInputV2` and `Tile` are replaced (unregistered first, so tfjs logs no warning).
 * Gradients also need tfjs-core's gradient registry, which `@tensorflow/tfjs-layers` fills
 * when imported (tfjs-core's own node bundle does not).
 * Call it after `@tensorflow/tfjs-backend-wasm` is imported (e.g. after
 * `initRuntime({ backend: 'wasm' })`), since importing that package registers its kernels
 * and would replace these.
 *
 * @example
 * await initRuntime({ backend: 'wasm' });
 * registerWasmTrainingKernels();
 * @returns nothing; throws `BackendUnavailableError` if the wasm backend package is not loaded.
 */
export function registerWasmTrainingKernels(): void {
  // A wasm package that was never imported would register its own kernels later, over ours.
  if (getWasmKernel('Conv2D') === undefined) {
    throw new BackendUnavailableError(
      'wasm',
      '@tensorflow/tfjs-backend-wasm',
      'registerWasmTrainingKernels: the wasm backend is not loaded; import @tensorflow/tfjs-backend-wasm ' +
        "(or await initRuntime({ backend: 'wasm' })) first",
    );
  }
  for (const config of wasmTrainingKernelConfigs) {
    const existing = getWasmKernel(config.kernelName);
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
  }
  // The elementwise half of a training step (see fusedTrainingOps.ts).
  registerFusedClipGradient();
  registerFusedBatchNormalization();
}

function getWasmKernel(name: string): KernelConfig | undefined {
  // tfjs types getKernel as always returning a config; it returns undefined when absent.
  const k: KernelConfig | undefined = tf.getKernel(name, 'wasm');
  return k;
}
