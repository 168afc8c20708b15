/**
 * One-pass JavaScript versions of the two training-time ops whose tfjs gradients are chains of
 * full-size elementwise kernels: batch normalisation over the batch (with its moments) and
 * ReLU6's clip.
 *
 * Why: profiling one stage-1 step of the default backbone on wasm (4 clips, 1.87 s) put 1.3 s
 * outside the convolutions. tfjs computes a training BatchNorm as `moments` (Mean, Sub, Square,
 * Mean) then `batchNorm`, and its gradient as about a dozen kernels that each read or write the
 * whole activation (Sum 360 ms, Mean 149 ms, Multiply, Sub, Tile …); ReLU6's ClipByValue
 * gradient is GreaterEqual + LessEqual + LogicalAnd + ZerosLike + Select (≈ 270 ms). Each of
 * those is a memory-bound pass, so doing the same arithmetic in two passes per direction (stats,
 * then output) reads the activation 2–3× instead of ~15×. bench/trainStep.ts measures both side by
 * side (stage-1 step, 4 clips: 1.87 s with tfjs' ops, about 1.2 s fused).
 *
 * Only the `wasm` and `cpu` backends take the fused path (their data can be read as a
 * Float32Array, from the wasm heap without a copy); on a native or GPU backend reading the data
 * back would cost more than it saves, so the standard tfjs ops run there.
 *
 * @example
 * const { y, mean, variance } = batchNormTraining(x, gamma, beta, 1e-3); // x: [..., C]
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap } from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.ts';

/** Backends whose tensors this module reads directly. */
const FUSED_BACKENDS = new Set(['wasm', 'cpu']);

/** Environment switch: `CLIPWISE_FUSED_TRAINING=off` runs tfjs' own ops (bench/trainStep.ts compares both). */
export const FUSED_TRAINING_ENV = 'CLIPWISE_FUSED_TRAINING';

/** Whether the fused JavaScript path runs on the current backend (read per call, so a bench can switch). */
export function fusedTrainingAvailable(): boolean {
  return FUSED_BACKENDS.has(tf.getBackend()) && process.env[FUSED_TRAINING_ENV] !== 'off';
}

interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): unknown;
}

function hasHeap(b: unknown): b is HeapBackend {
  return typeof b === 'object' && b !== null && typeof (b as { typedArrayFromHeap?: unknown }).typedArrayFromHeap === 'function';
}

/**
 * A float32 view of a tensor's values: the wasm heap itself when the backend offers it (no copy;
 * valid until the next tensor allocation, so read every input before allocating outputs), else
 * the backend's values (cpu) or a copy. Shared with the JavaScript kernels of wasmTrainingKernels.ts.
 *
 * @param t a float32 tensor. @param backend the backend holding it (default: the current one).
 * @returns its values.
 */
export function float32View(t: tf.Tensor, backend: unknown = tf.backend()): Float32Array {
  if (hasHeap(backend)) {
    const v = backend.typedArrayFromHeap(t);
    if (v instanceof Float32Array) return v;
  }
  const d = t.dataSync();
  return d instanceof Float32Array ? d : Float32Array.from(d);
}

function channelsOf(op: string, x: tf.Tensor): number {
  const c = x.shape[x.rank - 1];
  if (x.rank < 2 || c === undefined || c === 0 || x.dtype !== 'float32') {
    throw new ShapeError(`${op}: expected a float32 tensor [..., C] of rank ≥ 2, got ${x.dtype} [${x.shape.join(', ')}]`, {
      actual: x.shape,
    });
  }
  return c;
}

/** Result of {@link batchNormTraining}: the normalised tensor and the batch moments it used. */
export interface BatchNormTrainingResult {
  /** γ·(x − mean)/√(var + ε) + β, the shape of x. */
  readonly y: tf.Tensor;
  /** Per-channel batch mean [C]. */
  readonly mean: tf.Tensor1D;
  /** Per-channel biased batch variance [C] (tfjs `moments`' convention, as tfjs-layers uses). */
  readonly variance: tf.Tensor1D;
}

