/**
 * Where a clip moves: per-clip pooling weights over the backbone's last feature map, from the
 * frame differences of the input, `[N*T, H, W, C]` → `[N*T, h, w, 1]` summing to 1 over each
 * clip's T·h·w cells.
 *
 * Why: the actors of a surveillance view cover ~1% of the frame, and GCF-Net's descriptor is the
 * mean over every position (§3.1.1), which dilutes the actor's features ~100× into the static
 * scene's. Weighting each cell by how much its pixels change between frames keeps the average
 * (smooth, every frame counts) but centred on what moves. Measured before building it, on the
 * frozen pre-pool features of clipwise-default 1.2.0 (a linear probe, 1400 training / 700
 * validation clips): mean 50.0%, these weights 52.4%, spatial max 44.2%.
 *
 * A cell's motion is the mean |x_t − x_{t−1}| of its pixels and channels (the first frame takes
 * the second frame's difference, so it is not ignored); `floor` × the clip's mean motion is added
 * to every cell, so a clip without motion pools uniformly (the plain mean) and the scene is never
 * weighted exactly 0. Parameter-free; it sits on the input, so no gradient flows through it.
 *
 * @example
 * const w = motionWeights(frames, 8, 16, 0.05); // frames [16, 112, 112, 3] → [16, 7, 7, 1]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../../errors.ts';
import { frameDifferences } from './TemporalDifference.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Default share of a clip's mean motion added to every cell (the value the probe measured). */
export const MOTION_WEIGHT_FLOOR = 0.05;

/** Constructor arguments of {@link MotionWeights}. */
export interface MotionWeightsArgs extends LayerArgs {
  /** Frames per clip T: rows `n*T .. n*T+T-1` of the input are clip n. */
  readonly numFrames: number;
  /** Input pixels per feature-map cell along each side (the backbone's total stride). */
  readonly cellSize: number;
  /** See {@link MOTION_WEIGHT_FLOOR}. */
  readonly floor?: number;
}

/**
 * The weights themselves, shared by the layer and the compiled inference pass.
 *
 * @param x folded frames `[N*T, H, W, C]` (any fixed scaling: the weights are normalised).
 * @param numFrames T. @param cellSize pixels per cell side. @param floor see {@link MOTION_WEIGHT_FLOOR}.
 * @returns `[N*T, ⌈H/cellSize⌉, ⌈W/cellSize⌉, 1]`, each clip's summing to 1 (in the caller's tidy).
 */
export function motionWeights(x: tf.Tensor4D, numFrames: number, cellSize: number, floor = MOTION_WEIGHT_FLOOR): tf.Tensor4D {
  // frameDifferences checks that N*T is a multiple of T.
  return tf.tidy(() => motionWeightsOfDifferences(frameDifferences(x, numFrames), numFrames, cellSize, floor));
}

/**
 * {@link motionWeights} from frame differences already made ({@link frameDifferences} of the
 * folded frames): the compiled pass computes them once for the stem and for these weights.
 *
 * @param d frame differences `[N*T, H, W, C]`. Other parameters and result as {@link motionWeights}.
 */
export function motionWeightsOfDifferences(d: tf.Tensor4D, numFrames: number, cellSize: number, floor = MOTION_WEIGHT_FLOOR): tf.Tensor4D {
  const [nt, , , c] = d.shape;
  const T = numFrames;
  return tf.tidy(() => {
    const cells = tf.avgPool(tf.abs(d), cellSize, cellSize, 'same');
    const [, h, w] = cells.shape;
    const n = nt / T;
    // Channel mean as a 1×1 convolution: a last-axis reduction is slow on tfjs-wasm.
    let m = tf.reshape(tf.conv2d(cells, tf.fill([1, 1, c, 1], 1 / c), 1, 'valid'), [n, T, h * w]) as tf.Tensor3D;
    if (T > 1) m = tf.concat([tf.slice(m, [0, 1, 0], [n, 1, h * w]), tf.slice(m, [0, 1, 0], [n, T - 1, h * w])], 1);
    const flat = tf.reshape(m, [n, T * h * w]);
    const lifted = tf.add(tf.add(flat, tf.mul(floor, tf.mean(flat, 1, true))), 1e-6);
    return tf.reshape(tf.div(lifted, tf.sum(lifted, 1, true)), [nt, h, w, 1]) as tf.Tensor4D;
  });
}

/**
 * Parameter-free layer: folded frames `[N*T, H, W, C]` → pooling weights `[N*T, h, w, 1]` (see
 * {@link motionWeights}); feeds {@link SpatioTemporalAveragePool} with `spatial: 'motion'`.
 *
 * @param args.numFrames T. @param args.cellSize pixels per cell. @param args.floor see {@link MOTION_WEIGHT_FLOOR}.
 * @returns the layer; a named class so saved models reload.
 */
export class MotionWeights extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'MotionWeights';
  readonly numFrames: number;
  readonly cellSize: number;
  readonly floor: number;

  constructor(args: MotionWeightsArgs) {
    super({ ...args, trainable: false });
    const bad = (path: string, message: string): ConfigError => new ConfigError(`MotionWeights: ${path} ${message}`, [{ path, message }]);
    if (!Number.isInteger(args.numFrames) || args.numFrames < 1) throw bad('numFrames', `must be a positive integer, got ${args.numFrames}`);
    if (!Number.isInteger(args.cellSize) || args.cellSize < 1) throw bad('cellSize', `must be a positive integer, got ${args.cellSize}`);
    const floor = args.floor ?? MOTION_WEIGHT_FLOOR;
    if (!(floor >= 0 && Number.isFinite(floor))) throw bad('floor', `must be a finite number ≥ 0, got ${floor}`);
    this.numFrames = args.numFrames;
    this.cellSize = args.cellSize;
    this.floor = floor;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    if (shape.length !== 4) {
      throw new ShapeError(`MotionWeights expects folded frames [N*T, H, W, C], got rank ${shape.length}`, {
        expected: [null, null, null, null],
        actual: shape.map((d) => d ?? -1),
      });
    }
    const cell = (d: number | null | undefined): number | null => (d === null || d === undefined ? null : Math.ceil(d / this.cellSize));
    return [shape[0] ?? null, cell(shape[1]), cell(shape[2]), 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined || x.rank !== 4) throw new ShapeError(`MotionWeights expects folded frames [N*T, H, W, C], got [${x?.shape.join(', ') ?? ''}]`);
      return motionWeights(x as tf.Tensor4D, this.numFrames, this.cellSize, this.floor);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numFrames: this.numFrames, cellSize: this.cellSize, floor: this.floor };
  }
}
tf.serialization.registerClass(MotionWeights);
