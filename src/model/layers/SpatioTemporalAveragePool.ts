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

/** The pooling modes, in one place for the layer, the backbone config and the CLI to check against. */
export const SPATIAL_POOLINGS = ['mean', 'max', 'motion'] as const;

/** How each frame's H×W positions are pooled before the average over the clip's T frames. */
export type SpatialPooling = (typeof SPATIAL_POOLINGS)[number];

/** True for a valid {@link SpatialPooling}. */
export function isSpatialPooling(v: unknown): v is SpatialPooling {
  return (SPATIAL_POOLINGS as readonly unknown[]).includes(v);
}

/** Constructor arguments of {@link SpatioTemporalAveragePool}. */
export interface SpatioTemporalAveragePoolArgs extends LayerArgs {
  /** Frames per clip T: rows `n*T .. n*T+T-1` of the input are clip n. */
  readonly numFrames: number;
  /**
   * `mean` (default, GCF-Net §3.1.1): the mean over T·H·W. `max`: each frame's maximum over
   * H·W, then the mean over T — for actors that cover ~1% of the frame, whose features an
   * average dilutes ~100× into the scene's (see the model card's measurement). `motion`: the
   * sum over T·H·W weighted by a second input, {@link MotionWeights}' per-clip weights
   * `[N*T, H, W, 1]` (the layer is then applied to `[features, weights]`).
   */
  readonly spatial?: SpatialPooling;
}

/**
 * The pooling itself, shared by the layer and the compiled inference pass.
 *
 * @param x frame features `[N*T, H, W, D]` (N*T divisible by T).
 * @param numFrames T. @param spatial see {@link SpatioTemporalAveragePoolArgs.spatial}.
 * @returns `[N, D]` (in the caller's tidy).
 */
export function poolClipFeatures(x: tf.Tensor4D, numFrames: number, spatial: SpatialPooling, weights?: tf.Tensor4D): tf.Tensor2D {
  const [nt, h, w, d] = x.shape;
  const n = nt / numFrames;
  if (spatial === 'motion') {
    if (weights === undefined || weights.shape[0] !== nt || weights.shape[1] !== h || weights.shape[2] !== w || weights.shape[3] !== 1) {
      throw new ShapeError(`SpatioTemporalAveragePool: motion pooling needs weights [${nt}, ${h}, ${w}, 1], got ${weights ? `[${weights.shape.join(', ')}]` : 'none'}`, {
        expected: [nt, h, w, 1],
        actual: weights?.shape ?? [],
      });
    }
    // [n, 1, T·H·W] · [n, T·H·W, D]: one batched matMul instead of a multiply and a reduction.
    return tf.reshape(tf.matMul(tf.reshape(weights, [n, 1, numFrames * h * w]), tf.reshape(x, [n, numFrames * h * w, d])), [n, d]) as tf.Tensor2D;
  }
  // 3-D views keep the reductions on tfjs-wasm's fast path.
  if (spatial === 'max') return tf.mean(tf.reshape(tf.max(tf.reshape(x, [nt, h * w, d]), 1), [n, numFrames, d]), 1) as tf.Tensor2D;
  return tf.mean(tf.reshape(x, [n, numFrames * h * w, d]), 1) as tf.Tensor2D;
}

/**
 * Parameter-free layer `[N*T, H, W, D]` → `[N, D]`, the mean over each clip's T·H·W positions
 * (or over its T frames of each frame's spatial maximum, `spatial: 'max'`).
 *
 * @param args.numFrames T. @param args.spatial `mean` (default) or `max`.
 * @returns the layer; a named class so saved models reload.
 */
export class SpatioTemporalAveragePool extends tfl.layers.Layer {
  /** @nocollapse */
  static className = 'SpatioTemporalAveragePool';
  readonly numFrames: number;
  readonly spatial: SpatialPooling;

  constructor(args: SpatioTemporalAveragePoolArgs) {
    super(args);
    if (!Number.isInteger(args.numFrames) || args.numFrames < 1) {
      const message = `SpatioTemporalAveragePool: numFrames must be a positive integer, got ${args.numFrames}`;
      throw new ConfigError(message, [{ path: 'numFrames', message }]);
    }
    this.numFrames = args.numFrames;
    const spatial = args.spatial ?? 'mean';
    if (!isSpatialPooling(spatial)) {
      const message = `SpatioTemporalAveragePool: spatial must be 'mean', 'max' or 'motion', got ${JSON.stringify(spatial)}`;
      throw new ConfigError(message, [{ path: 'spatial', message }]);
    }
    this.spatial = spatial;
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
      const weights = Array.isArray(inputs) ? (inputs[1] as tf.Tensor4D | undefined) : undefined;
      return poolClipFeatures(x as tf.Tensor4D, this.numFrames, this.spatial, weights);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    // `spatial` only when not the default, so models saved before it existed keep their JSON.
    return { ...super.getConfig(), numFrames: this.numFrames, ...(this.spatial !== 'mean' ? { spatial: this.spatial } : {}) };
  }
}
tf.serialization.registerClass(SpatioTemporalAveragePool);
