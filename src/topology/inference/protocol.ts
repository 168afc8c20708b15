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

export type ToWorker = WorkerInit | WorkerInfer | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready'; readonly backend: BackendName; readonly dim: number }
  | { readonly type: 'result'; readonly id: number; readonly features: Float32Array; readonly dim: number; readonly ms: number }
  | { readonly type: 'error'; readonly id?: number; readonly message: string; readonly name: string };
