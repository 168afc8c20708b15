/**
 * One copy of the stage-1 model (backbone + clip classifier) with its own optimizer, split into
 * "compute this batch's gradients" and "apply these gradients", so several copies can train as
 * one: each computes gradients on its share of a batch, the shares are averaged, and every copy
 * applies the same average (data-parallel training, src/train/replicaPool.ts).
 *
 * Why copies in worker threads: tfjs-wasm has no threads in Node, so one training step uses one
 * core; the two cores of this machine train 1.6× more clips per second as two copies
 * (bench/trainParallel.ts). Copies stay equal because they start from the same weights and
 * apply the same gradients with the same Adam arithmetic; only BatchNorm's moving statistics,
 * which each copy updates from its own share, drift apart, and the pool averages them whenever
 * it syncs the main thread's model.
 *
 * The same class runs inline (tests, comparisons) and inside src/train/replicaWorker.ts.
 *
 * @example
 * const r = new StageOneReplica(model, new ScheduledAdam(2e-3), 7);
 * const g = r.gradients(batch.x, batch.labels, batch.n);
 * r.apply(g.grads, 2e-3);
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ShapeError } from '../errors.ts';
import { ScheduledAdam } from './schedule.ts';

/** What one replica reports for its share of a step. */
export interface ReplicaGradients {
  /** One gradient per trainable weight, in `model.trainableWeights` order. */
  readonly grads: Float32Array[];
  /** Mean cross-entropy over the share. */
  readonly loss: number;
  /** Share of clips classified right. */
  readonly acc: number;
  /** Clips in the share. */
  readonly n: number;
}

/** Keras' categorical cross-entropy on probabilities (what `compile({ loss })` trains with). */
function crossEntropy(y: tf.Tensor2D, p: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), -1)));
}

/** A stage-1 model and its optimizer; see the module header. */
export class StageOneReplica {
  private readonly vars: tf.Variable[];

  /**
   * @param model stage-1 model (clips [N, T, H, W, 3] → probabilities [N, K]); trained in place.
   * @param optimizer this replica's Adam (its state is the replica's; see {@link optimizerState}).
   * @param numClasses K.
   */
  constructor(
    readonly model: tfl.LayersModel,
    readonly optimizer: ScheduledAdam,
    readonly numClasses: number,
  ) {
    this.vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /**
   * Gradients of the mean loss over `n` clips (training mode: dropout on, BatchNorm on the
   * batch's statistics and its moving statistics updated). Weights are not changed.
   *
   * @param x clips as raw RGB 0–255, `n` × the model's input shape.
   * @param labels class per clip.
   * @throws ShapeError when `x` or `labels` do not hold `n` clips.
   */
  gradients(x: Float32Array, labels: Int32Array, n: number): ReplicaGradients {
    const shape = this.model.inputs[0]?.shape.slice(1) as number[];
    const per = shape.reduce((a, b) => a * b, 1);
    if (n < 1 || x.length !== n * per || labels.length !== n) {
      throw new ShapeError(`replica step: expected ${n} clips of ${shape.join('×')} and ${n} labels, got ${x.length} values and ${labels.length} labels`, {
        expected: [n, ...shape],
        actual: [x.length / per],
      });
    }
    let acc = 0;
    const { value, grads } = tf.variableGrads(() => {
      const xt = tf.tensor(x, [n, ...shape]);
      const classes = tf.tensor1d(labels, 'int32');
      const y = tf.oneHot(classes, this.numClasses) as tf.Tensor2D;
      const p = this.model.apply(xt, { training: true }) as tf.Tensor2D;
      // Accuracy is read here, inside the tape, so the probabilities are not kept past the step.
      const right = tf.equal(tf.argMax(p, 1), classes);
      acc = (tf.sum(tf.cast(right, 'float32')).dataSync()[0] as number) / n;
      return crossEntropy(y, p);
    }, this.vars);
    try {
      const out = this.vars.map((v) => {
        const g = grads[v.name];
        // A weight the loss does not reach (none in this model) gets a zero gradient.
        return g ? (g.dataSync() as Float32Array).slice() : new Float32Array(v.size);
      });
      return { grads: out, loss: value.dataSync()[0] as number, acc, n };
    } finally {
      value.dispose();
      tf.dispose(Object.values(grads));
    }
  }

  /**
   * One Adam update with the given gradients (in `model.trainableWeights` order).
   *
   * @param grads gradient per trainable weight. @param learningRate rate of this update.
   * @throws ShapeError when the gradients do not match the weights.
   */
  apply(grads: readonly Float32Array[], learningRate: number): void {
    if (grads.length !== this.vars.length || grads.some((g, i) => g.length !== (this.vars[i] as tf.Variable).size)) {
      throw new ShapeError(`replica apply: expected ${this.vars.length} gradients matching the weights, got ${grads.length}`, {
        expected: [this.vars.length],
        actual: [grads.length],
      });
    }
    this.optimizer.setLearningRate(learningRate);
    const named = this.vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(grads[i] as Float32Array, v.shape) }));
    try {
      this.optimizer.applyGradients(named);
    } finally {
      tf.dispose(named.map((g) => g.tensor));
    }
  }

  /** Every weight of the model (trainable and BatchNorm's moving statistics), in `model.weights` order. */
  weights(): Float32Array[] {
    return modelWeights(this.model);
  }

  /** Replace every weight (same order and sizes as {@link weights}). */
  setWeights(values: readonly Float32Array[]): void {
    setModelWeights(this.model, values);
  }

  /** Adam's state ([iterations, first moments…, second moments…]) as arrays. */
  async optimizerState(): Promise<Float32Array[]> {
    return optimizerArrays(this.optimizer);
  }

  /** Restore Adam's state from {@link optimizerState}'s arrays (index-aligned with the gradients). */
  async setOptimizerState(values: readonly Float32Array[]): Promise<void> {
    await setOptimizerArrays(this.optimizer, this.vars, values);
  }
}

