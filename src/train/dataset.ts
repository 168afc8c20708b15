/**
 * A labelled video set on disk (what `clipwise synth` writes): `DIR/annotations.json` plus the
 * videos it names. Training and evaluation both read sets through this module.
 *
 * Why a schema here instead of importing the synth types: the trainer must accept any set in
 * this format (a user's own labelled videos too), and reject a broken one before spending
 * minutes decoding: a missing or malformed annotations.json is a `ConfigError` (exit 2) that
 * names the file and the field.
 *
 * @example
 * const set = await loadDataset('.cache/synth-train');
 * set.classes; // ['background', 'fall', ...]
 * set.videos[0].instances; // [{ class: 'wave', classIndex: 4, start: 12.3, end: 16.0 }]
 */
import { access, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

const instanceSchema = z.object({
  class: z.string().min(1),
  classIndex: z.number().int().nonnegative(),
  start: z.number().nonnegative(),
  end: z.number().nonnegative(),
});

const videoSchema = z.object({
  path: z.string().min(1),
  durationSeconds: z.number().positive(),
  instances: z.array(instanceSchema),
});

const annotationsSchema = z.object({
  /** Present in sets written by `clipwise synth`: the set's seed. */
  seed: z.number().int().optional(),
  classes: z.array(z.string().min(1)).min(2),
  videos: z.array(videoSchema).min(1),
});

/** One action instance: class and bounds in seconds of media time. */
export interface Instance {
  readonly class: string;
  readonly classIndex: number;
  readonly start: number;
  readonly end: number;
}

/** One untrimmed video of a set. */
export interface DatasetVideo {
  /** Position in annotations.json (stable id of the video within its set). */
  readonly index: number;
  /** Path as written in annotations.json (relative to the set directory). */
  readonly relPath: string;
  /** Path to open. */
  readonly path: string;
  readonly durationSeconds: number;
  readonly instances: readonly Instance[];
}

/** A loaded set. */
export interface Dataset {
  readonly dir: string;
  /** The synth seed of the set, when it says (sets from `clipwise synth`). */
  readonly seed?: number;
  /** Class names; index 0 is the background class. */
  readonly classes: readonly string[];
  readonly backgroundIndex: number;
  readonly videos: readonly DatasetVideo[];
}

/** The file a set directory must hold. */
export const ANNOTATIONS_FILE = 'annotations.json';

/**
 * Read and check `DIR/annotations.json`, and check that every video it names exists.
 *
 * @param dir the set directory (`--data DIR`).
 * @returns the set, instances sorted by start time per video.
 * @throws ConfigError when the file is missing, is not valid JSON, fails the schema, has a class
 *   index that disagrees with its name or an instance with end ≤ start, or names a missing video.
 */
export async function loadDataset(dir: string): Promise<Dataset> {
  const file = join(dir, ANNOTATIONS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `--data ${dir}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
        `a data set is a directory with annotations.json and its videos, as written by 'clipwise synth --out DIR'`,
      [{ path: '--data', message: `missing ${ANNOTATIONS_FILE}` }],
      { cause: err },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--data ${dir}: ${file} is not valid JSON: ${(err as Error).message}`, [{ path: file, message: 'invalid JSON' }], {
      cause: err,
    });
  }
  const parsed = annotationsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      `--data ${dir}: ${file} is not a clipwise annotation file:\n${z.prettifyError(parsed.error)}`,
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  const { classes, videos, seed } = parsed.data;
  const issues: { path: string; message: string }[] = [];
  const out: DatasetVideo[] = videos.map((v, index) => {
    v.instances.forEach((inst, j) => {
      const where = `videos[${index}].instances[${j}]`;
      if (classes[inst.classIndex] !== inst.class) {
        issues.push({ path: where, message: `classIndex ${inst.classIndex} is '${classes[inst.classIndex] ?? '?'}', not '${inst.class}'` });
      }
      if (inst.classIndex === 0) issues.push({ path: where, message: 'class 0 is the background class, not an action' });
      if (!(inst.end > inst.start)) issues.push({ path: where, message: `end ${inst.end} must be after start ${inst.start}` });
    });
    return {
      index,
      relPath: v.path,
      path: isAbsolute(v.path) ? v.path : join(dir, v.path),
      durationSeconds: v.durationSeconds,
      instances: [...v.instances].sort((a, b) => a.start - b.start),
    };
  });
  if (issues.length > 0) {
    throw new ConfigError(`--data ${dir}: ${file}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const missing: string[] = [];
  for (const v of out) {
    try {
      await access(v.path);
    } catch {
      missing.push(v.relPath);
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(
      `--data ${dir}: ${missing.length} video(s) named in ${ANNOTATIONS_FILE} do not exist: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`,
      missing.map((m) => ({ path: m, message: 'missing video' })),
    );
  }
  return { dir, ...(seed !== undefined ? { seed } : {}), classes, backgroundIndex: 0, videos: out };
}

/**
 * Split a set's videos into training and validation by video (never by clip, so no scene of a
 * validation video is seen in training). Deterministic for a seed; at least one video on each
 * side when there are two or more, and the validation side gets roughly `fraction` of them.
 *
 * @param videos the set's videos.
 * @param fraction share of videos for validation, in [0, 1).
 * @param seed split seed.
 * @returns the two lists, each in the set's order.
 */
export function splitByVideo<V extends { readonly index: number }>(
  videos: readonly V[],
  fraction: number,
  seed: number,
): { train: V[]; val: V[] } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new ConfigError(`--val-fraction must be in [0, 1), got ${fraction}`, [{ path: '--val-fraction', message: 'out of range' }]);
  }
  const nVal = videos.length < 2 || fraction === 0 ? 0 : Math.min(videos.length - 1, Math.max(1, Math.round(videos.length * fraction)));
  // Rank videos by a seeded hash of their index: a stable shuffle that does not depend on order.
  const ranked = [...videos].sort((a, b) => mix(seed, a.index) - mix(seed, b.index) || a.index - b.index);
  const val = new Set(ranked.slice(0, nVal).map((v) => v.index));
  return { train: videos.filter((v) => !val.has(v.index)), val: videos.filter((v) => val.has(v.index)) };
}

function mix(seed: number, i: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  return h >>> 0;
}
