/**
 * A pool of inference workers (worker_threads), one tensor backend each.
 *
 * Why threads: the wasm backend is single-threaded in Node, so one worker per core is how a
 * machine's cores get used; on a GPU, one worker with larger batches. `workers: 0` runs the
 * backbone on the calling thread (tests, tiny deployments).
 *
 * @example
 * const pool = await createInferencePool({ modelDir: 'models/default', backend: 'auto', workers: 2 });
 * const features = await pool.infer(clips); // Float32Array per clip, length pool.dim
 * await pool.close();
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InferenceError } from '../../errors.ts';
import type { BackendName, BackendRequest } from '../../model/runtime.ts';
import type { Clip } from '../../types.ts';
import type { FromWorker, ToWorker, WorkerTiming } from './protocol.ts';

export interface InferencePoolOptions {
  readonly modelDir: string;
  readonly backend: BackendRequest;
  /** Worker threads; 'auto' = one per core (one in total on a native GPU backend); 0 = inline. */
  readonly workers: number | 'auto';
  readonly logger?: { info(msg: string): void; warn(msg: string): void };
}

export interface InferencePool {
  readonly backend: BackendName;
  readonly dim: number;
  readonly workers: number;
  /** Clip descriptors, one per clip, in order. The clips' pixel buffers may be transferred away. */
  infer(clips: readonly Clip[]): Promise<Float32Array[]>;
  /** Clips currently being processed, for the queue-depth metric. */
  inFlight(): number;
  /** Where inference time went since the pool started (benchmarks). */
  profile(): InferenceProfile;
  close(): Promise<void>;
}

/** Totals over every finished call of a pool. */
export interface InferenceProfile {
  readonly calls: number;
  readonly clips: number;
  /** Wall ms in workers: RGB24 → input tensor. */
  readonly preprocessMs: number;
  /** Wall ms in workers: forward pass and reading descriptors back. */
  readonly backboneMs: number;
  /** CPU ms of the worker threads in calls (0 where unmeasurable; reads low, see WorkerTiming). */
  readonly workerCpuMs: number;
  /** Sum over workers of each one's running thread CPU total (ms) as of its latest call. */
  readonly workerThreadCpuMs: number;
  /** Live tensors per worker after its latest call, summed. */
  readonly tensors: number;
}

/** Accumulates {@link WorkerTiming}s into an {@link InferenceProfile}. */
function createProfileTotals(): {
  add(slot: object, clips: number, t: WorkerTiming | undefined): void;
  /** A worker's tensor count before any call (its loaded model). */
  seed(slot: object, tensors: number, threadCpuMs?: number): void;
  read(): InferenceProfile;
} {
  let calls = 0;
  let clips = 0;
  let preprocessMs = 0;
  let backboneMs = 0;
  let workerCpuMs = 0;
  const tensors = new Map<object, number>();
  const threadCpu = new Map<object, number>();
  return {
    add(slot, n, t) {
      calls += 1;
      clips += n;
      if (!t) return;
      preprocessMs += t.preprocessMs;
      backboneMs += t.backboneMs;
      workerCpuMs += t.cpuMs ?? 0;
      if (t.threadCpuMs !== undefined) threadCpu.set(slot, t.threadCpuMs);
      tensors.set(slot, t.tensors);
    },
    seed: (slot, n, cpu) => {
      tensors.set(slot, n);
      // A worker's baseline, so its model loading never counts as work of a later window.
      if (cpu !== undefined) threadCpu.set(slot, cpu);
    },
    read: () => ({
      calls,
      clips,
      preprocessMs,
      backboneMs,
      workerCpuMs,
      workerThreadCpuMs: [...threadCpu.values()].reduce((a, b) => a + b, 0),
      tensors: [...tensors.values()].reduce((a, b) => a + b, 0),
    }),
  };
}

interface Pending {
  readonly resolve: (f: Float32Array[]) => void;
  readonly reject: (e: Error) => void;
  readonly count: number;
  /** Cameras whose clips are in the call, for the error a failure raises. */
  readonly cameraIds: readonly string[];
}

