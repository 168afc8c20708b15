/**
 * Run one video through the real streaming topology (`analyse` of src/topology/pipeline.ts:
 * the operators `clipwise run` uses) and record what evaluation needs beside the events: when,
 * in media time, each event came out, and what the head said about every window.
 *
 * Why the bookkeeping lives around `analyse` and not inside it: evaluation must measure the
 * production path unchanged. `analyse` only exposes its callbacks (`infer`, `runHead`) and its
 * stage counters, so: `infer` remembers which clip each descriptor came from (content key →
 * clip), `runHead` turns each window's rows back into clips (so its newest clip's end is the
 * window's media time) and records the head's output, and since windows reach the event
 * tracker one at a time in that same order, the tracker's `received` counter at the moment an
 * event comes out names the window that emitted it: emission media time = that window's end.
 *
 * Two feeds use it: real decoding (`frames$` from the file source, `infer` = the backbone) in
 * `clipwise eval`, and feature replay ({@link replayFrames}: tiny placeholder frames, `infer`
 * returns precomputed descriptors) to calibrate thresholds on validation videos during training.
 *
 * @example
 * const run = await runAnalysis({ frames$, manifest, headKind: 'gcf', infer, runHead, settings });
 * run.events[0].emittedAtMs; // media ms when the stream emitted it
 */
import { Registry } from 'prom-client';
import { lastValueFrom, range, map, tap, toArray, type Observable } from 'rxjs';
import { parseConfig } from '../config/load.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { resolveDetection, type ClipEmbedder, type HeadResult, type ModelManifest } from '../model/clipModel.ts';
import type { HeadKind } from '../model/heads.ts';
import { analyse, createPipelineStats, type AnalysisSettings } from '../topology/pipeline.ts';
import type { PullControl } from '../topology/pullControl.ts';
import type { ActionEvent, Clip, ClipMeta, Frame } from '../types.ts';

/** An event and the media time of the window that emitted it. */
export interface TimedEvent {
  readonly event: ActionEvent;
  /** End (ms, media time) of the newest clip of the window whose processing emitted the event. */
  readonly emittedAtMs: number;
}

/** What the head said about one window, in stream order. */
export interface WindowRecord {
  /** The window's clips, oldest first (padded slots repeat real clips). */
  readonly clips: readonly ClipMeta[];
  readonly probs: Float32Array;
  readonly weights: Float32Array;
  /** End of the newest clip, ms. */
  readonly endMs: number;
}

/** The result of {@link runAnalysis}. */
export interface AnalysisRun {
  readonly events: readonly TimedEvent[];
  readonly windows: readonly WindowRecord[];
  /** Descriptor of every clip the backbone saw, by clip start sequence number. */
  readonly features: ReadonlyMap<number, { readonly meta: ClipMeta; readonly feature: Float32Array }>;
  /** Clips and frames the pipeline dropped (backpressure, bad frames): 0 for a valid evaluation. */
  readonly droppedClips: number;
  readonly droppedFrames: number;
  /** Windows the head stage dropped (backpressure): 0 for a valid evaluation. */
  readonly droppedWindows: number;
}

/** Inputs of {@link runAnalysis}. */
export interface AnalysisRunOptions {
  readonly frames$: Observable<Frame>;
  readonly manifest: ModelManifest;
  readonly headKind: HeadKind;
  readonly infer: (clips: readonly Clip[]) => Promise<Float32Array[]>;
  readonly runHead: (windows: readonly Float32Array[]) => Promise<HeadResult[]>;
  readonly settings: AnalysisSettings;
  readonly backend?: string;
  /** The valve `frames$`'s source waits on (see {@link evaluationSettings}' `paced`). */
  readonly pull?: PullControl;
}

/**
 * The `infer` of {@link AnalysisRunOptions} for an in-process embedder: one call per batch,
 * one descriptor per clip.
 *
 * @param embedder the backbone, as `createEmbedder` loads it
 * @returns clips → their descriptors, in order
 */
export function inferWith(embedder: ClipEmbedder): (clips: readonly Clip[]) => Promise<Float32Array[]> {
  return async (clips) => {
    const first = clips[0] as Clip;
    const flat = await embedder.embed(
      clips.map((c) => c.data),
      { frames: first.frames, height: first.height, width: first.width },
    );
    return clips.map((_, j) => flat.slice(j * embedder.dim, (j + 1) * embedder.dim));
  };
}

/**
 * The analysis settings `clipwise run` would use for a model with its default config, with the
 * detection thresholds the model's manifest recommends. Evaluation must score every clip: a
 * decoded file waits on the pull valve (`paced`, the default queue of `clipwise run`, so memory
 * stays bounded on long videos); a replay that cannot wait gets queues large enough that
 * nothing is ever dropped.
 *
 * @param manifest the model's manifest (thresholds, stride).
 * @param overrides thresholds to use instead (calibration).
 * @param paced true when the frames come from a source on a pull valve.
 * @returns settings for `analyse`.
 */
