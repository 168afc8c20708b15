/**
 * A faster inference forward pass for the default backbone: the same function as the trained
 * model (BatchNorm folded), computed without cutting tensors along their channel axis.
 *
 * Why: profiled on tfjs-wasm (bench/backboneProfile.ts, default half-width model with GSF in
 * every block), the layers version spends most of its time not in convolutions but in `Slice`
 * and `Concat`: GSF takes the block's full feature map, slices out the gated channels (and each
 * group, and the untouched rest), and concatenates the result back; its gate taps are column
 * slices too. wasm slices a channel range one row at a time from JavaScript — one typed-array copy
 * per pixel — so those copies cost more than the convolutions. Here every GSF block is computed
 * on channel groups from the start: the expansion 1×1 convolution is split by output channel
 * into (gate group 1, gate group 2, rest), the depthwise convolution likewise, and the
 * projection 1×1 convolution by input channel, summing its three partial products. The 3×3×3
 * gate becomes a spatial 3×3 convolution per group with one output per time tap, then a
 * [3×1] convolution along time with a fixed 0/1 kernel that adds the taps at t−1, t, t+1 (zero
 * padded at the clip's ends, as the layer does). What remains of GSF runs on each group's own
 * tensor. BatchNorm is folded into the convolutions wherever it directly follows one (as
 * `foldBatchNorm` does); the BatchNorm after a GSF module applies to the gated groups only.
 * Same math, summed in a different order: descriptors agree with the layers model to float32
 * rounding (tested).
 *
 * Applies only to models with the default backbone's layer names and shapes
 * (`createBackbone`); anything else gets `undefined` and callers use `foldBatchNorm`.
 *
 * @example
 * const fast = compileInferenceBackbone(trained, manifestBackboneConfig(manifest));
 * const v = fast ? fast.apply(x) : embedClips(await foldBatchNorm(trained), x);
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ShapeError } from '../errors.ts';
import { backboneLayout, type BackboneConfig, type InvertedResidualSpec } from './backbone.ts';
import { MotionWeights, motionWeightsOfDifferences } from './layers/MotionWeights.ts';
import { frameDifferences } from './layers/TemporalDifference.ts';
import { poolClipFeatures, SpatioTemporalAveragePool } from './layers/SpatioTemporalAveragePool.ts';

/** The compiled forward pass. */
export interface InferenceBackbone {
  readonly dim: number;
  /** Clips `[N, T, H, W, 3]` raw RGB 0–255 → descriptors `[N, dim]` (caller disposes). */
  apply(clips: tf.Tensor): tf.Tensor2D;
  dispose(): void;
}

interface Conv {
  readonly kernel: tf.Tensor4D;
  readonly bias: tf.Tensor1D | undefined;
}

interface Affine {
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
  readonly offset: tf.Tensor1D;
  readonly scale: tf.Tensor1D;
  readonly epsilon: number;
}

interface GsfGroup {
  /** Expansion conv for this group's channels (or a 0/1 selection when the block has no expansion). */
  readonly expand: Conv;
  readonly expandActivation: 'relu6' | 'linear';
  /** Depthwise kernel `[3, 3, half, 1]`, no bias (the BN after GSF does not fold). */
  readonly depthwise: tf.Tensor4D;
  /** The gate's own BN (before ReLU). */
  readonly gateBn: Affine;
  /** Spatial gate kernel `[3, 3, half, 3]`: one output per time tap. */
  readonly gateKernel: tf.Tensor4D;
  readonly gateBias: tf.Tensor1D;
  /** The block's depthwise BN, restricted to this group's channels. */
  readonly postBn: Affine;
  /** Projection rows of this group's channels `[1, 1, half, out]` (BN scale folded). */
  readonly project: tf.Tensor4D;
}

