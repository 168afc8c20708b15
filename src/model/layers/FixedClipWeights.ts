/**
 * Emits the same per-clip weight vector for every window: [N, C, F] → [N, C].
 *
 * Why: every head has the same two outputs (class probabilities, per-clip weights) so the
 * detector downstream never branches on the head kind. Heads without learned attention still
 * report how they weigh clips: D-Clips and fusion-only weigh all clips 1/C, C-Clip puts all
 * weight on its central clip.
 *
 * @example
 * const uniform = new FixedClipWeights({ clipWeights: Array(10).fill(0.1), name: 'clip_weights' });
 * const w = uniform.apply(v); // [null, 10, d] → [null, 10]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link FixedClipWeights}. */
export interface FixedClipWeightsArgs extends LayerArgs {
  /** One finite weight per clip; its length must equal the window's C. */
  readonly clipWeights: readonly number[];
}

/**
 * Constant per-clip weights, broadcast over the batch.
 *
 * @param args.clipWeights the C weights.
 * @returns a parameter-free layer (the weights are configuration, not trainable).
 */
export class FixedClipWeights extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'FixedClipWeights';
  readonly clipWeights: readonly number[];

  constructor(args: FixedClipWeightsArgs) {
    super(args);
    if (args.clipWeights.length === 0 || !args.clipWeights.every((w) => Number.isFinite(w))) {
      const message = 'FixedClipWeights: clipWeights must be a non-empty list of finite numbers';
      throw new ConfigError(message, [{ path: 'clipWeights', message }]);
    }
    this.clipWeights = [...args.clipWeights];
    this.inputSpec = [{ ndim: 3 }];
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const first = inputShape[0];
    const shape = Array.isArray(first) ? first : (inputShape as tfl.Shape);
    const clips = shape[1];
    if (clips != null && clips !== this.clipWeights.length) {
      throw new ShapeError(`FixedClipWeights: ${this.clipWeights.length} weights for a window of ${clips} clips`, {
        expected: [null, this.clipWeights.length, null],
      });
    }
    return [shape[0] ?? null, this.clipWeights.length];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined) throw new ShapeError('FixedClipWeights: no input');
      const n = x.shape[0] ?? 1;
      return tf.tile(tf.tensor2d([...this.clipWeights], [1, this.clipWeights.length]), [n, 1]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), clipWeights: [...this.clipWeights] };
  }
}
tf.serialization.registerClass(FixedClipWeights);
