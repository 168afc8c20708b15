import { map, type OperatorFunction } from 'rxjs';
import { ConfigError, ShapeError } from '../errors.ts';
import type { ClipMeta, Detection, WindowDetections, WindowResult } from '../types.ts';
import { checkInteger, checkNumber } from './checkOptions.ts';

/** Options of {@link detectActions}. */
export interface DetectActionsOptions {
  /** Class names, index = class index; length K must match the head's probs. */
  readonly classes: readonly string[];
  /** Index of the background ("no action") class, never detected. Default: none. */
  readonly backgroundIndex?: number;
  /** θ_class: a class is detected when its probability is at least this. */
  readonly classThreshold: number;
  /** θ_att: clips whose attention is at least this are the action's clips (gcf-net §4.6 uses 0.5). */
  readonly attentionThreshold: number;
}

/** Index range [start, end] (inclusive) of window slots. */
interface Run {
  readonly start: number;
  readonly end: number;
}

/**
 * Chooses the action's clips: the longest run of consecutive real (not padded) slots with
 * attention ≥ θ; among equally long runs, the one holding the highest attention; then the
 * earliest. Returns undefined when no slot reaches θ.
 *
 * @param attention - per-slot attention of the window
 * @param padded - which slots are loop-padding
 * @param threshold - θ_att
 * @returns the chosen run, or undefined
 */
export function attentionRun(attention: ArrayLike<number>, padded: readonly boolean[], threshold: number): Run | undefined {
  let best: Run | undefined;
  let bestPeak = -Infinity;
  let start = -1;
  let peak = -Infinity;
  for (let i = 0; i <= attention.length; i++) {
    const a = i < attention.length && padded[i] !== true ? (attention[i] as number) : NaN;
    if (a >= threshold) {
      if (start < 0) {
        start = i;
        peak = -Infinity;
      }
      if (a > peak) peak = a;
      continue;
    }
    if (start >= 0) {
      const run = { start, end: i - 1 };
      const len = run.end - run.start;
      const bestLen = best === undefined ? -1 : best.end - best.start;
      if (len > bestLen || (len === bestLen && peak > bestPeak)) {
        best = run;
        bestPeak = peak;
      }
      start = -1;
    }
  }
  return best;
}

/**
 * Reads detections out of each head result: which classes are present and which clips of the
 * window hold them.
 *
 * Why: the head gives probabilities per window and attention per clip; subscribers want
 * "action X from t0 to t1". Class k (not background) is detected when p_k ≥ θ_class. Its
 * bounds are the attention run chosen by {@link attentionRun} over the window's real clips;
 * when the head gives no attention (baselines), the bounds are all real clips; when it gives
 * attention but no clip reaches θ_att, there is no detection (the head is not sure *when*).
 * The attention is shared by all classes of a window, so all its detections have the same
 * bounds. A detection's `attention` and `windowClips` list the real (non-padded) slots only,
 * index for index. confidence = p_k. Every window is passed on, with or without detections,
 * because the event tracker counts windows without its class.
 *
 * @example
 * results$.pipe(detectActions({ classes, backgroundIndex: 0, classThreshold: 0.6, attentionThreshold: 0.5 }))
 * @param options - class names, background, thresholds
 * @returns an operator from head results to the window with its detections (class index order)
 */
export function detectActions(options: DetectActionsOptions): OperatorFunction<WindowResult, WindowDetections> {
  const classes = [...options.classes];
  if (classes.length === 0) {
    throw new ConfigError('detectActions.classes must name at least one class', [
      { path: 'detectActions.classes', message: 'must not be empty' },
    ]);
  }
  const K = classes.length;
  const background =
    options.backgroundIndex === undefined ? -1 : checkInteger('detectActions.backgroundIndex', options.backgroundIndex, 0, K - 1);
  const classThreshold = checkNumber('detectActions.classThreshold', options.classThreshold, 0, 1);
  const attentionThreshold = checkNumber('detectActions.attentionThreshold', options.attentionThreshold, 0, 1);

  return map((result: WindowResult): WindowDetections => {
    const { window, probs, attention } = result;
    if (probs.length !== K) {
      throw new ShapeError(`detectActions: head gave ${probs.length} probabilities for ${K} classes`, {
        expected: [K],
        actual: [probs.length],
      });
    }
    const realIdx: number[] = [];
    for (let i = 0; i < window.clips.length; i++) if (window.padded[i] !== true) realIdx.push(i);
    let run: Run | undefined;
    if (attention === undefined) {
      run = realIdx.length > 0 ? { start: realIdx[0] as number, end: realIdx[realIdx.length - 1] as number } : undefined;
    } else {
      run = attentionRun(attention, window.padded, attentionThreshold);
    }
    const detections: Detection[] = [];
    if (run !== undefined) {
      const windowClips = realIdx.map((i) => window.clips[i] as ClipMeta);
      const att = attention === undefined ? [] : realIdx.map((i) => attention[i] as number);
      for (let k = 0; k < K; k++) {
        const p = probs[k] as number;
        if (k === background || !(p >= classThreshold)) continue;
        detections.push({
          cameraId: window.cameraId,
          classIndex: k,
          action: classes[k] as string,
          confidence: p,
          startClip: window.clips[run.start] as ClipMeta,
          endClip: window.clips[run.end] as ClipMeta,
          attention: att,
          windowClips,
          segment: window.segment,
        });
      }
    }
    return { window, result, detections };
  });
}