interface Block {
  readonly spec: InvertedResidualSpec;
  /** Whole-block path (no GSF): expand → depthwise → project, BN folded. */
  readonly expand?: Conv;
  readonly depthwise?: Conv;
  readonly project: Conv;
  readonly gsf?: {
    readonly half: number;
    readonly groups: readonly [GsfGroup, GsfGroup];
    readonly rest: { readonly expand: Conv; readonly expandActivation: 'relu6' | 'linear'; readonly depthwise: Conv; readonly project: tf.Tensor4D } | undefined;
    /**
     * Fusion conv per group and input (`[3, 3, 1, 1]` each): w_g = σ(conv(mean y'_g) + conv(mean r_g) + b_g).
     * Separate single-channel convs instead of one over a stacked image: stacking along the last
     * axis is a per-element copy on wasm.
     */
    readonly fuse: readonly [{ readonly y: tf.Tensor4D; readonly r: tf.Tensor4D; readonly bias: tf.Tensor1D }, { readonly y: tf.Tensor4D; readonly r: tf.Tensor4D; readonly bias: tf.Tensor1D }];
  };
}

/** Row-major kernel values with their shape. */
interface Arr {
  readonly v: Float32Array;
  readonly shape: readonly number[];
}

function read(t: tf.Tensor): Arr {
  return { v: t.dataSync() as Float32Array, shape: t.shape };
}

/** The BN of a layer as per-channel scale s and shift b (y = x·s + b), in JS arrays. */
function bnFold(layer: tfl.layers.Layer): { s: Float32Array; b: Float32Array; raw: { mean: Float32Array; variance: Float32Array; gamma: Float32Array; beta: Float32Array; epsilon: number } } {
  const get = (suffix: string): Float32Array | undefined => {
    const i = layer.weights.findIndex((w) => w.originalName.endsWith(`/${suffix}`));
    return i < 0 ? undefined : ((layer.getWeights()[i] as tf.Tensor).dataSync() as Float32Array);
  };
  const mean = get('moving_mean');
  const variance = get('moving_variance');
  if (!mean || !variance) throw new ShapeError(`${layer.name}: not a BatchNormalization layer`);
  const gamma = get('gamma') ?? new Float32Array(mean.length).fill(1);
  const beta = get('beta') ?? new Float32Array(mean.length);
  const epsilon = layer.getConfig()['epsilon'] as number;
  const s = new Float32Array(mean.length);
  const b = new Float32Array(mean.length);
  for (let i = 0; i < mean.length; i++) {
    s[i] = (gamma[i] as number) / Math.sqrt((variance[i] as number) + epsilon);
    b[i] = (beta[i] as number) - (mean[i] as number) * (s[i] as number);
  }
  return { s, b, raw: { mean, variance, gamma, beta, epsilon } };
}

/** Kernel `[kh, kw, in, out]`: keep input channels `ins` and output channels `outs`, scale outputs by `scale`. */
function pick(k: Arr, ins: readonly number[], outs: readonly number[], scale?: Float32Array): tf.Tensor4D {
  const [kh, kw, cin, cout] = k.shape as [number, number, number, number];
  const v = new Float32Array(kh * kw * ins.length * outs.length);
  let o = 0;
  for (let p = 0; p < kh * kw; p++) {
    for (const i of ins) {
      for (const j of outs) v[o++] = (k.v[(p * cin + i) * cout + j] as number) * (scale ? (scale[j] as number) : 1);
    }
  }
  return tf.tensor4d(v, [kh, kw, ins.length, outs.length]);
}

/** Depthwise kernel `[kh, kw, C, 1]`: keep channels `chs`, scaled by `scale`. */
function pickDepthwise(k: Arr, chs: readonly number[], scale?: Float32Array): tf.Tensor4D {
  const [kh, kw, c] = k.shape as [number, number, number, number];
  const v = new Float32Array(kh * kw * chs.length);
  let o = 0;
  for (let p = 0; p < kh * kw; p++) for (const i of chs) v[o++] = (k.v[p * c + i] as number) * (scale ? (scale[i] as number) : 1);
  return tf.tensor4d(v, [kh, kw, chs.length, 1]);
}

const vec = (v: Float32Array, idx: readonly number[]): tf.Tensor1D => tf.tensor1d(idx.map((i) => v[i] as number));
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

/**
 * Compile the fast forward pass from a trained (unfolded) default backbone.
 *
 * @param model - a model built by `createBackbone(config)` (trained or not); not modified
 * @param config - its config (the manifest's `backbone`)
 * @returns the compiled pass, or undefined when the model is not the default architecture
 */
