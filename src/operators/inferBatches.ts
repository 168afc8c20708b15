import type { OperatorFunction } from 'rxjs';
import { ShapeError } from '../errors.ts';
import type { Clip, ClipFeature } from '../types.ts';
import type { ForgetCameras } from './forgetCameras.ts';
import { runBatched, type BatchDropReason, type BatchErrorPolicy } from './runBatched.ts';
import type { OperatorStats } from './operatorStats.ts';

/** Options of {@link inferBatches}. */
export interface InferBatchesOptions {
  /**
   * The backbone: one descriptor per clip, in clip order. Usually posts the batch to an
   * inference worker. The signal aborts when the stream is torn down.
   */
  readonly infer: (clips: readonly Clip[], signal: AbortSignal) => Promise<readonly Float32Array[]>;
  /** Most `infer` calls in flight (one per worker). Default 1. */
  readonly concurrency?: number;
  /** Most clips waiting for a free call; beyond it the lagging camera's oldest clip is dropped. */
  readonly maxQueuedClips: number;
  /** Most clips per `infer` call when taking from the queue. Default 8. */
  readonly maxBatch?: number;
  /** Called per dropped clip: `'backpressure'` (queue full) or `'inference-error'` (skipped failed call). */
  readonly onDrop?: (cameraId: string, reason: BatchDropReason) => void;
  /** Cameras whose clips may be dropped on overflow (default all); see `RunBatchedOptions.droppable`. */
  readonly droppable?: (cameraId: string) => boolean;
  /** Cameras whose queued and in-call clips are dropped, never emitted; see `RunBatchedOptions.forget`. */
  readonly forget?: ForgetCameras;
  /** Failed calls: `'fail'` (default) errors the stream with an InferenceError; `'skip'` drops their clips. */
  readonly onError?: BatchErrorPolicy;
  /** Updated live: `buffered` = queued clips (≤ maxQueuedClips), `inFlight` = clips dispatched and not yet emitted (≤ concurrency × maxBatch). */
  readonly stats?: OperatorStats;
}

/**
 * Turns batches of clips into clip features with the backbone, keeping up with live video by
 * dropping rather than queueing without limit.
 *
 * Why batches in: {@link batchClips} upstream decides when a batch is worth sending (size or
 * wait); this operator decides whether there is a free worker. Clips that find no free call
 * wait in a queue bounded by `maxQueuedClips`; when it overflows, the oldest queued clip of the
 * camera with the most queued clips is dropped (`onDrop(cameraId, 'backpressure')`), so one
 * busy camera cannot starve the others and memory stays flat. Features of a camera come out in
 * `startSeq` order (the order slidingClips emits them) even when calls finish out of order.
 * The pixels are not kept: a feature carries only the clip's `ClipMeta` and descriptor.
 * Errors: see {@link BatchErrorPolicy}; a result that is not a Float32Array counts as a failed call.
 *
 * @example
 * clips$.pipe(
 *   batchClips({ maxBatch: 8, maxWaitMs: 20 }),
 *   inferBatches({ infer: (clips) => pool.run(clips), concurrency: 2, maxQueuedClips: 64, onDrop }),
 * )
 * @param options - backbone call, limits, drop and error policy, stats
 * @returns an operator from clip batches to one feature per clip that was not dropped
 */
export function inferBatches(options: InferBatchesOptions): OperatorFunction<readonly Clip[], ClipFeature> {
  return runBatched<Clip, Float32Array, ClipFeature>({
    name: 'inferBatches',
    run: options.infer,
    combine: (clip, feature) => {
      if (!(feature instanceof Float32Array) || feature.length === 0) {
        throw new ShapeError(`feature of clip ${clip.cameraId}@${clip.startSeq} is not a non-empty Float32Array`);
      }
      const { cameraId, startSeq, endSeq, startMs, endMs, segment } = clip;
      return { cameraId, startSeq, endSeq, startMs, endMs, segment, feature };
    },
    concurrency: options.concurrency ?? 1,
    maxBatch: options.maxBatch ?? 8,
    maxQueued: options.maxQueuedClips,
    onDrop: options.onDrop,
    droppable: options.droppable,
    forget: options.forget,
    onError: options.onError,
    stats: options.stats,
  });
}
