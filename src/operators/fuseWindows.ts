import { pipe, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { ShapeError } from '../errors.ts';
import type { Window, WindowResult } from '../types.ts';
import { batchClips } from './batchClips.ts';
import type { ForgetCameras } from './forgetCameras.ts';
import { runBatched, type BatchDropReason, type BatchErrorPolicy } from './runBatched.ts';
import type { OperatorStats } from './operatorStats.ts';

/** What a head returns for one window. */
export interface HeadOutput {
  /** Class probabilities, length K. */
  readonly probs: Float32Array;
  /** Per-slot weights, length C, when the head has them. */
  readonly attention?: Float32Array;
}

/** Options of {@link fuseWindows}. */
export interface FuseWindowsOptions {
  /** The head over a batch of windows (usually one `[B, C, d]` tensor call), one output per window. */
  readonly run: (windows: readonly Window[], signal: AbortSignal) => Promise<readonly HeadOutput[]>;
  /** Most windows per head call. */
  readonly maxBatch: number;
  /** Longest wait for a batch after its first window. */
  readonly maxWaitMs: number;
  /** Most head calls in flight. Default 1. */
  readonly concurrency?: number;
  /** Most windows waiting for a call; beyond it the lagging camera's oldest window is dropped. Default 4 × maxBatch. */
  readonly maxQueuedWindows?: number;
  readonly onDrop?: (cameraId: string, reason: BatchDropReason) => void;
  /** Cameras whose windows may be dropped on overflow (default all); see `RunBatchedOptions.droppable`. */
  readonly droppable?: (cameraId: string) => boolean;
  /** Cameras whose batched, queued and in-call windows are dropped, never emitted. */
  readonly forget?: ForgetCameras;
  /** Failed calls: `'fail'` (default) errors the stream with an InferenceError; `'skip'` drops their windows. */
  readonly onError?: BatchErrorPolicy;
  /** Scheduler of the batch wait (tests). */
  readonly scheduler?: SchedulerLike;
  /** Updated live by the runner: queued windows, windows in calls. */
  readonly stats?: OperatorStats;
  /** Updated live by the batcher: windows in the open batch. */
  readonly batchStats?: OperatorStats;
}

/**
 * Runs the fusion head (GCF, ATW, baselines) on windows, batched across cameras.
 *
 * Why: the head is cheap per window but not per call; batching windows of all cameras that
 * arrive within `maxWaitMs` makes one call of up to `maxBatch`. It is {@link batchClips}
 * followed by {@link runBatched}, so the same bounds hold as for the backbone: a bounded queue
 * dropping the lagging camera's oldest window, per-camera order, typed errors. Each output is
 * checked: `probs` a Float32Array, `attention` (if any) of length C; otherwise the call counts
 * as failed (ShapeError as cause).
 *
 * @example
 * windows$.pipe(fuseWindows({ run: (ws) => head.predict(ws), maxBatch: 16, maxWaitMs: 10 }))
 * @param options - head call, batching, limits, policies
 * @returns an operator from windows to window results, per camera in window order
 */
export function fuseWindows(options: FuseWindowsOptions): OperatorFunction<Window, WindowResult> {
  const maxBatch = options.maxBatch;
  return pipe(
    batchClips<Window>({
      maxBatch,
      maxWaitMs: options.maxWaitMs,
      scheduler: options.scheduler,
      stats: options.batchStats,
      ...(options.forget ? { forget: options.forget, cameraOf: (w: Window) => w.cameraId } : {}),
    }),
    runBatched<Window, HeadOutput, WindowResult>({
      name: 'fuseWindows',
      run: options.run,
      combine: (window, out) => {
        const C = window.clips.length;
        if (!(out.probs instanceof Float32Array) || out.probs.length === 0) {
          throw new ShapeError('head probs must be a non-empty Float32Array');
        }
        if (out.attention === undefined) return { window, probs: out.probs };
        if (!(out.attention instanceof Float32Array) || out.attention.length !== C) {
          throw new ShapeError(`head attention must be a Float32Array of length ${C}`, {
            expected: [C],
            actual: [out.attention.length],
          });
        }
        return { window, probs: out.probs, attention: out.attention };
      },
      concurrency: options.concurrency ?? 1,
      maxBatch,
      maxQueued: options.maxQueuedWindows ?? 4 * maxBatch,
      onDrop: options.onDrop,
      droppable: options.droppable,
      forget: options.forget,
      onError: options.onError,
      stats: options.stats,
    }),
  );
}
