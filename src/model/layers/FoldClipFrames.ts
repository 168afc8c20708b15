/**
 * Folds the frames of each clip into the batch: `[N, T, H, W, C]` → `[N*T, H, W, C]`.
 *
 * Why: the backbone is a per-frame 2D CNN (conv2d / depthwise are the XNNPACK-fast kernels on
 * tfjs-wasm), so it runs on frames; the frames of clip n become consecutive rows
 * `n*T .. n*T+T-1`, the layout {@link GateShiftFuse} and {@link SpatioTemporalAveragePool}
 * unfold again with their `numFrames`. A plain `Reshape` layer cannot do this: it never
 * touches the batch axis.
 *
 * @example
 * const fold = new FoldClipFrames({ name: 'fold' });
 * fold.apply(tf.zeros([2, 8, 112, 112, 3])); // shape [16, 112, 112, 3]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ShapeError } from '../../errors.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/**
 * Parameter-free layer `[N, T, H, W, C]` → `[N*T, H, W, C]`.
 *
 * @param args any tfjs layer argument (name…).
 * @returns the layer; a named class so saved models reload.
 */
export class FoldClipFrames extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'FoldClipFrames';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    if (shape.length !== 5) {
      throw new ShapeError(
        `FoldClipFrames expects clips [N, T, H, W, C], got rank ${shape.length} (shape [${shape.join(', ')}])`,
        { expected: [null, null, null, null, null], actual: shape.map((d) => d ?? -1) },
      );
    }
    const [n, t, h, w, c] = shape;
    const nt = n === null || n === undefined || t === null || t === undefined ? null : n * t;
    return [nt, h ?? null, w ?? null, c ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined) throw new ShapeError('FoldClipFrames: no input');
      const out = this.computeOutputShape(x.shape) as number[];
      return tf.reshape(x, out);
    });
  }
}
tf.serialization.registerClass(FoldClipFrames);
