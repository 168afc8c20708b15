/**
 * Pools a window of per-clip vectors [N, C, F] into one vector per window [N, F].
 *
 * Why: every head ends by turning C clip vectors into one video-level vector, and the heads
 * differ only in how (GCF-Net eqs. 4–7, its fusion-only ablation, ATW eq. 4, D-Clips):
 * - `'mean'`: v' = (1/C) Σ_i x_i (one input). Fusion-only ablation (v' = Σ_i b_i / C) and
 *   D-Clips (mean of the clip predictions).
 * - `'gatedResidual'`: inputs [X, att]; s_i = att_i x_i, r_i = x_i + s_i, v' = (1/C) Σ_i r_i.
 *   GCF-Net's gated residual pooling (eqs. 4–7), also its attention-only ablation.
 * - `'weighted'`: inputs [X, w]; v' = Σ_i w_i x_i. ATW (weights summing to 1).
 *
 * No weights: it is a parameter-free layer, kept as a named class so saved models reload.
 *
 * @example
 * const pool = new ClipPooling({ mode: 'gatedResidual', name: 'gated_pool' });
 * const vPrime = pool.apply([b, att]); // [null, 10, D] and [null, 10] → [null, D]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

/** How {@link ClipPooling} combines the clips. */
export type ClipPoolingMode = 'mean' | 'gatedResidual' | 'weighted';

const MODES: readonly ClipPoolingMode[] = ['mean', 'gatedResidual', 'weighted'];

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link ClipPooling}. */
export interface ClipPoolingArgs extends LayerArgs {
  readonly mode: ClipPoolingMode;
}

/**
 * Clip pooling: [N, C, F] (and per-clip weights [N, C] for the weighted modes) → [N, F].
 *
 * @param args.mode `'mean'`, `'gatedResidual'` or `'weighted'`.
 * @returns a parameter-free layer.
 */
export class ClipPooling extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'ClipPooling';
  readonly mode: ClipPoolingMode;

  constructor(args: ClipPoolingArgs) {
    super(args);
    if (!MODES.includes(args.mode)) {
      const message = `ClipPooling: mode must be one of ${MODES.join(', ')}, got '${String(args.mode)}'`;
      throw new ConfigError(message, [{ path: 'mode', message }]);
    }
    this.mode = args.mode;
    this.inputSpec = this.mode === 'mean' ? [{ ndim: 3 }] : [{ ndim: 3 }, { ndim: 2 }];
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [x, w] = this.shapes(inputShape);
    if (w !== undefined && x[1] != null && w[1] != null && x[1] !== w[1]) {
      throw new ShapeError(`ClipPooling: ${x[1]} clips but ${w[1]} clip weights`);
    }
    return [x[0] ?? null, x[2] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const list = Array.isArray(inputs) ? inputs : [inputs];
      const x = list[0];
      if (x === undefined) throw new ShapeError('ClipPooling: no input');
      if (this.mode === 'mean') return tf.mean(x, 1);
      const w = list[1];
      if (w === undefined) throw new ShapeError(`ClipPooling '${this.mode}' needs [clips, weights] inputs`);
      const wCol = tf.expandDims(w, -1); // [N, C, 1] broadcasts over features
      if (this.mode === 'weighted') return tf.sum(tf.mul(x, wCol), 1);
      const s = tf.mul(x, wCol); // eq. 5
      const r = tf.add(x, s); // eq. 6
      return tf.mean(r, 1); // eq. 7
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode };
  }

  private shapes(inputShape: tfl.Shape | tfl.Shape[]): [tfl.Shape, tfl.Shape | undefined] {
    const nested = Array.isArray(inputShape[0]);
    const list = (nested ? inputShape : [inputShape]) as tfl.Shape[];
    const x = list[0];
    const w = list[1];
    const want = this.mode === 'mean' ? 1 : 2;
    if (list.length !== want || x === undefined || x.length !== 3 || (w !== undefined && w.length !== 2)) {
      throw new ShapeError(
        `ClipPooling '${this.mode}' expects ${want === 1 ? '[batch, clips, features]' : '[batch, clips, features] and [batch, clips]'}`,
      );
    }
    return [x, w];
  }
}
tf.serialization.registerClass(ClipPooling);