export function evaluationSettings(
  manifest: ModelManifest,
  overrides: Partial<Pick<AnalysisSettings, 'classThreshold' | 'attentionThreshold' | 'holdWindows' | 'minEventClips'>> = {},
  paced = false,
): AnalysisSettings {
  const config = parseConfig({ sources: [{ type: 'file', cameraId: 'eval', path: 'eval.mp4' }] }, 'evaluation defaults');
  return {
    stride: config.pipeline.clip.stride ?? manifest.clip.stride,
    minClips: config.pipeline.window.minClips,
    hop: config.pipeline.window.hop,
    batchClips: config.pipeline.batch.maxClips,
    batchWaitMs: config.pipeline.batch.maxWaitMs,
    maxQueuedClips: paced ? config.pipeline.queue.maxClips : 1_000_000,
    // Paced cameras' windows are never dropped; a replay's would be while the head is slow.
    ...(paced ? {} : { maxQueuedWindows: 1_000_000 }),
    inferConcurrency: 1,
    ...resolveDetection(overrides, manifest.detection, config.detection),
    holdWindows: overrides.holdWindows ?? config.detection.holdWindows,
    emitOpen: false,
  };
}

/** A content key of a descriptor: FNV-1a over its float bits (descriptors of distinct clips differ). */
function featureKey(f: Float32Array): string {
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < u.length; i++) {
    const v = u[i] as number;
    h1 = Math.imul(h1 ^ v, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ ((v >>> 16) | (v << 16)), 0x85ebca6b) >>> 0;
  }
  return `${h1.toString(36)}.${h2.toString(36)}.${u.length}`;
}

/**
 * Run a video through `analyse` and collect events with their emission media time.
 *
 * @returns events, per-window head outputs, per-clip descriptors and drop counts.
 */
export async function runAnalysis(o: AnalysisRunOptions): Promise<AnalysisRun> {
  const stats = createPipelineStats();
  const registry = new Registry();
  const metrics = createMetrics({ registry, backend: o.backend ?? 'eval', defaultMetrics: false });
  const byKey = new Map<string, ClipMeta>();
  const features = new Map<number, { meta: ClipMeta; feature: Float32Array }>();
  const windows: WindowRecord[] = [];
  const dim = (o.manifest.backbone['dim'] as number | undefined) ?? 256;

  const infer = async (clips: readonly Clip[]): Promise<Float32Array[]> => {
    const metas: ClipMeta[] = clips.map((c) => ({
      cameraId: c.cameraId,
      startSeq: c.startSeq,
      endSeq: c.endSeq,
      startMs: c.startMs,
      endMs: c.endMs,
      segment: c.segment,
    }));
    const out = await o.infer(clips);
    out.forEach((f, i) => {
      const meta = metas[i] as ClipMeta;
      byKey.set(featureKey(f), meta);
      features.set(meta.startSeq, { meta, feature: f.slice() });
    });
    return out;
  };

  const runHead = async (ws: readonly Float32Array[]): Promise<HeadResult[]> => {
    const results = await o.runHead(ws);
    ws.forEach((w, i) => {
      const d = w.length / o.manifest.window.clips || dim;
      const clips: ClipMeta[] = [];
      for (let c = 0; c < o.manifest.window.clips; c++) {
        const meta = byKey.get(featureKey(w.subarray(c * d, (c + 1) * d)));
        if (meta) clips.push(meta);
      }
      const r = results[i] as HeadResult;
      windows.push({ clips, probs: r.probs, weights: r.weights, endMs: clips.reduce((m, c) => Math.max(m, c.endMs), 0) });
    });
    return results;
  };

  const events: TimedEvent[] = [];
  await lastValueFrom(
    o.frames$.pipe(
      analyse({
        manifest: o.manifest,
        headKind: o.headKind,
        infer,
        runHead,
        settings: o.settings,
        metrics,
        stats,
        backend: o.backend ?? 'eval',
        ...(o.pull ? { pull: o.pull } : {}),
      }),
      tap((event) => {
        const n = stats.events.received;
        const w = windows[Math.min(n, windows.length) - 1];
        events.push({ event, emittedAtMs: w?.endMs ?? event.endMs });
      }),
      toArray(),
    ),
  );
  const sum = async (c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> =>
    (await c.get()).values.reduce((s, v) => s + v.value, 0);
  return {
    events,
    windows,
    features,
    droppedClips: await sum(metrics.clipsDropped),
    droppedFrames: await sum(metrics.framesDropped),
    droppedWindows: stats.fusion.dropped,
  };
}

/**
 * Placeholder frames for feature replay: 1×1 pixels (the descriptors come from elsewhere), the
 * sequence numbers and media times a file source would give `count` frames at `fps`.
 *
 * @returns a cold observable of frames 0 … count−1.
 */
export function replayFrames(cameraId: string, count: number, fps: number): Observable<Frame> {
  const frameMs = 1000 / fps;
  return range(0, count).pipe(map((seq): Frame => ({ cameraId, seq, ptsMs: seq * frameMs, width: 1, height: 1, data: new Uint8Array(3) })));
}
