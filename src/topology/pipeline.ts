/**
 * The data path, top to bottom: frames → clips → features → windows → head results →
 * detections → events. Each step is one operator from src/operators; this file only wires
 * them and attaches metrics, so the whole flow reads in one place.
 *
 * @example
 * const events$ = frames$.pipe(analyse({ model, infer, head, settings, metrics }));
 */
import { type MonoTypeOperatorFunction, type Observable, type OperatorFunction, filter, identity, pipe, tap } from 'rxjs';
import type { ForgetCameras } from '../operators/forgetCameras.ts';
import type { HeadKind } from '../model/heads.ts';
import { HEAD_CLIP_WEIGHTS } from '../model/heads.ts';
import type { ModelManifest, HeadResult } from '../model/clipModel.ts';
import { adaptFrameRate } from '../operators/adaptFrameRate.ts';
import { checkInteger } from '../operators/checkOptions.ts';
import { createRateGovernor, type RateGovernor } from '../operators/rateGovernor.ts';
import {
  batchClips,
  createOperatorStats,
  detectActions,
  fuseWindows,
  inferBatches,
  rollingWindows,
  slidingClips,
  trackEvents,
  type HeadOutput,
  type OperatorStats,
} from '../operators/index.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { ActionEvent, Clip, ClipFeature, Frame, Window, WindowDetections, WindowResult } from '../types.ts';
import type { PullControl, PullWaterMarks } from './pullControl.ts';

/** Tunables of the analysis path (from the config's `pipeline` and `detection` sections). */
export interface AnalysisSettings {
  readonly stride: number;
  readonly minClips: number;
  readonly hop: number;
  readonly batchClips: number;
  readonly batchWindows?: number;
  readonly batchWaitMs: number;
  readonly maxQueuedClips: number;
  /** Windows waiting for the head before a droppable camera's oldest are dropped. Default 4 × batchWindows. */
  readonly maxQueuedWindows?: number;
  readonly inferConcurrency: number;
  readonly classThreshold: number;
  readonly attentionThreshold: number;
  readonly holdWindows: number;
  /** Fewest clips an event must span to be reported (trackEvents' minClips; at most C). */
  readonly minEventClips: number;
  readonly emitOpen: boolean;
  /** Clip alignment (see slidingClips); Kafka sources use 'sequence' so replays rebuild the same clips. */
  readonly align?: 'segment' | 'sequence';
  /** Nominal analysis frame rate of the sources (fps), for the effective-rate metric. */
  readonly fps?: number;
  /**
   * Graceful degradation: when inference falls behind, lower the lagging cameras' analysis rate
   * (adaptFrameRate + rateGovernor) before any clip is dropped. Default off (offline inputs and
   * evaluation must see every frame); never with `align: 'sequence'` (Kafka replays must rebuild
   * identical clips, whatever the load was). `false`: drop only.
   */
  readonly degrade?: false | DegradeSettings;
}

/** Tunables of the adaptive analysis rate (see {@link createRateGovernor}). */
export interface DegradeSettings {
  /** Largest decimation factor (fps / maxFactor is the lowest rate). Default 4. */
  readonly maxFactor?: number;
  readonly highWater?: number;
  readonly cooldownMs?: number;
  readonly recoverMs?: number;
}

/**
 * Timing taps for benchmarks (src/bench); production passes none and pays nothing.
 * Stage times are exclusive: a wrapped stage's time excludes the downstream work it triggers.
 */
export interface PipelineProfile {
  /** Wrap a stage so the time spent inside it is accounted under `name`. */
  stage<A, B>(name: string, op: OperatorFunction<A, B>): OperatorFunction<A, B>;
  /** One head call: time (ms, on `headClock`) for `windows` windows. */
  head(ms: number, windows: number): void;
  /**
   * Clock for head calls (ms); default wall time. The bench passes this thread's CPU time:
   * on a busy machine a preempted call's wall time says little about its cost.
   */
  readonly headClock?: () => number;
  /** From the arrival of the last frame of a window's newest clip to its head result (ms). */
  windowLatency(ms: number): void;
  /** From the arrival of the last frame of an event's end clip to the event leaving analysis (ms). */
  eventLatency(ms: number): void;
}

/** Taps for state that lives beside the data path (Kafka low watermarks). */
export interface AnalysisHooks {
  readonly frame?: (f: Frame) => void;
  readonly window?: (w: Window) => void;
  /** Sees every event (open updates included); return false to keep it from the sinks. */
  readonly event?: (e: ActionEvent) => boolean;
}

