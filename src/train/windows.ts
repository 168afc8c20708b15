/**
 * Windows of clip descriptors: what the heads train and are scored on.
 *
 * A window is C consecutive stride-aligned clips of one video (hop 1, as the stream slides
 * it); its label is the action filling most of its clips ({@link windowLabel}). This module
 * indexes windows, gathers them into tensors' buffers, and scores a head on them: top-1 over
 * the action classes (GCF-Net Table 2's measure: background excluded from the argmax, windows
 * that hold an action) and how well the head's clip weights point at the action's clips.
 *
 * @example
 * const windows = indexWindows(videos, 10, 0);
 * const x = gatherWindows(videos, windows, 10); // Float32Array [n, 10, d]
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { attentionRun } from '../operators/detectActions.ts';
import { windowLabel } from './labels.ts';

/** A video's clip descriptors and clip labels. */
export interface FeatureVideo {
  /** Row-major [count, dim]. */
  readonly features: Float32Array;
  readonly count: number;
  readonly dim: number;
  /** Label of each clip. */
  readonly labels: readonly number[];
}

/** One window: C clips of video `video` starting at clip `start`. */
export interface WindowRef {
  readonly video: number;
  readonly start: number;
  readonly label: number;
}

/**
 * Every window of C consecutive clips (hop 1) of every video.
 *
 * @returns windows in video order, each with its label.
 */
export function indexWindows(videos: readonly FeatureVideo[], clips: number, backgroundIndex = 0): WindowRef[] {
  const out: WindowRef[] = [];
  videos.forEach((v, vi) => {
    for (let s = 0; s + clips <= v.count; s++) {
      out.push({ video: vi, start: s, label: windowLabel(v.labels.slice(s, s + clips), backgroundIndex) });
    }
  });
  return out;
}

/**
 * Copy windows' descriptors into one buffer.
 *
 * @param noise optional: standard deviation of Gaussian noise added (augmentation) and its rng.
 * @returns Float32Array [windows.length, C, d].
 */
export function gatherWindows(
  videos: readonly FeatureVideo[],
  windows: readonly WindowRef[],
  clips: number,
  noise?: { readonly std: number; readonly normal: () => number },
): Float32Array {
  const dim = videos[0]?.dim ?? 0;
  const out = new Float32Array(windows.length * clips * dim);
  windows.forEach((w, i) => {
    const v = videos[w.video] as FeatureVideo;
    out.set(v.features.subarray(w.start * dim, (w.start + clips) * dim), i * clips * dim);
  });
  if (noise && noise.std > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + noise.std * noise.normal();
  return out;
}

/**
 * Which clips of each window hold the window's action: 1 where the clip's label is the
 * window's (non-background) label, else 0. Background windows are all 0.
 *
 * @returns Float32Array [windows.length, C].
 */
export function windowRelevance(videos: readonly FeatureVideo[], windows: readonly WindowRef[], clips: number, backgroundIndex = 0): Float32Array {
  const out = new Float32Array(windows.length * clips);
  windows.forEach((w, i) => {
    if (w.label === backgroundIndex) return;
    const labels = (videos[w.video] as FeatureVideo).labels;
    for (let c = 0; c < clips; c++) if (labels[w.start + c] === w.label) out[i * clips + c] = 1;
  });
  return out;
}

/** A head's outputs on a set of windows. */
export interface WindowPredictions {
  /** [n, K] probabilities. */
  readonly probs: Float32Array;
  /** [n, C] clip weights. */
  readonly weights: Float32Array;
  readonly n: number;
  readonly classes: number;
  readonly clips: number;
}

/**
 * Run a head over windows in inference mode, in batches.
 *
 * @param head a head model (`createHead` or loaded).
 * @param x [n, C, d] window buffer.
 * @returns probabilities and clip weights.
 */
export async function predictHead(head: tfl.LayersModel, x: Float32Array, n: number, clips: number, dim: number, batch = 256): Promise<WindowPredictions> {
  const K = head.outputs[0]?.shape[1] ?? 0;
  const probs = new Float32Array(n * K);
  const weights = new Float32Array(n * clips);
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const [p, a] = tf.tidy(() => {
      const input = tf.tensor3d(x.subarray(i * clips * dim, (i + m) * clips * dim), [m, clips, dim]);
      return head.apply(input, { training: false }) as tf.Tensor[];
    });
    if (p === undefined || a === undefined) throw new Error('a head has two outputs');
    probs.set((await p.data()) as Float32Array, i * K);
    weights.set((await a.data()) as Float32Array, i * clips);
    tf.dispose([p, a]);
  }
  return { probs, weights, n, classes: K, clips };
}

/**
 * Top-1 accuracy over the action classes (GCF-Net Table 2's measure on untrimmed windows):
 * only windows whose label is an action count, and the argmax skips the background class.
 *
 * @returns accuracy in [0, 1] and the number of windows scored.
 */
export function actionTop1(pred: WindowPredictions, labels: readonly number[], backgroundIndex = 0): { top1: number; count: number } {
  const m = actionConfusion(pred, labels, backgroundIndex);
  let right = 0;
  let count = 0;
  m.forEach((row, y) => {
    right += row[y] ?? 0;
    count += row.reduce((a, b) => a + b, 0);
  });
  return { top1: count > 0 ? right / count : NaN, count };
}

