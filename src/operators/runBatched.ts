import { Observable, type OperatorFunction } from 'rxjs';
import { ClipwiseError, InferenceError } from '../errors.ts';
import { checkInteger } from './checkOptions.ts';
import { whenForgotten, type ForgetCameras } from './forgetCameras.ts';
import { recordLevels, type OperatorStats } from './operatorStats.ts';

/** Why {@link runBatched} dropped an item. */
export type BatchDropReason = 'backpressure' | 'inference-error';

/**
 * What to do when a batch call fails (rejects, throws, or returns results that do not match):
 * `'fail'` errors the stream with the {@link InferenceError}; `'skip'` drops the batch's items
 * (each reported to `onDrop` as `'inference-error'`) and goes on. A function decides per error,
 * e.g. skip retriable errors and fail the others.
 */
export type BatchErrorPolicy = 'fail' | 'skip' | ((error: InferenceError) => 'fail' | 'skip');

/** Options of {@link runBatched}. */
export interface RunBatchedOptions<I extends { readonly cameraId: string }, R, O> {
  /** Operator name used in error messages and config paths (e.g. `inferBatches`). */
  readonly name: string;
  /**
   * The asynchronous batch call; must resolve to one result per item, in item order. The
   * signal aborts when the subscriber unsubscribes (the result is then ignored anyway).
   */
  readonly run: (items: readonly I[], signal: AbortSignal) => Promise<readonly R[]>;
  /** Builds the output of one item from its result; may throw (treated as a failed batch). */
  readonly combine: (item: I, result: R) => O;
  /** Most calls in flight at once. Default 1. */
  readonly concurrency?: number;
  /** Most items per call. */
  readonly maxBatch: number;
  /** Most items waiting for a call; beyond it the lagging camera's oldest item is dropped. */
  readonly maxQueued: number;
  readonly onDrop?: (cameraId: string, reason: BatchDropReason) => void;
  /**
   * Whether a camera's items may be dropped when the queue overflows. Default: every camera.
   * A camera that answers false (an offline source paced by the caller, which stops producing
   * instead) is never the victim: its items wait, and the queue may then hold more than
   * `maxQueued` for as long as only such cameras fill it; the caller bounds it by pausing them.
   */
  readonly droppable?: (cameraId: string) => boolean;
  /** Default `'fail'`. */
  readonly onError?: BatchErrorPolicy;
  /** Updated live: `buffered` = queued items (≤ maxQueued); `inFlight` = items dispatched and not yet emitted (≤ concurrency × maxBatch). */
  readonly stats?: OperatorStats;
  /**
   * Cameras to forget: their queued items are removed, and those in calls or held for order
   * are never emitted (the calls still run; their results for them are ignored).
   */
  readonly forget?: ForgetCameras;
}

interface Queued<I> {
  readonly item: I;
  /** Arrival number: picks the globally oldest item to dispatch. */
  readonly arrival: number;
}

interface Slot<O> {
  done: boolean;
  out: O | undefined;
  /** Its camera was forgotten while the call ran: the result is not kept. */
  discarded: boolean;
}

/**
 * Runs an asynchronous batch call (backbone, head) over batches of items from many cameras,
 * with bounded concurrency, a bounded queue, and per-camera output order.
 *
 * Why: inference is the slow stage; when it falls behind, live video must not pile up. Items
 * arrive in batches (usually from {@link batchClips}); free call slots take them at once, the
 * rest wait in a queue of at most `maxQueued` items. When the queue overflows, the camera with
 * the most queued items (the lagging one; ties: the one whose oldest item is oldest) loses its
 * oldest item, reported to `onDrop` as `'backpressure'`; cameras that are not `droppable`
 * (paced offline sources) are never chosen. When a call slot frees up, the next
 * call takes up to `maxBatch` of the oldest queued items of any camera; when several slots are
 * free, the queued items are split evenly over them (lower latency for a burst, same work). Results of one camera
 * are emitted in that camera's arrival order even when calls finish out of order; cameras do
 * not wait for each other. On completion of the input, queued items are still run, then the
 * output completes. Memory: at most `maxQueued` waiting + `concurrency × maxBatch` dispatched
 * and not yet emitted (in calls, or finished and held behind a slower call of the same camera;
 * while that many are outstanding no new call starts).
 *
 * @example
 * batches$.pipe(runBatched({ name: 'head', run, combine: (w, r) => ({ window: w, ...r }), maxBatch: 16, maxQueued: 64 }))
 * @param options - the call, how to combine item and result, limits, drop and error policy
 * @returns an operator from item batches to one output per item
 */
