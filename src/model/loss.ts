/**
 * GCF-Net training loss (eqs. 9–10): cross-entropy plus an L1 sparsity penalty on the clip
 * attention.
 *
 * Why: the L1 term pushes the gate towards 0 on clips that do not help the classification,
 * so after training att_i > 0.5 marks the action's clips and gives its temporal bounds
 * without any temporal labels (§3.2, §4.6).
 *
 *     L = CE(labels, probs) + λ · mean_n ‖att_n‖₁,   ‖att_n‖₁ = Σ_i |att_n,i|
 *
 * Choices:
 * - ‖att‖₁ is the L1 norm as written: summed over the C clips, not averaged, then averaged
 *   over the batch like the cross-entropy. So λ is per clip: doubling C doubles the penalty.
 * - CE is computed from probabilities (every head outputs probabilities; D-Clips averages
 *   them, so it has no logits), clipped to [1e-7, 1] so log never sees 0.
 *
 * @example
 * const [probs, att] = head.apply(x, { training: true }) as tf.Tensor[];
 * const loss = gcfLoss(labels, probs, att, 1e-3);
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '../errors.ts';

/** Smallest probability fed to log: keeps CE finite when a probability underflows to 0. */
export const PROB_EPSILON = 1e-7;

/**
 * GCF-Net loss for one batch.
 *
 * @param labels class indices [N] (int32) or one-hot / soft targets [N, K].
 * @param probs predicted probabilities [N, K] (head output 0).
 * @param att clip attention [N, C] (head output 1), or undefined for heads without attention.
 * @param lambda λ ≥ 0, weight of the sparsity term; ignored when `att` is undefined.
 * @returns the scalar loss (CE averaged over the batch + λ·batch mean of ‖att‖₁).
 * @throws ShapeError when shapes disagree; ConfigError when λ is negative or not finite.
 */
export function gcfLoss(labels: tf.Tensor, probs: tf.Tensor, att: tf.Tensor | undefined, lambda: number): tf.Scalar {
  if (!Number.isFinite(lambda) || lambda < 0) {
    const message = `lambda must be a finite number ≥ 0, got ${lambda}`;
    throw new ConfigError(message, [{ path: 'lambda', message }]);
  }
  if (probs.rank !== 2) {
    throw new ShapeError(`probs must be [batch, classes], got [${probs.shape.join(', ')}]`, {
      expected: [null, null],
      actual: probs.shape,
    });
  }
  const [n, k] = probs.shape as [number, number];
  const oneHot = labels.rank === 1;
  if (oneHot ? labels.shape[0] !== n : labels.rank !== 2 || labels.shape[0] !== n || labels.shape[1] !== k) {
    throw new ShapeError(
      `labels must be class indices [${n}] or targets [${n}, ${k}], got [${labels.shape.join(', ')}]`,
      { expected: oneHot ? [n] : [n, k], actual: labels.shape },
    );
  }
  if (att !== undefined && (att.rank !== 2 || att.shape[0] !== n)) {
    throw new ShapeError(`att must be [${n}, clips], got [${att.shape.join(', ')}]`, {
      expected: [n, null],
      actual: att.shape,
    });
  }
  return tf.tidy(() => {
    const target = oneHot ? tf.oneHot(tf.cast(labels, 'int32'), k) : tf.cast(labels, 'float32');
    const logp = tf.log(tf.clipByValue(probs, PROB_EPSILON, 1));
    const ce = tf.mean(tf.neg(tf.sum(tf.mul(target, logp), -1)));
    if (att === undefined || lambda === 0) return ce as tf.Scalar;
    const l1 = tf.mean(tf.sum(tf.abs(att), -1));
    return tf.add(ce, tf.mul(tf.scalar(lambda), l1)) as tf.Scalar;
  });
}
