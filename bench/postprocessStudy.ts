/**
 * Benchmark (study): which detection post-processing pays, on validation.
 *
 * Why: a candidate model's events split one action into two adjacent events of its class, and
 * several classes fire on the same action. Before building anything streaming, this measures
 * what each remedy would buy: the tracker's hold (holdWindows 1–4), one class per window (only
 * the most probable non-background class may be detected), and cross-class suppression of
 * events (an event is dropped when it overlaps, by tIoU ≥ 0.3 or by lying inside it, a kept
 * event of another class with a higher confidence: greedy, highest confidence first, as NMS),
 * and every combination of them. Each variant is calibrated exactly as `clipwise train` does
 * (θ_class × θ_att over the default grids, calibrate.ts' selection rule) on the model's stored
 * validation descriptors, replayed through the real streaming operators. Never the test set.
 *
 * How the variants are replayed: holdWindows is a setting of the replay; "top-1" wraps the
 * head's output (every non-background probability but the largest set to 0, so detectActions
 * can only detect that one class, with its own probability as confidence), which is what a
 * top-1 option of detectActions would do; suppression is a post-hoc filter over the replay's
 * events (its potential, before a streaming tracker has to decide when it may emit).
 *
 * The split is the trainer's (splitByVideo with DEFAULT_TRAIN_OPTIONS' valFraction and seed,
 * checked against the model's checkpoint state when present); video i of it has its
 * descriptors in `<model>/checkpoints/features/val-<i>.bin` (float32 [count, d]). As in
 * bench/oracleDetection.ts no video is decoded.
 *
 * Run: `npx tsx bench/postprocessStudy.ts [--model .cache/model-v3] [--data .cache/synth-train]`.
 * Prints a markdown table (one row per variant), the DETAD outcomes of each variant's best point,
 * then one JSON line (`{"bench":"postprocessStudy",…}`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { detectionErrors, tIoU, unionSeconds, type DetectedEvent, type GroundTruth } from '../src/eval/detectionMetrics.ts';
import { loadManifest, type HeadResult } from '../src/model/clipModel.ts';
import { loadLayersModel } from '../src/model/io.ts';
import { initRuntime } from '../src/model/runtime.ts';
import {
  ATTENTION_THRESHOLDS,
  bestPoint,
  CLASS_THRESHOLDS,
  memoHead,
  replayEvents,
  scoreEvents,
  type CalibrationPoint,
  type ReplayVideo,
} from '../src/train/calibrate.ts';
import { loadDataset, splitByVideo, type DatasetVideo } from '../src/train/dataset.ts';
import { clipCount } from '../src/train/labels.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../src/train/trainModel.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: '.cache/model-v3' },
    data: { type: 'string', default: '.cache/synth-train' },
    holds: { type: 'string', default: '1,2,3,4' },
  },
});
const started = performance.now();
const o = DEFAULT_TRAIN_OPTIONS;
const holds = values.holds.split(',').map(Number);

const runtime = await initRuntime({ backend: 'wasm' });
const manifest = await loadManifest(values.model);
const headKind = 'gcf' as const;
const head = await loadLayersModel(join(values.model, 'heads', headKind));
const C = manifest.window.clips;
const bg = manifest.backgroundIndex ?? -1;
const dim = (manifest.backbone['dim'] as number | undefined) ?? 256;

const dataset = await loadDataset(values.data);
const split = splitByVideo(dataset.videos, o.valFraction, o.seed);
const state = await readFile(join(values.model, 'checkpoints', 'state.json'), 'utf8').then(
  (t) => JSON.parse(t) as { split?: { val?: number[] } },
  () => undefined,
);
const stateVal = state?.split?.val;
if (stateVal && JSON.stringify(stateVal) !== JSON.stringify(split.val.map((v) => v.index))) {
  throw new Error(`the validation split differs from the one ${values.model} was trained with: ${JSON.stringify(stateVal)}`);
}
const timing = { fps: manifest.clip.fps, frames: manifest.clip.frames, stride: manifest.clip.stride };
// As trainModel builds them before calibrateThresholds.
const videos: ReplayVideo[] = await Promise.all(
  split.val.map(async (v: DatasetVideo, i): Promise<ReplayVideo> => {
    const b = await readFile(join(values.model, 'checkpoints', 'features', `val-${i}.bin`));
    const features = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const count = features.length / dim;
    const expected = clipCount(Math.round(v.durationSeconds * timing.fps), timing);
    if (count !== expected) throw new Error(`val-${i}.bin holds ${count} clips, video ${v.index} has ${expected}`);
    return { id: `val-${i}`, features, count, dim, durationSeconds: v.durationSeconds, instances: v.instances };
  }),
);
const hours = videos.reduce((s, v) => s + v.durationSeconds, 0) / 3600;
// False alarms per hour count the hours without any action (detectionMetrics' falseAlarms).
const quietHours = videos.reduce((s, v) => s + v.durationSeconds - unionSeconds(v.instances, v.durationSeconds), 0) / 3600;

// One memo for every replay: the head runs once per window content.
const memo = memoHead(head, C, dim);
/** Only the most probable non-background class keeps its probability. */
const top1Head = async (windows: readonly Float32Array[]): Promise<HeadResult[]> =>
  (await memo(windows)).map((r) => {
    let arg = -1;
    r.probs.forEach((p, k) => {
      if (k !== bg && (arg < 0 || p > (r.probs[arg] as number))) arg = k;
    });
    return { probs: r.probs.map((p, k) => (k === bg || k === arg ? p : 0)), weights: r.weights };
  });

