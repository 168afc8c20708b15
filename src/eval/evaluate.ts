/**
 * `clipwise eval`: score a model on a labelled video set.
 *
 * (a) Window classification, GCF-Net Table 2: every test video is cut into the clips the
 *     stream cuts, the backbone's descriptors are windowed (C consecutive clips, hop 1), and
 *     every head gives its top-1 over the action classes (background excluded from the argmax)
 *     on the windows that hold an action.
 * (b) Temporal detection through the real topology: each video is decoded by the file source
 *     and run through `analyse` (src/topology/pipeline.ts) with the model's default head and
 *     recommended thresholds; the events are scored with mAP at tIoU 0.3/0.5/0.7, false alarms
 *     per hour of action-free video, and the delay from an action's end to its event's
 *     emission in media time.
 * Both use one pass of the backbone: the descriptors (a) needs are the ones the stream computed.
 *
 * @example
 * const r = await evaluateModel({ data: '.cache/synth-test', model: 'models/default' });
 * r.windows.top1.gcf; r.detection.mAP['0.5'];
 */
import { join } from 'node:path';
import { createEmbedder, createWindowHead, loadClipwiseModel, type ModelManifest } from '../model/clipModel.ts';
import { HEAD_KINDS, type HeadKind } from '../model/heads.ts';
import { initRuntime, type BackendRequest } from '../model/runtime.ts';
import { createPullControl } from '../topology/pullControl.ts';
import { createFfmpegSource } from '../topology/sources/ffmpegSource.ts';
import { loadDataset, type DatasetVideo } from '../train/dataset.ts';
import { fileSourceOptions } from '../train/decode.ts';
import { clipLabels } from '../train/labels.ts';
import { actionConfusion, actionTop1, attentionStats, gatherWindows, indexWindows, predictHead, windowRelevance, type AttentionStats, type FeatureVideo } from '../train/windows.ts';
import { evaluationSettings, inferWith, runAnalysis, type AnalysisRun } from './analysisRun.ts';
import {
  detectionDelays,
  detectionErrors,
  falseAlarms,
  meanAveragePrecision,
  percentile,
  type DetectedEvent,
  type DetectionErrors,
  type GroundTruth,
} from './detectionMetrics.ts';
import { writeVideoPlot } from './plot.ts';

/** Options of {@link evaluateModel}. */
export interface EvalOptions {
  readonly data: string;
  readonly model: string;
  /** Head for the detection part (default: the manifest's default head). */
  readonly head?: HeadKind;
  /** Folder for one PNG per video. */
  readonly plots?: string;
  readonly backend?: BackendRequest;
  readonly ffmpegPath?: string;
  /** Evaluate only the first N videos. */
  readonly limit?: number;
  /**
   * Detection thresholds instead of the manifest's: another operating point chosen on
   * validation (e.g. the calibration grid's best under a false-alarm budget), never tuned here.
   */
  readonly classThreshold?: number;
  readonly attentionThreshold?: number;
  /** Fewest clips a reported event spans (default: the manifest's calibrated value, else 1). */
  readonly minEventClips?: number;
  readonly log?: (msg: string) => void;
  readonly signal?: AbortSignal;
}

/** The tIoU at which delays are measured (an event has to overlap its action reasonably). */
export const DELAY_TIOU = 0.3;

