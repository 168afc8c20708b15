/**
 * Clip descriptors of whole videos with a trained backbone: the input of stage 2 (heads) and
 * of threshold calibration.
 *
 * Why the served pass: the stream serves the backbone with BatchNorm folded into the
 * convolutions (`createEmbedder`: the compiled `InferenceBackbone` for the default
 * architecture, else a `foldBatchNorm` copy), which changes float rounding slightly;
 * extracting training features with the same pass means the heads learn on the numbers they
 * will be served (and the compiled pass is also the fastest on wasm).
 *
 * With more than one core, {@link videoFeaturesOnPool} computes the same descriptors with the
 * stream's own inference workers (one wasm thread each) instead of the calling thread.
 *
 * @example
 * const fast = compileInferenceBackbone(backbone, config) ?? (await foldBatchNorm(backbone));
 * const f = await videoFeatures(fast, decoded, { fps: 5, frames: 8, stride: 8 });
 * f.count; // clips; clip j's descriptor is f.features.subarray(j * f.dim, (j + 1) * f.dim)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { embedClips } from '../model/backbone.ts';
import type { InferenceBackbone } from '../model/fastBackbone.ts';
import type { InferencePool } from '../topology/inference/pool.ts';
import type { Clip } from '../types.ts';
import { clipsAt } from './clipSampler.ts';
import type { DecodedVideo } from './decode.ts';
import { clipCount, type ClipTiming } from './labels.ts';

/** The descriptors of a video's stride-aligned clips. */
export interface VideoFeatures {
  /** Row-major [count, dim]. */
  readonly features: Float32Array;
  readonly count: number;
  readonly dim: number;
  /** Frame of clip 0 (clip j starts at offset + j·stride). */
  readonly offset: number;
}

/**
 * Embed every whole clip of a decoded video, starting at frame `offset`.
 *
 * @param backbone a compiled inference backbone, or a layers backbone (folded or not).
 * @param video decoded frames.
 * @param timing frames per clip and stride.
 * @param offset first clip's start frame (default 0: the clips a stream of this file cuts).
 * @param batch clips per forward pass (default 8).
 * @returns the descriptors.
 */
export async function videoFeatures(
  backbone: tfl.LayersModel | InferenceBackbone,
  video: DecodedVideo,
  timing: ClipTiming,
  offset = 0,
  batch = 8,
): Promise<VideoFeatures> {
  const count = clipCount(video.count, timing, offset);
  const layers = backbone instanceof tfl.LayersModel ? backbone : undefined;
  const dim = layers ? (layers.outputs[0]?.shape[1] ?? 0) : (backbone as InferenceBackbone).dim;
  const features = new Float32Array(count * dim);
  for (let j = 0; j < count; j += batch) {
    const n = Math.min(batch, count - j);
    const starts = Array.from({ length: n }, (_, i) => offset + (j + i) * timing.stride);
    const x = tf.tensor(clipsAt(video, starts, timing.frames), [n, timing.frames, video.size, video.size, 3]);
    try {
      const y = layers ? embedClips(layers, x) : (backbone as InferenceBackbone).apply(x);
      features.set((await y.data()) as Float32Array, j * dim);
      y.dispose();
    } finally {
      x.dispose();
    }
  }
  return { features, count, dim, offset };
}

/**
 * {@link videoFeatures} on an inference pool: every batch of the video is queued at once and the
 * pool hands each to its least-busy worker, so a pool of N workers keeps N cores busy. The pool
 * must serve the backbone in question (a model folder holding it); its workers run the stream's
 * own preprocessing and pass, so the descriptors are the ones the stream will compute.
 *
 * @param pool inference pool over a model folder with this backbone.
 * @param video decoded frames (copied per batch; the video stays intact).
 * @param timing frames per clip and stride.
 * @param offset first clip's start frame (default 0).
 * @param batch clips per worker call (default 8, as {@link videoFeatures}).
 * @returns the descriptors.
 * @throws InferenceError when a worker fails.
 */
export async function videoFeaturesOnPool(pool: InferencePool, video: DecodedVideo, timing: ClipTiming, offset = 0, batch = 8): Promise<VideoFeatures> {
  const count = clipCount(video.count, timing, offset);
  const dim = pool.dim;
  const clipBytes = timing.frames * video.frameBytes;
  const clipOf = (j: number): Clip => {
    const f0 = offset + j * timing.stride;
    return {
      cameraId: 'train',
      startSeq: f0,
      endSeq: f0 + timing.frames - 1,
      startMs: (1000 * f0) / timing.fps,
      endMs: (1000 * (f0 + timing.frames)) / timing.fps,
      segment: 0,
      frames: timing.frames,
      width: video.size,
      height: video.size,
      // A view into the decoded video: the pool copies views before transferring them.
      data: video.frames.subarray(f0 * video.frameBytes, f0 * video.frameBytes + clipBytes),
    };
  };
  const features = new Float32Array(count * dim);
  const calls: Promise<void>[] = [];
  for (let j = 0; j < count; j += batch) {
    const clips = Array.from({ length: Math.min(batch, count - j) }, (_, i) => clipOf(j + i));
    calls.push(pool.infer(clips).then((out) => out.forEach((f, i) => features.set(f, (j + i) * dim))));
  }
  await Promise.all(calls);
  return { features, count, dim, offset };
}
