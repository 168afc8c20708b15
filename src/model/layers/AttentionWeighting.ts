/**
 * ATW temporal attention weights (atw-cnn eqs. 2–3): a softmax over clips of a learned
 * linear score.
 *
 * Why: the attention-based temporal weighting baseline. Each clip gets a score
 * e_i = wᵀ a_i from its own feature vector only (no context from other clips, unlike
 * GCF's fusion), and the weights w_i = exp(e_i) / Σ_j exp(e_j) are positive and sum to 1
 * over the window; the pooling that follows forms Σ_i w_i a_i (eq. 4).
 *
 * No bias: a bias shared by every clip adds the same constant to every e_i and cancels in the
 * softmax, so it could never learn anything.
 *
 * @example
 * const weigh = new AttentionWeighting({ name: 'atw_weights' });
 * const w = weigh.apply(v); // v: [null, 10, d] → w: [null, 10], rows summing to 1
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ShapeError } from '../../errors.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link AttentionWeighting}. */
export interface AttentionWeightingArgs extends LayerArgs {
  /** Seed of the Glorot-uniform initialiser of w; random if absent. */
  readonly seed?: number | null;
}

/**
 * ATW attention: [N, C, F] → softmax weights [N, C].
 *
 * @param args.seed initialiser seed for a reproducible w.
 * @returns a layer; apply it to a rank-3 (symbolic) tensor.
 */
export class AttentionWeighting extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'AttentionWeighting';
  readonly seed: number | null;
  private w: tfl.LayerVariable | null = null;

  constructor(args: AttentionWeightingArgs = {}) {
    super(args);
    this.seed = args.seed ?? null;
    this.inputSpec = [{ ndim: 3 }];
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = oneShape(inputShape);
    const features = shape[2];
    if (features == null) throw new ShapeError('AttentionWeighting: the feature axis must be known');
    this.w = this.addWeight(
      'w',
      [features, 1],
      'float32',
      tfl.initializers.glorotUniform(this.seed === null ? {} : { seed: this.seed }),
    );
    this.inputSpec = [{ ndim: 3, axes: { [-1]: features } }];
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = oneShape(inputShape);
    return [shape[0] ?? null, shape[1] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined || this.w === null) throw new Error('AttentionWeighting: called before build');
      const [n, c, f] = x.shape as [number, number, number];
      const e = tf.reshape(tf.matMul(tf.reshape(x, [n * c, f]), this.w.read() as tf.Tensor2D), [n, c]);
      return tf.softmax(e, -1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), seed: this.seed };
  }
}
tf.serialization.registerClass(AttentionWeighting);

function oneShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  const first = inputShape[0];
  const shape = Array.isArray(first) ? first : (inputShape as tfl.Shape);
  if (shape.length !== 3) {
    throw new ShapeError(`AttentionWeighting expects [batch, clips, features], got [${shape.join(', ')}]`, {
      expected: [null, null, null],
    });
  }
  return shape;
}
