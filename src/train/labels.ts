/**
 * Labels of clips and windows from temporal annotations.
 *
 * Why these rules: a clip (T frames, 1.6 s at 5 fps) is one training example of the backbone,
 * and a window (C consecutive clips) is one of the heads. The annotation gives instances in
 * seconds; a clip belongs to an action when the action covers at least half of it (so a clip
 * that only grazes an instance's edge stays background), and a window is about the action that
 * fills most of its clips — the action a surveillance user would name for those 16 seconds.
 *
 * @example
 * const inst = [{ class: 'wave', classIndex: 4, start: 2.0, end: 5.0 }];
 * clipLabel(inst, 1.6, 3.2); // 4 (wave covers 1.2 of 1.6 s)
 * windowLabel([0, 4, 4, 0, 2], 0); // 4
 */
import { overlapSeconds } from '../eval/detectionMetrics.ts';
import type { Instance } from './dataset.ts';

/** How a clip position maps to media time: frames per second and frames per clip. */
export interface ClipTiming {
  /** Analysis frame rate. */
  readonly fps: number;
  /** Frames per clip T. */
  readonly frames: number;
  /** Frames between consecutive clip starts S. */
  readonly stride: number;
}

/** Minimum share of a clip an instance must cover for the clip to take its class. */
export const CLIP_COVERAGE = 0.5;

/**
 * Seconds of [start, end) covered by each class (instances of a class summed).
 *
 * @param instances the video's instances.
 * @param start clip start, seconds. @param end clip end, seconds.
 * @returns class index → covered seconds (only classes with some overlap).
 */
export function classCoverage(instances: readonly Instance[], start: number, end: number): Map<number, number> {
  const cover = new Map<number, number>();
  for (const inst of instances) {
    const overlap = overlapSeconds({ start, end }, inst);
    if (overlap > 0) cover.set(inst.classIndex, (cover.get(inst.classIndex) ?? 0) + overlap);
  }
  return cover;
}

/**
 * The class of the clip covering [start, end): the action covering at least half of it (the
 * larger cover if two do), else the background class.
 *
 * @param instances the video's instances (seconds).
 * @param start clip start, seconds. @param end clip end, seconds (> start).
 * @param backgroundIndex the background class index (default 0).
 * @returns a class index.
 */
export function clipLabel(instances: readonly Instance[], start: number, end: number, backgroundIndex = 0): number {
  const need = CLIP_COVERAGE * (end - start) - 1e-9;
  let best = backgroundIndex;
  let bestCover = 0;
  for (const [k, c] of classCoverage(instances, start, end)) {
    if (c >= need && (c > bestCover || (c === bestCover && k < best))) {
      best = k;
      bestCover = c;
    }
  }
  return best;
}

/**
 * Media-time bounds of the clip starting at frame `startFrame`.
 *
 * @returns [start, end) in seconds.
 */
export function clipSpan(startFrame: number, timing: ClipTiming): [number, number] {
  return [startFrame / timing.fps, (startFrame + timing.frames) / timing.fps];
}

/**
 * Labels of the clips a stream cuts from a video: clip j starts at frame `offset + j·stride`.
 *
 * @param instances the video's instances.
 * @param count number of clips.
 * @param timing fps, frames per clip and stride.
 * @param offset frame of clip 0 (default 0, as the file source numbers frames from 0).
 * @returns one class index per clip.
 */
export function clipLabels(instances: readonly Instance[], count: number, timing: ClipTiming, offset = 0, backgroundIndex = 0): number[] {
  const out: number[] = [];
  for (let j = 0; j < count; j++) {
    const [s, e] = clipSpan(offset + j * timing.stride, timing);
    out.push(clipLabel(instances, s, e, backgroundIndex));
  }
  return out;
}

/**
 * Number of whole clips a video of `frameCount` frames yields.
 *
 * @returns ⌊(frameCount − offset − T) / S⌋ + 1, or 0 when not even one clip fits.
 */
export function clipCount(frameCount: number, timing: ClipTiming, offset = 0): number {
  const usable = frameCount - offset - timing.frames;
  return usable < 0 ? 0 : Math.floor(usable / timing.stride) + 1;
}

/**
 * The label of a window: the action with the most clips in it (ties: the lower class index),
 * or the background class when no clip holds an action.
 *
 * @param labels the window's clip labels.
 * @param backgroundIndex the background class index (default 0).
 * @returns a class index.
 */
export function windowLabel(labels: readonly number[], backgroundIndex = 0): number {
  const counts = new Map<number, number>();
  for (const k of labels) if (k !== backgroundIndex) counts.set(k, (counts.get(k) ?? 0) + 1);
  let best = backgroundIndex;
  let bestCount = 0;
  for (const [k, n] of counts) {
    if (n > bestCount || (n === bestCount && k < best)) {
      best = k;
      bestCount = n;
    }
  }
  return best;
}

/**
 * Labels of every window of C consecutive clips (hop 1) over a video's clip labels.
 *
 * @returns window w covers clips [w, w + C); empty when there are fewer than C clips.
 */
export function windowLabels(labels: readonly number[], clips: number, backgroundIndex = 0): number[] {
  const out: number[] = [];
  for (let w = 0; w + clips <= labels.length; w++) out.push(windowLabel(labels.slice(w, w + clips), backgroundIndex));
  return out;
}
