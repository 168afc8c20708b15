/**
 * Small measurements the pipeline benchmark puts next to its runs: the backend's matMul
 * throughput (the practical ceiling for the backbone's GFLOP/s), the backbone alone on one
 * thread per backend (the side-by-side backend comparison), and what one frame costs to
 * produce (synthetic generation, ffmpeg decode).
 *
 * @example
 * await initRuntime({ backend: 'wasm' });
 * const { gflops } = await measureMatMul({ size: 512 });
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, take, toArray } from 'rxjs';
import { resolveBackboneConfig } from '../model/backbone.ts';
import { createEmbedder, createWindowHead, loadManifest, manifestBackboneConfig } from '../model/clipModel.ts';
import { backboneComplexity } from '../model/flops.ts';
import { initRuntime, type BackendName } from '../model/runtime.ts';
import { createSceneSource } from '../topology/sources/sceneSource.ts';
import { createSyntheticSource } from '../topology/sources/syntheticSource.ts';

/** Best-of-n wall time of an async function, ms. */
async function bestOf(n: number, fn: () => Promise<void>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * Square matMul on the current tfjs backend, one thread: the throughput dense kernels reach.
 *
 * @param opts.size - matrix side (default 512: 268 MFLOP per product)
 * @param opts.repeats - best of this many (default 8)
 * @returns GFLOP/s (2·n³ FLOPs per product) and the best time
 */
export async function measureMatMul(opts: { size?: number; repeats?: number } = {}): Promise<{ gflops: number; ms: number; size: number }> {
  const n = opts.size ?? 512;
  const a = tf.randomUniform([n, n]);
  const b = tf.randomUniform([n, n]);
  const once = async (): Promise<void> => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  };
  try {
    await once();
    const ms = await bestOf(opts.repeats ?? 8, once);
    return { gflops: (2 * n ** 3) / ms / 1e6, ms, size: n };
  } finally {
    tf.dispose([a, b]);
  }
}

/** The backbone alone on one backend, on the calling thread. */
export interface BackboneMeasure {
  readonly backend: BackendName;
  readonly batch: number;
  readonly msPerClip: number;
  readonly gflops: number;
  readonly matmulGflops: number;
}

/**
 * Time the inference backbone (what a worker runs: BatchNorm folded) on one backend, with a
 * matMul of that backend beside it. Switches the calling thread's tfjs backend and leaves it
 * on `backend`.
 *
 * @param modelDir - model folder
 * @param backend - backend to measure
 * @param opts.batch - clips per call (default 8); opts.repeats - best of (default 3)
 * @returns ms per clip, achieved GFLOP/s, and the backend's matMul GFLOP/s
 */
export async function measureBackbone(
  modelDir: string,
  backend: BackendName,
  opts: { batch?: number; repeats?: number } = {},
): Promise<BackboneMeasure> {
  await initRuntime({ backend });
  const manifest = await loadManifest(modelDir);
  const cfg = resolveBackboneConfig(manifestBackboneConfig(manifest));
  const batch = opts.batch ?? 8;
  const shape = { frames: cfg.frames, height: cfg.size, width: cfg.size };
  const bytes = cfg.frames * cfg.size * cfg.size * 3;
  const clips = Array.from({ length: batch }, (_, i) => Uint8Array.from({ length: bytes }, (_, j) => (j * 13 + i * 71) & 255));
  const embedder = await createEmbedder(modelDir);
  try {
    await embedder.embed(clips, shape);
    const ms = await bestOf(opts.repeats ?? 3, async () => void (await embedder.embed(clips, shape)));
    const mm = await measureMatMul({ repeats: backend === 'cpu' ? 2 : 8 });
    const msPerClip = ms / batch;
    return { backend, batch, msPerClip, gflops: backboneComplexity(cfg).mflopsPerClip / msPerClip, matmulGflops: mm.gflops };
  } finally {
    embedder.dispose();
  }
}

/**
 * Time the model's default window head alone on the current backend, on this thread, the
 * way the pipeline calls it. Why a side measurement: a head call takes about a millisecond,
 * shorter than the kernel's tick, and a thread's CPU clock read across so short a call reads
 * low (often zero), so in-pipeline CPU per call cannot give the head's share. It is warmed up
 * with as many calls as it is timed: in a run the head is called thousands of times, and after
 * one warm-up call V8 and the wasm tiers had not settled (0.42 ms per window measured that way
 * against 0.20 ms in the pipeline's own head stage, same run).
 *
 * @param modelDir - model folder
 * @param opts.batch - windows per call (default 1: cameras' windows rarely complete together)
 * @param opts.repeats - warm-up calls, then best of this many (default 50)
 * @returns ms per window
 */
