/**
 * Gate-Shift-Fuse (GSF) as a tfjs-layers layer: the temporal module of the default backbone.
 *
 * Why: a per-frame 2D CNN sees no motion. GSF (Sudhakaran et al., gate-shift-fuse.txt §3.1,
 * eqs. 1–10) lets a 2D CNN exchange features between neighbouring frames at almost no cost:
 * a tanh-gated part of the channels is shifted one frame in time and fused back with what
 * the gate left behind. It follows the authors' released code: BN + ReLU before the gate,
 * group 1 shifted towards the past and group 2 towards the future, zero fill at clip ends,
 * a learned per-(channel, frame) fusion weight.
 *
 * The surrounding CNN runs on a batch-folded tensor `[N*T, H, W, C]` (frames of a clip are
 * consecutive rows), so the layer needs `numFrames` (T) to unfold time.
 *
 * Implementation notes (tfjs-wasm, one thread, best of 40 on a shared 2-core machine):
 * - The grouped 3×3×3 gate convolution is computed as ONE 2D convolution with a
 *   block-diagonal `[3, 3, c, 6]` kernel (3 temporal taps × 2 groups) followed by a shifted
 *   sum over time: 0.26 ms vs 5.1 ms for two conv3d calls at the backbone's shape
 *   (T = 8, 7×7, c = 96), 1.2 vs 18 ms at 28×28, c = 24. tfjs-wasm has no XNNPACK conv3d; the
 *   zeros multiplied in the off-diagonal blocks cost far less than that.
 * - Everything else stays in ≤4-D views (slices on `[P, c]`, shifts on `[N, T, F]`): 5-D
 *   slice/pad/stack kernels on wasm take a slow generic path (a 5-D version of the temporal
 *   shift-sum alone took 1.6 ms vs 0.2 ms for the conv).
 * - The authors' code also interleaves the channels of each group on output (a fixed channel
 *   permutation); this layer concatenates the groups in order instead. The permutation is
 *   absorbed by the next 1×1 convolution, so the function class is the same.
 *
 * @example
 * const gsf = new GateShiftFuse({ numFrames: 8, channelRatio: 0.25 });
 * const y = gsf.apply(tf.randomNormal([2 * 8, 7, 7, 384])) as tf.Tensor4D; // [16, 7, 7, 384]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

/** Weight order of `GateShiftFuse.getWeights()` / `setWeights()`, with shapes (c = GSF channels). */
export const GSF_WEIGHT_NAMES = [
  'gate_kernel', //  [3 (time), 3 (height), 3 (width), c/2 (in, per group), 2 (group)]
  'gate_bias', //    [2]
  'fuse_kernel', //  [3 (time), 3 (channel), 2 (0 = shifted y', 1 = residual r), 2 (group)]
  'fuse_bias', //    [2]
  'bn_gamma', //     [c]
  'bn_beta', //      [c]
  'bn_moving_mean', //     [c] (not trainable)
  'bn_moving_variance', // [c] (not trainable)
] as const;

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link GateShiftFuse} (plus any tfjs layer argument: name, trainable…). */
export interface GateShiftFuseArgs extends LayerArgs {
  /** Frames per clip (T): rows `n*T .. n*T+T-1` of the folded batch are one clip. */
  readonly numFrames: number;
  /**
   * Fraction of the input channels GSF works on (the first c channels; the rest pass through).
   * Default 0.25: the GSF paper's best ratio for backbones where GSF sits on the main branch
   * (ResNet, its Table 4); 1.0 was best only on Inception's least-parametrised branch.
   */
  readonly channelRatio?: number;
  /** BatchNorm epsilon of the gate's BN. Default 1e-3 (tfjs/Keras default, as the backbone's BN). */
  readonly epsilon?: number;
  /** BatchNorm moving-average momentum (Keras convention: new = m·old + (1−m)·batch). Default 0.99. */
  readonly momentum?: number;
}

/**
 * Number of channels c that GSF gates for C input channels and a channel ratio: ⌊C·ratio⌋
 * rounded down to a multiple of 4 (two groups whose halves the authors' code splits again),
 * at least 4.
 *
 * @param channels C, the input channels.
 * @param ratio channel ratio in (0, 1].
 * @returns c, a multiple of 4 with 4 ≤ c ≤ C.
 * @example gsfChannels(384, 0.25); // 96
 */
