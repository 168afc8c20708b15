/**
 * A video source computed in JS: moving shapes over a textured background, a pure function
 * of (seed, frame index). Tests, demos and benchmarks get frames without ffmpeg, files or
 * cameras, and every run of a seed yields the same bytes.
 */
import { Observable, asyncScheduler } from 'rxjs';
import type { SchedulerAction, SchedulerLike } from 'rxjs';
import { ConfigError } from '../../errors.ts';
import type { Frame } from '../../types.ts';
import type { PullGate } from '../pullControl.ts';
import type { SourceStats, VideoSource } from './source.ts';

/** Options of {@link createSyntheticSource}. */
export interface SyntheticSourceOptions {
  readonly cameraId: string;
  /** Frames per second (pts step and, with `realtime`, emission rate). */
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** Complete after this many frames; endless when omitted. */
  readonly frames?: number;
  /** Everything visual derives from it: same seed, same bytes. */
  readonly seed: number;
  /**
   * Emit frame i at i/fps after subscribing (on `scheduler`). Otherwise frames come as fast
   * as the consumer takes them, in batches of {@link SYNTHETIC_BATCH} per scheduler turn so
   * an endless source cannot starve the event loop.
   */
  readonly realtime?: boolean;
  /**
   * Not `realtime`: produce only while the gate is open (stop after any frame that finds it
   * full, go on when it drains), so a slow consumer is waited for instead of overrun.
   */
  readonly pull?: PullGate;
  /** Where emissions are scheduled; default `asyncScheduler` (virtual under `TestScheduler.run`). */
  readonly scheduler?: SchedulerLike;
  /** Number of moving shapes. Default 3. */
  readonly shapes?: number;
  /**
   * Frame indices that follow a simulated outage: they carry `gapBefore: true`, and
   * `gapMs` of media time (default 1000) passes before them, as if those frames were lost.
   */
  readonly gapsBefore?: readonly number[];
  readonly gapMs?: number;
  /** pts of frame 0, ms. Default 0. */
  readonly startPtsMs?: number;
}

/** Frames emitted per scheduler turn when not `realtime`. */
export const SYNTHETIC_BATCH = 32;

interface Shape {
  readonly disc: boolean;
  readonly size: number;
  readonly x0: number;
  readonly y0: number;
  /** Pixels per second. */
  readonly vx: number;
  readonly vy: number;
  readonly rgb: readonly [number, number, number];
}

interface Scene {
  readonly background: Uint8Array;
  readonly shapes: readonly Shape[];
}

/**
 * Creates a deterministic synthetic camera.
 *
 * Why: operators and the topology need realistic-shaped input (RGB24 at the analysis size,
 * moving content, optional gaps) that costs microseconds per frame and never flakes.
 * Unlike a camera, each subscription is a replay from frame 0 (seq 0): a deterministic
 * generator re-read, like a file. Motion follows media time, so after a gap the shapes
 * jump as they would in real lost footage.
 *
 * @example
 * const cam = createSyntheticSource({ cameraId: 'synth-1', fps: 10, width: 112, height: 112, seed: 7, frames: 100 });
 * cam.frames$.subscribe((frame) => clipper.push(frame));
 * @param options - size, rate, seed, length, pacing, simulated gaps
 * @returns the source; nothing is computed until `frames$` is subscribed
 * @throws ConfigError when sizes, rate or counts are invalid
 */
export function createSyntheticSource(options: SyntheticSourceOptions): VideoSource {
  validate(options);
  const { cameraId, fps, width, height } = options;
  const total = options.frames ?? Number.POSITIVE_INFINITY;
  const scheduler = options.scheduler ?? asyncScheduler;
  const frameMs = 1000 / fps;
  const gapMs = options.gapMs ?? 1000;
  const startPtsMs = options.startPtsMs ?? 0;
  const gaps = [...new Set(options.gapsBefore ?? [])].filter((i) => i > 0).sort((a, b) => a - b);
  let scene: Scene | undefined;
  const counters = { frames: 0 };
  const pull = options.pull;
  pull?.pace(cameraId);

  /** Media time of frame i: its index time plus the outages before it. */
  const ptsOf = (index: number): number => {
    let lost = 0;
    for (const gap of gaps) {
      if (gap > index) break;
      lost += 1;
    }
    return startPtsMs + index * frameMs + lost * gapMs;
  };

  const frameAt = (index: number): Frame => {
    scene ??= buildScene(options.seed, width, height, options.shapes ?? 3);
    const ptsMs = ptsOf(index);
    const data = renderFrame(scene, width, height, (ptsMs - startPtsMs) / 1000);
    return gaps.includes(index)
      ? { cameraId, seq: index, ptsMs, width, height, data, gapBefore: true }
      : { cameraId, seq: index, ptsMs, width, height, data };
  };

  const frames$ = new Observable<Frame>((subscriber) => {
    const startedAt = scheduler.now();
    let index = 0;
    const emit = (): void => {
      subscriber.next(frameAt(index));
      counters.frames += 1;
      index += 1;
    };
    if (total === 0) {
      subscriber.complete();
      return undefined;
    }
    if (options.realtime === true) {
      return scheduler.schedule(function (this: SchedulerAction<undefined>) {
        emit();
        if (index >= total) {
          subscriber.complete();
          return;
        }
        // Due times come from the start, not the previous emission, so timer lateness
        // does not accumulate into drift.
        const dueAt = startedAt + (ptsOf(index) - startPtsMs);
        this.schedule(undefined, Math.max(0, dueAt - scheduler.now()));
      }, 0);
    }
    let cancelWait: (() => void) | undefined;
    const run = scheduler.schedule(function (this: SchedulerAction<undefined>) {
      let full = false;
      for (let n = 0; n < SYNTHETIC_BATCH && index < total && !subscriber.closed && !full; n += 1) {
        emit();
        full = pull?.full() ?? false;
      }
      if (index >= total) subscriber.complete();
      else if (subscriber.closed) return;
      else if (full && pull !== undefined) {
        cancelWait = pull.whenDrained(() => {
          cancelWait = undefined;
          if (!subscriber.closed) this.schedule(undefined, 0);
        });
      } else this.schedule(undefined, 0);
    }, 0);
    return () => {
      cancelWait?.();
      run.unsubscribe();
    };
  });

  return {
    cameraId,
    frames$,
    stats: (): SourceStats => ({ frames: counters.frames, reconnects: 0, stalls: 0, corruptFrames: 0, loops: 0, spawns: 0, pid: undefined }),
  };
}

