/**
 * tfjs-layers' BatchNormalization with a fused training step on the wasm and cpu backends
 * ({@link batchNormTraining}: moments, normalisation and gradient in two passes each way instead
 * of about fifteen kernels). Inference, configuration, weights and the saved class name
 * (`BatchNormalization`) are the parent's, so saved models load as plain tfjs BatchNormalization
 * layers and `foldBatchNorm` treats both alike.
 *
 * Why a subclass and not a new layer: the backbone's saved topology must stay what tfjs and
 * every earlier clipwise model already read; only the training arithmetic changes.
 * `registerFusedBatchNormalization()` makes models loaded in this process (a resumed
 * checkpoint) use it too.
 *
 * @example
 * const bn = new FusedBatchNormalization({ name: 'b1_bn', momentum: 0.99, epsilon: 1e-3 });
 * const y = bn.apply(x, { training: true }) as tf.Tensor; // fused on wasm
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormTraining, fusedTrainingAvailable } from '../fusedTrainingOps.ts';

type BatchNormalizationArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;
type BatchNormalizationLayer = ReturnType<typeof tfl.layers.batchNormalization>;
type Kwargs = Parameters<BatchNormalizationLayer['call']>[1];

/** tfjs-layers does not export the class itself; its factory's instances carry it. */
const BatchNormalizationBase = Object.getPrototypeOf(tfl.layers.batchNormalization()).constructor as new (
  args?: BatchNormalizationArgs,
) => BatchNormalizationLayer;

interface Variable {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}

/** The parent's fields this class reads (declared private in tfjs-layers' typings). */
interface BatchNormalizationState {
  readonly axis: number | number[];
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly gamma: Variable;
  readonly beta: Variable;
  readonly movingMean: Variable;
  readonly movingVariance: Variable;
}

/**
 * BatchNormalization whose training-mode call is fused where {@link fusedTrainingAvailable};
 * same results as the parent (tests compare values and gradients).
 */
export class FusedBatchNormalization extends BatchNormalizationBase {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const s = this as unknown as BatchNormalizationState;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = x !== undefined && (s.axis === -1 || s.axis === x.rank - 1 || (Array.isArray(s.axis) && s.axis.length === 1 && (s.axis[0] === -1 || s.axis[0] === x.rank - 1)));
    if (kwargs['training'] !== true || x === undefined || !lastAxis || !s.center || !s.scale || !fusedTrainingAvailable()) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x, s.gamma.read(), s.beta.read(), s.epsilon);
      // The parent's moving-average update: v ← v − (v − batch)·(1 − momentum).
      for (const [variable, value] of [
        [s.movingMean, mean],
        [s.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const old = variable.read();
          variable.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - s.momentum)));
        });
      }
      return y;
    });
  }
}

/**
 * Make `BatchNormalization` layers of models deserialised from now on (e.g. a resumed
 * training checkpoint) {@link FusedBatchNormalization}s. Same class name, config and weights.
 */
export function registerFusedBatchNormalization(): void {
  tf.serialization.registerClass(FusedBatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}