export function compileInferenceBackbone(model: tfl.LayersModel, config: BackboneConfig): InferenceBackbone | undefined {
  const layout = backboneLayout(config);
  const names = new Set(model.layers.map((l) => l.name));
  const need = ['bb_stem_conv', 'bb_stem_bn', 'bb_head_conv', 'bb_head_bn', 'bb_pool'];
  for (const b of layout.blocks) {
    const p = `bb_b${b.index}`;
    need.push(`${p}_dw_conv`, `${p}_dw_bn`, `${p}_project_conv`, `${p}_project_bn`);
    if (b.expand) need.push(`${p}_expand_conv`, `${p}_expand_bn`);
    if (b.gsfChannels > 0) need.push(`${p}_gsf`);
  }
  if (layout.config.temporalDifference) need.push('bb_tdiff');
  if (!need.every((n) => names.has(n))) return undefined;
  const inputShape = model.inputs[0]?.shape ?? [];
  const { frames: T, size, dim } = layout.config;
  if (inputShape[1] !== T || inputShape[2] !== size || inputShape[3] !== size) return undefined;
  // The saved layer, not the config, says how it pools (a manifest cannot disagree with its weights).
  const pool = model.getLayer('bb_pool');
  if (!(pool instanceof SpatioTemporalAveragePool)) return undefined;
  const spatial = pool.spatial;
  let motion: MotionWeights | undefined;
  if (spatial === 'motion') {
    const m = names.has('bb_motion') ? model.getLayer('bb_motion') : undefined;
    if (!(m instanceof MotionWeights)) return undefined;
    motion = m;
  }

  const kernelOf = (name: string): Arr => read(model.getLayer(name).getWeights()[0] as tf.Tensor);
  // Conv + following BN → one conv with bias (the BN scale goes into the output channels).
  const folded = (conv: string, bn: string, ins?: readonly number[], outs?: readonly number[]): Conv => {
    const k = kernelOf(conv);
    const f = bnFold(model.getLayer(bn));
    const [, , cin, cout] = k.shape as [number, number, number, number];
    const o = outs ?? range(0, cout);
    return { kernel: pick(k, ins ?? range(0, cin), o, f.s), bias: vec(f.b, o) };
  };

  const built: tf.Tensor[] = [];
  const keep = <X extends tf.Tensor | undefined>(t: X): X => {
    if (t) built.push(t);
    return t;
  };
  const keepConv = (c: Conv): Conv => {
    keep(c.kernel);
    keep(c.bias);
    return c;
  };

  try {
    // With temporal difference the stem kernel is [3, 3, 6, out]: input channels 0–2 see the
    // frame, 3–5 its difference. Two convolutions on 3 channels each, summed, are the same
    // function without concatenating channels (a per-pixel copy on wasm).
    const stemIns = layout.stemInChannels === 6 ? [0, 1, 2] : undefined;
    const stem = keepConv(folded('bb_stem_conv', 'bb_stem_bn', stemIns));
    const stemDiff = stemIns
      ? keep(pick(kernelOf('bb_stem_conv'), [3, 4, 5], range(0, layout.stemChannels), bnFold(model.getLayer('bb_stem_bn')).s))
      : undefined;
    const head = keepConv(folded('bb_head_conv', 'bb_head_bn'));
    const blocks: Block[] = layout.blocks.map((b) => {
      const p = `bb_b${b.index}`;
      const project = keepConv(folded(`${p}_project_conv`, `${p}_project_bn`));
      const dwK = kernelOf(`${p}_dw_conv`);
      const dwBn = bnFold(model.getLayer(`${p}_dw_bn`));
      if (b.gsfChannels === 0) {
        return {
          spec: b,
          ...(b.expand ? { expand: keepConv(folded(`${p}_expand_conv`, `${p}_expand_bn`)) } : {}),
          depthwise: { kernel: keep(pickDepthwise(dwK, range(0, b.expandedChannels), dwBn.s)), bias: keep(vec(dwBn.b, range(0, b.expandedChannels))) },
          project,
        };
      }
      const c = b.gsfChannels;
      const half = c / 2;
      const E = b.expandedChannels;
      const gsf = model.getLayer(`${p}_gsf`);
      const w = (suffix: string): Arr => {
        const i = gsf.weights.findIndex((x) => x.originalName.endsWith(`/${suffix}`));
        if (i < 0) throw new ShapeError(`${gsf.name}: no weight ${suffix}`);
        return read(gsf.getWeights()[i] as tf.Tensor);
      };
      const gateK = w('gate_kernel'); // [3 dt, 3, 3, half, 2 groups]
      const gateB = w('gate_bias');
      const fuseK = w('fuse_kernel'); // [3, 3, 2, 2 groups]
      const fuseB = w('fuse_bias');
      const gEps = gsf.getConfig()['epsilon'] as number;
      const gBn = { gamma: w('bn_gamma').v, beta: w('bn_beta').v, mean: w('bn_moving_mean').v, variance: w('bn_moving_variance').v };
      const projK = kernelOf(`${p}_project_conv`);
      const projS = bnFold(model.getLayer(`${p}_project_bn`)).s;
      const projOuts = range(0, b.outChannels);
      const expandFor = (chs: readonly number[]): Conv =>
        b.expand
          ? folded(`${p}_expand_conv`, `${p}_expand_bn`, undefined, chs)
          : // No expansion conv: select the channels with a 0/1 1×1 conv (one XNNPACK pass, no slicing).
            { kernel: tf.tensor4d(selection(b.inChannels, chs), [1, 1, b.inChannels, chs.length]), bias: undefined };
      const group = (g: 0 | 1): GsfGroup => {
        const chs = range(g * half, (g + 1) * half);
        const gk = new Float32Array(9 * half * 3);
        for (let dt = 0; dt < 3; dt++) {
          for (let s = 0; s < 9; s++) {
            for (let ci = 0; ci < half; ci++) gk[(s * half + ci) * 3 + dt] = gateK.v[((dt * 9 + s) * half + ci) * 2 + g] as number;
          }
        }
        const affine = (src: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array }, eps: number): Affine => ({
          mean: keep(vec(src.mean, chs)),
          variance: keep(vec(src.variance, chs)),
          offset: keep(vec(src.beta, chs)),
          scale: keep(vec(src.gamma, chs)),
          epsilon: eps,
        });
        return {
          expand: keepConv(expandFor(chs)),
          expandActivation: b.expand ? 'relu6' : 'linear',
          depthwise: keep(pickDepthwise(dwK, chs)),
          gateBn: affine(gBn, gEps),
          gateKernel: keep(tf.tensor4d(gk, [3, 3, half, 3])),
          gateBias: keep(tf.tensor1d([gateB.v[g] as number])),
          postBn: affine(dwBn.raw, dwBn.raw.epsilon),
          project: keep(pick(projK, chs, projOuts, projS)),
        };
      };
      const restChs = range(c, E);
      const rest =
        restChs.length === 0
          ? undefined
          : {
              expand: keepConv(expandFor(restChs)),
              expandActivation: (b.expand ? 'relu6' : 'linear') as 'relu6' | 'linear',
              depthwise: { kernel: keep(pickDepthwise(dwK, restChs, dwBn.s)), bias: keep(vec(dwBn.b, restChs)) },
              project: keep(pick(projK, restChs, projOuts, projS)),
            };
      // fuse_kernel is [kt, kc, in (0 = y', 1 = r), g]: one [3, 3, 1, 1] kernel per (g, in).
      const fuseOf = (g: number, j: number): tf.Tensor4D =>
        keep(tf.tensor4d(range(0, 9).map((s2) => fuseK.v[(s2 * 2 + j) * 2 + g] as number), [3, 3, 1, 1]));
      const fuseFor = (g: number) => ({ y: fuseOf(g, 0), r: fuseOf(g, 1), bias: keep(tf.tensor1d([fuseB.v[g] as number])) });
      return {
        spec: b,
        project: { kernel: project.kernel, bias: project.bias },
        gsf: {
          half,
          groups: [group(0), group(1)],
          rest,
          fuse: [fuseFor(0), fuseFor(1)],
        },
      };
    });
    // Adds the three time taps of a gate: out[t] = tap0[t−1] + tap1[t] + tap2[t+1] (zero outside the clip).
    const timeTaps = keep(tf.tensor4d([1, 0, 0, 0, 1, 0, 0, 0, 1], [3, 1, 3, 1]));

    const conv = (x: tf.Tensor4D, c: Conv, activation: 'relu6' | 'linear', strides = 1): tf.Tensor4D =>
      tf.fused.conv2d({ x, filter: c.kernel, strides, pad: 'same', ...(c.bias ? { bias: c.bias } : {}), activation });

    const gsfBlock = (h: tf.Tensor4D, blk: Block): tf.Tensor4D => {
      const g = blk.gsf;
      if (!g) throw new ShapeError('not a GSF block');
      const { stride } = blk.spec;
      const [nt] = h.shape;
      const n = nt / T;
      const half = g.half;
      const parts: tf.Tensor4D[] = [];
      const ys: tf.Tensor4D[] = [];
      const rs: tf.Tensor4D[] = [];
      const means: tf.Tensor4D[] = [];
      let hw = 0;
      let hh = 0;
      let ww = 0;
      g.groups.forEach((grp, gi) => {
        const e = conv(h, grp.expand, grp.expandActivation);
        const d = tf.depthwiseConv2d(e, grp.depthwise, stride, 'same');
        [, hh, ww] = d.shape;
        hw = hh * ww;
        const act = tf.relu(tf.batchNorm(d, grp.gateBn.mean, grp.gateBn.variance, grp.gateBn.offset, grp.gateBn.scale, grp.gateBn.epsilon));
        const taps = tf.reshape(tf.conv2d(act as tf.Tensor4D, grp.gateKernel, 1, 'same'), [n, T, hw, 3]) as tf.Tensor4D;
        const gate = tf.tanh(tf.fused.conv2d({ x: taps, filter: timeTaps, strides: 1, pad: 'same', bias: grp.gateBias })); // [n, T, hw, 1]
        const x = tf.reshape(d, [n, T, hw, half]) as tf.Tensor4D;
        const y = tf.mul(x, gate) as tf.Tensor4D;
        const r = tf.sub(x, y) as tf.Tensor4D;
        // Group 1 shifts towards the past (y'[t] = y[t+1]), group 2 towards the future.
        ys.push(shiftTime(y, gi === 0 ? 'past' : 'future'));
        rs.push(r);
        // Spatial means as [n, T, half, 1] images (time × channel), y' shifted like y.
        const my = tf.reshape(tf.mean(y, 2), [n, T, half, 1]) as tf.Tensor4D;
        means.push(shiftTime(my, gi === 0 ? 'past' : 'future'), tf.reshape(tf.mean(r, 2), [n, T, half, 1]) as tf.Tensor4D);
      });
      g.groups.forEach((grp, gi) => {
        const f = g.fuse[gi as 0 | 1];
        const pre = tf.add(tf.conv2d(means[2 * gi] as tf.Tensor4D, f.y, 1, 'same'), tf.conv2d(means[2 * gi + 1] as tf.Tensor4D, f.r, 1, 'same'));
        const wg = tf.reshape(tf.sigmoid(tf.add(pre, f.bias)), [n, T, 1, half]);
        const r = rs[gi] as tf.Tensor4D;
        const out = tf.add(r, tf.mul(wg, tf.sub(ys[gi] as tf.Tensor4D, r)));
        const a = tf.clipByValue(tf.batchNorm(out, grp.postBn.mean, grp.postBn.variance, grp.postBn.offset, grp.postBn.scale, grp.postBn.epsilon), 0, 6);
        parts.push(tf.conv2d(tf.reshape(a, [nt, hh, ww, half]) as tf.Tensor4D, grp.project, 1, 'same'));
      });
      if (g.rest) {
        const e = conv(h, g.rest.expand, g.rest.expandActivation);
        const d = tf.fused.depthwiseConv2d({ x: e, filter: g.rest.depthwise.kernel, strides: stride, pad: 'same', ...(g.rest.depthwise.bias ? { bias: g.rest.depthwise.bias } : {}), activation: 'relu6' });
        parts.push(tf.fused.conv2d({ x: d, filter: g.rest.project, strides: 1, pad: 'same', ...(blk.project.bias ? { bias: blk.project.bias } : {}) }));
      } else if (blk.project.bias) {
        parts.push(tf.add(parts.pop() as tf.Tensor4D, blk.project.bias) as tf.Tensor4D);
      }
      if (blk.spec.residual) parts.push(h);
      return tf.addN(parts);
    };

    const plainBlock = (h: tf.Tensor4D, blk: Block): tf.Tensor4D => {
      const e = blk.expand ? conv(h, blk.expand, 'relu6') : h;
      const dw = blk.depthwise as Conv;
      const d = tf.fused.depthwiseConv2d({ x: e, filter: dw.kernel, strides: blk.spec.stride, pad: 'same', ...(dw.bias ? { bias: dw.bias } : {}), activation: 'relu6' });
      const out = conv(d, blk.project, 'linear');
      return blk.spec.residual ? tf.add(h, out) : out;
    };

    return {
      dim,
      apply(clips) {
        const [N, t, hgt, wid, ch] = clips.shape;
        if (clips.rank !== 5 || t !== T || hgt !== size || wid !== size || ch !== 3 || N === undefined) {
          throw new ShapeError(`backbone input must be clips [N, ${T}, ${size}, ${size}, 3] (raw RGB 0–255), got [${clips.shape.join(', ')}]`, {
            expected: [null, T, size, size, 3],
            actual: clips.shape,
          });
        }
        return tf.tidy(() => {
          let h = tf.reshape(clips, [N * T, size, size, 3]) as tf.Tensor4D;
          h = tf.sub(tf.mul(h, 1 / 127.5), 1);
          // One set of frame differences serves the stem and the motion weights.
          const d = stemDiff || motion ? frameDifferences(h, T) : undefined;
          const weights = motion && d ? motionWeightsOfDifferences(d, T, motion.cellSize, motion.floor) : undefined;
          if (stemDiff && d) {
            h = tf.clipByValue(tf.add(conv(h, stem, 'linear', 2), tf.conv2d(d, stemDiff, 2, 'same')) as tf.Tensor4D, 0, 6);
          } else {
            h = conv(h, stem, 'relu6', 2);
          }
          for (const blk of blocks) h = blk.gsf ? gsfBlock(h, blk) : plainBlock(h, blk);
          h = conv(h, head, 'relu6');
          return poolClipFeatures(h, T, spatial, weights);
        });
      },
      dispose() {
        tf.dispose(built);
      },
    };
  } catch (err) {
    tf.dispose(built);
    throw err;
  }
}

