/**
 * A demo camera that needs no video file and no ffmpeg: the benchmark's procedural scene
 * (actors performing actions between idle stretches, distractors, noise), rendered in-process,
 * sampled at the analysis rate and scaled to the analysis size in JS.
 *
 * @example
 * const cam = createSceneSource({ cameraId: 'demo-1', seed: 7, seconds: 90, fps: 5, width: 112, height: 112 });
 * cam.frames$.subscribe(...); cam.instances; // ground truth of what it will show
 */
import { Observable, asyncScheduler, type SchedulerAction, type SchedulerLike } from 'rxjs';
import { planVideo } from '../../synth/plan.ts';
import { createVideoRenderer } from '../../synth/render.ts';
import type { SynthInstance } from '../../synth/spec.ts';
import { ConfigError } from '../../errors.ts';
import type { Frame } from '../../types.ts';
import type { PullGate } from '../pullControl.ts';
import { resizeRgb } from './resizeRgb.ts';
import type { SourceStats, VideoSource } from './source.ts';

export interface SceneSourceOptions {
  readonly cameraId: string;
  readonly seed: number;
  readonly seconds: number;
  /** Analysis rate and size. */
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** Pace frames like a live camera. */
  readonly realtime?: boolean;
  /** Not `realtime`: produce only while the gate is open (see syntheticSource's `pull`). */
  readonly pull?: PullGate;
  readonly scheduler?: SchedulerLike;
}

/** A scene camera, plus the ground truth of the actions it shows. */
export interface SceneSource extends VideoSource {
  readonly instances: readonly SynthInstance[];
}

/** Create the scene camera (see module doc). */
export function createSceneSource(options: SceneSourceOptions): SceneSource {
  const pull = options.pull;
  if (pull !== undefined && options.realtime === true) {
    throw new ConfigError(`scene camera ${options.cameraId}: a realtime camera cannot wait for its consumer`, [{ path: 'pull', message: 'only without realtime' }]);
  }
  pull?.pace(options.cameraId);
  const spec = planVideo(options.seed, { minSeconds: options.seconds, maxSeconds: options.seconds });
  const scheduler = options.scheduler ?? asyncScheduler;
  const count = Math.floor(spec.durationSeconds * options.fps);
  let delivered = 0;
  const frames$ = new Observable<Frame>((subscriber) => {
    const renderer = createVideoRenderer(spec);
    const full = new Uint8Array(renderer.width * renderer.height * 3);
    const startedAt = scheduler.now();
    let k = 0;
    const emitOne = (): void => {
      const src = Math.min(renderer.frameCount - 1, Math.round((k * renderer.fps) / options.fps));
      renderer.renderFrame(src, full);
      const data = resizeRgb(full, renderer.width, renderer.height, options.width, options.height);
      subscriber.next({ cameraId: options.cameraId, seq: k, ptsMs: (k * 1000) / options.fps, width: options.width, height: options.height, data });
      delivered += 1;
      k += 1;
    };
    let cancelWait: (() => void) | undefined;
    const run = scheduler.schedule(function (this: SchedulerAction<undefined>) {
      // Non-realtime: emit in small bursts and yield, so a stop request is seen promptly.
      const burst = options.realtime ? 1 : 8;
      let full = false;
      for (let n = 0; n < burst && k < count && !subscriber.closed && !full; n++) {
        emitOne();
        full = pull?.full() ?? false;
      }
      if (k >= count) {
        subscriber.complete();
        return;
      }
      if (subscriber.closed) return;
      if (full && pull !== undefined) {
        cancelWait = pull.whenDrained(() => {
          cancelWait = undefined;
          if (!subscriber.closed) this.schedule(undefined, 0);
        });
        return;
      }
      const due = options.realtime ? Math.max(0, startedAt + (k * 1000) / options.fps - scheduler.now()) : 0;
      this.schedule(undefined, due);
    }, 0);
    return () => {
      cancelWait?.();
      run.unsubscribe();
    };
  });
  const stats = (): SourceStats => ({ frames: delivered, reconnects: 0, stalls: 0, corruptFrames: 0, loops: 0, spawns: 0, pid: undefined });
  return { cameraId: options.cameraId, frames$, stats, instances: spec.instances };
}
