/**
 * Bi-directional inter-clip fusion (GCF-Net eq. 1), one layer.
 *
 * Why: each clip descriptor comes from the backbone alone and sees only its own 16 frames;
 * this layer lets every clip gather information from every other clip of the window, in
 * both temporal directions, so the gate and the classifier that follow see clips in context.
 * Stack it (eqs. 11–12) by applying a second instance to the first one's output.
 *
 * For a window V = [v_1 … v_C] (rows, each of `inputDim` features):
 *
 *     b_i = W_z Σ_j a_ij · (W_v v_j),   a_ij = N_j((W_q v_i)·(W_k v_j))
 *
 * with two normalisations N:
 * - `'softmax'`: a_ij = softmax_j((W_q v_i)·(W_k v_j) / √D), as in Transformers. The 1/√D
 *   scale is applied: without it the dot products of D-dimensional projections of 2048-d
 *   backbone features are large, the softmax saturates to one-hot and its gradient vanishes.
 * - `'mean'`: a_ij = (W_q v_i)·(W_k v_j) / C, as in dot-product non-local blocks.
 *
 * W_q, W_k, W_v (inputDim → D) and W_z (D → D) have no biases: the paper calls them
 * "linear transform matrices" (its fully connected layers W_1, W_2, W_3 do get biases).
 * Weights act on row vectors (x · W), so a kernel is stored as [in, out].
 *
 * @example
 * const fusion = new InterClipFusion({ units: 128, normalization: 'softmax', name: 'fusion_1' });
 * const b = fusion.apply(tf.layers.input({ shape: [10, 2048] })); // SymbolicTensor [null, 10, 128]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

/** How the pairwise clip affinities are normalised over j (N(v) of eq. 1). */
export type FusionNormalization = 'softmax' | 'mean';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link InterClipFusion}. */
export interface InterClipFusionArgs extends LayerArgs {
  /** D: size of the projections and of the fused clip descriptor b_i. */
  readonly units: number;
  /** N(v); default `'softmax'`. */
  readonly normalization?: FusionNormalization;
  /** Seed of the Glorot-uniform initialisers (four consecutive seeds are used); random if absent. */
  readonly seed?: number | null;
}

/**
 * One bi-directional inter-clip fusion layer: [N, C, in] → [N, C, units].
 *
 * @param args.units D, the fused descriptor size.
 * @param args.normalization `'softmax'` (scaled by 1/√D) or `'mean'` (1/C).
 * @param args.seed initialiser seed for reproducible weights.
 * @returns a layer; apply it to a rank-3 (symbolic) tensor.
 */
export class InterClipFusion extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'InterClipFusion';
  readonly units: number;
  readonly normalization: FusionNormalization;
  readonly seed: number | null;
  private wq: tfl.LayerVariable | null = null;
  private wk: tfl.LayerVariable | null = null;
  private wv: tfl.LayerVariable | null = null;
  private wz: tfl.LayerVariable | null = null;

  constructor(args: InterClipFusionArgs) {
    super(args);
    if (!Number.isInteger(args.units) || args.units < 1) {
      const message = `InterClipFusion: units must be a positive integer, got ${args.units}`;
      throw new ConfigError(message, [{ path: 'units', message }]);
    }
    const normalization = args.normalization ?? 'softmax';
    if (normalization !== 'softmax' && normalization !== 'mean') {
      const message = `InterClipFusion: normalization must be 'softmax' or 'mean', got '${String(normalization)}'`;
      throw new ConfigError(message, [{ path: 'normalization', message }]);
    }
    this.units = args.units;
    this.normalization = normalization;
    this.seed = args.seed ?? null;
    this.inputSpec = [{ ndim: 3 }];
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = oneShape(inputShape);
    const inDim = shape[2];
    if (inDim == null) throw new ShapeError('InterClipFusion: the feature axis must be known');
    const init = (k: number): ReturnType<typeof tfl.initializers.glorotUniform> =>
      tfl.initializers.glorotUniform(this.seed === null ? {} : { seed: this.seed + k });
    this.wq = this.addWeight('wq', [inDim, this.units], 'float32', init(0));
    this.wk = this.addWeight('wk', [inDim, this.units], 'float32', init(1));
    this.wv = this.addWeight('wv', [inDim, this.units], 'float32', init(2));
    this.wz = this.addWeight('wz', [this.units, this.units], 'float32', init(3));
    this.inputSpec = [{ ndim: 3, axes: { [-1]: inDim } }];
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = oneShape(inputShape);
    return [shape[0] ?? null, shape[1] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined || this.wq === null || this.wk === null || this.wv === null || this.wz === null) {
        throw new Error('InterClipFusion: called before build');
      }
      const [n, c, inDim] = x.shape as [number, number, number];
      const d = this.units;
      // tfjs matMul has no [N,C,in]×[in,D] broadcast on every backend: flatten the clip axis.
      const flat = tf.reshape(x, [n * c, inDim]);
      const q = tf.reshape(tf.matMul(flat, this.wq.read()), [n, c, d]);
      const k = tf.reshape(tf.matMul(flat, this.wk.read()), [n, c, d]);
      const v = tf.reshape(tf.matMul(flat, this.wv.read()), [n, c, d]);
      const scores = tf.matMul(q, k, false, true); // [N, C(i), C(j)]
      const affinity =
        this.normalization === 'softmax'
          ? tf.softmax(tf.mul(scores, tf.scalar(1 / Math.sqrt(d))), -1)
          : tf.mul(scores, tf.scalar(1 / c));
      const mixed = tf.matMul(affinity, v); // Σ_j a_ij W_v v_j
      return tf.reshape(tf.matMul(tf.reshape(mixed, [n * c, d]), this.wz.read()), [n, c, d]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, normalization: this.normalization, seed: this.seed };
  }
}
tf.serialization.registerClass(InterClipFusion);

function oneShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  const first = inputShape[0];
  const shape = Array.isArray(first) ? first : (inputShape as tfl.Shape);
  if (shape.length !== 3) {
    throw new ShapeError(`InterClipFusion expects [batch, clips, features], got [${shape.join(', ')}]`, {
      expected: [null, null, null],
    });
  }
  return shape;
}