/** A `[cin, chs.length]` 0/1 matrix picking channels `chs` (a 1×1 conv kernel). */
function selection(cin: number, chs: readonly number[]): Float32Array {
  const v = new Float32Array(cin * chs.length);
  chs.forEach((c, j) => (v[c * chs.length + j] = 1));
  return v;
}

/**
 * Shift along axis 1 (time) of `[n, T, …]` by one frame, zero-filling: 'past' → out[t] = x[t+1];
 * 'future' → out[t] = x[t−1]. Viewed as `[n, T, rest]`, so the slice copies whole frames (one
 * copy per frame, not per pixel) and the zero frame comes from the C++ pad kernel.
 */
function shiftTime(x: tf.Tensor4D, towards: 'past' | 'future'): tf.Tensor4D {
  const [n, T] = x.shape;
  if (T === 1) return tf.zerosLike(x);
  const flat = tf.reshape(x, [n, T, -1]) as tf.Tensor3D;
  const f = flat.shape[2];
  const moved =
    towards === 'past'
      ? tf.pad(tf.slice(flat, [0, 1, 0], [n, T - 1, f]), [[0, 0], [0, 1], [0, 0]])
      : tf.pad(tf.slice(flat, [0, 0, 0], [n, T - 1, f]), [[0, 0], [1, 0], [0, 0]]);
  return tf.reshape(moved, x.shape) as tf.Tensor4D;
}
