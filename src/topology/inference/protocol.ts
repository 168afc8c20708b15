/** Messages between the inference pool and its worker threads. */
import type { BackendRequest, BackendName } from '../../model/runtime.ts';

export interface WorkerInit {
  readonly type: 'init';
  readonly modelDir: string;
  readonly backend: BackendRequest;
}

export interface WorkerInfer {
  readonly type: 'infer';
  readonly id: number;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  /** One [T,H,W,3] RGB24 buffer per clip, transferred (not copied) to the worker. */
  readonly clips: readonly Uint8Array[];
}

/** Where one call's time went inside the worker (benchmarks read these through the pool). */
export interface WorkerTiming {
  /** Wall ms: RGB24 → input tensor. */
  readonly preprocessMs: number;
  /** Wall ms: forward pass and reading the descriptors back. */
  readonly backboneMs: number;
  /** CPU ms the worker thread used for the call (undefined where /proc/thread-self is missing). */
  readonly cpuMs: number | undefined;
  /**
   * The worker thread's running CPU total (ms) at the end of the call. Why a total and not
   * only `cpuMs`: the kernel updates a running thread's CPU time at scheduler ticks, so a
   * difference across one short call reads low by up to a tick (measured: 2.1 ms for a 3 ms
   * busy loop); differences of this total over a long window are off by one tick at most.
   */
  readonly threadCpuMs?: number;
  /** Live tensors in the worker after the call (flat = no leak). */
  readonly tensors: number;
}

export type ToWorker = WorkerInit | WorkerInfer | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready'; readonly backend: BackendName; readonly dim: number; readonly tensors?: number; readonly threadCpuMs?: number }
  | { readonly type: 'result'; readonly id: number; readonly features: Float32Array; readonly dim: number; readonly ms: number; readonly timing?: WorkerTiming }
  | { readonly type: 'error'; readonly id?: number; readonly message: string; readonly name: string };
