/**
 * Renders the frames of a planned video ({@link VideoSpec}) into RGB24 buffers: static
 * background, then trees, posts, vehicles and people in depth order, then the camera:
 * lighting drift, shake and sensor noise.
 *
 * Why random access: every frame is a pure function of the plan and its index (noise
 * included), so a training loop can render just the clips it samples, in any order, and
 * get the same bytes the encoded video holds (before compression).
 */
import { personStateAt } from './actors.ts';
import { project } from './camera.ts';
import { drawFigure, drawFigureShadow } from './figure.ts';
import { createRng, hashSeed } from './prng.ts';
import type { Raster } from './raster.ts';
import { drawPost, drawTree, drawVehicle, renderBackground, windAt } from './scene.ts';
import type { LightingSpec, ShakeEpisode, VideoSpec } from './spec.ts';

/** A renderer bound to one planned video. */
export interface VideoRenderer {
  readonly spec: VideoSpec;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameCount: number;
  /**
   * Renders frame `index` (time index / fps).
   * @param index - 0 ≤ index < frameCount
   * @param out - optional buffer of width·height·3 bytes to fill (a new one otherwise)
   * @returns the RGB24 frame
   */
  renderFrame(index: number, out?: Uint8Array): Uint8Array;
}

/** Which frames to render and how to stop early. */
export interface FrameRange {
  /** First frame index (default 0). */
  readonly start?: number;
  /** One past the last frame index (default the video's frame count). */
  readonly end?: number;
  readonly signal?: AbortSignal;
}

/**
 * Per-channel illumination gain at time t.
 *
 * @example
 * const [r, g, b] = lightingAt(spec.lighting, 12);
 * @param l - lighting spec
 * @param t - video time, s
 * @returns gains for red, green, blue
 */
export function lightingAt(l: LightingSpec, t: number): [number, number, number] {
  let g = l.base;
  for (const w of l.waves) g *= 1 + w.amp * Math.sin((2 * Math.PI * t) / w.period + w.phase);
  for (const c of l.clouds) g *= 1 - c.depth * Math.exp(-(((t - c.t) / c.width) ** 2));
  return [g * l.tint[0], g * l.tint[1], g * l.tint[2]];
}

/**
 * Camera displacement (whole pixels) at time t from the shake episodes.
 *
 * @example
 * const { dx, dy } = shakeAt(spec.shake, 40.2);
 * @param episodes - shake episodes
 * @param t - video time, s
 * @returns horizontal and vertical shift of the image content
 */
export function shakeAt(episodes: readonly ShakeEpisode[], t: number): { dx: number; dy: number } {
  let dx = 0;
  let dy = 0;
  for (const e of episodes) {
    if (t < e.t0 || t > e.t1) continue;
    const env = Math.sin((Math.PI * (t - e.t0)) / (e.t1 - e.t0));
    dx += e.amp * env * (0.7 * Math.sin(2 * Math.PI * e.fx * t + e.phase) + 0.3 * Math.sin(2 * Math.PI * 2.3 * e.fx * t));
    dy += 0.6 * e.amp * env * Math.sin(2 * Math.PI * e.fy * t + 2 * e.phase);
  }
  return { dx: Math.round(dx), dy: Math.round(dy) };
}

const NOISE_BITS = 18;

/** A table of Gaussian noise samples, read at a per-frame offset (cheap per-pixel noise). */
function noiseTable(seed: number, std: number): Int16Array {
  const table = new Int16Array(1 << NOISE_BITS);
  if (std <= 0) return table;
  const rng = createRng(hashSeed(seed, 0x6e6f69));
  for (let i = 0; i < table.length; i++) table[i] = Math.round(rng.normal(0, std));
  return table;
}

/**
 * Creates a renderer for a planned video. The static background is rendered once here.
 *
 * @example
 * const r = createVideoRenderer(planVideo(7, resolveSynthOptions({ quick: true })));
 * const first = r.renderFrame(0);
 * @param spec - the planned video
 * @returns the renderer
 */
