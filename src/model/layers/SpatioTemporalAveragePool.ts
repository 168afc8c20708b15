/**
 * Clip descriptor pooling: global average over T, H, W of a batch-folded feature map,
 * `[N*T, H, W, D]` → `[N, D]`.
 *
 * Why: GCF-Net's clip descriptor v is the global spatio-temporal average of the backbone's last
 * feature map (§3.1.1: no temporal striding, so every frame counts equally and the clip's timing
 * stays exact). The backbone runs frame-folded (see {@link FoldClipFrames}), so unfolding the
 * clip needs `numFrames`.
 *
 * @example
 * const pool = new SpatioTemporalAveragePool({ numFrames: 8 });
 * pool.apply(tf.ones([16, 7, 7, 256])); // shape [2, 256], all ones
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link SpatioTemporalAveragePool}. */
export interface SpatioTemporalAveragePoolArgs extends LayerArgs {
  /** Frames per clip T: rows `n*T .. n*T+T-1` of the input are clip n. */
  readonly numFrames: number;
}

/**
 * Parameter-free layer `[N*T, H, W, D]` → `[N, D]`, the mean over each clip's T·H·W positions.
 *
 * @param args.numFrames T.
 * @returns the layer; a named class so saved models reload.
 */
export class SpatioTemporalAveragePool extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'SpatioTemporalAveragePool';
  readonly numFrames: number;

  constructor(args: SpatioTemporalAveragePoolArgs) {
    super(args);
    if (!Number.isInteger(args.numFrames) || args.numFrames < 1) {
      const message = `SpatioTemporalAveragePool: numFrames must be a positive integer, got ${args.numFrames}`;
      throw new ConfigError(message, [{ path: 'numFrames', message }]);
    }
    this.numFrames = args.numFrames;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    if (shape.length !== 4) {
      throw new ShapeError(
        `SpatioTemporalAveragePool expects frame features [N*T, H, W, D], got rank ${shape.length} ` +
          `(shape [${shape.join(', ')}])`,
        { expected: [null, null, null, null], actual: shape.map((d) => d ?? -1) },
      );
    }
    const nt = shape[0];
    return [nt === null || nt === undefined ? null : nt / this.numFrames, shape[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined) throw new ShapeError('SpatioTemporalAveragePool: no input');
      this.computeOutputShape(x.shape);
      const [nt, h, w, d] = x.shape as [number, number, number, number];
      if (nt % this.numFrames !== 0) {
        throw new ShapeError(
          `SpatioTemporalAveragePool: folded batch ${nt} is not a multiple of numFrames ${this.numFrames}`,
          { expected: [null, h, w, d], actual: x.shape },
        );
      }
      // A 3-D view keeps the reduction on tfjs-wasm's fast path.
      return tf.mean(tf.reshape(x, [nt / this.numFrames, this.numFrames * h * w, d]), 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numFrames: this.numFrames };
  }
}
tf.serialization.registerClass(SpatioTemporalAveragePool);
