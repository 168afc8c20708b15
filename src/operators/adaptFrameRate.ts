import { Observable, type OperatorFunction } from 'rxjs';
import type { Frame } from '../types.ts';
import { checkInteger } from './checkOptions.ts';
import { recordLevels, type OperatorStats } from './operatorStats.ts';

/** Options of {@link adaptFrameRate}. */
export interface AdaptFrameRateOptions {
  /** T of the {@link slidingClips} downstream: a rate change waits for a clip boundary. */
  readonly frames: number;
  /** S of the {@link slidingClips} downstream. */
  readonly stride: number;
  /**
   * The decimation factor a camera should have now (1 = every frame; k = every k-th frame).
   * Read at every frame of that camera; rounded down and clamped to [1, maxFactor]. Usually a
   * {@link RateGovernor}'s `factor`.
   */
  readonly factor: (cameraId: string) => number;
  /** Largest factor ever applied. Default 8. */
  readonly maxFactor?: number;
  /** Called when a camera's applied factor changes, and once at its first frame (factor as applied). */
  readonly onFactor?: (cameraId: string, factor: number) => void;
  /** Updated live: `keys` = cameras, `received` / `emitted` frames, `dropped` = frames skipped by decimation. */
  readonly stats?: OperatorStats;
}

interface CameraRate {
  /** Applied factor k: frames `phase + i·k` of the current run are kept. */
  factor: number;
  /** Input seq of the first frame of the current run (a run = frames at one factor, no input gap). */
  phase: number;
  /** Frames emitted in the current run (positions relative to clip boundaries). */
  emitted: number;
  /** Input frames skipped by decimation so far: output seq = input seq − skipped. */
  skipped: number;
  lastSeq: number;
}

/**
 * Lowers a camera's analysis rate by an integer factor on demand, so each clip spans more time
 * and no stretch of video goes unwatched, while clip timing stays exact.
 *
 * Why: when inference falls behind, dropping whole clips leaves holes in what was watched;
 * keeping every k-th frame instead makes clips of T frames span k times as long (their frames
 * evenly spaced, `startMs`/`endMs` still from real pts), and cuts the camera's backbone load by k.
 * Dropping stays the last resort downstream ({@link inferBatches}).
 *
 * How: per camera, frames of a run at factor k are kept when `(seq − phase) mod k = 0`; kept
 * frames are renumbered densely (output seq = input seq − frames skipped so far), so
 * {@link slidingClips} sees consecutive seqs and cuts clips of evenly spaced frames; at factor 1
 * nothing is skipped and frames pass unchanged (same objects, same seqs). A new factor (from
 * `factor(cameraId)`) takes effect only at a clip boundary of the current run (no frame of the
 * next clip emitted yet: right after a clip completes, or at a run's start), on a frame the old
 * rate would have kept (so the new segment starts exactly where the last clip ended), and the first frame
 * at the new factor carries `gapBefore: true`: slidingClips starts a new segment, so no clip and
 * no window mixes two rates, and no frame already emitted is thrown away (with S ≥ T). An input
 * gap (seq jump or `gapBefore`) starts a new run too (its frame passes, gap marker kept), re-phasing
 * the sampling. Out-of-order and duplicate frames pass with a renumbered seq that is never above
 * the last emitted one, so slidingClips drops them as before. Clip boundaries assume slidingClips'
 * `'segment'` alignment. Memory: a few numbers per camera; pixels are never copied.
 *
 * @example
 * frames$.pipe(
 *   adaptFrameRate({ frames: 8, stride: 8, factor: governor.factor, onFactor: (cam, k) => fps.set({ camera: cam }, 5 / k) }),
 *   slidingClips({ frames: 8, stride: 8 }),
 * )
 * @param options - clip shape, factor source, bounds, callbacks, stats
 * @returns an operator from frames to the kept frames (renumbered, gap-marked at rate changes)
 */
export function adaptFrameRate(options: AdaptFrameRateOptions): OperatorFunction<Frame, Frame> {
  const T = checkInteger('adaptFrameRate.frames', options.frames, 1);
  const S = checkInteger('adaptFrameRate.stride', options.stride, 1);
  const maxFactor = checkInteger('adaptFrameRate.maxFactor', options.maxFactor ?? 8, 1);
  const { onFactor, stats } = options;
  const wanted = (cameraId: string): number => {
    const k = Math.floor(options.factor(cameraId));
    return Number.isFinite(k) ? Math.min(maxFactor, Math.max(1, k)) : 1;
  };
  // After n emitted frames of a run (clips start at 0, S, 2S…), may the rate change? With S ≥ T:
  // when no clip is partly cut. With S < T a clip is always partly cut: right after a clip
  // completes, whose overlap frames the completed clip has already seen.
  const atBoundary = (n: number): boolean =>
    S >= T ? n % S === 0 || n % S >= T : n === 0 || (n >= T && (n - T) % S === 0);

  return (source) =>
    new Observable<Frame>((subscriber) => {
      const cameras = new Map<string, CameraRate>();

      const emit = (frame: Frame, cam: CameraRate, gapBefore: boolean): void => {
        const seq = frame.seq - cam.skipped;
        cam.emitted++;
        if (stats) stats.emitted++;
        // At factor 1 with no rate change yet, frames pass as they are: no allocation.
        if (seq === frame.seq && gapBefore === (frame.gapBefore === true)) subscriber.next(frame);
        else subscriber.next({ ...frame, seq, ...(gapBefore ? { gapBefore: true } : {}) });
      };

      const startRun = (cam: CameraRate, cameraId: string, seq: number, factor: number): void => {
        cam.phase = seq;
        cam.emitted = 0;
        if (factor !== cam.factor) {
          cam.factor = factor;
          onFactor?.(cameraId, factor);
        }
      };

      const onFrame = (frame: Frame): void => {
        if (stats) stats.received++;
        const { cameraId, seq } = frame;
        let cam = cameras.get(cameraId);
        if (cam === undefined) {
          const factor = wanted(cameraId);
          cam = { factor, phase: seq, emitted: 0, skipped: 0, lastSeq: seq };
          cameras.set(cameraId, cam);
          if (stats) stats.keys = cameras.size;
          onFactor?.(cameraId, factor);
          emit(frame, cam, frame.gapBefore === true);
          return;
        }
        if (!Number.isSafeInteger(seq) || seq <= cam.lastSeq) {
          // slidingClips drops it (its renumbered seq is not above the last emitted one).
          emit(frame, cam, frame.gapBefore === true);
          return;
        }
        const continuous = seq === cam.lastSeq + 1 && frame.gapBefore !== true;
        cam.lastSeq = seq;
        const factor = wanted(cameraId);
        if (!continuous) {
          // An input gap starts a new segment downstream anyway: switch rate and re-phase here.
          startRun(cam, cameraId, seq, factor);
          emit(frame, cam, frame.gapBefore === true);
          return;
        }
        // Switch on a frame the old rate would keep: the new segment starts where the last clip
        // ended (its end = last pts + one sampling step), so clips tile the timeline exactly.
        if (factor !== cam.factor && atBoundary(cam.emitted) && (seq - cam.phase) % cam.factor === 0) {
          startRun(cam, cameraId, seq, factor);
          emit(frame, cam, true);
          return;
        }
        if ((seq - cam.phase) % cam.factor === 0) {
          emit(frame, cam, false);
        } else {
          cam.skipped++;
          if (stats) stats.dropped++;
        }
      };

      const subscription = source.subscribe({
        next: (frame) => {
          try {
            onFrame(frame);
            recordLevels(stats, 0);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        cameras.clear();
        if (stats) stats.keys = 0;
      };
    });
}
