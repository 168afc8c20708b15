/**
 * `clipwise synth`: plans, renders and encodes a set of untrimmed synthetic surveillance
 * videos and writes their ground truth to DIR/annotations.json.
 *
 * Why it exists: gcf-net's point is that averaging over clips fails on long untrimmed
 * videos where a short action sits among long irrelevant stretches; this builds exactly
 * that setting, with exact temporal bounds, deterministically from a seed, with the
 * nuisances (noise, distractors, figure size, tempo, shake) as knobs.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SynthError } from '../errors.ts';
import { encodeVideo } from './encode.ts';
import { resolveSynthOptions } from './options.ts';
import type { Range, SynthOptions } from './options.ts';
import { planVideo } from './plan.ts';
import { hashSeed } from './prng.ts';
import { videoFrames } from './render.ts';
import { SYNTH_CLASSES } from './spec.ts';
import type { SynthAction, SynthInstance } from './spec.ts';

/** One video's entry in annotations.json. */
export interface SynthVideoAnnotation {
  /** Path relative to the output directory. */
  readonly path: string;
  /** The video's own seed: planVideo(seed, options) re-creates its plan. */
  readonly seed: number;
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  readonly frameCount: number;
  readonly durationSeconds: number;
  readonly instances: readonly SynthInstance[];
}

/** The content of DIR/annotations.json. */
export interface SynthAnnotations {
  readonly version: 1;
  readonly seed: number;
  /** All classes in their fixed order; classIndex refers to this list. */
  readonly classes: readonly string[];
  /** The action classes this set was generated with (a subset of `classes`). */
  readonly generatedClasses: readonly SynthAction[];
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** The nuisance settings, for the record. */
  readonly settings: {
    readonly minSeconds: number;
    readonly maxSeconds: number;
    readonly noise: number;
    readonly distractors: number;
    readonly figureScale: Range;
    readonly speed: Range;
    readonly shake: number;
    readonly emptyFraction: number;
    readonly instanceSeconds: Range;
    readonly gapSeconds: Range;
  };
  readonly videos: readonly SynthVideoAnnotation[];
}

/** What a run produced and how fast. */
export interface SynthResult {
  readonly outDir: string;
  readonly annotationsPath: string;
  readonly annotations: SynthAnnotations;
  readonly videos: number;
  readonly instances: number;
  /** Total duration of the generated videos, seconds. */
  readonly videoSeconds: number;
  /** Wall-clock time of the run, seconds. */
  readonly elapsedSeconds: number;
  /** Wall-clock seconds spent per minute of generated video (render + encode). */
  readonly secondsPerVideoMinute: number;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
    await rename(tmp, path);
  } catch (err) {
    throw new SynthError(`could not write ${path}`, 'io', { videoPath: path }, { cause: err });
  }
}

function fmt(seconds: number): string {
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - 60 * m)} s`;
}

/**
 * Generates the benchmark: DIR/videos/NNNN.mp4 and DIR/annotations.json (rewritten after
 * every video, so an interrupted run leaves a consistent prefix).
 *
 * @example
 * const r = await runSynth({ out: 'bench', videos: 20, seed: 7 }, console.log);
 * console.log(r.secondsPerVideoMinute);
 * @param options - what to generate (see {@link SynthOptions}; `parseSynthArgs` builds it from flags)
 * @param log - progress lines (video i/N, seconds rendered, speed, ETA); stderr by default
 * @param signal - aborts between and during videos
 * @returns paths, annotations and timing
 * @throws ConfigError for invalid options; SynthError when ffmpeg is missing or fails, or
 *   the output cannot be written
 */
export async function runSynth(
  options: SynthOptions,
  log: (msg: string) => void = (msg) => process.stderr.write(`${msg}\n`),
  signal?: AbortSignal,
): Promise<SynthResult> {
  const o = resolveSynthOptions(options);
  if (o.out === '') throw new SynthError('synth needs an output directory (--out DIR)', 'io');
  const videosDir = join(o.out, 'videos');
  try {
    await mkdir(videosDir, { recursive: true });
  } catch (err) {
    throw new SynthError(`could not create ${videosDir}`, 'io', { videoPath: videosDir }, { cause: err });
  }
  const annotationsPath = join(o.out, 'annotations.json');
  const digits = Math.max(4, String(o.videos - 1).length);
  const entries: SynthVideoAnnotation[] = [];
  const annotations = (): SynthAnnotations => ({
    version: 1,
    seed: o.seed,
    classes: SYNTH_CLASSES,
    generatedClasses: o.classes,
    fps: o.fps,
    width: o.width,
    height: o.height,
    settings: {
      minSeconds: o.minSeconds,
      maxSeconds: o.maxSeconds,
      noise: o.noise,
      distractors: o.distractors,
      figureScale: o.figureScale,
      speed: o.speed,
      shake: o.shake,
      emptyFraction: o.emptyFraction,
      instanceSeconds: o.instanceSeconds,
      gapSeconds: o.gapSeconds,
    },
    videos: [...entries],
  });
  const started = performance.now();
  let videoSeconds = 0;
  let instances = 0;
  for (let i = 0; i < o.videos; i++) {
    signal?.throwIfAborted();
    const seed = hashSeed(o.seed, i);
    const spec = planVideo(seed, o);
    const rel = `videos/${String(i).padStart(digits, '0')}.mp4`;
    const t0 = performance.now();
    await encodeVideo(videoFrames(spec, { signal }), {
      path: join(o.out, rel),
      width: spec.width,
      height: spec.height,
      fps: spec.fps,
      ffmpegPath: o.ffmpegPath,
      crf: o.crf,
      preset: o.preset,
      signal,
    });
    const took = (performance.now() - t0) / 1000;
    entries.push({
      path: rel,
      seed,
      fps: spec.fps,
      width: spec.width,
      height: spec.height,
      frameCount: spec.frameCount,
      durationSeconds: spec.durationSeconds,
      instances: spec.instances,
    });
    await writeJsonAtomic(annotationsPath, annotations());
    videoSeconds += spec.durationSeconds;
    instances += spec.instances.length;
    const elapsed = (performance.now() - started) / 1000;
    const perVideoSecond = elapsed / videoSeconds;
    const remaining = ((o.minSeconds + o.maxSeconds) / 2) * (o.videos - i - 1) * perVideoSecond;
    log(
      `synth: video ${i + 1}/${o.videos} ${rel}: ${spec.durationSeconds.toFixed(1)} s, ` +
        `${spec.instances.length} instance(s) [${spec.instances.map((x) => x.class).join(', ')}], ` +
        `rendered+encoded in ${took.toFixed(1)} s (${((took * 60) / spec.durationSeconds).toFixed(1)} s per video-minute); ` +
        `total ${fmt(videoSeconds)} of video in ${fmt(elapsed)}, ETA ${fmt(remaining)}`,
    );
  }
  const elapsedSeconds = (performance.now() - started) / 1000;
  const secondsPerVideoMinute = videoSeconds > 0 ? (elapsedSeconds * 60) / videoSeconds : 0;
  log(
    `synth: ${o.videos} video(s), ${instances} instance(s), ${fmt(videoSeconds)} of video in ${fmt(elapsedSeconds)} ` +
      `(${secondsPerVideoMinute.toFixed(2)} s per video-minute) → ${annotationsPath}`,
  );
  return {
    outDir: o.out,
    annotationsPath,
    annotations: annotations(),
    videos: o.videos,
    instances,
    videoSeconds,
    elapsedSeconds,
    secondsPerVideoMinute,
  };
}