// 'suppress': see suppress(). Also dropping an event that contains a kept one of another class
// gave the same numbers on .cache/model-v3, so it is not a row.
const SUPPRESSION = ['none', 'suppress'] as const;
type Suppression = (typeof SUPPRESSION)[number];
/**
 * Cross-class suppression, greedy by confidence: an event is dropped when a kept event of
 * another class in its video has tIoU ≥ 0.3 with it or contains it.
 */
function suppress(events: readonly DetectedEvent[], mode: Suppression): DetectedEvent[] {
  if (mode === 'none') return [...events];
  const within = (a: DetectedEvent, b: DetectedEvent): boolean => a.start >= b.start && a.end <= b.end;
  const kept: DetectedEvent[] = [];
  const ranked = [...events].sort((a, b) => b.confidence - a.confidence || a.start - b.start);
  for (const e of ranked) {
    const hit = kept.some(
      (k) => k.video === e.video && k.classIndex !== e.classIndex && (tIoU(e, k) >= 0.3 || within(e, k)),
    );
    if (!hit) kept.push(e);
  }
  return kept;
}

/** One variant's measurements. */
interface Row {
  readonly variant: string;
  readonly holdWindows: number;
  readonly top1: boolean;
  readonly suppression: Suppression;
  readonly best: CalibrationPoint;
  /** Best mAP@0.5 among grid points with ≤ 2 false alarms per hour (the selection rule among them). */
  readonly bestLowFA?: CalibrationPoint;
  /** The grid's highest mAP@0.5 (the rule may pick a point up to 0.005 below it, with fewer false alarms). */
  readonly top: CalibrationPoint;
  /** Fewest false alarms per hour among points whose mAP@0.5 is at least the baseline's best (set after the loop). */
  atBaseline?: CalibrationPoint;
  readonly grid: readonly CalibrationPoint[];
  readonly diagnosis: Diagnosis;
}

/** What the best point's events do wrong (as bench/oracleDetection.ts). */
interface Diagnosis {
  readonly errors: ReturnType<typeof detectionErrors>;
  /** Instances overlapped (tIoU ≥ 0.1) by two or more events of their class. */
  readonly splitInstances: number;
  /** Same-class event pairs of a video where one starts within 0.5 s of the other's end. */
  readonly adjacentPairs: number;
  /** Instances overlapped (tIoU ≥ 0.1) by events of two or more classes. */
  readonly multiClassInstances: number;
  /** Of those, instances that an event of their class overlaps. */
  readonly multiClassWithRight: number;
  /** Of those, instances whose most confident overlapping event is of their class (what suppression needs). */
  readonly multiClassRightOnTop: number;
}