/** What `clipwise eval --json` writes (fields beyond the issue's shape are extras). */
export interface EvalResult {
  readonly model: {
    readonly path: string;
    readonly name: string;
    readonly version: string;
    readonly trained: boolean;
    readonly head: HeadKind;
    readonly classThreshold: number;
    readonly attentionThreshold: number;
    readonly minEventClips: number;
    /** Class names by index (background included). */
    readonly classes: readonly string[];
  };
  readonly data: { readonly dir: string; readonly videos: number; readonly hours: number; readonly instances: number };
  readonly windows: {
    /** Windows holding an action (the ones scored). */
    readonly count: number;
    /** Top-1 %, per head. */
    readonly top1: Record<HeadKind, number>;
    /** All windows, background ones included. */
    readonly total: number;
    /** Localisation of the gated heads' attention on the scored windows. */
    readonly attention: Partial<Record<HeadKind, AttentionStats>>;
    /** The detection head's confusion on the scored windows: `[true class][argmax class]` counts (see actionConfusion). */
    readonly confusion: readonly (readonly number[])[];
  };
  readonly detection: {
    readonly videos: number;
    readonly mAP: { readonly '0.3': number; readonly '0.5': number; readonly '0.7': number };
    readonly perClassAP50: Record<string, number>;
    readonly falseAlarmsPerHour: number;
    readonly falseAlarms: number;
    readonly actionFreeHours: number;
    readonly delaySeconds: { readonly p50: number; readonly p95: number; readonly count: number; readonly matchTIoU: number };
    readonly events: number;
    /** Where detection loses at tIoU 0.5 (DETAD's error kinds, missed instances, event lengths). */
    readonly errors: DetectionErrors;
    readonly droppedClips: number;
    readonly droppedFrames: number;
    readonly droppedWindows: number;
  };
  readonly goals: readonly { readonly goal: string; readonly met: boolean; readonly value: string }[];
  readonly seconds: number;
}

/**
 * Evaluate a model on a set; see the module header.
 *
 * @returns the numbers (see {@link EvalResult}).
 * @throws ConfigError for a bad set; ModelLoadError for a bad model folder.
 */