export interface AnalysisDeps {
  readonly manifest: ModelManifest;
  readonly headKind: HeadKind;
  readonly infer: (clips: readonly Clip[]) => Promise<Float32Array[]>;
  readonly runHead: (windows: readonly Float32Array[]) => Promise<HeadResult[]>;
  readonly settings: AnalysisSettings;
  readonly metrics?: Metrics;
  readonly backend: string;
  /** Live view of each stage's buffers, for queue-depth metrics and tests. */
  readonly stats?: PipelineStats;
  readonly now?: () => number;
  readonly hooks?: AnalysisHooks;
  readonly profile?: PipelineProfile;
  /** Receives the governor when degradation is on (tests and the bench read its factors). */
  readonly onGovernor?: (governor: RateGovernor) => void;
  /**
   * Lossless pull for offline sources: the valve the paced sources (files, generated cameras
   * without `realtime`) share. The pipeline reports its backlog to it and never drops the
   * clips or windows of a camera it paces. Absent: every source pushes, overflow drops.
   */
  readonly pull?: PullControl;
  /**
   * Cameras this process stops owning (Kafka partitions revoked): every stage drops their
   * state without emitting (see ForgetCameras), counted in `clipwise_revoked_state_dropped_total`.
   */
  readonly forget$?: Observable<readonly string[]>;
}

/** Buffer levels of every stage (each bounded; see the operators). */
export interface PipelineStats {
  readonly clips: OperatorStats;
  readonly batches: OperatorStats;
  readonly inference: OperatorStats;
  readonly windows: OperatorStats;
  readonly fusion: OperatorStats;
  readonly events: OperatorStats;
}

/** Fresh stats for {@link analyse}. */
export function createPipelineStats(): PipelineStats {
  return {
    clips: createOperatorStats(),
    batches: createOperatorStats(),
    inference: createOperatorStats(),
    windows: createOperatorStats(),
    fusion: createOperatorStats(),
    events: createOperatorStats(),
  };
}

/**
 * Make a head's clip weights comparable with one attention threshold: gate values (GCF,
 * attention-only) are used as they are (GCF §4.6: att > θ); softmax weights (ATW) sum to 1, so
 * they are scaled by C (1 = a uniform share); constant weights (D-Clips, C-Clip, fusion-only)
 * carry no localisation and are left out, so detection takes the whole window.
 */
export function attentionForDetection(kind: HeadKind, weights: Float32Array): Float32Array | undefined {
  switch (HEAD_CLIP_WEIGHTS[kind]) {
    case 'gate':
      return weights;
    case 'softmax':
      return weights.map((w) => Math.min(1, w * weights.length));
    case 'uniform':
    case 'oneHot':
      return undefined;
  }
}

/**
 * Clips between the clip cutter and the head's output: in the open batch, queued for or in a
 * backbone call (or held for order), queued for or in a head call. Paced sources wait on it.
 */
export function analysisBacklog(stats: PipelineStats): number {
  return stats.batches.buffered + stats.inference.buffered + stats.inference.inFlight + stats.fusion.buffered + stats.fusion.inFlight;
}

/**
 * Where paced sources stop and resume: half the clip queue (at least two full rounds of
 * calls, so the workers never starve while a source refills), resume at half of that. A
 * frame completes at most one clip and a paced source checks the valve after each frame, so
 * the backlog passes the high-water mark by at most one clip per paced camera.
 */
export function pullWaterMarks(s: Pick<AnalysisSettings, 'maxQueuedClips' | 'inferConcurrency' | 'batchClips'>): PullWaterMarks {
  const highWater = Math.max(1, Math.min(s.maxQueuedClips, Math.max(Math.ceil(s.maxQueuedClips / 2), 2 * s.inferConcurrency * s.batchClips)));
  return { highWater, lowWater: Math.floor(highWater / 2) };
}

// Frame arrival times per camera, so an event's latency is measured from the wall-clock
// arrival of its last frame; a fixed-size ring per camera keeps this bounded.
const ARRIVALS = 4096;

/**
 * The analysis operator: frames of any number of cameras in, action events out.
 *
 * @returns an operator; events come out as trackers close them (and on completion, flushed).
 */