export function createVideoRenderer(spec: VideoSpec): VideoRenderer {
  const { width: W, height: H, camera: cam } = spec;
  const background = renderBackground(cam, spec.scene);
  const work: Raster = { width: W, height: H, data: new Uint8Array(W * H * 3) };
  const noise = noiseTable(spec.seed, spec.noise);
  const mask = (1 << NOISE_BITS) - 1;
  const lut = [new Int16Array(256), new Int16Array(256), new Int16Array(256)] as const;
  const depthOf = (X: number, Z: number): number => project(cam, X, 0, Z).depth;

  const renderFrame = (index: number, out?: Uint8Array): Uint8Array => {
    if (!Number.isInteger(index) || index < 0 || index >= spec.frameCount) {
      throw new RangeError(`frame index ${index} outside [0, ${spec.frameCount})`);
    }
    const dst = out ?? new Uint8Array(W * H * 3);
    if (dst.length !== W * H * 3) throw new RangeError(`output buffer must hold ${W * H * 3} bytes`);
    const t = index / spec.fps;
    work.data.set(background.data);

    const draws: { depth: number; draw: () => void }[] = [];
    const wind = windAt(spec.wind, t);
    for (const tree of spec.scene.trees) draws.push({ depth: depthOf(tree.X, tree.Z), draw: () => drawTree(work, cam, tree, t, wind) });
    for (const post of spec.scene.posts) draws.push({ depth: depthOf(post.X, post.Z), draw: () => drawPost(work, cam, post) });
    for (const v of spec.vehicles) {
      if (t < v.t0 || t > v.t1) continue;
      draws.push({ depth: depthOf(v.X0 + v.speed * (t - v.t0), v.Z), draw: () => drawVehicle(work, cam, v, t) });
    }
    for (const person of spec.people) {
      const s = personStateAt(person, t);
      if (s === undefined) continue;
      const pel = s.skeleton.joints.pelvis;
      draws.push({
        depth: depthOf(pel.x, pel.z),
        draw: () => {
          drawFigureShadow(work, cam, s.skeleton);
          drawFigure(work, cam, s.skeleton, s.yaw, person.appearance);
        },
      });
    }
    draws.sort((a, b) => b.depth - a.depth);
    for (const d of draws) d.draw();

    const gains = lightingAt(spec.lighting, t);
    for (let c = 0; c < 3; c++) {
      const g = gains[c] ?? 1;
      const table = lut[c as 0 | 1 | 2];
      for (let v = 0; v < 256; v++) table[v] = Math.round(v * g);
    }
    const { dx, dy } = shakeAt(spec.shake, t);
    const offset = hashSeed(spec.seed, index) & mask;
    const src = work.data;
    const [lr, lg, lb] = lut;
    for (let y = 0; y < H; y++) {
      const sy = Math.min(H - 1, Math.max(0, y - dy));
      for (let x = 0; x < W; x++) {
        const sx = dx === 0 ? x : Math.min(W - 1, Math.max(0, x - dx));
        const s = (sy * W + sx) * 3;
        const p = (y * W + x) * 3;
        const n = (offset + p) & mask;
        const r = (lr[src[s] ?? 0] ?? 0) + (noise[n] ?? 0);
        const g = (lg[src[s + 1] ?? 0] ?? 0) + (noise[(n + 1) & mask] ?? 0);
        const b = (lb[src[s + 2] ?? 0] ?? 0) + (noise[(n + 2) & mask] ?? 0);
        dst[p] = r < 0 ? 0 : r > 255 ? 255 : r;
        dst[p + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
        dst[p + 2] = b < 0 ? 0 : b > 255 ? 255 : b;
      }
    }
    return dst;
  };

  return { spec, width: W, height: H, fps: spec.fps, frameCount: spec.frameCount, renderFrame };
}

/**
 * Yields the frames of a planned video in order, each in a fresh buffer (safe to hand to
 * a stream that keeps a reference until it has flushed).
 *
 * @example
 * for (const frame of videoFrames(spec, { start: 0, end: 16 })) clip.push(frame);
 * @param spec - the planned video
 * @param range - frame range and abort signal
 * @returns a generator of RGB24 frames
 */
export function* videoFrames(spec: VideoSpec, range: FrameRange = {}): Generator<Uint8Array, void, undefined> {
  const r = createVideoRenderer(spec);
  const start = Math.max(0, range.start ?? 0);
  const end = Math.min(spec.frameCount, range.end ?? spec.frameCount);
  for (let i = start; i < end; i++) {
    range.signal?.throwIfAborted();
    yield r.renderFrame(i);
  }
}

/**
 * Renders frames of a planned video and hands each to `onFrame`, awaiting it (so a slow
 * consumer paces the renderer). The buffer is reused: copy it if you keep it.
 *
 * @example
 * await renderVideoFrames(spec, (frame, i) => { sums[i] = frame.reduce((a, b) => a + b, 0); });
 * @param spec - the planned video
 * @param onFrame - receives each frame and its index; may return a promise
 * @param range - frame range and abort signal
 * @returns resolves when all frames are delivered; rejects with the signal's reason on abort
 */
export async function renderVideoFrames(
  spec: VideoSpec,
  onFrame: (frame: Uint8Array, index: number) => void | Promise<void>,
  range: FrameRange = {},
): Promise<void> {
  const r = createVideoRenderer(spec);
  const buf = new Uint8Array(spec.width * spec.height * 3);
  const start = Math.max(0, range.start ?? 0);
  const end = Math.min(spec.frameCount, range.end ?? spec.frameCount);
  for (let i = start; i < end; i++) {
    range.signal?.throwIfAborted();
    await onFrame(r.renderFrame(i, buf), i);
  }
}