/** Renders the scene at media time `t` seconds into a fresh buffer the consumer may keep. */
function renderFrame(scene: Scene, width: number, height: number, t: number): Uint8Array {
  const data = scene.background.slice();
  for (const shape of scene.shapes) {
    const x = bounce(shape.x0 + shape.vx * t, width - shape.size);
    const y = bounce(shape.y0 + shape.vy * t, height - shape.size);
    drawShape(data, width, height, shape, Math.round(x), Math.round(y));
  }
  return data;
}

/** Reflects a coordinate into [0, span]: shapes bounce off the frame edges. */
function bounce(position: number, span: number): number {
  if (span <= 0) return 0;
  const period = 2 * span;
  const p = ((position % period) + period) % period;
  return p <= span ? p : period - p;
}

function drawShape(data: Uint8Array, width: number, height: number, shape: Shape, left: number, top: number): void {
  const r = shape.size / 2;
  const [red, green, blue] = shape.rgb;
  for (let dy = 0; dy < shape.size; dy += 1) {
    const y = top + dy;
    if (y < 0 || y >= height) continue;
    for (let dx = 0; dx < shape.size; dx += 1) {
      const x = left + dx;
      if (x < 0 || x >= width) continue;
      if (shape.disc) {
        const ex = dx + 0.5 - r;
        const ey = dy + 0.5 - r;
        if (ex * ex + ey * ey > r * r) continue;
      }
      const o = (y * width + x) * 3;
      data[o] = red;
      data[o + 1] = green;
      data[o + 2] = blue;
    }
  }
}

function buildScene(seed: number, width: number, height: number, shapeCount: number): Scene {
  const random = mulberry32(seed);
  const background = new Uint8Array(width * height * 3);
  // Low-frequency colour gradient + an 8-pixel checker + per-pixel noise: enough texture
  // that convolutions see edges everywhere, not a flat field.
  const base = [random() * 160 + 40, random() * 160 + 40, random() * 160 + 40];
  const tilt = [random() * 60 - 30, random() * 60 - 30, random() * 60 - 30];
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const checker = ((x >> 3) + (y >> 3)) % 2 === 0 ? 12 : -12;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c += 1) {
        const value = (base[c] ?? 0) + (tilt[c] ?? 0) * ((x / width + y / height) - 1) + checker + (random() - 0.5) * 24;
        background[o + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  const shapes: Shape[] = [];
  const minSide = Math.min(width, height);
  for (let i = 0; i < shapeCount; i += 1) {
    const size = Math.max(2, Math.round(minSide * (0.12 + random() * 0.16)));
    const speed = minSide * (0.3 + random() * 0.5);
    const angle = random() * 2 * Math.PI;
    shapes.push({
      disc: random() < 0.5,
      size,
      x0: random() * Math.max(1, width - size),
      y0: random() * Math.max(1, height - size),
      vx: speed * Math.cos(angle),
      vy: speed * Math.sin(angle),
      rgb: [Math.floor(random() * 256), Math.floor(random() * 256), Math.floor(random() * 256)],
    });
  }
  return { background, shapes };
}

/** A tiny seeded PRNG (mulberry32): uniform [0, 1), reproducible on every platform. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function validate(options: SyntheticSourceOptions): void {
  const issues: { path: string; message: string }[] = [];
  const check = (path: string, ok: boolean, message: string): void => {
    if (!ok) issues.push({ path, message });
  };
  check('cameraId', options.cameraId !== '', 'must not be empty');
  check('fps', Number.isFinite(options.fps) && options.fps > 0, `must be a positive number, got ${options.fps}`);
  check('width', Number.isInteger(options.width) && options.width > 0, `must be a positive integer, got ${options.width}`);
  check('height', Number.isInteger(options.height) && options.height > 0, `must be a positive integer, got ${options.height}`);
  check('seed', Number.isFinite(options.seed), `must be a finite number, got ${options.seed}`);
  if (options.frames !== undefined) check('frames', Number.isInteger(options.frames) && options.frames >= 0, `must be an integer >= 0, got ${options.frames}`);
  if (options.shapes !== undefined) check('shapes', Number.isInteger(options.shapes) && options.shapes >= 0, `must be an integer >= 0, got ${options.shapes}`);
  if (options.gapMs !== undefined) check('gapMs', Number.isFinite(options.gapMs) && options.gapMs >= 0, `must be >= 0, got ${options.gapMs}`);
  for (const gap of options.gapsBefore ?? []) check('gapsBefore', Number.isInteger(gap) && gap >= 0, `must hold integers >= 0, got ${gap}`);
  if (options.pull !== undefined) check('pull', options.realtime !== true, 'a realtime camera cannot wait for its consumer');
  if (issues.length > 0) {
    throw new ConfigError(`invalid synthetic source options for camera ${options.cameraId}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues);
  }
}
