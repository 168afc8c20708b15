/**
 * Picks a detection threshold for an untrained test model from its own outputs on the test's
 * input, so end-to-end tests get a healthy number of events deterministically.
 *
 * Why: an untrained head's class probabilities sit in a narrow band that depends on the
 * backbone's random weights and on the pictures (JPEG'd synthetic frames, real footage). A
 * fixed threshold either fires on nothing or on everything (one event that never closes,
 * which also pins the Kafka low watermark at the start of the stream). Measuring the band
 * first and putting the threshold inside it exercises the real detection and tracking code
 * with events that open and close.
 *
 * The analysis runs in this process through the same `analyse` operator as `clipwise run`,
 * with the Kafka-mode settings (clips aligned to seq, no loop-padded windows) and batches of
 * one clip and one window, as the e2e analyzers run, so the events found here are the ones an
 * analyzer must emit. Frames are fed one at a time, each after the previous one has gone
 * through inference and the head: a burst would overflow the one-window head queue, which
 * drops windows.
 *
 * @example
 * const { classThreshold, events } = await calibrateClassThreshold({ modelDir, frames });
 * // config: detection: { classThreshold, attentionThreshold: 0 }
 */
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { createWindowHead, loadManifest, resolveDetection } from '../../src/model/clipModel.ts';
import { createInferencePool } from '../../src/topology/inference/pool.ts';
import { analyse, createPipelineStats, type AnalysisSettings } from '../../src/topology/pipeline.ts';
import type { ActionEvent, Frame } from '../../src/types.ts';

/** Options of {@link calibrateClassThreshold}. */
export interface CalibrateOptions {
  readonly modelDir: string;
  /** Frames as the analyzer will see them (decoded), any camera order, each camera in seq order. */
  readonly frames: readonly Frame[];
  /** Quantiles of the non-background probabilities to try. Default 0.6 … 0.85. */
  readonly quantiles?: readonly number[];
  /** Attention threshold used by the analyzer. Default 0. */
  readonly attentionThreshold?: number;
  /** Hold windows used by the analyzer. Default 2. */
  readonly holdWindows?: number;
}

/** What {@link calibrateClassThreshold} found. */
export interface Calibration {
  readonly classThreshold: number;
  /** Closed events of an in-process run at that threshold. */
  readonly events: readonly ActionEvent[];
  /** Windows the head evaluated (all of them: none may be dropped here). */
  readonly windows: number;
  /** Smallest distance from the threshold to a measured probability. */
  readonly margin: number;
}

/**
 * Runs the frames once to record every window's class probabilities, then tries thresholds at
 * the given quantiles of the non-background probabilities and keeps the one giving the most
 * events.
 *
 * @param options - model, frames, thresholds the analyzer will use
 * @returns the threshold, the events it gives in-process, and its margin
 */
export async function calibrateClassThreshold(options: CalibrateOptions): Promise<Calibration> {
  const manifest = await loadManifest(options.modelDir);
  const pool = await createInferencePool({ modelDir: options.modelDir, backend: 'wasm', workers: 0 });
  const head = await createWindowHead(options.modelDir);
  try {
    // Clips are the same in every pass: infer each once.
    const features = new Map<string, Float32Array>();
    const probs: number[] = [];
    let windows = 0;
    const run = async (classThreshold: number, record: boolean): Promise<ActionEvent[]> => {
      const settings: AnalysisSettings = {
        stride: manifest.clip.stride,
        minClips: manifest.window.clips,
        hop: 1,
        batchClips: 1,
        batchWindows: 1,
        batchWaitMs: 0,
        maxQueuedClips: options.frames.length,
        inferConcurrency: 1,
        classThreshold,
        attentionThreshold: options.attentionThreshold ?? 0,
        holdWindows: options.holdWindows ?? 2,
        minEventClips: resolveDetection(manifest.detection).minEventClips,
        emitOpen: false,
        align: 'sequence',
      };
      const stats = createPipelineStats();
      const input = new Subject<Frame>();
      const out = lastValueFrom(
        input.pipe(
          analyse({
            manifest,
            headKind: head.kind,
            backend: 'wasm',
            settings,
            stats,
            infer: async (clips) => {
              const todo = clips.filter((c) => !features.has(`${c.cameraId}@${c.startSeq}`));
              const got = todo.length ? await pool.infer(todo) : [];
              todo.forEach((c, i) => features.set(`${c.cameraId}@${c.startSeq}`, got[i] as Float32Array));
              return clips.map((c) => features.get(`${c.cameraId}@${c.startSeq}`) as Float32Array);
            },
            runHead: async (w) => {
              const results = await head.run(w);
              if (record) {
                windows += results.length;
                for (const r of results) r.probs.forEach((p, k) => k !== manifest.backgroundIndex && probs.push(p));
              }
              return results;
            },
          }),
          toArray(),
        ),
        { defaultValue: [] },
      );
      const busy = (): boolean =>
        [stats.batches, stats.inference, stats.fusion].some((st) => st.buffered > 0 || st.inFlight > 0);
      for (const f of options.frames) {
        input.next(f);
        while (busy()) await new Promise((r) => setImmediate(r));
      }
      input.complete();
      return out;
    };
    await run(1, true);
    const sorted = [...probs].sort((a, b) => a - b);
    let best: Calibration | undefined;
    for (const q of options.quantiles ?? [0.6, 0.65, 0.7, 0.75, 0.8, 0.85]) {
      const i = Math.min(sorted.length - 2, Math.max(0, Math.floor(q * (sorted.length - 1))));
      const lo = sorted[i] as number;
      const hi = sorted[i + 1] as number;
      if (hi - lo <= 0) continue;
      const classThreshold = (lo + hi) / 2;
      const events = (await run(classThreshold, false)).filter((e) => e.status === 'closed');
      if (!best || events.length > best.events.length) best = { classThreshold, events, windows, margin: (hi - lo) / 2 };
    }
    if (!best) throw new Error('calibration: the model gives the same probability everywhere');
    return best;
  } finally {
    head.dispose();
    await pool.close();
  }
}