const camerasOf = (clips: readonly Clip[]): string[] => [...new Set(clips.map((c) => c.cameraId))];

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  busyClips: number;
}

function shapeOf(clips: readonly Clip[]): { frames: number; height: number; width: number } {
  const first = clips[0];
  if (!first) throw new InferenceError('infer called with no clips', []);
  for (const c of clips) {
    if (c.frames !== first.frames || c.height !== first.height || c.width !== first.width) {
      throw new InferenceError(`clips in one batch differ in shape (${c.cameraId}: ${c.frames}x${c.height}x${c.width})`, []);
    }
  }
  return { frames: first.frames, height: first.height, width: first.width };
}

function split(features: Float32Array, n: number, dim: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) out.push(features.subarray(i * dim, (i + 1) * dim));
  return out;
}

/** Start the pool and wait until every worker has loaded the model. */
export async function createInferencePool(options: InferencePoolOptions): Promise<InferencePool> {
  const count = options.workers === 'auto' ? Math.max(1, availableParallelism()) : options.workers;
  if (count === 0) return createInlinePool(options);

  let nextId = 1;
  let closed = false;
  const slots: Slot[] = [];
  const totals = createProfileTotals();

  const failAll = (slot: Slot, message: string, options: { cause?: unknown; retriable?: boolean } = {}): void => {
    for (const p of slot.pending.values()) p.reject(new InferenceError(message, p.cameraIds, options));
    slot.pending.clear();
    slot.busyClips = 0;
  };

  const spawn = async (): Promise<{ slot: Slot; backend: BackendName; dim: number }> => {
    const worker = new Worker(new URL('./worker.mjs', import.meta.url));
    const slot: Slot = { worker, pending: new Map(), busyClips: 0 };
    const ready = new Promise<{ backend: BackendName; dim: number }>((resolve, reject) => {
      const onMessage = (msg: FromWorker): void => {
        if (msg.type === 'ready') {
          if (msg.tensors !== undefined) totals.seed(slot, msg.tensors, msg.threadCpuMs);
          resolve({ backend: msg.backend, dim: msg.dim });
        }
        else if (msg.type === 'error' && msg.id === undefined) reject(new InferenceError(`inference worker failed to start: ${msg.message}`, []));
        else if (msg.type === 'result') {
          const p = slot.pending.get(msg.id);
          if (!p) return;
          slot.pending.delete(msg.id);
          slot.busyClips -= p.count;
          totals.add(slot, p.count, msg.timing);
          p.resolve(split(msg.features, p.count, msg.dim));
        } else if (msg.type === 'error' && msg.id !== undefined) {
          const p = slot.pending.get(msg.id);
          if (!p) return;
          slot.pending.delete(msg.id);
          slot.busyClips -= p.count;
          p.reject(new InferenceError(`inference failed: ${msg.message}`, p.cameraIds));
        }
      };
      worker.on('message', onMessage);
      worker.on('error', (err) => {
        reject(err);
        failAll(slot, `inference worker crashed: ${err.message}`, { cause: err, retriable: true });
      });
      worker.on('exit', (code) => {
        reject(new InferenceError(`inference worker exited with code ${code} before it was ready`, []));
        failAll(slot, `inference worker exited (code ${code})`, { retriable: true });
        const i = slots.indexOf(slot);
        if (i >= 0) slots.splice(i, 1);
        // A worker that dies while the pool is open is replaced, so one bad batch does not shrink the pool for good.
        if (!closed) {
          options.logger?.warn(`inference worker exited (code ${code}); starting a new one`);
          spawn().then(({ slot: s }) => slots.push(s)).catch((e: unknown) => options.logger?.warn(`could not restart inference worker: ${String(e)}`));
        }
      });
    });
    worker.postMessage({ type: 'init', modelDir: options.modelDir, backend: options.backend } satisfies ToWorker);
    const info = await ready;
    return { slot, ...info };
  };

  let started: { slot: Slot; backend: BackendName; dim: number }[];
  try {
    started = await Promise.all(Array.from({ length: count }, () => spawn()));
  } catch (err) {
    closed = true;
    await Promise.all(slots.map((s) => s.worker.terminate()));
    throw err instanceof InferenceError ? err : new InferenceError(`cannot start inference workers: ${String(err)}`, [], { cause: err });
  }
  for (const s of started) slots.push(s.slot);
  const first = started[0];
  if (!first) throw new InferenceError('no inference worker started', []);
  options.logger?.info(`inference: ${count} worker(s) on ${first.backend}, descriptor dim ${first.dim}`);

  return {
    backend: first.backend,
    dim: first.dim,
    workers: count,
    inFlight: () => slots.reduce((n, s) => n + s.busyClips, 0),
    profile: () => totals.read(),
    infer(clips) {
      if (closed) return Promise.reject(new InferenceError('inference pool is closed', []));
      let shape: ReturnType<typeof shapeOf>;
      try {
        shape = shapeOf(clips);
      } catch (err) {
        return Promise.reject(err as Error);
      }
      // Least-busy worker first: batches differ in size, so round robin would queue behind a big one.
      const slot = slots.reduce<Slot | undefined>((best, s) => (best === undefined || s.busyClips < best.busyClips ? s : best), undefined);
      if (!slot) return Promise.reject(new InferenceError('no inference worker is running', [], { retriable: true }));
      const id = nextId++;
      const buffers: Uint8Array[] = [];
      const transfer: ArrayBuffer[] = [];
      for (const c of clips) {
        // Transfer whole-buffer clips without a copy; views into a shared buffer must be copied.
        const own = c.data.byteOffset === 0 && c.data.byteLength === c.data.buffer.byteLength && c.data.buffer instanceof ArrayBuffer;
        const data = own ? c.data : c.data.slice();
        buffers.push(data);
        transfer.push(data.buffer as ArrayBuffer);
      }
      return new Promise<Float32Array[]>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject, count: clips.length, cameraIds: camerasOf(clips) });
        slot.busyClips += clips.length;
        slot.worker.postMessage({ type: 'infer', id, ...shape, clips: buffers } satisfies ToWorker, transfer);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(
        slots.map(async (s) => {
          failAll(s, 'inference pool closed');
          s.worker.postMessage({ type: 'close' } satisfies ToWorker);
          const exited = new Promise<void>((r) => s.worker.once('exit', () => r()));
          const timer = setTimeout(() => void s.worker.terminate(), 2000);
          await exited;
          clearTimeout(timer);
        }),
      );
    },
  };
}

