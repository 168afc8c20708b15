/**
 * Data-parallel stage-1 training over worker threads: every worker holds a replica of the
 * stage-1 model (src/train/replica.ts); a step splits the batch between them, averages their
 * gradients (weighted by clips) and sends the average back with the next step's share, so each
 * replica applies the same update before computing its next gradients (one message per worker
 * per step). The main thread's model is only brought up to date by {@link ReplicaPool.syncInto}
 * (validation, checkpoints, the end of the stage).
 *
 * Why: tfjs-wasm has no threads in Node, so one training step runs on one core.
 * Measured here (bench/trainParallel.ts): two replicas train 1.6× more clips per second than
 * one on this 2-core machine (the cores share caches and memory bandwidth, so not 2×).
 *
 * What differs from one thread: BatchNorm normalises each replica's share on its own statistics
 * (smaller "ghost" batches) and each replica's moving statistics follow its own shares; the sync
 * averages them. Dropout masks differ. The gradients are otherwise those of the whole batch.
 *
 * @example
 * const pool = await createReplicaPool({ model, optimizer, numClasses: 7, workers: 2 });
 * try {
 *   const { loss, acc } = await pool.step(batch, lr);
 *   await pool.syncInto(model, optimizer);
 * } finally {
 *   await pool.close();
 * }
 */
import { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, TrainingWorkerError } from '../errors.ts';
import type { ClipBatch } from './clipSampler.ts';
import { modelWeights, optimizerArrays, setModelWeights, setOptimizerArrays } from './replica.ts';
import type { FromReplica, PendingUpdate, ToReplica } from './replicaProtocol.ts';
import type { ScheduledAdam } from './schedule.ts';

/** Options of {@link createReplicaPool}. */
export interface ReplicaPoolOptions {
  /** The main thread's stage-1 model: the replicas start from its weights. */
  readonly model: tfl.LayersModel;
  /** Its optimizer: the replicas start from its state (a resumed run's Adam moments). */
  readonly optimizer: ScheduledAdam;
  readonly numClasses: number;
  /** Worker threads (≥ 2; one replica each). */
  readonly workers: number;
  /** Peak learning rate (the rate of every update is passed with it). */
  readonly learningRate: number;
}

/** What a step reports: the batch's mean loss and accuracy. */
export interface ReplicaStepResult {
  readonly loss: number;
  readonly acc: number;
  /** Live tensors in each worker after its share (a leak shows as growth). */
  readonly workerTensors: readonly number[];
}

/** See the module header. */
export interface ReplicaPool {
  readonly workers: number;
  /**
   * One training step on `batch` at `learningRate` (its update is applied at the start of the
   * next step or sync).
   *
   * @throws TrainingWorkerError when a worker fails or exits.
   */
  step(batch: ClipBatch, learningRate: number): Promise<ReplicaStepResult>;
  /**
   * Apply the last step's update, then copy the replicas' weights (BatchNorm moving statistics
   * averaged over them, and pushed back so they stay equal) and Adam's state into `model` and
   * `optimizer`.
   */
  syncInto(model: tfl.LayersModel, optimizer: ScheduledAdam): Promise<void>;
  /** Stop the workers (idempotent). */
  close(): Promise<void>;
}

interface Slot {
  readonly worker: Worker;
  readonly waiting: Map<number, { resolve: (m: FromReplica) => void; reject: (e: Error) => void }>;
  failure?: Error;
}

/**
 * Start `workers` replicas of `model` and wait until each is ready.
 *
 * @throws ConfigError for fewer than 2 workers; TrainingWorkerError when a worker cannot start.
 */
