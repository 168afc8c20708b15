/**
 * Stage 1 of training: the clip backbone with a temporary clip classifier on top.
 *
 * Why a temporary classifier: the backbone's job is a clip descriptor that separates the
 * actions; the cheapest supervision for that is clip labels (cross-entropy on single clips,
 * GCF-Net §3.3 trains its 3D-CNN the same way before the fusion head). The classifier is thrown
 * away after this stage; the heads are trained on the frozen descriptors in stage 2.
 *
 * @example
 * const model = createClipClassifier(createBackbone(), 7, 1);
 * await trainBackboneStage({ model, sampler, val, epochs: 6, stepsPerEpoch: 150, ... });
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createRng, hashSeed } from '../synth/prng.ts';
import type { ClipBatch, ClipSampler } from './clipSampler.ts';
import { createProgress, letSignalsIn } from './progress.ts';
import { createReplicaPool } from './replicaPool.ts';
import { learningRateAt, ScheduledAdam } from './schedule.ts';

/** Name of the backbone inside the stage-1 model (`createBackbone` names its model so). */
export const BACKBONE_LAYER = 'clipwise_backbone';

/**
 * Backbone + dropout + softmax classifier, as one trainable model.
 *
 * @param backbone a backbone from `createBackbone` (its weights are shared, not copied).
 * @param numClasses K.
 * @param seed classifier initialiser seed.
 * @returns an uncompiled model: clips [N, T, H, W, 3] → probabilities [N, K].
 */
export function createClipClassifier(backbone: tfl.LayersModel, numClasses: number, seed: number): tfl.LayersModel {
  const shape = backbone.inputs[0]?.shape.slice(1) as number[];
  const input = tfl.input({ shape, name: 'clips' });
  const v = backbone.apply(input) as tfl.SymbolicTensor;
  const dropped = tfl.layers.dropout({ rate: 0.2, seed, name: 'clip_dropout' }).apply(v) as tfl.SymbolicTensor;
  const probs = tfl.layers
    .dense({ units: numClasses, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed }), name: 'clip_classifier' })
    .apply(dropped) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: probs, name: 'clipwise_stage1' });
}

/** The backbone inside a stage-1 model (shares its weights). */
export function backboneOf(model: tfl.LayersModel): tfl.LayersModel {
  return model.getLayer(BACKBONE_LAYER) as tfl.LayersModel;
}

/** Labelled clips held out for validation. */
export interface ClipSet {
  readonly x: Float32Array;
  readonly labels: Int32Array;
  readonly n: number;
  /** [T, H, W, 3] of one clip. */
  readonly shape: readonly [number, number, number, number];
}

/** Accuracy of a stage-1 model on a clip set. */
export interface ClipAccuracy {
  /** Share of clips classified right. */
  readonly acc: number;
  /** Mean over classes of per-class recall (insensitive to the class mix). */
  readonly balancedAcc: number;
  readonly loss: number;
}

/**
 * Classify a clip set in inference mode.
 *
 * @param model stage-1 model. @param set clips. @param batch clips per forward pass.
 * @returns accuracy, balanced accuracy and mean cross-entropy.
 */
export async function clipAccuracy(model: tfl.LayersModel, set: ClipSet, numClasses: number, batch = 8): Promise<ClipAccuracy> {
  const per = set.shape.reduce((a, b) => a * b, 1);
  let right = 0;
  let lossSum = 0;
  const hit = new Array<number>(numClasses).fill(0);
  const seen = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < set.n; i += batch) {
    const n = Math.min(batch, set.n - i);
    const probs = tf.tidy(() => {
      const x = tf.tensor(set.x.subarray(i * per, (i + n) * per), [n, ...set.shape]);
      return model.apply(x, { training: false }) as tf.Tensor2D;
    });
    const p = (await probs.data()) as Float32Array;
    probs.dispose();
    for (let j = 0; j < n; j++) {
      const row = p.subarray(j * numClasses, (j + 1) * numClasses);
      const y = set.labels[i + j] as number;
      let arg = 0;
      for (let k = 1; k < numClasses; k++) if ((row[k] as number) > (row[arg] as number)) arg = k;
      seen[y] = (seen[y] ?? 0) + 1;
      if (arg === y) {
        right++;
        hit[y] = (hit[y] ?? 0) + 1;
      }
      lossSum -= Math.log(Math.max(1e-7, row[y] as number));
    }
  }
  const recalls = seen.map((s, k) => (s > 0 ? (hit[k] as number) / s : NaN)).filter((r) => !Number.isNaN(r));
  return {
    acc: set.n > 0 ? right / set.n : NaN,
    balancedAcc: recalls.length > 0 ? recalls.reduce((a, b) => a + b, 0) / recalls.length : NaN,
    loss: set.n > 0 ? lossSum / set.n : NaN,
  };
}

