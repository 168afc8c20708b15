/** Messages between the stage-2 head training pool (headPool.ts) and its worker threads. */
import type { HeadTrainingOptions, HeadTrainingResult } from './trainHeads.ts';
import type { FeatureVideo, WindowRef } from './windows.ts';

/** What a job sets; the descriptors and windows come once, with `init`. */
export type HeadJobOptions = Omit<HeadTrainingOptions, 'head' | 'videos' | 'windows' | 'signal'>;

export type ToHeadWorker =
  | { readonly type: 'init'; readonly videos: readonly FeatureVideo[]; readonly windows: readonly WindowRef[] }
  /** Load the untrained head from initDir, train it, save it to outDir. */
  | { readonly type: 'train'; readonly id: number; readonly initDir: string; readonly outDir: string; readonly options: HeadJobOptions }
  | { readonly type: 'close' };

export type FromHeadWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly id: number; readonly result: HeadTrainingResult }
  | { readonly type: 'error'; readonly id?: number; readonly message: string; readonly name: string };