function diagnose(events: readonly DetectedEvent[], truth: readonly GroundTruth[]): Diagnosis {
  const touches = (e: DetectedEvent, g: GroundTruth): boolean => e.video === g.video && tIoU(e, g) >= 0.1;
  let adjacentPairs = 0;
  for (const a of events) {
    for (const b of events) {
      if (a !== b && a.video === b.video && a.classIndex === b.classIndex && b.start >= a.end - 1e-6 && b.start - a.end <= 0.5) adjacentPairs++;
    }
  }
  const multi = truth.filter((g) => new Set(events.filter((e) => touches(e, g)).map((e) => e.classIndex)).size >= 2);
  const rightOnTop = multi.filter((g) => {
    const top = events.filter((e) => touches(e, g)).reduce((t, e) => (e.confidence > t.confidence ? e : t));
    return top.classIndex === g.classIndex;
  });
  return {
    errors: detectionErrors(events, truth, 0.5),
    multiClassWithRight: multi.filter((g) => events.some((e) => e.classIndex === g.classIndex && touches(e, g))).length,
    multiClassRightOnTop: rightOnTop.length,
    splitInstances: truth.filter((g) => events.filter((e) => e.classIndex === g.classIndex && touches(e, g)).length >= 2).length,
    adjacentPairs,
    multiClassInstances: multi.length,
  };
}