/** An Adam optimizer's state ([iterations, first moments…, second moments…]) as arrays. */
export async function optimizerArrays(optimizer: ScheduledAdam): Promise<Float32Array[]> {
  const named = await optimizer.getWeights();
  // The first entry is the int32 step count, a fresh tensor (the rest are Adam's own variables);
  // everything travels as float32 (exact below 2^24 steps).
  const arrays = named.map((w) => Float32Array.from(w.tensor.dataSync()));
  named[0]?.tensor.dispose();
  return arrays;
}

/** Copies of every weight of a model (trainable and moving statistics), in `model.weights` order. */
export function modelWeights(model: tfl.LayersModel): Float32Array[] {
  return model.weights.map((w) => (w.read().dataSync() as Float32Array).slice());
}

/**
 * Set a model's weights from arrays in `model.weights` order (as {@link modelWeights} gives them).
 *
 * @throws ShapeError when the count or a size differs.
 */
export function setModelWeights(model: tfl.LayersModel, values: readonly Float32Array[]): void {
  const ws = model.weights.map((w) => w.read());
  if (values.length !== ws.length || values.some((v, i) => v.length !== (ws[i] as tf.Tensor).size)) {
    throw new ShapeError(`model weights: expected ${ws.length} arrays matching ${model.name}'s weights, got ${values.length}`, {
      expected: [ws.length],
      actual: [values.length],
    });
  }
  const tensors = ws.map((w, i) => tf.tensor(values[i] as Float32Array, w.shape));
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * Restore an Adam optimizer's state from arrays laid out as its `getWeights()` returns them:
 * [iterations, m per variable…, v per variable…]. tfjs' Adam keeps its moments by gradient
 * index, not by name, so the names given are cosmetic (the variables' own).
 */
export async function setOptimizerArrays(optimizer: ScheduledAdam, vars: readonly tf.Variable[], values: readonly Float32Array[]): Promise<void> {
  // Before its first update Adam holds only its step count: nothing to restore.
  if (values.length <= 1) return;
  if (values.length !== 1 + 2 * vars.length) {
    throw new ShapeError(`optimizer state: expected ${1 + 2 * vars.length} arrays, got ${values.length}`, {
      expected: [1 + 2 * vars.length],
      actual: [values.length],
    });
  }
  const named = [
    { name: 'iter', tensor: tf.scalar(values[0]?.[0] ?? 0, 'int32') },
    ...vars.map((v, i) => ({ name: `${v.name}/m`, tensor: tf.tensor(values[1 + i] as Float32Array, v.shape) })),
    ...vars.map((v, i) => ({ name: `${v.name}/v`, tensor: tf.tensor(values[1 + vars.length + i] as Float32Array, v.shape) })),
  ];
  // Adam's setWeights replaces its moment variables without disposing the old ones.
  const old = await optimizer.getWeights();
  try {
    await optimizer.setWeights(named);
  } finally {
    tf.dispose(named.map((w) => w.tensor));
    tf.dispose(old.map((w) => w.tensor));
  }
}