/** One epoch's record. */
export interface BackboneEpoch {
  readonly epoch: number;
  readonly steps: number;
  readonly trainLoss: number;
  readonly trainAcc: number;
  readonly val?: ClipAccuracy;
  readonly seconds: number;
  readonly learningRate: number;
}

/** Options of {@link trainBackboneStage}. */
export interface BackboneStageOptions {
  readonly model: tfl.LayersModel;
  readonly optimizer: ScheduledAdam;
  readonly sampler: ClipSampler;
  readonly val?: ClipSet;
  readonly numClasses: number;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  /** Epochs already done (resume): training continues at this epoch. */
  readonly startEpoch?: number;
  /** Called after every epoch (write a checkpoint here). */
  readonly onEpoch?: (record: BackboneEpoch) => Promise<void>;
  readonly signal?: AbortSignal;
  /**
   * Worker threads training replicas of the model on shares of each batch (data-parallel,
   * src/train/replicaPool.ts). 1 (default): this thread trains the model itself.
   */
  readonly workers?: number;
}

/**
 * Train the stage-1 model for `epochs − startEpoch` more epochs of `stepsPerEpoch` steps.
 * Batch b of the whole run is drawn with the seed hash(seed, b), so a resumed run sees the
 * same batches an uninterrupted one would.
 *
 * @returns one record per epoch trained in this call.
 */
export async function trainBackboneStage(o: BackboneStageOptions): Promise<BackboneEpoch[]> {
  const startEpoch = o.startEpoch ?? 0;
  const total = o.epochs * o.stepsPerEpoch;
  o.model.compile({ optimizer: o.optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const input = o.model.inputs[0]?.shape.slice(1) as number[];
  const records: BackboneEpoch[] = [];
  const bar = createProgress({ label: 'stage 1 backbone', total, startAt: startEpoch * o.stepsPerEpoch });
  const workers = o.workers ?? 1;
  const pool = workers > 1 ? await createReplicaPool({ model: o.model, optimizer: o.optimizer, numClasses: o.numClasses, workers, learningRate: o.learningRate }) : undefined;
  try {
    for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      let lossSum = 0;
      let accSum = 0;
      for (let s = 0; s < o.stepsPerEpoch; s++) {
        await letSignalsIn();
        o.signal?.throwIfAborted();
        const step = epoch * o.stepsPerEpoch + s;
        o.optimizer.setLearningRate(learningRateAt(step, { total, base: o.learningRate }));
        const batch = o.sampler.batch(createRng(hashSeed(o.seed, 1, step)), o.batchSize, true);
        const { loss, acc } = pool ? await pool.step(batch, o.optimizer.rate) : await localStep(o, batch, input);
        lossSum += loss;
        accSum += acc;
        bar.update(step + 1, { epoch: epoch + 1, loss: lossSum / (s + 1), acc: accSum / (s + 1), lr: o.optimizer.rate });
      }
      // The replicas hold the trained weights; bring this thread's model up to date first.
      await pool?.syncInto(o.model, o.optimizer);
      const val = o.val ? await clipAccuracy(o.model, o.val, o.numClasses) : undefined;
      const record: BackboneEpoch = {
        epoch: epoch + 1,
        steps: o.stepsPerEpoch,
        trainLoss: lossSum / o.stepsPerEpoch,
        trainAcc: accSum / o.stepsPerEpoch,
        ...(val ? { val } : {}),
        seconds: (performance.now() - t0) / 1000,
        learningRate: o.optimizer.rate,
      };
      records.push(record);
      process.stderr.write(
        `\nstage 1 epoch ${record.epoch}/${o.epochs}: train loss ${record.trainLoss.toFixed(3)} acc ${(100 * record.trainAcc).toFixed(1)}%` +
          (val ? `, val loss ${val.loss.toFixed(3)} acc ${(100 * val.acc).toFixed(1)}% balanced ${(100 * val.balancedAcc).toFixed(1)}%` : '') +
          ` (${record.seconds.toFixed(0)} s)\n`,
      );
      await o.onEpoch?.(record);
    }
  } finally {
    await pool?.close();
  }
  bar.done();
  return records;
}

/** One step on this thread: tfjs-layers' own training step. */
async function localStep(o: BackboneStageOptions, batch: ClipBatch, input: number[]): Promise<{ loss: number; acc: number }> {
  const x = tf.tensor(batch.x, [batch.n, ...input]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(batch.labels, 'int32'), o.numClasses));
  let out: number | number[];
  try {
    out = await o.model.trainOnBatch(x, y);
  } finally {
    x.dispose();
    y.dispose();
  }
  const [loss, acc] = Array.isArray(out) ? out : [out, NaN];
  return { loss: loss ?? NaN, acc: acc ?? NaN };
}