export function gsfChannels(channels: number, ratio: number): number {
  if (!(ratio > 0 && ratio <= 1)) {
    throw new ConfigError(`GSF channelRatio must be in (0, 1], got ${ratio}`, [
      { path: 'channelRatio', message: 'must be in (0, 1]' },
    ]);
  }
  if (!Number.isInteger(channels) || channels < 4) {
    throw new ShapeError(`GSF needs at least 4 input channels, got ${channels}`, {
      expected: [null, null, null, 4],
      actual: [channels],
    });
  }
  return Math.max(4, Math.floor((channels * ratio) / 4) * 4);
}

type LayerVariable = tfl.LayerVariable;

/**
 * out[t] = z[t−1] (first frame zero) for `towards: 'future'`, out[t] = z[t+1] (last frame zero)
 * for `towards: 'past'`, on a `[N, T, F]` view.
 */
function shiftTime(z: tf.Tensor3D, towards: 'past' | 'future'): tf.Tensor3D {
  const [n, t, f] = z.shape;
  if (t === 1) return tf.zerosLike(z);
  const zero = tf.zeros<tf.Rank.R3>([n, 1, f]);
  return towards === 'future'
    ? tf.concat<tf.Tensor3D>([zero, tf.slice(z, [0, 0, 0], [n, t - 1, f])], 1)
    : tf.concat<tf.Tensor3D>([tf.slice(z, [0, 1, 0], [n, t - 1, f]), zero], 1);
}

/**
 * Gate-Shift-Fuse layer on a batch-folded clip tensor `[N*T, H, W, C]` → same shape.
 *
 * Weights: see {@link GSF_WEIGHT_NAMES}. Parameters: 27·c + 2 (gate) + 36 + 2 (fuse) + 4·c (BN,
 * of which 2·c moving statistics).
 */