/**
 * The confusion matrix behind {@link actionTop1}: `m[y][k]` counts windows labelled y whose
 * argmax over the action classes is k. Why: one top-1 figure hides which classes the head
 * cannot tell apart (in 1.7.0 run is found at AP 0.07 while fight is at 0.80).
 *
 * @returns K × K counts (the background row and column stay 0).
 * @example
 * actionConfusion({ probs: Float32Array.of(0.5, 0.2, 0.3), n: 1, classes: 3, weights: new Float32Array(0), clips: 0 }, [1])[1]; // [0, 0, 1]
 */
export function actionConfusion(pred: WindowPredictions, labels: readonly number[], backgroundIndex = 0): number[][] {
  const m = Array.from({ length: pred.classes }, () => new Array<number>(pred.classes).fill(0));
  for (let i = 0; i < pred.n; i++) {
    const y = labels[i] as number;
    if (y === backgroundIndex) continue;
    let arg = -1;
    let best = -Infinity;
    for (let k = 0; k < pred.classes; k++) {
      if (k === backgroundIndex) continue;
      const p = pred.probs[i * pred.classes + k] as number;
      if (p > best) {
        best = p;
        arg = k;
      }
    }
    const row = m[y];
    if (row && arg >= 0) row[arg] = (row[arg] ?? 0) + 1;
  }
  return m;
}

/** How well clip weights point at the action's clips, over windows that hold an action. */
export interface AttentionStats {
  /** Mean weight on clips of the window's action. */
  readonly meanOnAction: number;
  /** Mean weight on the other clips of the same windows. */
  readonly meanOffAction: number;
  /** Probability that a random action clip outweighs a random other clip of the same window (ranking AUC). */
  readonly auc: number;
  /** Mean tIoU (in clips) between the run of clips with weight ≥ threshold and the action's clip span. */
  readonly meanRunTIoU: number;
  /** Same, thresholding weight / (window max weight) instead: per-window calibrated attention. */
  readonly meanRelativeRunTIoU: number;
  readonly threshold: number;
  readonly windows: number;
}

/**
 * Localisation quality of a head's clip weights.
 *
 * @param pred head outputs. @param relevance [n, C] from {@link windowRelevance}.
 * @param labels window labels. @param threshold θ_att for the run.
 * @returns the statistics; NaN fields when no window holds both action and other clips.
 */
export function attentionStats(
  pred: WindowPredictions,
  relevance: Float32Array,
  labels: readonly number[],
  threshold: number,
  backgroundIndex = 0,
): AttentionStats {
  const C = pred.clips;
  let on = 0;
  let onN = 0;
  let off = 0;
  let offN = 0;
  let aucSum = 0;
  let aucN = 0;
  let tiou = 0;
  let relTiou = 0;
  let runs = 0;
  const padded = new Array<boolean>(C).fill(false);
  for (let i = 0; i < pred.n; i++) {
    if (labels[i] === backgroundIndex) continue;
    const w = pred.weights.subarray(i * C, (i + 1) * C);
    const r = relevance.subarray(i * C, (i + 1) * C);
    const pos: number[] = [];
    const neg: number[] = [];
    for (let c = 0; c < C; c++) ((r[c] as number) > 0 ? pos : neg).push(w[c] as number);
    for (const v of pos) on += v;
    for (const v of neg) off += v;
    onN += pos.length;
    offN += neg.length;
    if (pos.length > 0 && neg.length > 0) {
      let wins = 0;
      for (const p of pos) for (const q of neg) wins += p > q ? 1 : p === q ? 0.5 : 0;
      aucSum += wins / (pos.length * neg.length);
      aucN++;
    }
    let first = -1;
    let last = -1;
    for (let c = 0; c < C; c++) {
      if ((r[c] as number) > 0) {
        if (first < 0) first = c;
        last = c;
      }
    }
    if (first < 0) continue;
    runs++;
    const max = Math.max(...w);
    tiou += runTIoU(attentionRun(w, padded, threshold), first, last);
    const rel = max > 0 ? w.map((v) => v / max) : w;
    relTiou += runTIoU(attentionRun(rel, padded, threshold), first, last);
  }
  return {
    meanOnAction: onN > 0 ? on / onN : NaN,
    meanOffAction: offN > 0 ? off / offN : NaN,
    auc: aucN > 0 ? aucSum / aucN : NaN,
    meanRunTIoU: runs > 0 ? tiou / runs : NaN,
    meanRelativeRunTIoU: runs > 0 ? relTiou / runs : NaN,
    threshold,
    windows: runs,
  };
}

function runTIoU(run: { start: number; end: number } | undefined, first: number, last: number): number {
  if (run === undefined) return 0;
  const inter = Math.min(run.end, last) - Math.max(run.start, first) + 1;
  if (inter <= 0) return 0;
  const union = Math.max(run.end, last) - Math.min(run.start, first) + 1;
  return inter / union;
}
