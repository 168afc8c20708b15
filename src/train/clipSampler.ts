/**
 * Class-balanced, augmented batches of clips for training the backbone (stage 1).
 *
 * Why balanced: in untrimmed surveillance video most clips are background (about 80% of a
 * synth set), and each action is a few seconds; sampling clips uniformly would teach the
 * backbone mostly "nothing happens". Each sample first draws a class (background weighted
 * `backgroundWeight` against 1 for each action, since background holds the hard negatives:
 * passers-by, vehicles, trees), then a clip of that class from any video and any start frame
 * (not only stride-aligned starts: that is free temporal jitter). Optionally a share of the
 * background draws (`nearActionShare`) comes from the background clips just before or after an
 * instance (within {@link NEAR_ACTION_SECONDS}, not overlapping it): the actor walking in,
 * standing, walking away. Uniform draws reach them in proportion (20% of the background start
 * frames of the 720-video set: 44,086 of 218,765, so 5% of all draws), yet that is where the
 * false alarms were: the approach read as loiter or run, one clip before the instance (stop 9's
 * events-by-length table). Augmentation is light and label-preserving: horizontal flip
 * (actions have no handedness) and a brightness gain/offset (lighting drifts in the benchmark
 * and in real cameras).
 *
 * @example
 * const sampler = createClipSampler(videos, { fps: 5, frames: 8, stride: 8 }, 7);
 * const batch = sampler.batch(createRng(hashSeed(seed, step)), 4, true);
 * // batch.x: Float32Array [4, 8, 112, 112, 3] raw 0–255; batch.labels: Int32Array [4]
 */
import { ConfigError } from '../errors.ts';
import type { Rng } from '../synth/prng.ts';
import { overlapSeconds } from '../eval/detectionMetrics.ts';
import type { Instance } from './dataset.ts';
import type { DecodedVideo } from './decode.ts';
import { clipLabel, type ClipTiming } from './labels.ts';

/** A decoded training video and its annotation. */
export interface LabelledVideo {
  readonly decoded: DecodedVideo;
  readonly instances: readonly Instance[];
}

/** A batch ready for the backbone. */
export interface ClipBatch {
  /** [n, T, H, W, 3] raw RGB 0–255 as float32. */
  readonly x: Float32Array;
  readonly labels: Int32Array;
  readonly n: number;
}

/** Draws batches; see the module header. */
export interface ClipSampler {
  /** Clips available per class (start frames), index = class. */
  readonly counts: readonly number[];
  /** Background clips near an instance (counted only when `nearActionShare` > 0). */
  readonly nearAction: number;
  /** The classes that have at least one clip. */
  readonly classes: readonly number[];
  /**
   * Draw a batch.
   *
   * @param rng random source (seed it per step so a resumed run draws the same batches).
   * @param n clips in the batch.
   * @param augment flip and brightness when true.
   */
  batch(rng: Rng, n: number, augment: boolean): ClipBatch;
}

/** Options of {@link createClipSampler}. */
export interface ClipSamplerOptions {
  /** Weight of the background class against 1 for each action class. Default 2. */
  readonly backgroundWeight?: number;
  readonly backgroundIndex?: number;
  /**
   * Share of the background draws taken from the clips near an instance (0–1; default 0: all
   * background clips alike). With no such clip in the set, every background draw is uniform.
   */
  readonly nearActionShare?: number;
}

/**
 * How close (seconds between the clip and the instance, either side) a background clip must be
 * to count as near an action: the synth actor's walk-in and stand take 0.4–1.4 s of standing
 * plus a few seconds of walking; the walk-out is alike.
 */
export const NEAR_ACTION_SECONDS = 3;

/**
 * Whether the clip [start, end) lies near an instance without overlapping any: the gap to the
 * closest instance is at most {@link NEAR_ACTION_SECONDS}.
 */
export function isNearAction(instances: readonly Instance[], start: number, end: number): boolean {
  let near = false;
  for (const inst of instances) {
    // A negative overlap is minus the gap between the clip and the instance.
    const overlap = overlapSeconds({ start, end }, inst);
    if (overlap > 0) return false;
    if (-overlap <= NEAR_ACTION_SECONDS) near = true;
  }
  return near;
}

/**
 * Index every clip start of every video by label and return a sampler over them.
 *
 * @param videos decoded videos with their instances.
 * @param timing fps and frames per clip (stride is not used: every start frame is a sample).
 * @param numClasses K.
 * @throws ConfigError when no video yields a single clip.
 */