export class GateShiftFuse extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'GateShiftFuse';

  readonly numFrames: number;
  readonly channelRatio: number;
  readonly epsilon: number;
  readonly momentum: number;
  /** c, set by build. */
  gsfChannels = 0;
  private inChannels = 0;
  private gateKernel!: LayerVariable;
  private gateBias!: LayerVariable;
  private fuseKernel!: LayerVariable;
  private fuseBias!: LayerVariable;
  private bnGamma!: LayerVariable;
  private bnBeta!: LayerVariable;
  private bnMean!: LayerVariable;
  private bnVar!: LayerVariable;

  constructor(args: GateShiftFuseArgs) {
    super(args);
    if (!Number.isInteger(args.numFrames) || args.numFrames < 1) {
      throw new ConfigError(`GSF numFrames must be a positive integer, got ${args.numFrames}`, [
        { path: 'numFrames', message: 'must be a positive integer' },
      ]);
    }
    this.numFrames = args.numFrames;
    this.channelRatio = args.channelRatio ?? 0.25;
    this.epsilon = args.epsilon ?? 1e-3;
    this.momentum = args.momentum ?? 0.99;
    // Validates the ratio early, before any input is seen.
    gsfChannels(4, this.channelRatio);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = this.checkShape(inputShape);
    const channels = shape[3] as number;
    const c = gsfChannels(channels, this.channelRatio);
    this.inChannels = channels;
    this.gsfChannels = c;
    const glorot = tfl.initializers.glorotUniform({});
    const zeros = tfl.initializers.zeros();
    const ones = tfl.initializers.ones();
    this.gateKernel = this.addWeight('gate_kernel', [3, 3, 3, c / 2, 2], 'float32', glorot);
    this.gateBias = this.addWeight('gate_bias', [2], 'float32', zeros);
    this.fuseKernel = this.addWeight('fuse_kernel', [3, 3, 2, 2], 'float32', glorot);
    this.fuseBias = this.addWeight('fuse_bias', [2], 'float32', zeros);
    this.bnGamma = this.addWeight('bn_gamma', [c], 'float32', ones);
    this.bnBeta = this.addWeight('bn_beta', [c], 'float32', zeros);
    this.bnMean = this.addWeight('bn_moving_mean', [c], 'float32', zeros, undefined, false);
    this.bnVar = this.addWeight('bn_moving_variance', [c], 'float32', ones, undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return this.checkShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined || (Array.isArray(inputs) && inputs.length !== 1)) {
        throw new ShapeError('GateShiftFuse takes exactly one input tensor [N*T, H, W, C]');
      }
      this.checkShape(x.shape);
      const [nt, h, w, channels] = x.shape as [number, number, number, number];
      const T = this.numFrames;
      if (nt % T !== 0) {
        throw new ShapeError(
          `GateShiftFuse: folded batch ${nt} is not a multiple of numFrames ${T} (expected [N*${T}, H, W, C])`,
          { expected: [null, h, w, channels], actual: x.shape },
        );
      }
      const n = nt / T;
      const c = this.gsfChannels;
      const half = c / 2;
      const hw = h * w;
      const p = nt * hw;
      const training = kwargs['training'] === true;

      const flat = tf.reshape(x, [p, channels]) as tf.Tensor2D;
      const xs = tf.slice(flat, [0, 0], [p, c]);
      const x1 = tf.slice(flat, [0, 0], [p, half]);
      const x2 = tf.slice(flat, [0, half], [p, half]);

      // ReLU(BN(x)) on the gated channels; batch statistics while training, moving ones otherwise.
      let mean: tf.Tensor1D;
      let variance: tf.Tensor1D;
      if (training) {
        const m = tf.moments(xs, 0);
        mean = m.mean as tf.Tensor1D;
        variance = m.variance as tf.Tensor1D;
        this.updateMovingStats(mean, variance);
      } else {
        mean = this.bnMean.read() as tf.Tensor1D;
        variance = this.bnVar.read() as tf.Tensor1D;
      }
      const act = tf.relu(
        tf.batchNorm(xs, mean, variance, this.bnBeta.read() as tf.Tensor1D, this.bnGamma.read() as tf.Tensor1D, this.epsilon),
      );

      // Gate: grouped 3×3×3 conv as one 2D conv with 6 outputs (tap dt ∈ {0,1,2} × group g,
      // output index dt*2+g), then gate[t] = z_0[t−1] + z_1[t] + z_2[t+1] (zero outside the clip).
      const z = tf.reshape(
        tf.conv2d(tf.reshape(act, [nt, h, w, c]) as tf.Tensor4D, this.gateConv2dKernel(half), 1, 'same'),
        [p, 6],
      ) as tf.Tensor2D;
      const tap = (dt: number): tf.Tensor3D =>
        tf.reshape(tf.slice(z, [0, 2 * dt], [p, 2]), [n, T, hw * 2]) as tf.Tensor3D;
      const preGate = tf.addN([shiftTime(tap(0), 'future'), tap(1), shiftTime(tap(2), 'past')]);
      const gate = tf.tanh(tf.add(tf.reshape(preGate, [p, 2]), this.gateBias.read()));

      // Gated features and residuals per group (eqs. 1–4).
      const y1 = tf.mul(x1, tf.slice(gate, [0, 0], [p, 1]));
      const y2 = tf.mul(x2, tf.slice(gate, [0, 1], [p, 1]));
      const r1 = tf.sub(x1, y1);
      const r2 = tf.sub(x2, y2);
      // Shift (eqs. 5–6): group 1 towards the past (y'[t] = y[t+1]), group 2 towards the future.
      const ys1 = shiftTime(tf.reshape(y1, [n, T, hw * half]) as tf.Tensor3D, 'past');
      const ys2 = shiftTime(tf.reshape(y2, [n, T, hw * half]) as tf.Tensor3D, 'future');

      // Fuse (eqs. 7–10): spatial means → [N, T, c/2] images, channels (y'1, r1, y'2, r2);
      // one conv2d with a block-diagonal kernel gives both groups' weights at once.
      const pool = (v: tf.Tensor): tf.Tensor3D => tf.mean(tf.reshape(v, [n, T, hw, half]), 2) as tf.Tensor3D;
      const img = tf.stack([pool(ys1), pool(r1), pool(ys2), pool(r2)], 3) as tf.Tensor4D;
      const fw = tf.sigmoid(tf.add(tf.conv2d(img, this.fuseConv2dKernel(), 1, 'same'), this.fuseBias.read()));
      const weight = (g: number): tf.Tensor =>
        tf.reshape(tf.slice(fw, [0, 0, 0, g], [n, T, half, 1]), [n, T, 1, half]);
      const fuse = (ys: tf.Tensor, r: tf.Tensor, wg: tf.Tensor): tf.Tensor2D => {
        const ys4 = tf.reshape(ys, [n, T, hw, half]);
        const r4 = tf.reshape(r, [n, T, hw, half]);
        // w·y' + (1−w)·r, written as r + w·(y' − r).
        return tf.reshape(tf.add(r4, tf.mul(wg, tf.sub(ys4, r4))), [p, half]) as tf.Tensor2D;
      };
      const parts: tf.Tensor2D[] = [fuse(ys1, r1, weight(0)), fuse(ys2, r2, weight(1))];
      if (channels > c) parts.push(tf.slice(flat, [0, c], [p, channels - c]));
      return tf.reshape(tf.concat(parts, 1), [nt, h, w, channels]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      numFrames: this.numFrames,
      channelRatio: this.channelRatio,
      epsilon: this.epsilon,
      momentum: this.momentum,
    };
    return { ...super.getConfig(), ...config };
  }

  /** Block-diagonal `[3, 3, c, 6]` kernel from the grouped `[3, 3, 3, c/2, 2]` gate weight. */
  private gateConv2dKernel(half: number): tf.Tensor4D {
    // [dt, kh·kw, ci, g] → [g, kh·kw, ci, dt]: each group's taps become one contiguous row.
    // Only ≤4-D ops: 5-D slice/stack take the slow generic path on wasm.
    const k = tf.transpose(tf.reshape(this.gateKernel.read(), [3, 9, half, 2]), [3, 1, 2, 0]);
    const rows = tf.reshape(k, [2, 9 * half * 3]);
    const perGroup = [0, 1].map((g) =>
      // Place group g's [9, c/2, 3] taps at input channels g·c/2.. and output slot g of (dt, g).
      tf.pad(tf.reshape(tf.slice(rows, [g, 0], [1, 9 * half * 3]), [9, half, 3, 1]), [
        [0, 0],
        [g * half, (1 - g) * half],
        [0, 0],
        [g, 1 - g],
      ]),
    );
    // [9, c, 3 (dt), 2 (g)] → output channel order dt·2 + g.
    return tf.reshape(tf.add(perGroup[0] as tf.Tensor, perGroup[1] as tf.Tensor), [3, 3, 2 * half, 6]) as tf.Tensor4D;
  }

  /** Block-diagonal `[3, 3, 4, 2]` kernel: inputs (y'1, r1) → group 1, (y'2, r2) → group 2. */
  private fuseConv2dKernel(): tf.Tensor4D {
    const k = this.fuseKernel.read() as tf.Tensor4D; // [kt, kc, in, g]
    const g1 = tf.pad(tf.slice(k, [0, 0, 0, 0], [3, 3, 2, 1]), [
      [0, 0],
      [0, 0],
      [0, 2],
      [0, 0],
    ]);
    const g2 = tf.pad(tf.slice(k, [0, 0, 0, 1], [3, 3, 2, 1]), [
      [0, 0],
      [0, 0],
      [2, 0],
      [0, 0],
    ]);
    return tf.concat([g1, g2], 3) as tf.Tensor4D;
  }

  private updateMovingStats(mean: tf.Tensor1D, variance: tf.Tensor1D): void {
    const decay = 1 - this.momentum;
    tf.tidy(() => {
      for (const [v, batch] of [
        [this.bnMean, mean],
        [this.bnVar, variance],
      ] as const) {
        const old = v.read();
        v.write(tf.sub(old, tf.mul(tf.sub(old, batch), decay)));
      }
    });
  }

  private checkShape(inputShape: tfl.Shape | tfl.Shape[] | readonly number[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    if (shape.length !== 4) {
      throw new ShapeError(
        `GateShiftFuse expects a rank-4 batch-folded clip tensor [N*T, H, W, C], got rank ${shape.length} ` +
          `(shape [${shape.join(', ')}])`,
        { expected: [null, null, null, null], actual: shape.map((d) => d ?? -1) },
      );
    }
    const channels = shape[3];
    if (channels === null || channels === undefined) {
      throw new ShapeError('GateShiftFuse needs a known channel count (last axis)', {
        actual: shape.map((d) => d ?? -1),
      });
    }
    if (this.inChannels !== 0 && channels !== this.inChannels) {
      throw new ShapeError(
        `GateShiftFuse was built for ${this.inChannels} channels, got ${channels} (shape [${shape.join(', ')}])`,
        { expected: [null, shape[1] ?? null, shape[2] ?? null, this.inChannels], actual: shape.map((d) => d ?? -1) },
      );
    }
    return shape;
  }
}
tf.serialization.registerClass(GateShiftFuse);
