/**
 * Gated clip-wise attention (GCF-Net eqs. 2–3): one gate value in (0, 1) per clip.
 *
 * Why: an action fills only some clips of a window; this gate learns which, so the pooling
 * that follows can favour them and the detector can read the action's temporal bounds from
 * it (clips with att_i > 0.5, §4.6). With the L1 sparsity loss (eq. 10) it tends to 0 on
 * irrelevant clips.
 *
 *     g   = [mean(b_1), …, mean(b_C)]              (eq. 2, mean over the feature axis)
 *     att = σ(W_2 ReLU(W_1 g + c_1) + c_2)          (eq. 3)
 *
 * W_1 is [C, hidden] and W_2 is [hidden, C]: the MLP runs across the clip axis, so the
 * number of clips C is fixed by the weights (a window of another length fails at build).
 * c_1, c_2 are biases (W_1, W_2 are "fully connected layer weights" in the paper); c_2 starts
 * at 0, so an untrained gate sits near σ(0) = 0.5 rather than favouring any clip.
 *
 * @example
 * const gate = new GatedClipAttention({ hidden: 10, name: 'clip_attention' });
 * const att = gate.apply(b); // b: [null, 10, D] → att: [null, 10]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link GatedClipAttention}. */
export interface GatedClipAttentionArgs extends LayerArgs {
  /** Width of the hidden layer of the clip-axis MLP (C → hidden → C). */
  readonly hidden: number;
  /** Seed of the Glorot-uniform kernel initialisers (two consecutive seeds); random if absent. */
  readonly seed?: number | null;
}

/**
 * Clip-wise gate: [N, C, F] → att [N, C] with att ∈ (0, 1).
 *
 * @param args.hidden hidden width of the MLP across clips.
 * @param args.seed initialiser seed for reproducible weights.
 * @returns a layer; apply it to a rank-3 (symbolic) tensor.
 */
export class GatedClipAttention extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'GatedClipAttention';
  readonly hidden: number;
  readonly seed: number | null;
  private w1: tfl.LayerVariable | null = null;
  private b1: tfl.LayerVariable | null = null;
  private w2: tfl.LayerVariable | null = null;
  private b2: tfl.LayerVariable | null = null;

  constructor(args: GatedClipAttentionArgs) {
    super(args);
    if (!Number.isInteger(args.hidden) || args.hidden < 1) {
      const message = `GatedClipAttention: hidden must be a positive integer, got ${args.hidden}`;
      throw new ConfigError(message, [{ path: 'hidden', message }]);
    }
    this.hidden = args.hidden;
    this.seed = args.seed ?? null;
    this.inputSpec = [{ ndim: 3 }];
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = oneShape(inputShape);
    const clips = shape[1];
    if (clips == null) {
      throw new ShapeError('GatedClipAttention: the clip axis must have a fixed length (the MLP runs across it)');
    }
    const init = (k: number): ReturnType<typeof tfl.initializers.glorotUniform> =>
      tfl.initializers.glorotUniform(this.seed === null ? {} : { seed: this.seed + k });
    this.w1 = this.addWeight('w1', [clips, this.hidden], 'float32', init(0));
    this.b1 = this.addWeight('b1', [this.hidden], 'float32', tfl.initializers.zeros());
    this.w2 = this.addWeight('w2', [this.hidden, clips], 'float32', init(1));
    this.b2 = this.addWeight('b2', [clips], 'float32', tfl.initializers.zeros());
    this.inputSpec = [{ ndim: 3, axes: { 1: clips } }];
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
      if (x === undefined || this.w1 === null || this.b1 === null || this.w2 === null || this.b2 === null) {
        throw new Error('GatedClipAttention: called before build');
      }
      const g = tf.mean(x, -1) as tf.Tensor2D; // [N, C]
      const h = tf.relu(tf.add(tf.matMul(g, this.w1.read() as tf.Tensor2D), this.b1.read()));
      return tf.sigmoid(tf.add(tf.matMul(h, this.w2.read() as tf.Tensor2D), this.b2.read()));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), hidden: this.hidden, seed: this.seed };
  }
}
tf.serialization.registerClass(GatedClipAttention);

function oneShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  const first = inputShape[0];
  const shape = Array.isArray(first) ? first : (inputShape as tfl.Shape);
  if (shape.length !== 3) {
    throw new ShapeError(`GatedClipAttention expects [batch, clips, features], got [${shape.join(', ')}]`, {
      expected: [null, null, null],
    });
  }
  return shape;
}