export function createClipSampler(
  videos: readonly LabelledVideo[],
  timing: ClipTiming,
  numClasses: number,
  options: ClipSamplerOptions = {},
): ClipSampler {
  const bg = options.backgroundIndex ?? 0;
  const bgWeight = options.backgroundWeight ?? 2;
  const nearShare = options.nearActionShare ?? 0;
  if (!(nearShare >= 0 && nearShare <= 1)) {
    throw new ConfigError(`nearActionShare must be between 0 and 1, got ${nearShare}`, [{ path: 'nearActionShare', message: 'out of range' }]);
  }
  const pools: number[][] = Array.from({ length: numClasses }, () => []);
  // Background clips near an instance: a subset of pools[bg], drawn from on their own share.
  const nearPool: number[] = [];
  videos.forEach((v, vi) => {
    for (let f = 0; f + timing.frames <= v.decoded.count; f++) {
      const start = f / timing.fps;
      const end = (f + timing.frames) / timing.fps;
      const k = clipLabel(v.instances, start, end, bg);
      // vi·2^20 + f: videos hold far fewer than a million frames at 5 fps.
      const code = vi * 1_048_576 + f;
      pools[k]?.push(code);
      if (k === bg && nearShare > 0 && isNearAction(v.instances, start, end)) nearPool.push(code);
    }
  });
  const classes = pools.map((p, k) => (p.length > 0 ? k : -1)).filter((k) => k >= 0);
  if (classes.length === 0) {
    throw new ConfigError('the training videos yield no clip (are they shorter than one clip?)', [{ path: '--data', message: 'no clips' }]);
  }
  const weights = classes.map((k) => (k === bg ? bgWeight : 1));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const first = videos[0];
  const size = first?.decoded.size ?? 0;
  const frameBytes = size * size * 3;
  const clipValues = timing.frames * frameBytes;

  const drawClass = (rng: Rng): number => {
    let u = rng.next() * totalWeight;
    for (let i = 0; i < classes.length; i++) {
      u -= weights[i] as number;
      if (u < 0) return classes[i] as number;
    }
    return classes[classes.length - 1] as number;
  };

  return {
    counts: pools.map((p) => p.length),
    nearAction: nearPool.length,
    classes,
    batch(rng, n, augment) {
      const x = new Float32Array(n * clipValues);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const k = drawClass(rng);
        // The share is drawn only when it matters so that runs without it keep their batches.
        const near = k === bg && nearPool.length > 0 && rng.next() < nearShare;
        const pool = near ? nearPool : (pools[k] as number[]);
        const code = pool[rng.int(0, pool.length - 1)] as number;
        const v = videos[Math.floor(code / 1_048_576)] as LabelledVideo;
        const f0 = code % 1_048_576;
        labels[i] = k;
        const flip = augment && rng.chance(0.5);
        const gain = augment ? rng.range(0.75, 1.25) : 1;
        const offset = augment ? rng.range(-15, 15) : 0;
        writeClip(x, i * clipValues, v.decoded.frames, f0 * frameBytes, timing.frames, size, flip, gain, offset);
      }
      return { x, labels, n };
    },
  };
}

/**
 * Copy T frames into the batch buffer as float32, optionally mirrored left-right and with a
 * brightness gain and offset (clamped to 0–255 like a camera's output).
 */
function writeClip(
  dst: Float32Array,
  at: number,
  src: Uint8Array,
  from: number,
  frames: number,
  size: number,
  flip: boolean,
  gain: number,
  offset: number,
): void {
  const row = size * 3;
  const plain = gain === 1 && offset === 0;
  for (let t = 0; t < frames; t++) {
    for (let y = 0; y < size; y++) {
      const s0 = from + (t * size + y) * row;
      const d0 = at + (t * size + y) * row;
      for (let xx = 0; xx < size; xx++) {
        const s = s0 + (flip ? size - 1 - xx : xx) * 3;
        const d = d0 + xx * 3;
        for (let c = 0; c < 3; c++) {
          const v = src[s + c] as number;
          if (plain) {
            dst[d + c] = v;
          } else {
            const w = v * gain + offset;
            dst[d + c] = w < 0 ? 0 : w > 255 ? 255 : w;
          }
        }
      }
    }
  }
}

/**
 * The stride-aligned clips of some videos as one float32 buffer (no augmentation): the clips
 * the stream would cut, for validation and feature extraction.
 *
 * @param video a decoded video.
 * @param starts start frames of the clips.
 * @param frames T.
 * @returns [starts.length, T, H, W, 3] raw 0–255.
 */
export function clipsAt(video: DecodedVideo, starts: readonly number[], frames: number): Float32Array {
  const clipValues = frames * video.frameBytes;
  const out = new Float32Array(starts.length * clipValues);
  starts.forEach((f0, i) => writeClip(out, i * clipValues, video.frames, f0 * video.frameBytes, frames, video.size, false, 1, 0));
  return out;
}