export async function measureHead(modelDir: string, opts: { batch?: number; repeats?: number } = {}): Promise<number> {
  const head = await createWindowHead(modelDir);
  try {
    const batch = opts.batch ?? 1;
    const windows = Array.from({ length: batch }, (_, w) => Float32Array.from({ length: head.clips * head.dim }, (_, i) => ((i * 7 + w * 13) % 97) / 97));
    const repeats = opts.repeats ?? 50;
    for (let i = 0; i < repeats; i++) await head.run(windows);
    return (await bestOf(repeats, async () => void (await head.run(windows)))) / batch;
  } finally {
    head.dispose();
  }
}

/**
 * What one frame of a generated camera costs on the main thread (it stands in for decoding).
 *
 * @param kind - 'synthetic' (moving shapes) or 'scene' (the action benchmark's renderer + resize)
 * @param size - analysis side in pixels
 * @param fps - analysis rate
 * @returns ms per frame (mean over 100 frames after 10 warm-up frames)
 */
export async function measureFrameSource(kind: 'synthetic' | 'scene', size: number, fps: number): Promise<number> {
  const make = () =>
    kind === 'scene'
      ? createSceneSource({ cameraId: 'bench', seed: 3, seconds: 60, fps, width: size, height: size })
      : createSyntheticSource({ cameraId: 'bench', seed: 3, fps, width: size, height: size, frames: 200 });
  await lastValueFrom(make().frames$.pipe(take(10), toArray()));
  const t0 = performance.now();
  const n = (await lastValueFrom(make().frames$.pipe(take(110), toArray()))).length;
  return (performance.now() - t0) / n;
}

/** Where ffmpeg is expected (Debian package). */
export const FFMPEG = '/usr/bin/ffmpeg';
/** A test video of opencv-doc: 768×576, 10 fps, 79 s. */
export const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

/**
 * A 1080p25 H.264 test video (10 s of ffmpeg's testsrc2, like a typical IP camera stream),
 * encoded once and cached at `path`.
 *
 * @param path - where to keep it
 * @returns the path, or null without ffmpeg (or when encoding fails)
 */
export async function hdTestVideo(path: string): Promise<string | null> {
  if (existsSync(path)) return path;
  if (!existsSync(FFMPEG)) return null;
  const tmp = `${path}.part.mp4`;
  const args = ['-hide_banner', '-nostdin', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=25', '-t', '10', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-pix_fmt', 'yuv420p', tmp];
  const ok = await new Promise<boolean>((resolve) => {
    const child = spawn(FFMPEG, args, { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
  if (!ok) return null;
  const { rename } = await import('node:fs/promises');
  await rename(tmp, path);
  return path;
}

/**
 * CPU cost of decoding a camera with ffmpeg the way the file/RTSP sources do (decode, resample
 * to the analysis rate, scale to the analysis size, RGB24 out), per analysis frame, from
 * ffmpeg's own `-benchmark` user+system time, one decoder thread. It runs in a child process, on
 * any free core; every source frame is decoded, whatever the analysis rate.
 *
 * @param size - analysis side; @param fps - analysis rate; @param input - video file
 * @returns ms of CPU per delivered frame, or null without ffmpeg or the test video
 */
export async function measureFfmpegDecode(size: number, fps: number, input = VTEST): Promise<{ msPerFrame: number; frames: number } | null> {
  if (!existsSync(FFMPEG) || !existsSync(input)) return null;
  const args = ['-hide_banner', '-nostdin', '-benchmark', '-threads', '1', '-i', input, '-t', '30', '-vf', `fps=${fps},scale=${size}:${size}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  return new Promise((resolve) => {
    const child = spawn(FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (c: Buffer) => (bytes += c.length));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.on('error', () => resolve(null));
    child.on('close', () => {
      const m = /utime=([\d.]+)s stime=([\d.]+)s/.exec(err);
      const frames = Math.floor(bytes / (size * size * 3));
      resolve(m && frames > 0 ? { msPerFrame: ((Number(m[1]) + Number(m[2])) * 1000) / frames, frames } : null);
    });
  });
}
