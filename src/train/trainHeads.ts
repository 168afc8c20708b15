/**
 * Stage 2 of training: every window head on frozen clip descriptors.
 *
 * Why frozen descriptors: GCF-Net's head is a light module on top of a clip network (§3.1,
 * Table 3: 15 MFLOPs against hundreds for the backbone); with the descriptors computed once,
 * one head trains in seconds, so all six heads (GCF, its two ablations, ATW, D-Clips, C-Clip)
 * are trained on exactly the same inputs, the controlled comparison of Table 2.
 *
 * Loss: CE + λ‖att‖₁ for the heads with a gate (GCF, attention-only; eqs. 9–10), plain CE for
 * the others. Optionally (`attentionSupervision` μ > 0) a binary cross-entropy between each
 * gate value and whether its clip holds the window's action, for the reason measured and
 * written in the model card: on these features the unsupervised gate does not single out the
 * action's clips, and the stream needs it to for temporal bounds.
 *
 * @example
 * const r = await trainHead({ kind: 'gcf', head, videos, windows, steps: 1500, ... });
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { HEAD_CLIP_WEIGHTS, type HeadKind } from '../model/heads.ts';
import { gcfLoss } from '../model/loss.ts';
import { createRng, hashSeed } from '../synth/prng.ts';
import { createProgress, letSignalsIn } from './progress.ts';
import { learningRateAt, ScheduledAdam } from './schedule.ts';
import { gatherWindows, windowRelevance, type FeatureVideo, type WindowRef } from './windows.ts';

/** Options of {@link trainHead}. */
export interface HeadTrainingOptions {
  readonly kind: HeadKind;
  readonly head: tfl.LayersModel;
  readonly videos: readonly FeatureVideo[];
  /** Training windows (any labels; background windows included). */
  readonly windows: readonly WindowRef[];
  readonly numClasses: number;
  readonly clips: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** λ of eq. 9 (heads with a gate only). */
  readonly lambda: number;
  /** μ: weight of the gate's clip-relevance BCE (heads with a gate only); 0 = the paper's loss. */
  readonly attentionSupervision: number;
  /** Weight of drawing a background window against 1 per action class. */
  readonly backgroundWeight: number;
  /** Std of Gaussian noise added to the descriptors (augmentation), in descriptor units. */
  readonly noiseStd: number;
  readonly seed: number;
  readonly backgroundIndex?: number;
  readonly signal?: AbortSignal;
}

/** What training a head did. */
export interface HeadTrainingResult {
  readonly kind: HeadKind;
  /** Mean loss over the first and the last 10% of steps. */
  readonly firstLoss: number;
  readonly lastLoss: number;
  readonly seconds: number;
}

/** True for heads whose output 1 is a gate trained with the L1 term. */
export function hasGate(kind: HeadKind): boolean {
  return HEAD_CLIP_WEIGHTS[kind] === 'gate';
}

/**
 * Train one head with Adam (warm-up + cosine), class-balanced window batches.
 *
 * @returns first/last loss and time.
 */
export async function trainHead(o: HeadTrainingOptions): Promise<HeadTrainingResult> {
  const t0 = performance.now();
  const bg = o.backgroundIndex ?? 0;
  const dim = o.videos[0]?.dim ?? 0;
  const byClass = new Map<number, WindowRef[]>();
  for (const w of o.windows) {
    const list = byClass.get(w.label);
    if (list) list.push(w);
    else byClass.set(w.label, [w]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const weights = classes.map((k) => (k === bg ? o.backgroundWeight : 1));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const gate = hasGate(o.kind);
  const optimizer = new ScheduledAdam(o.learningRate);
  const vars = o.head.trainableWeights.map((w) => w.read() as tf.Variable);
  const bar = createProgress({ label: `stage 2 head ${o.kind}`, total: o.steps, intervalMs: 30_000 });
  const losses: number[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      await letSignalsIn();
      o.signal?.throwIfAborted();
      const rng = createRng(hashSeed(o.seed, 2, step));
      const batch: WindowRef[] = [];
      for (let i = 0; i < o.batchSize; i++) {
        let u = rng.next() * totalWeight;
        let k = classes[classes.length - 1] as number;
        for (let c = 0; c < classes.length; c++) {
          u -= weights[c] as number;
          if (u < 0) {
            k = classes[c] as number;
            break;
          }
        }
        const pool = byClass.get(k) as WindowRef[];
        batch.push(pool[rng.int(0, pool.length - 1)] as WindowRef);
      }
      const xData = gatherWindows(o.videos, batch, o.clips, { std: o.noiseStd, normal: () => rng.normal() });
      const relevance = gate && o.attentionSupervision > 0 ? windowRelevance(o.videos, batch, o.clips, bg) : undefined;
      optimizer.setLearningRate(learningRateAt(step, { total: o.steps, base: o.learningRate }));
      const x = tf.tensor3d(xData, [batch.length, o.clips, dim]);
      const y = tf.tensor1d(batch.map((w) => w.label), 'int32');
      const rel = relevance ? tf.tensor2d(relevance, [batch.length, o.clips]) : undefined;
      try {
        const cost = optimizer.minimize(
          () => {
            const [probs, att] = o.head.apply(x, { training: true }) as tf.Tensor[];
            if (probs === undefined || att === undefined) throw new Error('a head has two outputs');
            const base = gcfLoss(y, probs, gate ? att : undefined, gate ? o.lambda : 0);
            if (rel === undefined) return base;
            const a = tf.clipByValue(att, 1e-6, 1 - 1e-6);
            const bce = tf.neg(tf.mean(tf.add(tf.mul(rel, tf.log(a)), tf.mul(tf.sub(1, rel), tf.log(tf.sub(1, a))))));
            return tf.add(base, tf.mul(o.attentionSupervision, bce)) as tf.Scalar;
          },
          true,
          vars,
        );
        const value = cost ? (await cost.data())[0] ?? NaN : NaN;
        cost?.dispose();
        losses.push(value);
      } finally {
        tf.dispose([x, y, ...(rel ? [rel] : [])]);
      }
      if ((step + 1) % 25 === 0 || step + 1 === o.steps) {
        const recent = losses.slice(-50);
        bar.update(step + 1, { loss: recent.reduce((a, b) => a + b, 0) / recent.length });
      }
    }
  } finally {
    optimizer.dispose();
  }
  bar.done();
  const tenth = Math.max(1, Math.floor(losses.length / 10));
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    kind: o.kind,
    firstLoss: mean(losses.slice(0, tenth)),
    lastLoss: mean(losses.slice(-tenth)),
    seconds: (performance.now() - t0) / 1000,
  };
}
