/**
 * Dropping a camera's state from an operator without emitting anything for it.
 *
 * Why: when a Kafka rebalance moves a camera's partition to another analyzer, that analyzer
 * replays the camera from the committed low watermark and emits its events (same ids). What
 * this one still holds for the camera (frames of an unfinished clip, queued clips, a rolling
 * window, open events) must go: flushed, it would close events early (wrong bounds under the
 * ids the new owner emits); kept, a later replay to this analyzer would meet stale sequence
 * numbers. Every per-camera operator takes the same option, and all of them forget on the same
 * synchronous emission, so no item of a forgotten camera is left between two stages.
 *
 * @example
 * const forget: ForgetCameras = { cameras$: revoked$, onDropped: (camera, n) => counter.inc(n) };
 * frames$.pipe(slidingClips({ frames: 8, stride: 8, forget }), rollingWindows({ clips: 10, minClips: 3, forget }));
 */
import type { Observable, Subscription } from 'rxjs';

/** Option of the per-camera operators: which cameras to forget, and a report of what went. */
export interface ForgetCameras {
  /** Each emission names cameras to forget now (hot; the operator subscribes while it runs). */
  readonly cameras$: Observable<readonly string[]>;
  /**
   * Called per forgotten camera that held anything, with the number of items dropped
   * (frames, clips, features, windows or open events, whichever the operator holds).
   */
  readonly onDropped?: (cameraId: string, items: number) => void;
}

/**
 * Subscribes an operator's `drop` to a {@link ForgetCameras} option.
 *
 * @param forget - the option, or undefined (then nothing is subscribed)
 * @param drop - removes one camera's state, returns how many items it held
 * @param onError - where an error thrown by `drop` goes (the operator's subscriber)
 * @returns the subscription to end in the operator's teardown, or undefined
 */
export function whenForgotten(
  forget: ForgetCameras | undefined,
  drop: (cameraId: string) => number,
  onError: (err: unknown) => void,
): Subscription | undefined {
  if (forget === undefined) return undefined;
  return forget.cameras$.subscribe((cameraIds) => {
    try {
      for (const cameraId of cameraIds) {
        const items = drop(cameraId);
        if (items > 0) forget.onDropped?.(cameraId, items);
      }
    } catch (err) {
      onError(err);
    }
  });
}
