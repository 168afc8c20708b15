import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { ConfigError } from '../errors.ts';
import { checkInteger, checkNumber } from './checkOptions.ts';
import { whenForgotten, type ForgetCameras } from './forgetCameras.ts';
import { recordLevels, type OperatorStats } from './operatorStats.ts';

/** Options of {@link batchClips}. */
export interface BatchClipsOptions<X = unknown> {
  /** Emit as soon as a batch holds this many items. */
  readonly maxBatch: number;
  /** Emit a partial batch this long after its first item arrived. */
  readonly maxWaitMs: number;
  /** Scheduler of the wait timer (tests pass a TestScheduler's). Default asyncScheduler. */
  readonly scheduler?: SchedulerLike;
  /** Updated live: `buffered` = items in the open batch. */
  readonly stats?: OperatorStats;
  /** Cameras whose items are taken out of the open batch (never emitted); needs `cameraOf`. */
  readonly forget?: ForgetCameras;
  /** The camera of an item (for `forget`). */
  readonly cameraOf?: (item: X) => string;
}

/**
 * Groups items (clips, windows; of any cameras) into batches of at most `maxBatch`, waiting
 * at most `maxWaitMs` after a batch's first item.
 *
 * Why: a backbone or head call costs much less per item in a batch (one kernel launch, one
 * matMul), but live video cannot wait for a full batch at night when one camera moves. The
 * timer starts at a batch's first item, not at a fixed tick, so a lone item waits exactly
 * `maxWaitMs`. On completion the partial batch is flushed; empty arrays are never emitted.
 * On error the open batch is discarded. Holds at most `maxBatch` items.
 *
 * @example
 * clips$.pipe(batchClips({ maxBatch: 8, maxWaitMs: 20 }))  // Clip[] of 1..8 clips
 * @param options - batch size, wait, scheduler, stats
 * @returns an operator from items to non-empty arrays of items, in arrival order
 */
export function batchClips<X>(options: BatchClipsOptions<X>): OperatorFunction<X, X[]> {
  const maxBatch = checkInteger('batchClips.maxBatch', options.maxBatch, 1);
  const maxWaitMs = checkNumber('batchClips.maxWaitMs', options.maxWaitMs, 0);
  const scheduler = options.scheduler ?? asyncScheduler;
  const { stats, cameraOf } = options;
  if (options.forget !== undefined && cameraOf === undefined) {
    throw new ConfigError('batchClips.forget needs batchClips.cameraOf', [{ path: 'batchClips.cameraOf', message: 'required with forget' }]);
  }

  return (source) =>
    new Observable<X[]>((subscriber) => {
      let batch: X[] = [];
      let timer: Subscription | undefined;

      const flush = (): void => {
        timer?.unsubscribe();
        timer = undefined;
        if (batch.length === 0) return;
        const out = batch;
        batch = [];
        recordLevels(stats, 0);
        if (stats) stats.emitted += out.length;
        subscriber.next(out);
      };

      const forgetting = whenForgotten(
        options.forget,
        (cameraId) => {
          const kept = batch.filter((item) => cameraOf?.(item) !== cameraId);
          const dropped = batch.length - kept.length;
          if (dropped === 0) return 0;
          batch = kept;
          recordLevels(stats, batch.length);
          // An emptied batch has nothing left to wait for.
          if (batch.length === 0) {
            timer?.unsubscribe();
            timer = undefined;
          }
          return dropped;
        },
        (err) => subscriber.error(err),
      );
      const subscription = source.subscribe({
        next: (item) => {
          if (stats) stats.received++;
          batch.push(item);
          recordLevels(stats, batch.length);
          if (batch.length >= maxBatch) flush();
          else if (batch.length === 1) timer = scheduler.schedule(flush, maxWaitMs);
        },
        error: (err: unknown) => {
          batch = [];
          subscriber.error(err);
        },
        complete: () => {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        forgetting?.unsubscribe();
        subscription.unsubscribe();
        timer?.unsubscribe();
        timer = undefined;
        batch = [];
        recordLevels(stats, 0);
      };
    });
}