async function createInlinePool(options: InferencePoolOptions): Promise<InferencePool> {
  const { initRuntime } = await import('../../model/runtime.ts');
  const { createEmbedder } = await import('../../model/clipModel.ts');
  const rt = await initRuntime({ backend: options.backend, ...(options.logger ? { logger: options.logger } : {}) });
  const embedder = await createEmbedder(options.modelDir);
  const { memory } = await import('@tensorflow/tfjs-core');
  let busy = 0;
  let closed = false;
  const totals = createProfileTotals();
  return {
    backend: rt.backend,
    dim: embedder.dim,
    workers: 0,
    inFlight: () => busy,
    profile: () => totals.read(),
    async infer(clips) {
      if (closed) throw new InferenceError('inference pool is closed', []);
      const shape = shapeOf(clips);
      busy += clips.length;
      try {
        const timing = { preprocessMs: 0, backboneMs: 0 };
        const f = await embedder.embed(clips.map((c) => c.data), shape, timing);
        // Inline, the CPU is the caller's thread: not separable from the rest, so not reported.
        totals.add(embedder, clips.length, { ...timing, cpuMs: undefined, tensors: memory().numTensors });
        return split(f, clips.length, embedder.dim);
      } catch (err) {
        throw new InferenceError(`inference failed: ${(err as Error).message}`, camerasOf(clips), { cause: err });
      } finally {
        busy -= clips.length;
      }
    },
    async close() {
      closed = true;
      embedder.dispose();
    },
  };
}
