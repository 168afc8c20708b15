/**
 * Options of the synthetic benchmark generator, their defaults, validation, and the
 * `clipwise synth` command-line flags.
 *
 * Why one place: the CLI, tests and the training pipeline all build videos from the same
 * knobs; defaults and their checks must not drift between them.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.ts';
import { SYNTH_ACTIONS } from './spec.ts';
import type { SynthAction } from './spec.ts';

/** A closed interval [lo, hi]. */
export type Range = readonly [number, number];

/** What to generate. Every field but `out` has a default (see {@link SYNTH_DEFAULTS}). */
export interface SynthOptions {
  /** Output directory (videos/NNNN.mp4 and annotations.json go there). */
  readonly out: string;
  /** Number of videos. */
  readonly videos?: number;
  /** Seed of the whole set; video i uses hashSeed(seed, i). */
  readonly seed?: number;
  /** Video duration bounds, seconds. */
  readonly minSeconds?: number;
  readonly maxSeconds?: number;
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  /** Sensor noise standard deviation, 8-bit levels. */
  readonly noise?: number;
  /** Distractor density: 1 = default traffic of passers-by and vehicles, 0 = none. */
  readonly distractors?: number;
  /** Apparent height of a person mid-scene, as a fraction of the frame height (per video). */
  readonly figureScale?: Range;
  /** Tempo multiplier of every person's movements (per person). */
  readonly speed?: Range;
  /** Probability that a video has camera-shake episodes. */
  readonly shake?: number;
  /** Action classes to generate (background is always class 0). */
  readonly classes?: readonly SynthAction[];
  /** Fraction of videos with no action instance at all (false-alarm material). */
  readonly emptyFraction?: number;
  /** Instances per non-empty video. */
  readonly minInstances?: number;
  readonly maxInstances?: number;
  /** Duration bounds of one instance, seconds. */
  readonly instanceSeconds?: Range;
  /** Duration bounds of the irrelevant stretches around instances, seconds. */
  readonly gapSeconds?: Range;
  /** Tiny, fast videos for tests and smoke runs (explicit options still win). */
  readonly quick?: boolean;
  /** ffmpeg executable. */
  readonly ffmpegPath?: string;
  /** x264 constant rate factor and preset. */
  readonly crf?: number;
  readonly preset?: string;
}

/** Options with every default filled in. */
export type ResolvedSynthOptions = Required<Omit<SynthOptions, 'quick'>> & { readonly quick: boolean };

/** Defaults of every option but `out`. */
export const SYNTH_DEFAULTS: Omit<ResolvedSynthOptions, 'out'> = {
  videos: 10,
  seed: 1,
  minSeconds: 60,
  maxSeconds: 120,
  width: 320,
  height: 240,
  fps: 10,
  noise: 3,
  distractors: 1,
  figureScale: [0.25, 0.45],
  speed: [0.8, 1.25],
  shake: 0.3,
  classes: SYNTH_ACTIONS,
  emptyFraction: 0.1,
  minInstances: 1,
  maxInstances: 4,
  instanceSeconds: [2, 8],
  gapSeconds: [10, 40],
  quick: false,
  ffmpegPath: 'ffmpeg',
  crf: 23,
  preset: 'veryfast',
};

/** What `quick` changes: seconds-long, small videos with short gaps. */
export const SYNTH_QUICK: Partial<ResolvedSynthOptions> = {
  minSeconds: 10,
  maxSeconds: 14,
  width: 160,
  height: 120,
  maxInstances: 2,
  instanceSeconds: [2, 3],
  gapSeconds: [1.5, 4],
};

/**
 * Fills defaults (quick ones first when `quick` is set) and validates.
 *
 * @example
 * const o = resolveSynthOptions({ out: '/tmp/bench', quick: true, videos: 2 });
 * @param o - partial options
 * @returns complete options
 * @throws ConfigError listing every invalid field
 */
