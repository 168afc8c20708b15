/**
 * Picks one clip of a window: [N, C, F] → [N, F].
 *
 * Why: the C-Clip baseline classifies only the central clip of the window (GCF-Net Fig. 1a);
 * slicing inside the model keeps the baseline a plain saved LayersModel like the other heads.
 *
 * @example
 * const central = new ClipSelect({ index: 5, name: 'central_clip' });
 * const v5 = central.apply(v); // [null, 10, d] → [null, d]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link ClipSelect}. */
export interface ClipSelectArgs extends LayerArgs {
  /** 0-based index of the clip to keep. */
  readonly index: number;
}

/**
 * Clip selection layer.
 *
 * @param args.index 0-based clip index, < C.
 * @returns a parameter-free layer.
 */
export class ClipSelect extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'ClipSelect';
  readonly index: number;

  constructor(args: ClipSelectArgs) {
    super(args);
    if (!Number.isInteger(args.index) || args.index < 0) {
      const message = `ClipSelect: index must be a non-negative integer, got ${args.index}`;
      throw new ConfigError(message, [{ path: 'index', message }]);
    }
    this.index = args.index;
    this.inputSpec = [{ ndim: 3 }];
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const first = inputShape[0];
    const shape = Array.isArray(first) ? first : (inputShape as tfl.Shape);
    const clips = shape[1];
    if (shape.length !== 3) throw new ShapeError(`ClipSelect expects [batch, clips, features], got rank ${shape.length}`);
    if (clips != null && this.index >= clips) {
      throw new ShapeError(`ClipSelect: index ${this.index} is outside a window of ${clips} clips`);
    }
    return [shape[0] ?? null, shape[2] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined) throw new ShapeError('ClipSelect: no input');
      const [n, , f] = x.shape as [number, number, number];
      return tf.reshape(tf.slice(x, [0, this.index, 0], [n, 1, f]), [n, f]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), index: this.index };
  }
}
tf.serialization.registerClass(ClipSelect);
