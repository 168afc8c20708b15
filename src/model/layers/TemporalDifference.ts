/**
 * Appends each frame's difference to the previous frame as extra channels (TSN's "RGB diff"):
 * `[N*T, H, W, C]` → `[N*T, H, W, 2C]` = concat(x_t, x_t − x_{t−1}) per clip, with a zero
 * difference for the first frame of each clip.
 *
 * Why: in surveillance video the actors are a few pixels tall on a static, textured scene, and
 * the actions differ only by how a tiny figure moves. A per-frame CNN must first learn to find
 * the figure in the texture before GSF can compare frames; the frame difference hands the stem
 * the moving pixels directly (the static scene cancels), a strong inductive bias that costs one
 * subtraction per pixel (TSN, Wang et al. 2016, §3.2 "RGB difference").
 *
 * Works on the batch-folded layout the backbone uses (frames of clip n are rows
 * `n*T .. n*T+T-1`), so it needs `numFrames`. Parameter-free; no gradient flows through it to
 * trainable weights (it sits on the input), so the wasm training kernels need nothing new.
 *
 * Implementation notes (tfjs-wasm): the time shift works on a `[N, T, H·W·C]` view, where a
 * slice or concat along time copies whole frames; the channel concatenation is done as two 1×1
 * convolutions with fixed 0/1 kernels (exact: each output is one input times 1 plus zeros),
 * because wasm's Concat along the last axis copies one pixel at a time from JavaScript (55 ms
 * against 13 ms for 32 frames of 112×112×3, measured).
 *
 * @example
 * const diff = new TemporalDifference({ numFrames: 8 });
 * const y = diff.apply(tf.zeros([2 * 8, 112, 112, 3])) as tf.Tensor4D; // [16, 112, 112, 6]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Constructor arguments of {@link TemporalDifference} (plus any tfjs layer argument: name…). */
export interface TemporalDifferenceArgs extends LayerArgs {
  /** Frames per clip (T): rows `n*T .. n*T+T-1` of the folded batch are one clip. */
  readonly numFrames: number;
}

/**
 * The frame differences of folded clips, `[N*T, H, W, C]` with T frames per clip: row n·T + t
 * holds x_t − x_{t−1} of clip n, and zeros at t = 0. Exported for the compiled inference pass,
 * which feeds the differences to its own convolution instead of concatenating channels.
 *
 * @param x folded clips `[N*T, H, W, C]`.
 * @param numFrames T.
 * @returns a new tensor of x's shape (inside a tidy, or the caller disposes it).
 * @example
 * const d = frameDifferences(tf.zeros([16, 112, 112, 3]), 8); // [16, 112, 112, 3]
 */
export function frameDifferences(x: tf.Tensor4D, numFrames: number): tf.Tensor4D {
  const [nt, h, w, c] = x.shape;
  const T = numFrames;
  if (nt % T !== 0) {
    throw new ShapeError(`TemporalDifference: folded batch ${nt} is not a multiple of numFrames ${T} (expected [N*${T}, H, W, C])`, {
      expected: [null, h, w, c],
      actual: x.shape,
    });
  }
  return tf.tidy(() => {
    if (T === 1) return tf.zerosLike(x);
    const n = nt / T;
    const f = h * w * c;
    const flat = tf.reshape(x, [n, T, f]) as tf.Tensor3D;
    // prev[t] = x[t−1], and prev[0] = x[0] so the first difference is exactly zero.
    const prev = tf.concat([tf.slice(flat, [0, 0, 0], [n, 1, f]), tf.slice(flat, [0, 0, 0], [n, T - 1, f])], 1);
    return tf.reshape(tf.sub(flat, prev), x.shape) as tf.Tensor4D;
  });
}

/**
 * Parameter-free layer `[N*T, H, W, C]` → `[N*T, H, W, 2C]`: channels 0..C−1 are the input,
 * channels C..2C−1 its frame differences (see {@link frameDifferences}).
 *
 * @param args `numFrames` and any tfjs layer argument.
 * @returns the layer; a named class so saved models reload.
 */
export class TemporalDifference extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'TemporalDifference';
  readonly numFrames: number;

  constructor(args: TemporalDifferenceArgs) {
    super(args);
    if (!Number.isInteger(args.numFrames) || args.numFrames < 1) {
      throw new ConfigError(`TemporalDifference numFrames must be a positive integer, got ${args.numFrames}`, [
        { path: 'numFrames', message: 'must be a positive integer' },
      ]);
    }
    this.numFrames = args.numFrames;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    if (shape.length !== 4) {
      throw new ShapeError(`TemporalDifference expects folded frames [N*T, H, W, C], got rank ${shape.length}`, {
        expected: [null, null, null, null],
        actual: shape.map((d) => d ?? -1),
      });
    }
    const c = shape[3];
    return [shape[0] ?? null, shape[1] ?? null, shape[2] ?? null, c === null || c === undefined ? null : 2 * c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined || x.rank !== 4) {
        throw new ShapeError(`TemporalDifference expects folded frames [N*T, H, W, C], got [${x?.shape.join(', ') ?? ''}]`);
      }
      const x4 = x as tf.Tensor4D;
      const c = x4.shape[3];
      const d = frameDifferences(x4, this.numFrames);
      return tf.add(tf.conv2d(x4, placeChannels(c, 0), 1, 'valid'), tf.conv2d(d, placeChannels(c, c), 1, 'valid'));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numFrames: this.numFrames };
  }
}
tf.serialization.registerClass(TemporalDifference);

/** A `[1, 1, c, 2c]` 0/1 kernel that copies c channels to output channels at..at+c−1. */
function placeChannels(c: number, at: number): tf.Tensor4D {
  const v = new Float32Array(c * 2 * c);
  for (let i = 0; i < c; i++) v[i * 2 * c + at + i] = 1;
  return tf.tensor4d(v, [1, 1, c, 2 * c]);
}