export function resolveSynthOptions(o: Partial<SynthOptions>): ResolvedSynthOptions {
  const defined = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<SynthOptions>;
  const r: ResolvedSynthOptions = {
    ...SYNTH_DEFAULTS,
    ...(defined.quick === true ? SYNTH_QUICK : {}),
    out: '',
    ...defined,
    quick: defined.quick === true,
  };
  const issues: { path: string; message: string }[] = [];
  const check = (ok: boolean, path: string, message: string): void => {
    if (!ok) issues.push({ path, message });
  };
  const int = (v: number, path: string, lo: number, hi: number): void =>
    check(Number.isInteger(v) && v >= lo && v <= hi, path, `must be an integer in [${lo}, ${hi}], got ${v}`);
  const num = (v: number, path: string, lo: number, hi: number): void =>
    check(Number.isFinite(v) && v >= lo && v <= hi, path, `must be a number in [${lo}, ${hi}], got ${v}`);
  const range = (v: Range, path: string, lo: number, hi: number): void =>
    check(
      Array.isArray(v) && v.length === 2 && v.every((x) => Number.isFinite(x) && x >= lo && x <= hi) && v[0] <= v[1],
      path,
      `must be lo,hi with ${lo} ≤ lo ≤ hi ≤ ${hi}, got ${String(v)}`,
    );
  int(r.videos, 'videos', 1, 1_000_000);
  int(r.seed, 'seed', 0, 0xffffffff);
  num(r.minSeconds, 'minSeconds', 1, 3600);
  num(r.maxSeconds, 'maxSeconds', 1, 3600);
  check(r.minSeconds <= r.maxSeconds, 'maxSeconds', 'must be ≥ minSeconds');
  // Even sizes: yuv420p halves chroma in both directions.
  check(Number.isInteger(r.width) && r.width >= 32 && r.width <= 4096 && r.width % 2 === 0, 'width', `must be an even integer in [32, 4096], got ${r.width}`);
  check(Number.isInteger(r.height) && r.height >= 32 && r.height <= 4096 && r.height % 2 === 0, 'height', `must be an even integer in [32, 4096], got ${r.height}`);
  num(r.fps, 'fps', 1, 120);
  num(r.noise, 'noise', 0, 64);
  num(r.distractors, 'distractors', 0, 20);
  range(r.figureScale, 'figureScale', 0.05, 0.9);
  range(r.speed, 'speed', 0.2, 5);
  num(r.shake, 'shake', 0, 1);
  num(r.emptyFraction, 'emptyFraction', 0, 1);
  int(r.minInstances, 'minInstances', 0, 100);
  int(r.maxInstances, 'maxInstances', 0, 100);
  check(r.minInstances <= r.maxInstances, 'maxInstances', 'must be ≥ minInstances');
  range(r.instanceSeconds, 'instanceSeconds', 0.5, 600);
  range(r.gapSeconds, 'gapSeconds', 0, 3600);
  int(r.crf, 'crf', 0, 51);
  check(r.classes.length > 0, 'classes', 'must name at least one action class');
  for (const c of r.classes) {
    check(SYNTH_ACTIONS.includes(c), 'classes', `unknown class '${String(c)}' (known: ${SYNTH_ACTIONS.join(', ')})`);
  }
  check(typeof r.out === 'string', 'out', 'must be a directory path');
  if (issues.length > 0) {
    throw new ConfigError(`invalid synth options: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues);
  }
  return r;
}

/** Usage text of `clipwise synth`. */
export const SYNTH_USAGE = `clipwise synth --out DIR [options]

Renders untrimmed surveillance-like videos with annotated actions (${SYNTH_ACTIONS.join(', ')}).
Writes DIR/videos/NNNN.mp4 and DIR/annotations.json.

  --out DIR              output directory (required)
  --videos N             number of videos (${SYNTH_DEFAULTS.videos})
  --seed S               seed of the set (${SYNTH_DEFAULTS.seed})
  --min-seconds S        shortest video (${SYNTH_DEFAULTS.minSeconds})
  --max-seconds S        longest video (${SYNTH_DEFAULTS.maxSeconds})
  --width W --height H   frame size (${SYNTH_DEFAULTS.width}x${SYNTH_DEFAULTS.height})
  --fps F                frame rate (${SYNTH_DEFAULTS.fps})
  --noise STD            sensor noise std, 8-bit levels (${SYNTH_DEFAULTS.noise})
  --distractors D        passers-by/vehicle density, 0 = none (${SYNTH_DEFAULTS.distractors})
  --figure-scale LO,HI   person height / frame height mid-scene (${SYNTH_DEFAULTS.figureScale.join(',')})
  --speed LO,HI          movement tempo multiplier (${SYNTH_DEFAULTS.speed.join(',')})
  --shake P              probability of camera shake per video (${SYNTH_DEFAULTS.shake})
  --classes A,B,...      subset of action classes (all)
  --empty-fraction F     fraction of videos without any action (${SYNTH_DEFAULTS.emptyFraction})
  --instances LO,HI      instances per non-empty video (${SYNTH_DEFAULTS.minInstances},${SYNTH_DEFAULTS.maxInstances})
  --instance-seconds LO,HI  instance duration (${SYNTH_DEFAULTS.instanceSeconds.join(',')})
  --gap-seconds LO,HI    irrelevant stretch between instances (${SYNTH_DEFAULTS.gapSeconds.join(',')})
  --quick                tiny 10-14 s videos at 160x120 (tests, smoke runs)
  --ffmpeg PATH          ffmpeg executable (ffmpeg)
  --crf N --preset NAME  x264 settings (${SYNTH_DEFAULTS.crf}, ${SYNTH_DEFAULTS.preset})
`;

function parseNumber(flag: string, v: string, issues: { path: string; message: string }[]): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) issues.push({ path: flag, message: `expects a number, got '${v}'` });
  return n;
}

function parseRange(flag: string, v: string, issues: { path: string; message: string }[]): Range {
  const parts = v.split(/[,:]/);
  if (parts.length === 1) {
    const x = parseNumber(flag, parts[0] ?? '', issues);
    return [x, x];
  }
  if (parts.length !== 2) issues.push({ path: flag, message: `expects LO,HI, got '${v}'` });
  return [parseNumber(flag, parts[0] ?? '', issues), parseNumber(flag, parts[1] ?? '', issues)];
}

/**
 * Parses the flags of `clipwise synth` (the arguments after the sub-command).
 *
 * @example
 * const o = parseSynthArgs(['--out', 'bench', '--videos', '20', '--seed', '7', '--classes', 'fall,run']);
 * @param argv - command-line arguments
 * @returns validated options (defaults filled in)
 * @throws ConfigError on unknown flags, malformed values or values out of range
 */
export function parseSynthArgs(argv: readonly string[]): ResolvedSynthOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        out: { type: 'string' },
        videos: { type: 'string' },
        seed: { type: 'string' },
        'min-seconds': { type: 'string' },
        'max-seconds': { type: 'string' },
        width: { type: 'string' },
        height: { type: 'string' },
        fps: { type: 'string' },
        noise: { type: 'string' },
        distractors: { type: 'string' },
        'figure-scale': { type: 'string' },
        speed: { type: 'string' },
        shake: { type: 'string' },
        classes: { type: 'string' },
        'empty-fraction': { type: 'string' },
        instances: { type: 'string' },
        'instance-seconds': { type: 'string' },
        'gap-seconds': { type: 'string' },
        quick: { type: 'boolean' },
        ffmpeg: { type: 'string' },
        crf: { type: 'string' },
        preset: { type: 'string' },
      },
    });
    values = parsed.values;
  } catch (err) {
    throw new ConfigError(`synth: ${(err as Error).message}\n\n${SYNTH_USAGE}`, [{ path: 'argv', message: (err as Error).message }], { cause: err });
  }
  const issues: { path: string; message: string }[] = [];
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const n = (k: string): number | undefined => {
    const v = str(k);
    return v === undefined ? undefined : parseNumber(`--${k}`, v, issues);
  };
  const rg = (k: string): Range | undefined => {
    const v = str(k);
    return v === undefined ? undefined : parseRange(`--${k}`, v, issues);
  };
  const out = str('out');
  if (out === undefined || out === '') issues.push({ path: '--out', message: 'is required' });
  const instances = rg('instances');
  const classes = str('classes')
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  const parsed: Partial<SynthOptions> = {
    out: out ?? '',
    videos: n('videos'),
    seed: n('seed'),
    minSeconds: n('min-seconds'),
    maxSeconds: n('max-seconds'),
    width: n('width'),
    height: n('height'),
    fps: n('fps'),
    noise: n('noise'),
    distractors: n('distractors'),
    figureScale: rg('figure-scale'),
    speed: rg('speed'),
    shake: n('shake'),
    // Validated against the class list by resolveSynthOptions.
    classes: classes as SynthAction[] | undefined,
    emptyFraction: n('empty-fraction'),
    minInstances: instances?.[0],
    maxInstances: instances?.[1],
    instanceSeconds: rg('instance-seconds'),
    gapSeconds: rg('gap-seconds'),
    quick: values['quick'] === true,
    ffmpegPath: str('ffmpeg'),
    crf: n('crf'),
    preset: str('preset'),
  };
  if (issues.length > 0) {
    throw new ConfigError(`synth: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}\n\n${SYNTH_USAGE}`, issues);
  }
  return resolveSynthOptions(parsed);
}