export function runBatched<I extends { readonly cameraId: string }, R, O>(
  options: RunBatchedOptions<I, R, O>,
): OperatorFunction<readonly I[], O> {
  const { name, run, combine, onDrop, stats } = options;
  const droppable = options.droppable ?? ((): boolean => true);
  const concurrency = checkInteger(`${name}.concurrency`, options.concurrency ?? 1, 1);
  const maxBatch = checkInteger(`${name}.maxBatch`, options.maxBatch, 1);
  const maxQueued = checkInteger(`${name}.maxQueued`, options.maxQueued, 0);
  const policy = options.onError ?? 'fail';
  const outstandingLimit = concurrency * maxBatch;

  return (source) =>
    new Observable<O>((subscriber) => {
      const queues = new Map<string, Queued<I>[]>();
      const pending = new Map<string, Slot<O>[]>();
      const abort = new AbortController();
      let queued = 0;
      let held = 0;
      let inFlightItems = 0;
      let calls = 0;
      let arrivals = 0;
      let sourceDone = false;

      const levels = (): void => {
        recordLevels(stats, queued, inFlightItems + held);
        if (stats) stats.keys = queues.size;
      };

      const drop = (cameraId: string, reason: BatchDropReason): void => {
        if (stats) stats.dropped++;
        onDrop?.(cameraId, reason);
      };

      const enqueue = (item: I): void => {
        let q = queues.get(item.cameraId);
        if (q === undefined) queues.set(item.cameraId, (q = []));
        q.push({ item, arrival: arrivals++ });
        queued++;
      };

      /**
       * Removes the oldest queued item of the droppable camera with the most queued items.
       * @returns false when no queued item may be dropped
       */
      const dropLagging = (): boolean => {
        let victim: Queued<I>[] | undefined;
        let victimId = '';
        for (const [cameraId, q] of queues) {
          const head = q[0];
          if (head === undefined || !droppable(cameraId)) continue;
          if (
            victim === undefined ||
            q.length > victim.length ||
            (q.length === victim.length && head.arrival < (victim[0] as Queued<I>).arrival)
          ) {
            victim = q;
            victimId = cameraId;
          }
        }
        if (victim === undefined) return false;
        victim.shift();
        queued--;
        if (victim.length === 0) queues.delete(victimId);
        drop(victimId, 'backpressure');
        return true;
      };

      /** Takes up to `size` of the oldest queued items, across cameras. */
      const takeBatch = (size: number): I[] => {
        const batch: I[] = [];
        while (batch.length < size && queued > 0) {
          let oldest: Queued<I>[] | undefined;
          let oldestId = '';
          for (const [cameraId, q] of queues) {
            const head = q[0];
            if (head !== undefined && (oldest === undefined || head.arrival < (oldest[0] as Queued<I>).arrival)) {
              oldest = q;
              oldestId = cameraId;
            }
          }
          if (oldest === undefined) break;
          batch.push((oldest.shift() as Queued<I>).item);
          queued--;
          if (oldest.length === 0) queues.delete(oldestId);
        }
        return batch;
      };

      /** Emits, per camera, the finished outputs at the head of its order. */
      const release = (cameraIds: Iterable<string>): void => {
        for (const cameraId of cameraIds) {
          const slots = pending.get(cameraId);
          if (slots === undefined) continue;
          while (slots.length > 0 && (slots[0] as Slot<O>).done) {
            const slot = slots.shift() as Slot<O>;
            if (slot.out === undefined) continue; // skipped after a failed call
            held--;
            if (stats) stats.emitted++;
            subscriber.next(slot.out);
            if (subscriber.closed) return;
          }
          if (slots.length === 0) pending.delete(cameraId);
        }
      };

      const maybeComplete = (): void => {
        if (sourceDone && queued === 0 && calls === 0 && !subscriber.closed) subscriber.complete();
      };

      const fail = (batch: readonly I[], slots: readonly Slot<O>[], error: InferenceError): boolean => {
        const decision = typeof policy === 'function' ? policy(error) : policy;
        if (decision === 'fail') {
          subscriber.error(error);
          return false;
        }
        for (const slot of slots) slot.done = true;
        batch.forEach((item, i) => {
          if (!(slots[i] as Slot<O>).discarded) drop(item.cameraId, 'inference-error');
        });
        return true;
      };

      const settle = (batch: readonly I[], slots: readonly Slot<O>[], results: readonly R[] | undefined, cause: unknown): void => {
        calls--;
        inFlightItems -= batch.length;
        if (subscriber.closed) return;
        const cameraIds = [...new Set(batch.map((item) => item.cameraId))];
        let error: InferenceError | undefined;
        if (results === undefined) {
          const retriable = cause instanceof ClipwiseError ? cause.retriable : false;
          error = new InferenceError(`${name}: batch call of ${batch.length} item(s) failed`, cameraIds, { cause, retriable });
        } else if (!Array.isArray(results) || results.length !== batch.length) {
          const got = Array.isArray(results) ? `${results.length} results` : typeof results;
          error = new InferenceError(`${name}: batch call returned ${got} for ${batch.length} item(s)`, cameraIds);
        } else {
          const outs: O[] = [];
          try {
            for (let i = 0; i < batch.length; i++) outs.push(combine(batch[i] as I, results[i] as R));
          } catch (err) {
            error = new InferenceError(`${name}: bad result: ${err instanceof Error ? err.message : String(err)}`, cameraIds, {
              cause: err,
            });
          }
          if (error === undefined) {
            for (let i = 0; i < slots.length; i++) {
              const slot = slots[i] as Slot<O>;
              slot.done = true;
              if (slot.discarded) continue;
              slot.out = outs[i];
              held++;
            }
          }
        }
        try {
          if (error !== undefined && !fail(batch, slots, error)) return;
          release(cameraIds);
          if (subscriber.closed) return;
          pump();
          levels();
          maybeComplete();
        } catch (err) {
          subscriber.error(err);
        }
      };

      const dispatch = (batch: I[]): void => {
        const slots: Slot<O>[] = [];
        for (const item of batch) {
          const slot: Slot<O> = { done: false, out: undefined, discarded: false };
          let list = pending.get(item.cameraId);
          if (list === undefined) pending.set(item.cameraId, (list = []));
          list.push(slot);
          slots.push(slot);
        }
        calls++;
        inFlightItems += batch.length;
        let promise: Promise<readonly R[]>;
        try {
          promise = run(batch, abort.signal);
        } catch (err) {
          promise = Promise.reject(err);
        }
        void Promise.resolve(promise).then(
          (results) => settle(batch, slots, results ?? [], undefined),
          (err: unknown) => settle(batch, slots, undefined, err),
        );
      };

      /**
       * Starts calls while a slot is free. Outputs held back for order count against the limit
       * too: a straggling call must not let finished outputs behind it pile up without bound.
       */
      const pump = (): void => {
        while (calls < concurrency && queued > 0 && !subscriber.closed) {
          const room = Math.min(maxBatch, outstandingLimit - inFlightItems - held);
          if (room <= 0) return;
          // Split what is queued evenly over the free slots: a burst (every camera's clip at
          // once) keeps all runners busy instead of one taking it all while the others idle.
          dispatch(takeBatch(Math.min(room, Math.ceil(queued / (concurrency - calls)))));
        }
      };

      const forgetting = whenForgotten(
        options.forget,
        (cameraId) => {
          let items = 0;
          const q = queues.get(cameraId);
          if (q !== undefined) {
            items += q.length;
            queued -= q.length;
            queues.delete(cameraId);
          }
          for (const slot of pending.get(cameraId) ?? []) {
            if (!slot.done) {
              slot.discarded = true;
              items++;
            } else if (slot.out !== undefined) {
              held--;
              items++;
            }
          }
          pending.delete(cameraId);
          if (items > 0) {
            // Freed room (held outputs) may start a call; a drained input may now be done.
            pump();
            levels();
            maybeComplete();
          }
          return items;
        },
        (err) => subscriber.error(err),
      );
      const subscription = source.subscribe({
        next: (items) => {
          try {
            if (stats) stats.received += items.length;
            for (const item of items) enqueue(item);
            // Free slots take items first, so an idle runner never drops.
            pump();
            while (queued > maxQueued && dropLagging());
            levels();
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          maybeComplete();
        },
      });
      return () => {
        forgetting?.unsubscribe();
        subscription.unsubscribe();
        abort.abort();
        queues.clear();
        pending.clear();
        queued = 0;
        held = 0;
        recordLevels(stats, 0, 0);
        if (stats) stats.keys = 0;
      };
    });
}
