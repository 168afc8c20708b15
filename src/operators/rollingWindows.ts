import { Observable, type OperatorFunction } from 'rxjs';
import { ShapeError } from '../errors.ts';
import type { ClipFeature, ClipMeta, Window } from '../types.ts';
import { checkInteger } from './checkOptions.ts';
import { whenForgotten, type ForgetCameras } from './forgetCameras.ts';
import { recordLevels, type OperatorStats } from './operatorStats.ts';

/** Options of {@link rollingWindows}. */
export interface RollingWindowsOptions {
  /** C: clips per window (fixed by the head's weights). */
  readonly clips: number;
  /** Fewest real clips for a window; fewer than C are loop-padded. 1 ≤ minClips ≤ C. */
  readonly minClips: number;
  /** Emit a window every `hop` new clips of a camera. Default 1. */
  readonly hop?: number;
  /** Updated live: `buffered` = features held in all rings, `keys` = cameras. */
  readonly stats?: OperatorStats;
  /** Cameras to forget (their ring dropped, no window emitted for it); see {@link ForgetCameras}. */
  readonly forget?: ForgetCameras;
}

interface Ring {
  segment: number;
  dim: number;
  readonly metas: ClipMeta[];
  readonly features: Float32Array[];
  /** New clips since the last window of this segment; undefined before its first window. */
  sinceLast: number | undefined;
}

/**
 * Keeps, per camera, a ring of the last C clip features and emits the window the head runs on.
 *
 * Why: the GCF head looks at C clips at once, and live video has no "whole video": the window
 * slides. A window is emitted when a segment first has `minClips` clips, then every `hop` new
 * clips. Until C clips exist the window is loop-padded as in gcf-net §3.3: slot i holds real
 * clip i mod n (n real clips, oldest first), and `padded[i]` marks the repeats, so downstream
 * can tell real clips from fillers. A clip of a new segment (a gap upstream) empties the ring,
 * so no window mixes segments. When the input completes, clips not yet seen by any window
 * (hop > 1) get one last window. Features must have one dimension per camera (ShapeError).
 * Memory: C features per camera.
 *
 * @example
 * features$.pipe(rollingWindows({ clips: 10, minClips: 4 }))
 * @param options - window size, minimum real clips, hop, stats
 * @returns an operator from clip features (cameras interleaved, each in startSeq order) to windows
 */
export function rollingWindows(options: RollingWindowsOptions): OperatorFunction<ClipFeature, Window> {
  const C = checkInteger('rollingWindows.clips', options.clips, 1);
  const minClips = checkInteger('rollingWindows.minClips', options.minClips, 1, C);
  const hop = checkInteger('rollingWindows.hop', options.hop ?? 1, 1);
  const { stats } = options;

  const makeWindow = (cameraId: string, ring: Ring): Window => {
    const n = ring.metas.length;
    const features = new Float32Array(C * ring.dim);
    const clips: ClipMeta[] = [];
    const padded: boolean[] = [];
    for (let i = 0; i < C; i++) {
      features.set(ring.features[i % n] as Float32Array, i * ring.dim);
      clips.push(ring.metas[i % n] as ClipMeta);
      padded.push(i >= n);
    }
    return { cameraId, clips, padded, features, dim: ring.dim, segment: ring.segment };
  };

  return (source) =>
    new Observable<Window>((subscriber) => {
      const rings = new Map<string, Ring>();
      let buffered = 0;

      const emit = (cameraId: string, ring: Ring): void => {
        ring.sinceLast = 0;
        if (stats) stats.emitted++;
        subscriber.next(makeWindow(cameraId, ring));
      };

      const onFeature = (f: ClipFeature): void => {
        if (stats) stats.received++;
        let ring = rings.get(f.cameraId);
        if (ring === undefined || ring.segment !== f.segment) {
          if (ring !== undefined) buffered -= ring.metas.length;
          ring = { segment: f.segment, dim: f.feature.length, metas: [], features: [], sinceLast: undefined };
          rings.set(f.cameraId, ring);
          if (stats) stats.keys = rings.size;
        }
        if (f.feature.length !== ring.dim || ring.dim === 0) {
          throw new ShapeError(`rollingWindows: camera ${f.cameraId} feature has ${f.feature.length} dims, ring has ${ring.dim}`, {
            expected: [ring.dim],
            actual: [f.feature.length],
          });
        }
        // Keep only the metadata: the feature object may carry more than a window needs.
        const { cameraId, startSeq, endSeq, startMs, endMs, segment } = f;
        ring.metas.push({ cameraId, startSeq, endSeq, startMs, endMs, segment });
        ring.features.push(f.feature);
        buffered++;
        if (ring.metas.length > C) {
          ring.metas.shift();
          ring.features.shift();
          buffered--;
        }
        if (ring.sinceLast !== undefined) ring.sinceLast++;
        if (ring.metas.length >= minClips && (ring.sinceLast === undefined || ring.sinceLast >= hop)) emit(f.cameraId, ring);
      };

      const forgetting = whenForgotten(
        options.forget,
        (cameraId) => {
          const ring = rings.get(cameraId);
          if (ring === undefined) return 0;
          rings.delete(cameraId);
          buffered -= ring.metas.length;
          recordLevels(stats, buffered);
          if (stats) stats.keys = rings.size;
          return ring.metas.length;
        },
        (err) => subscriber.error(err),
      );
      const subscription = source.subscribe({
        next: (f) => {
          try {
            onFeature(f);
            recordLevels(stats, buffered);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          try {
            for (const [cameraId, ring] of rings) {
              if (subscriber.closed) return;
              if (ring.sinceLast !== undefined && ring.sinceLast > 0) emit(cameraId, ring);
            }
            subscriber.complete();
          } catch (err) {
            subscriber.error(err);
          }
        },
      });
      return () => {
        forgetting?.unsubscribe();
        subscription.unsubscribe();
        rings.clear();
        buffered = 0;
        recordLevels(stats, 0);
        if (stats) stats.keys = 0;
      };
    });
}