export async function evaluateModel(o: EvalOptions): Promise<EvalResult> {
  const log = o.log ?? ((): void => undefined);
  const t0 = performance.now();
  const runtime = await initRuntime({ backend: o.backend ?? 'wasm' });
  const dataset = await loadDataset(o.data);
  const videos = o.limit !== undefined ? dataset.videos.slice(0, o.limit) : dataset.videos;
  const all = await loadClipwiseModel(o.model, { heads: 'all' });
  const manifest: ModelManifest = all.manifest;
  const headKind = o.head ?? manifest.defaultHead;
  // Files wait for the analysis (pull valve) instead of queueing whole videos of clips.
  const settings = evaluationSettings(
    manifest,
    {
      ...(o.classThreshold !== undefined ? { classThreshold: o.classThreshold } : {}),
      ...(o.attentionThreshold !== undefined ? { attentionThreshold: o.attentionThreshold } : {}),
      ...(o.minEventClips !== undefined ? { minEventClips: o.minEventClips } : {}),
    },
    true,
  );
  const timing = { fps: manifest.clip.fps, frames: manifest.clip.frames, stride: settings.stride };
  const embedder = await createEmbedder(o.model);
  const head = await createWindowHead(o.model, headKind);
  const bg = manifest.backgroundIndex ?? -1;
  const C = manifest.window.clips;
  const truth: GroundTruth[] = [];
  const events: DetectedEvent[] = [];
  const durations = new Map<string, number>();
  const featureVideos: FeatureVideo[] = [];
  let dropped = { clips: 0, frames: 0, windows: 0 };
  try {
    for (const [i, v] of videos.entries()) {
      o.signal?.throwIfAborted();
      const id = v.relPath;
      const tv = performance.now();
      const pull = createPullControl();
      const source = createFfmpegSource({
        ...fileSourceOptions(v.path, id, { fps: manifest.clip.fps, size: manifest.clip.size, ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}) }),
        pull,
      });
      const run = await runAnalysis({
        frames$: source.frames$,
        manifest,
        headKind,
        infer: inferWith(embedder),
        runHead: (w) => head.run(w),
        settings,
        backend: runtime.backend,
        pull,
      });
      dropped = { clips: dropped.clips + run.droppedClips, frames: dropped.frames + run.droppedFrames, windows: dropped.windows + run.droppedWindows };
      durations.set(id, v.durationSeconds);
      for (const inst of v.instances) truth.push({ video: id, classIndex: inst.classIndex, start: inst.start, end: inst.end });
      const videoEvents = run.events.map(({ event, emittedAtMs }) => ({
        video: id,
        classIndex: event.classIndex,
        start: event.startMs / 1000,
        end: event.endMs / 1000,
        confidence: event.confidence,
        emittedAt: emittedAtMs / 1000,
      }));
      events.push(...videoEvents);
      const fv = featureVideo(run, v, timing, bg);
      featureVideos.push(fv);
      if (o.plots) await writeVideoPlot(join(o.plots, `${id.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/\.[a-z0-9]+$/i, '')}.png`), plotOf(run, v, manifest, headKind, videoEvents, settings));
      log(
        `eval: ${i + 1}/${videos.length} ${id}: ${fv.count} clips, ${run.windows.length} windows, ${videoEvents.length} event(s) ` +
          `[${videoEvents.map((e) => `${manifest.classes[e.classIndex]} ${e.start.toFixed(1)}–${e.end.toFixed(1)}s`).join(', ')}], ` +
          `truth [${v.instances.map((x) => `${x.class} ${x.start.toFixed(1)}–${x.end.toFixed(1)}s`).join(', ')}] (${((performance.now() - tv) / 1000).toFixed(1)} s)`,
      );
    }
  } finally {
    embedder.dispose();
    head.dispose();
  }

  // (a) Window classification for every head, on the descriptors the stream computed.
  const windows = indexWindows(featureVideos, C, bg);
  const x = gatherWindows(featureVideos, windows, C);
  const labels = windows.map((w) => w.label);
  const relevance = windowRelevance(featureVideos, windows, C, bg);
  const top1 = {} as Record<HeadKind, number>;
  const attention: Partial<Record<HeadKind, AttentionStats>> = {};
  let count = 0;
  let confusion: number[][] = [];
  for (const kind of HEAD_KINDS) {
    const model = all.heads.get(kind);
    if (!model) continue;
    const pred = await predictHead(model, x, windows.length, C, embedder.dim);
    const r = actionTop1(pred, labels, bg);
    top1[kind] = 100 * r.top1;
    count = r.count;
    if (kind === headKind) confusion = actionConfusion(pred, labels, bg);
    if (kind === 'gcf' || kind === 'attentionOnly') attention[kind] = attentionStats(pred, relevance, labels, settings.attentionThreshold, bg);
  }
  all.dispose();

  // (b) Detection.
  const map = (t: number): { mAP: number; perClass: { classIndex: number; ap: number }[] } => meanAveragePrecision(events, truth, t);
  const m30 = map(0.3);
  const m50 = map(0.5);
  const m70 = map(0.7);
  const fa = falseAlarms(events, truth, durations);
  const delays = detectionDelays(events, truth, DELAY_TIOU);
  const hours = [...durations.values()].reduce((a, b) => a + b, 0) / 3600;
  const result: EvalResult = {
    model: {
      path: o.model,
      name: manifest.name,
      version: manifest.version,
      trained: manifest.trained,
      head: headKind,
      classThreshold: settings.classThreshold,
      attentionThreshold: settings.attentionThreshold,
      minEventClips: settings.minEventClips,
      classes: manifest.classes,
    },
    data: { dir: o.data, videos: videos.length, hours, instances: truth.length },
    windows: { count, top1, total: windows.length, attention, confusion },
    detection: {
      videos: videos.length,
      mAP: { '0.3': m30.mAP, '0.5': m50.mAP, '0.7': m70.mAP },
      perClassAP50: Object.fromEntries(m50.perClass.map((c) => [manifest.classes[c.classIndex] ?? String(c.classIndex), c.ap])),
      falseAlarmsPerHour: fa.perHour,
      falseAlarms: fa.count,
      actionFreeHours: fa.hours,
      delaySeconds: { p50: percentile(delays, 50), p95: percentile(delays, 95), count: delays.length, matchTIoU: DELAY_TIOU },
      events: events.length,
      errors: detectionErrors(events, truth, 0.5, { seconds: manifest.clip.frames / manifest.clip.fps, strideSeconds: settings.stride / manifest.clip.fps }),
      droppedClips: dropped.clips,
      droppedFrames: dropped.frames,
      droppedWindows: dropped.windows,
    },
    goals: [],
    seconds: (performance.now() - t0) / 1000,
  };
  return { ...result, goals: checkGoals(result) };
}

