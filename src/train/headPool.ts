/**
 * Stage 2 on several cores: window heads trained side by side, one worker thread each.
 *
 * Why: a head trains on one thread (wasm has no threads in Node), and the two heads with
 * inter-clip fusion take ~3 min each of the default run's ~6.5 min of stage 2 while the other
 * core idles. Each worker gets the descriptors and windows once, then trains whole heads, one
 * job at a time: the untrained head is read from `initDir` (saved by the caller, so a head's
 * initial weights do not depend on which thread trains it), the trained one written to `outDir`.
 * Jobs are handed out in the order given, to whichever worker is free: put the long ones first.
 *
 * @example
 * const results = await trainHeadsOnWorkers({ videos, windows, workers: 2, jobs: [
 *   { initDir: 'ck/init/gcf', outDir: 'ck/heads/gcf', options: { kind: 'gcf', steps: 4000, ... } },
 * ] });
 */
import { Worker } from 'node:worker_threads';
import { TrainingWorkerError } from '../errors.ts';
import type { FromHeadWorker, HeadJobOptions, ToHeadWorker } from './headProtocol.ts';
import type { HeadTrainingResult } from './trainHeads.ts';
import type { FeatureVideo, WindowRef } from './windows.ts';

export type { HeadJobOptions } from './headProtocol.ts';

/** One head to train. */
export interface HeadJob {
  /** Folder of the untrained head (saveLayersModel). */
  readonly initDir: string;
  /** Folder the trained head is saved to. */
  readonly outDir: string;
  readonly options: HeadJobOptions;
}

/** Options of {@link trainHeadsOnWorkers}. */
export interface HeadPoolOptions {
  readonly videos: readonly FeatureVideo[];
  readonly windows: readonly WindowRef[];
  /** Worker threads (at most one per job is started). */
  readonly workers: number;
  readonly jobs: readonly HeadJob[];
  readonly signal?: AbortSignal;
  /** Called once per finished job, one call at a time (checkpoint it here). */
  readonly onDone?: (job: HeadJob, result: HeadTrainingResult) => Promise<void> | void;
}

interface Channel {
  /** Post `msg` (if any) and wait for the worker's next message; an `error` reply rejects. */
  request(msg?: ToHeadWorker): Promise<FromHeadWorker>;
  readonly worker: Worker;
}

function channel(worker: Worker, index: number): Channel {
  let waiter: { resolve: (m: FromHeadWorker) => void; reject: (e: Error) => void } | undefined;
  let failure: Error | undefined;
  const settle = (fn: (w: NonNullable<typeof waiter>) => void): void => {
    const w = waiter;
    waiter = undefined;
    if (w) fn(w);
  };
  worker.on('message', (m: FromHeadWorker) =>
    settle((w) => (m.type === 'error' ? w.reject(new TrainingWorkerError(`head worker ${index}: ${m.name}: ${m.message}`)) : w.resolve(m))),
  );
  worker.on('error', (e) => {
    failure ??= new TrainingWorkerError(`head worker ${index} crashed: ${e.message}`, { cause: e });
    settle((w) => w.reject(failure as Error));
  });
  worker.on('exit', (code) => {
    failure ??= new TrainingWorkerError(`head worker ${index} exited (code ${code})`);
    settle((w) => w.reject(failure as Error));
  });
  return {
    worker,
    request: (msg) =>
      failure
        ? Promise.reject(failure)
        : new Promise((resolve, reject) => {
            waiter = { resolve, reject };
            if (msg) worker.postMessage(msg);
          }),
  };
}

/**
 * Train every job's head on worker threads.
 *
 * @returns the results in job order.
 * @throws TrainingWorkerError when a worker fails (the others are stopped first); the signal's
 *   reason when aborted. Heads already finished stay saved (and were passed to `onDone`).
 */
export async function trainHeadsOnWorkers(o: HeadPoolOptions): Promise<HeadTrainingResult[]> {
  const results: HeadTrainingResult[] = new Array<HeadTrainingResult>(o.jobs.length);
  const n = Math.max(1, Math.min(o.workers, o.jobs.length));
  if (o.jobs.length === 0) return results;
  o.signal?.throwIfAborted();
  const channels = Array.from({ length: n }, (_, i) => channel(new Worker(new URL('./headWorker.mjs', import.meta.url)), i));
  let next = 0;
  let nextId = 1;
  let done: Promise<void> = Promise.resolve();
  const lane = async (c: Channel): Promise<void> => {
    const ready = await c.request({ type: 'init', videos: o.videos, windows: o.windows });
    if (ready.type !== 'ready') throw new TrainingWorkerError(`head worker sent ${ready.type} before ready`);
    for (let j = next++; j < o.jobs.length; j = next++) {
      const job = o.jobs[j] as HeadJob;
      const reply = await c.request({ type: 'train', id: nextId++, initDir: job.initDir, outDir: job.outDir, options: job.options });
      if (reply.type !== 'done') throw new TrainingWorkerError(`head worker sent ${reply.type} for a training job`);
      results[j] = reply.result;
      // Serialised: onDone checkpoints shared state.
      done = done.then(() => o.onDone?.(job, reply.result));
      await done;
    }
  };
  const stopAll = (): void => {
    for (const c of channels) void c.worker.terminate();
  };
  o.signal?.addEventListener('abort', stopAll, { once: true });
  // The first failure in time: the lanes stopped because of it fail after it, with 'exited'.
  let first: { error: unknown } | undefined;
  try {
    await Promise.all(
      channels.map((c) =>
        lane(c).catch((err: unknown) => {
          first ??= { error: err };
          // One failure stops the rest: their heads would be thrown away with the run.
          stopAll();
        }),
      ),
    );
    o.signal?.throwIfAborted();
    if (first) throw first.error;
    return results;
  } finally {
    o.signal?.removeEventListener('abort', stopAll);
    await Promise.all(
      channels.map(async (c) => {
        if (c.worker.threadId === -1) return;
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          c.worker.once('exit', () => resolve());
          c.worker.postMessage({ type: 'close' } satisfies ToHeadWorker);
          // A worker that does not exit on its own within a second is stopped (terminate also
          // settles for one that exited in between).
          timer = setTimeout(() => void c.worker.terminate().finally(resolve), 1000);
        });
        clearTimeout(timer);
      }),
    );
  }
}