const rows: Row[] = [];
let replays = 0;
let dropped = 0;
const cal = { manifest, headKind, head, videos };
for (const holdWindows of holds) {
  for (const top1 of [false, true]) {
    // Every suppression mode filters the same replays.
    const grids = new Map<Suppression, { point: CalibrationPoint; events: DetectedEvent[]; truth: GroundTruth[] }[]>(SUPPRESSION.map((m) => [m, []]));
    for (const c of CLASS_THRESHOLDS) {
      for (const a of ATTENTION_THRESHOLDS) {
        const r = await replayEvents({ ...cal, holdWindows, runHead: top1 ? top1Head : memo }, c, a);
        replays++;
        dropped += r.dropped.windows + r.dropped.clips;
        for (const mode of SUPPRESSION) {
          const events = suppress(r.events, mode);
          const point = scoreEvents(events, r.truth, videos, { classThreshold: c, attentionThreshold: a });
          grids.get(mode)?.push({ point, events, truth: r.truth });
        }
      }
    }
    for (const mode of SUPPRESSION) {
      const grid = grids.get(mode) ?? [];
      const best = bestPoint(grid.map((g) => g.point));
      const lowFA = grid.map((g) => g.point).filter((p) => p.falseAlarmsPerHour <= 2 && !Number.isNaN(p.mAP50));
      const at = grid.find((g) => g.point === best);
      const parts = [`hold ${holdWindows}`, ...(top1 ? ['top-1'] : []), ...(mode !== 'none' ? ['suppress'] : [])];
      rows.push({
        variant: parts.join(' + '),
        holdWindows,
        top1,
        suppression: mode,
        best,
        ...(lowFA.length > 0 ? { bestLowFA: bestPoint(lowFA) } : {}),
        top: grid.map((g) => g.point).reduce((t, p) => (p.mAP50 > t.mAP50 ? p : t)),
        grid: grid.map((g) => g.point),
        diagnosis: diagnose(at?.events ?? [], at?.truth ?? []),
      });
    }
    console.error(`postprocessStudy: hold ${holdWindows}${top1 ? ' top-1' : ''} done (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
}
head.dispose();

const baseline = rows.find((r) => r.holdWindows === 2 && !r.top1 && r.suppression === 'none') as Row;
for (const r of rows) {
  const enough = r.grid.filter((p) => p.mAP50 >= baseline.best.mAP50);
  if (enough.length > 0) r.atBaseline = enough.reduce((t, p) => (p.falseAlarmsPerHour < t.falseAlarmsPerHour ? p : t));
}
const fmt = (x: number | undefined, digits = 3): string => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
const signed = (x: number): string => (x >= 0 ? '+' : '') + x.toFixed(3);
console.log(
  `\nPost-processing variants of ${values.model} (gcf head), calibrated on the validation videos of ${values.data} ` +
    `(${videos.length} videos, ${(hours * 60).toFixed(1)} min, ${videos.reduce((s, v) => s + v.instances.length, 0)} instances); grid θ_class ${CLASS_THRESHOLDS.join('/')} × θ_att ${ATTENTION_THRESHOLDS.join('/')}\n`,
);
console.log(
  '| variant | θ_class/θ_att | mAP@0.3 | mAP@0.5 | Δ mAP@0.5 | mAP@0.7 | FA/h | events | best mAP@0.5 with FA/h ≤ 2 (θ, FA/h) | top mAP@0.5 (θ, FA/h) | fewest FA/h at mAP@0.5 ≥ baseline (θ, mAP@0.5) |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const b = r.best;
  const l = r.bestLowFA;
  console.log(
    `| ${r.variant} | ${b.classThreshold}/${b.attentionThreshold} | ${fmt(b.mAP30)} | ${fmt(b.mAP50)} | ${signed(b.mAP50 - baseline.best.mAP50)} | ${fmt(b.mAP70)} | ` +
      `${fmt(b.falseAlarmsPerHour, 2)} | ${b.events} | ${l ? `${fmt(l.mAP50)} (${l.classThreshold}/${l.attentionThreshold}, ${fmt(l.falseAlarmsPerHour, 2)})` : '–'} | ` +
      `${fmt(r.top.mAP50)} (${r.top.classThreshold}/${r.top.attentionThreshold}, ${fmt(r.top.falseAlarmsPerHour, 2)}) | ` +
      `${r.atBaseline ? `${fmt(r.atBaseline.falseAlarmsPerHour, 2)} (${r.atBaseline.classThreshold}/${r.atBaseline.attentionThreshold}, ${fmt(r.atBaseline.mAP50)})` : '–'} |`,
  );
}
// The trade-off, not only the rule's pick: one false alarm on this validation set is 1/hours per hour.
const BUDGETS = [2, 4, 6, 8, 12, Infinity] as const;
const underBudget = (grid: readonly CalibrationPoint[], fa: number): number =>
  Math.max(-1, ...grid.filter((p) => p.falseAlarmsPerHour <= fa && !Number.isNaN(p.mAP50)).map((p) => p.mAP50));
console.log(`\nBest mAP@0.5 of each variant's grid within a false-alarm budget (one false alarm = ${(1 / quietHours).toFixed(2)}/h here):\n`);
console.log(`| variant | ${BUDGETS.map((b) => `FA/h ≤ ${b === Infinity ? '∞' : b}`).join(' | ')} | mAP@0.5 at the baseline's θ (${baseline.best.classThreshold}/${baseline.best.attentionThreshold}), FA/h |`);
console.log(`|---|${BUDGETS.map(() => '---|').join('')}---|`);
for (const r of rows) {
  const same = r.grid.find((p) => p.classThreshold === baseline.best.classThreshold && p.attentionThreshold === baseline.best.attentionThreshold);
  console.log(
    `| ${r.variant} | ${BUDGETS.map((b) => {
      const m = underBudget(r.grid, b);
      return m < 0 ? '–' : fmt(m);
    }).join(' | ')} | ${same ? `${fmt(same.mAP50)}, ${fmt(same.falseAlarmsPerHour, 2)}` : '–'} |`,
  );
}
console.log(
  '\nEvents of each best point (DETAD outcomes at tIoU 0.5; split: instances overlapped ≥ 0.1 by 2+ events of their class; adjacent: same-class event pairs ≤ 0.5 s apart; multi-class: instances overlapped ≥ 0.1 by events of 2+ classes / of those, overlapped by an event of their class / of those, with it the most confident one):\n',
);
console.log('| variant | TP | duplicate | localization | wrong label | confusion | background | missed | split | adjacent | multi-class / with own class / own class on top |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const d = r.diagnosis;
  const c = d.errors.counts;
  console.log(
    `| ${r.variant} | ${c.truePositive} | ${c.duplicate} | ${c.localization} | ${c.wrongLabel} | ${c.confusion} | ${c.background} | ${d.errors.missed}/${d.errors.instances} | ` +
      `${d.splitInstances} | ${d.adjacentPairs} | ${d.multiClassInstances} / ${d.multiClassWithRight} / ${d.multiClassRightOnTop} |`,
  );
}
console.log(
  JSON.stringify({
    bench: 'postprocessStudy',
    backend: runtime.backend,
    model: values.model,
    data: values.data,
    videos: videos.length,
    hours,
    quietHours,
    replays,
    droppedWindowsAndClips: dropped,
    rows: rows.map(({ diagnosis, grid: _grid, ...r }) => ({ ...r, diagnosis: { ...diagnosis, errors: { counts: diagnosis.errors.counts, missed: diagnosis.errors.missed } } })),
    totalSeconds: Math.round((performance.now() - started) / 1000),
  }),
);