/** The issue's goals, checked against a result. */
export function checkGoals(r: Pick<EvalResult, 'windows' | 'detection'>): { goal: string; met: boolean; value: string }[] {
  const t = r.windows.top1;
  const f = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(2));
  const order: HeadKind[] = ['central', 'dense', 'attentionOnly', 'fusionOnly', 'gcf'];
  const ordered = order.every((k, i) => i === 0 || (t[order[i - 1] as HeadKind] ?? NaN) < (t[k] ?? NaN));
  return [
    { goal: 'GCF − D-Clips ≥ 3.67 points', met: t.gcf - t.dense >= 3.67, value: f(t.gcf - t.dense) },
    { goal: 'GCF − C-Clip ≥ 11.49 points', met: t.gcf - t.central >= 11.49, value: f(t.gcf - t.central) },
    { goal: 'Table 2 order: C-Clip < D-Clips < attention-only < fusion-only < GCF', met: ordered, value: order.map((k) => f(t[k])).join(' < ') },
    { goal: 'detection mAP@0.5 ≥ 0.8', met: r.detection.mAP['0.5'] >= 0.8, value: f(r.detection.mAP['0.5']) },
    { goal: 'false alarms < 1 per hour', met: r.detection.falseAlarmsPerHour < 1, value: f(r.detection.falseAlarmsPerHour) },
  ];
}

/** The stream's descriptors of one video as a feature video (clip j = start frame j·S). */
function featureVideo(run: AnalysisRun, v: DatasetVideo, timing: { fps: number; frames: number; stride: number }, bg: number): FeatureVideo {
  const seqs = [...run.features.keys()].sort((a, b) => a - b);
  const dim = run.features.get(seqs[0] ?? 0)?.feature.length ?? 0;
  // Clips are contiguous from 0 when nothing was dropped; a gap would shift labels, so stop there.
  let count = 0;
  while (run.features.has(count * timing.stride)) count++;
  const features = new Float32Array(count * dim);
  for (let j = 0; j < count; j++) features.set((run.features.get(j * timing.stride) as { feature: Float32Array }).feature, j * dim);
  return { features, count, dim, labels: clipLabels(v.instances, count, timing, 0, bg) };
}

function plotOf(
  run: AnalysisRun,
  v: DatasetVideo,
  manifest: ModelManifest,
  headKind: HeadKind,
  events: readonly DetectedEvent[],
  settings: { classThreshold: number; attentionThreshold: number },
): Parameters<typeof writeVideoPlot>[1] {
  const bg = manifest.backgroundIndex ?? -1;
  const sums = new Map<number, { start: number; end: number; att: number; n: number; prob: number }>();
  for (const w of run.windows) {
    const seen = new Set<number>();
    w.clips.forEach((c, i) => {
      if (seen.has(c.startSeq)) return;
      seen.add(c.startSeq);
      const s = sums.get(c.startSeq) ?? { start: c.startMs / 1000, end: c.endMs / 1000, att: 0, n: 0, prob: 0 };
      s.att += w.weights[i] ?? 0;
      s.n += 1;
      sums.set(c.startSeq, s);
    });
    const newest = w.clips.reduce((a, c) => (c.endMs > a.endMs ? c : a), w.clips[0] ?? { startSeq: -1, endMs: -1 });
    const s = sums.get(newest.startSeq);
    if (s) s.prob = Math.max(...Array.from(w.probs).map((p, k) => (k === bg ? 0 : p)));
  }
  const clips = [...sums.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, s]) => ({ start: s.start, end: s.end, attention: s.att / Math.max(1, s.n), actionProb: s.prob }));
  return {
    title: `${v.relPath}: ${manifest.name} ${manifest.version}, head ${headKind}`,
    duration: v.durationSeconds,
    classes: manifest.classes,
    truth: v.instances,
    events,
    clips,
    thresholds: settings,
  };
}