export function analyse(deps: AnalysisDeps): OperatorFunction<Frame, ActionEvent> {
  const { manifest, settings: s, metrics: m } = deps;
  const stats = deps.stats ?? createPipelineStats();
  const now = deps.now ?? Date.now;
  const T = manifest.clip.frames;
  const C = manifest.window.clips;
  // An event not yet long enough to report must still start inside the newest window (watermark.ts).
  checkInteger('detection.minEventClips', s.minEventClips, 1, C);
  const arrivals = new Map<string, Float64Array>();
  const prof = deps.profile;
  const staged = <A, B>(name: string, op: OperatorFunction<A, B>): OperatorFunction<A, B> => (prof ? prof.stage(name, op) : op);
  const arrivedAt = (cameraId: string, seq: number): number | undefined => arrivals.get(cameraId)?.[seq % ARRIVALS];

  // Offline sources wait instead of losing clips: they stop while the backlog is high, and
  // the bounded queues below never pick their clips to drop. Progress (a result out, a drop)
  // may reopen the valve.
  const pull = deps.pull;
  pull?.watch(() => analysisBacklog(stats), pullWaterMarks(s));
  const droppable = (camera: string): boolean => !(pull?.paces(camera) ?? false);

  // A revoked camera's state goes from every stage at once, emitting nothing: its new owner
  // replays it from the committed low watermark and emits its events (same ids).
  const forget$ = deps.forget$;
  const forgetAt = (stage: 'frames' | 'clips' | 'features' | 'windows' | 'events'): { forget?: ForgetCameras } =>
    forget$ ? { forget: { cameras$: forget$, onDropped: (_camera, n) => m?.revokedStateDropped.inc({ stage }, n) } } : {};

  // Degrade before dropping: the governor watches the inference queue and lowers the analysis
  // rate of the cameras that send the most clips; adaptFrameRate applies it at clip boundaries.
  // Off unless asked for: offline inputs (files read faster than real time, evaluation) must
  // be analysed at the full rate whatever the load; app.ts turns it on for live sources only.
  const degrade = s.align === 'sequence' ? false : (s.degrade ?? false);
  const maxFactor = degrade === false ? 1 : (degrade.maxFactor ?? 4);
  const governor =
    degrade === false
      ? undefined
      : createRateGovernor({
          maxQueued: s.maxQueuedClips,
          queued: () => stats.inference.buffered,
          maxFactor,
          concurrency: s.inferConcurrency,
          // Behind = a clip still waits for its feature two clip spans after it was cut: the
          // real-time bound the bench holds windows to. One span lowered rates on tail latency
          // alone (bench, 64 cameras: p99 1.2 s, nothing dropped with degrade off, yet rates
          // cut to 2.5 fps), and its quiet test (half the budget) then never let them recover.
          ...(s.fps !== undefined ? { lagBudgetMs: (2 * T * 1000) / s.fps } : {}),
          ...(degrade.highWater !== undefined ? { highWater: degrade.highWater } : {}),
          ...(degrade.cooldownMs !== undefined ? { cooldownMs: degrade.cooldownMs } : {}),
          ...(degrade.recoverMs !== undefined ? { recoverMs: degrade.recoverMs } : {}),
          now,
        });
  if (governor) deps.onGovernor?.(governor);
  const lowerRate: MonoTypeOperatorFunction<Frame> = governor
    ? staged(
        'rate',
        adaptFrameRate({
          frames: T,
          stride: s.stride,
          factor: governor.factor,
          maxFactor,
          onFactor: (camera, k) => {
            if (s.fps !== undefined) m?.effectiveFps.set({ camera }, s.fps / k);
          },
        }),
      )
    : identity;

  const toHead = async (windows: readonly Window[]): Promise<HeadOutput[]> => {
    const stop = m?.headSeconds.startTimer({ backend: deps.backend, head: deps.headKind });
    const clock = prof?.headClock ?? (() => performance.now());
    const t0 = prof ? clock() : 0;
    const results = await deps.runHead(windows.map((w) => w.features));
    if (prof) prof.head(clock() - t0, windows.length);
    stop?.();
    for (const w of windows) m?.windowsEvaluated.inc({ camera: w.cameraId });
    return results.map((r) => {
      const attention = attentionForDetection(deps.headKind, r.weights);
      return attention ? { probs: r.probs, attention } : { probs: r.probs };
    });
  };

  const infer = async (clips: readonly Clip[]): Promise<Float32Array[]> => {
    m?.batchSize.observe(clips.length);
    const stop = m?.inferenceSeconds.startTimer({ backend: deps.backend });
    const t0 = performance.now();
    const features = await deps.infer(clips);
    governor?.callDone(clips.length, performance.now() - t0);
    stop?.();
    for (const c of clips) m?.clipsInferred.inc({ camera: c.cameraId });
    return features;
  };

  const framesToFeatures: OperatorFunction<Frame, ClipFeature> = pipe(
    tap((f: Frame) => {
      deps.hooks?.frame?.(f);
      m?.framesIn.inc({ camera: f.cameraId });
    }),
    lowerRate,
    // Keyed by the analysed seq (renumbered when the rate is lowered), as clips are.
    tap((f: Frame) => {
      let ring = arrivals.get(f.cameraId);
      if (!ring) arrivals.set(f.cameraId, (ring = new Float64Array(ARRIVALS)));
      ring[f.seq % ARRIVALS] = now();
    }),
    staged(
      'clips',
      slidingClips({
        frames: T,
        stride: s.stride,
        ...(s.align ? { align: s.align } : {}),
        stats: stats.clips,
        onDrop: (camera, reason) => m?.framesDropped.inc({ camera, reason }),
        ...forgetAt('frames'),
      }),
    ),
    tap((c: Clip) => governor?.clipCut(c.cameraId)),
    batchClips<Clip>({ maxBatch: s.batchClips, maxWaitMs: s.batchWaitMs, stats: stats.batches, cameraOf: (c) => c.cameraId, ...forgetAt('clips') }),
    inferBatches({
      infer,
      concurrency: s.inferConcurrency,
      maxQueuedClips: s.maxQueuedClips,
      maxBatch: s.batchClips,
      stats: stats.inference,
      droppable,
      ...forgetAt('clips'),
      onDrop: (camera, reason) => {
        m?.clipsDropped.inc({ camera, reason });
        governor?.clipDropped(camera, reason);
        pull?.drained();
      },
    }),
    tap((f: ClipFeature) => {
      governor?.clipDone(f.cameraId);
      pull?.drained();
      m?.queueDepth.set({ queue: 'inference' }, stats.inference.buffered);
    }),
  );

  return pipe(
    framesToFeatures,
    staged('windows', rollingWindows({ clips: C, minClips: Math.min(s.minClips, C), hop: s.hop, stats: stats.windows, ...forgetAt('features') })),
    fuseWindows({
      run: toHead,
      maxBatch: s.batchWindows ?? 16,
      ...(s.maxQueuedWindows !== undefined ? { maxQueuedWindows: s.maxQueuedWindows } : {}),
      maxWaitMs: s.batchWaitMs,
      stats: stats.fusion,
      droppable,
      onDrop: () => pull?.drained(),
      ...forgetAt('windows'),
    }),
    tap(() => pull?.drained()),
    // Here, not after rollingWindows: the tracker below opens events from this window in the
    // same tick, so watermark bookkeeping never sees a window without its events.
    tap((d: WindowResult) => {
      if (!prof) return;
      let newest = d.window.clips[0];
      for (const c of d.window.clips) if (newest === undefined || c.endSeq > newest.endSeq) newest = c;
      const at = newest && arrivedAt(d.window.cameraId, newest.endSeq);
      if (at) prof.windowLatency(now() - at);
    }),
    staged(
      'tracker',
      pipe(
        detectActions({
          classes: manifest.classes,
          ...(manifest.backgroundIndex !== null ? { backgroundIndex: manifest.backgroundIndex } : {}),
          classThreshold: s.classThreshold,
          attentionThreshold: s.attentionThreshold,
        }),
        tap((d: WindowDetections) => deps.hooks?.window?.(d.window)),
        trackEvents({
          model: { name: manifest.name, version: manifest.version, head: deps.headKind },
          holdWindows: s.holdWindows,
          minClips: s.minEventClips,
          emitOpen: s.emitOpen,
          stats: stats.events,
          ...forgetAt('events'),
        }),
      ),
    ),
    filter((e: ActionEvent) => deps.hooks?.event?.(e) ?? true),
    tap((e: ActionEvent) => {
      m?.eventsEmitted.inc({ action: e.action, status: e.status });
      const at = arrivedAt(e.cameraId, e.endClip + T - 1);
      if (at) {
        m?.latencySeconds.observe(Math.max(0, now() - at) / 1000);
        prof?.eventLatency(Math.max(0, now() - at));
      }
    }),
  );
}

/** Convenience for tests: run frames through {@link analyse}. */
export function analyseFrames(frames$: Observable<Frame>, deps: AnalysisDeps): Observable<ActionEvent> {
  return frames$.pipe(analyse(deps));
}