/**
 * Training-mode batch normalisation over every axis but the last, with a fused gradient:
 * dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy — the same function and
 * gradient as tfjs-layers' `moments` + `batchNormalization` (gradients flow through the batch
 * statistics), in two passes per direction. `mean` and `variance` carry no gradient (they feed
 * the moving averages).
 *
 * @param x float32 [..., C]. @param gamma scale [C]. @param beta offset [C].
 * @param epsilon variance epsilon.
 * @returns y, mean and variance (new tensors; the caller disposes them or runs in a tidy).
 * @throws ShapeError when gamma or beta do not have C values.
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): BatchNormTrainingResult {
  const c = channelsOf('batchNormTraining', x);
  if (gamma.size !== c || beta.size !== c) {
    throw new ShapeError(`batchNormTraining: gamma and beta need ${c} values (one per channel), got ${gamma.size} and ${beta.size}`, {
      expected: [c],
      actual: gamma.shape,
    });
  }
  if (!fusedTrainingAvailable()) {
    return tf.tidy(() => {
      const m = tf.moments(x, [...Array(x.rank - 1).keys()]);
      const y = tf.batchNorm(x, m.mean, m.variance, beta, gamma, epsilon);
      return { y, mean: m.mean as tf.Tensor1D, variance: m.variance as tf.Tensor1D };
    });
  }
  const stats: { mean?: tf.Tensor1D; variance?: tf.Tensor1D } = {};
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, gIn, bIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const g = Float64Array.from(float32View(gIn));
    const b = Float64Array.from(float32View(bIn));
    const xv = float32View(xIn);
    const rows = xv.length / c;
    const sum = new Float64Array(c);
    const sumSq = new Float64Array(c);
    for (let r = 0, i = 0; r < rows; r++) {
      for (let k = 0; k < c; k++, i++) {
        const v = xv[i] as number;
        sum[k] = (sum[k] as number) + v;
        sumSq[k] = (sumSq[k] as number) + v * v;
      }
    }
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    const invStd = new Float64Array(c);
    const scale = new Float64Array(c);
    const shift = new Float64Array(c);
    for (let k = 0; k < c; k++) {
      const m = (sum[k] as number) / rows;
      // E[x²] − m² in float64; clamped because rounding can take it a hair below zero.
      const v = Math.max(0, (sumSq[k] as number) / rows - m * m);
      mean[k] = m;
      variance[k] = v;
      invStd[k] = 1 / Math.sqrt(v + epsilon);
      scale[k] = (g[k] as number) * (invStd[k] as number);
      shift[k] = (b[k] as number) - m * (scale[k] as number);
    }
    const out = new Float32Array(xv.length);
    for (let r = 0, i = 0; r < rows; r++) {
      for (let k = 0; k < c; k++, i++) out[i] = (xv[i] as number) * (scale[k] as number) + (shift[k] as number);
    }
    // Allocations only after the last read of the heap view. The engine runs this function in
    // a tidy that keeps only `value`, so the moments are kept here and re-scoped below.
    stats.mean = tf.keep(tf.tensor1d(mean));
    stats.variance = tf.keep(tf.tensor1d(variance));
    save([xIn]);
    const y = tf.tensor(out, xIn.shape, 'float32');
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dyT = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
        const xs = saved[0] as tf.Tensor;
        const xd = float32View(xs);
        const dd = float32View(dyT);
        const sumDy = new Float64Array(c);
        const sumDyXh = new Float64Array(c);
        for (let r = 0, i = 0; r < rows; r++) {
          for (let k = 0; k < c; k++, i++) {
            const d = dd[i] as number;
            sumDy[k] = (sumDy[k] as number) + d;
            sumDyXh[k] = (sumDyXh[k] as number) + d * ((xd[i] as number) - (mean[k] as number));
          }
        }
        // With x̂ = (x − m)·s: dx = γs·dy − γs·mean(dy) − γs³·(x − m)·mean(dy·(x − m)).
        const bb = new Float64Array(c);
        const q = new Float64Array(c);
        const dGamma = new Float32Array(c);
        const dBeta = new Float32Array(c);
        for (let k = 0; k < c; k++) {
          const s = invStd[k] as number;
          const gs = scale[k] as number; // γ·s, the forward's per-channel scale
          q[k] = (gs * s * s * (sumDyXh[k] as number)) / rows;
          bb[k] = (gs * (sumDy[k] as number)) / rows - (q[k] as number) * (mean[k] as number);
          dGamma[k] = (sumDyXh[k] as number) * s;
          dBeta[k] = sumDy[k] as number;
        }
        const dx = new Float32Array(xd.length);
        for (let r = 0, i = 0; r < rows; r++) {
          for (let k = 0; k < c; k++, i++) {
            dx[i] = (scale[k] as number) * (dd[i] as number) - (q[k] as number) * (xd[i] as number) - (bb[k] as number);
          }
        }
        return [tf.tensor(dx, xs.shape, 'float32'), tf.tensor(dGamma, gIn.shape, 'float32'), tf.tensor(dBeta, bIn.shape, 'float32')];
      },
    };
  });
  const y = op(x, gamma, beta);
  const { mean: keptMean, variance: keptVariance } = stats;
  if (keptMean === undefined || keptVariance === undefined) throw new Error('batchNormTraining: forward pass did not run');
  // Clones share the data and belong to the caller's scope like any op output.
  const mean = tf.clone(keptMean);
  const variance = tf.clone(keptVariance);
  keptMean.dispose();
  keptVariance.dispose();
  return { y, mean, variance };
}

/** tfjs-core's own ClipByValue gradient, kept for backends the fused path does not serve. */
let tfjsClipGrad: GradConfig | undefined;

/**
 * dx of ClipByValue in one pass: dy where min ≤ x ≤ max, else 0 (tfjs' convention at the
 * bounds). Exported for tests.
 */
export function clipByValueGrad(dy: tf.Tensor, x: tf.Tensor, min: number, max: number): tf.Tensor {
  const xv = float32View(x);
  const dv = float32View(dy);
  const out = new Float32Array(xv.length);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i] as number;
    out[i] = v >= min && v <= max ? (dv[i] as number) : 0;
  }
  return tf.tensor(out, x.shape, 'float32');
}

/**
 * Replace tfjs-core's ClipByValue gradient (ReLU6 in the backbone) by the one-pass
 * {@link clipByValueGrad} on the wasm and cpu backends; other backends keep tfjs' gradient.
 * Idempotent. Gradients are registered per kernel for every backend, hence the dispatch.
 */
export function registerFusedClipGradient(): void {
  const current = tf.getGradient('ClipByValue');
  if (current === undefined || current.gradFunc === fusedClipGradConfig.gradFunc) return;
  tfjsClipGrad = current;
  tf.registerGradient(fusedClipGradConfig);
}

const fusedClipGradConfig: GradConfig = {
  kernelName: 'ClipByValue',
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: NamedAttrMap) => {
    const d = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
    if (!fusedTrainingAvailable() || d.dtype !== 'float32') {
      if (tfjsClipGrad === undefined) throw new Error('registerFusedClipGradient: tfjs ClipByValue gradient missing');
      return tfjsClipGrad.gradFunc(dy, saved, attrs);
    }
    const x = saved[0] as tf.Tensor;
    const min = attrs['clipValueMin'] as number;
    const max = attrs['clipValueMax'] as number;
    return { x: () => clipByValueGrad(d, x, min, max) };
  },
};