export async function createReplicaPool(o: ReplicaPoolOptions): Promise<ReplicaPool> {
  if (!Number.isInteger(o.workers) || o.workers < 2) {
    const message = `training workers must be an integer ≥ 2 for data-parallel training, got ${o.workers}`;
    throw new ConfigError(message, [{ path: 'workers', message }]);
  }
  const topology = o.model.toJSON(undefined, false);
  const weights = modelWeights(o.model);
  const optimizerState = await optimizerArrays(o.optimizer);
  const trainable = new Set(o.model.trainableWeights.map((w) => w.originalName));
  const isMovingStat = o.model.weights.map((w) => !trainable.has(w.originalName));

  let nextId = 1;
  let closed = false;
  let pending: PendingUpdate | undefined;
  const slots: Slot[] = [];

  const fail = (slot: Slot, err: Error): void => {
    slot.failure ??= err;
    for (const w of slot.waiting.values()) w.reject(slot.failure);
    slot.waiting.clear();
  };
  const call = (slot: Slot, msg: ToReplica & { id: number }, transfer: ArrayBuffer[] = []): Promise<FromReplica> => {
    if (slot.failure) return Promise.reject(slot.failure);
    return new Promise((resolve, reject) => {
      slot.waiting.set(msg.id, { resolve, reject });
      slot.worker.postMessage(msg, transfer);
    });
  };

  const spawn = (index: number): { slot: Slot; ready: Promise<void> } => {
    const worker = new Worker(new URL('./replicaWorker.mjs', import.meta.url));
    const slot: Slot = { worker, waiting: new Map() };
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: FromReplica) => {
        if (msg.type === 'ready') return resolve();
        if (msg.type === 'error' && msg.id === undefined) {
          const err = new TrainingWorkerError(`training worker ${index} failed to start: ${msg.name}: ${msg.message}`);
          reject(err);
          return fail(slot, err);
        }
        if (!('id' in msg) || msg.id === undefined) return;
        const w = slot.waiting.get(msg.id);
        if (!w) return;
        slot.waiting.delete(msg.id);
        if (msg.type === 'error') w.reject(new TrainingWorkerError(`training worker ${index}: ${msg.name}: ${msg.message}`));
        else w.resolve(msg);
      });
      worker.on('error', (e) => {
        const err = new TrainingWorkerError(`training worker ${index} crashed: ${e.message}`, { cause: e });
        reject(err);
        fail(slot, err);
      });
      worker.on('exit', (code) => {
        const err = new TrainingWorkerError(`training worker ${index} exited (code ${code})`);
        reject(err);
        if (!closed) fail(slot, err);
      });
    });
    const init: ToReplica = { type: 'init', topology, weights, optimizer: optimizerState, learningRate: o.learningRate, numClasses: o.numClasses };
    worker.postMessage(init);
    return { slot, ready };
  };

  const started = Array.from({ length: o.workers }, (_, i) => spawn(i));
  slots.push(...started.map((s) => s.slot));
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await Promise.all(
      slots.map(async (s) => {
        s.worker.postMessage({ type: 'close' } satisfies ToReplica);
        // A worker that does not exit on its own within a second is stopped.
        const timer = setTimeout(() => void s.worker.terminate(), 1000);
        await new Promise<void>((resolve) => {
          if (s.worker.threadId === -1) return resolve();
          s.worker.once('exit', () => resolve());
        });
        clearTimeout(timer);
      }),
    );
  };
  try {
    await Promise.all(started.map((s) => s.ready));
  } catch (err) {
    await close();
    throw err;
  }

  return {
    workers: o.workers,
    async step(batch, learningRate) {
      if (closed) throw new TrainingWorkerError('training pool is closed');
      const per = batch.x.length / batch.n;
      // Shares as even as the batch allows; a worker without a clip sits the step out.
      const shares = slots.map((_, i) => {
        const from = Math.floor((i * batch.n) / slots.length);
        const to = Math.floor(((i + 1) * batch.n) / slots.length);
        return { from, to };
      });
      const apply = pending;
      pending = undefined;
      const replies = await Promise.all(
        slots.map(async (slot, i) => {
          const { from, to } = shares[i] as { from: number; to: number };
          if (to === from) {
            // Still apply the last update so every replica stays in step (apply only: a pull
            // would send every weight back to be dropped).
            if (apply) {
              const reply = await call(slot, { type: 'apply', id: nextId++, apply });
              if (reply.type !== 'applied') throw new TrainingWorkerError(`training worker ${i}: expected an applied update, got ${reply.type}`);
            }
            return undefined;
          }
          const x = batch.x.slice(from * per, to * per);
          const labels = batch.labels.slice(from, to);
          const msg: ToReplica & { id: number } = { type: 'step', id: nextId++, x, labels, n: to - from, ...(apply ? { apply } : {}) };
          const reply = await call(slot, msg, [x.buffer as ArrayBuffer]);
          if (reply.type !== 'grads') throw new TrainingWorkerError(`training worker ${i}: expected gradients, got ${reply.type}`);
          return reply;
        }),
      );
      const got = replies.filter((r): r is Extract<FromReplica, { type: 'grads' }> => r !== undefined);
      const total = got.reduce((a, r) => a + r.n, 0);
      const first = got[0];
      if (!first) throw new TrainingWorkerError('training step: no worker received a clip');
      // The batch's mean loss is the clip-weighted mean of the shares' means; so are the gradients.
      const grads = first.grads.map((g) => new Float32Array(g.length));
      for (const r of got) {
        const w = r.n / total;
        r.grads.forEach((g, k) => {
          const sum = grads[k] as Float32Array;
          for (let j = 0; j < g.length; j++) sum[j] = (sum[j] as number) + w * (g[j] as number);
        });
      }
      pending = { grads, learningRate };
      return {
        loss: got.reduce((a, r) => a + (r.n / total) * r.loss, 0),
        acc: got.reduce((a, r) => a + (r.n / total) * r.acc, 0),
        workerTensors: got.map((r) => r.tensors),
      };
    },
    async syncInto(model, optimizer) {
      if (closed) throw new TrainingWorkerError('training pool is closed');
      const apply = pending;
      pending = undefined;
      const states = await Promise.all(slots.map((slot) => call(slot, { type: 'pull', id: nextId++, ...(apply ? { apply } : {}) })));
      const replies = states.map((s, i) => {
        if (s.type !== 'state') throw new TrainingWorkerError(`training worker ${i}: expected its state, got ${s.type}`);
        return s;
      });
      const head = replies[0] as Extract<FromReplica, { type: 'state' }>;
      // Trainable weights are equal in every replica (same start, same updates): take the first's.
      // Moving statistics differ (each followed its own shares): average them.
      const merged = head.weights.map((w, k) => {
        if (!isMovingStat[k]) return w;
        const avg = new Float32Array(w.length);
        for (const r of replies) {
          const v = r.weights[k] as Float32Array;
          for (let j = 0; j < v.length; j++) avg[j] = (avg[j] as number) + (v[j] as number) / replies.length;
        }
        return avg;
      });
      await Promise.all(slots.map((slot) => call(slot, { type: 'push', id: nextId++, weights: merged })));
      setModelWeights(model, merged);
      await setOptimizerArrays(optimizer, model.trainableWeights.map((w) => w.read() as tf.Variable), head.optimizer);
    },
    close,
  };
}
