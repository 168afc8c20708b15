/** Messages between the data-parallel training pool (replicaPool.ts) and its worker threads. */

/** Averaged gradients the worker applies before anything else in the message. */
export interface PendingUpdate {
  readonly grads: readonly Float32Array[];
  readonly learningRate: number;
}

export interface ReplicaInit {
  readonly type: 'init';
  /** The stage-1 model's topology (`model.toJSON(undefined, false)`). */
  readonly topology: unknown;
  /** Every weight in `model.weights` order. */
  readonly weights: readonly Float32Array[];
  /** Adam's state as `StageOneReplica.optimizerState` lays it out ([] for a fresh one). */
  readonly optimizer: readonly Float32Array[];
  readonly learningRate: number;
  readonly numClasses: number;
}

export interface ReplicaStep {
  readonly type: 'step';
  readonly id: number;
  readonly apply?: PendingUpdate;
  /** This worker's share of the batch: n clips, raw RGB 0–255 (transferred). */
  readonly x: Float32Array;
  readonly labels: Int32Array;
  readonly n: number;
}

export interface ReplicaPull {
  readonly type: 'pull';
  readonly id: number;
  readonly apply?: PendingUpdate;
}

/** Apply an update and nothing else: a worker whose share of a step is empty stays in step. */
export interface ReplicaApply {
  readonly type: 'apply';
  readonly id: number;
  readonly apply: PendingUpdate;
}

export interface ReplicaPush {
  readonly type: 'push';
  readonly id: number;
  readonly weights: readonly Float32Array[];
}

export interface ReplicaClose {
  readonly type: 'close';
}

export type ToReplica = ReplicaInit | ReplicaStep | ReplicaPull | ReplicaApply | ReplicaPush | ReplicaClose;

export type FromReplica =
  | { readonly type: 'ready'; readonly tensors: number }
  | { readonly type: 'grads'; readonly id: number; readonly grads: Float32Array[]; readonly loss: number; readonly acc: number; readonly n: number; readonly tensors: number }
  | { readonly type: 'state'; readonly id: number; readonly weights: Float32Array[]; readonly optimizer: Float32Array[]; readonly tensors: number }
  | { readonly type: 'applied'; readonly id: number; readonly tensors: number }
  | { readonly type: 'pushed'; readonly id: number }
  | { readonly type: 'error'; readonly id?: number; readonly name: string; readonly message: string };
