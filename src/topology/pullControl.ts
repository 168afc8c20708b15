/**
 * Lossless pull for offline sources: a small valve between the analysis pipeline and the
 * sources that can wait (a file read faster than real time, a generated camera).
 *
 * Why: live video cannot wait, so the pipeline bounds its queues and drops the oldest clips
 * of a lagging camera (DESIGN.md "Backpressure"). A file can wait, and every clip of it
 * matters (an offline analysis, a demo): when inference is slower than decoding, the file
 * must be paused, not thinned out. The pipeline reports how many clips it holds between the
 * clip cutter and the head (its backlog); a paced source stops producing once that reaches a
 * high-water mark and resumes when it has drained to a low-water mark, and the pipeline never
 * drops a paced camera's clips. The hysteresis keeps a source from stuttering frame by frame.
 *
 * One valve is shared by every paced source of a pipeline: the backlog is one number, and
 * the cameras that fill it together wait together.
 *
 * @example
 * const pull = createPullControl();
 * const cam = createFfmpegSource({ cameraId: 'clip', path: 'in.mp4', fps: 5, width: 112, height: 112, stallTimeoutMs: 30_000, pull });
 * cam.frames$.pipe(analyse({ ...deps, pull })).subscribe(sink);
 */
import { ConfigError } from '../errors.ts';

/** What a paced source sees of the valve. */
export interface PullGate {
  /**
   * Declare a camera paced: the pipeline never drops its clips, it waits for them instead.
   * Permanent for the valve's life (a finished file's last clips are still owed).
   */
  pace(cameraId: string): void;
  /** True while the pipeline holds enough: produce nothing more until {@link whenDrained}. */
  full(): boolean;
  /**
   * Calls `resume` once, asynchronously (never from inside the caller's stack), when the
   * backlog has drained to the low-water mark; at once (still asynchronously) when it has
   * already. Returns a function that cancels the call (on unsubscribe).
   */
  whenDrained(resume: () => void): () => void;
}

/** Where the valve opens and closes, in clips of backlog. */
export interface PullWaterMarks {
  /** Backlog at which paced sources stop. ≥ 1. */
  readonly highWater: number;
  /** Backlog at or below which they resume. 0 ≤ lowWater < highWater. */
  readonly lowWater: number;
}

/** The pipeline's side of the valve. */
export interface PullControl extends PullGate {
  /**
   * Connect the valve to the pipeline (done by `analyse`): `backlog` reads the clips held
   * between the clip cutter and the head now. Until then the valve is always open.
   */
  watch(backlog: () => number, marks: PullWaterMarks): void;
  /**
   * The backlog may have shrunk (a feature or head result came out, a clip was dropped):
   * wake the waiting sources if it is at the low-water mark. Cheap; checked once per
   * microtask, after the stage that called it has updated its counters.
   */
  drained(): void;
  /** Whether a source paces `cameraId` (its clips must not be dropped). */
  paces(cameraId: string): boolean;
  /** Counters for tests and logs. */
  stats(): PullStats;
}

/** Counters of a {@link PullControl}. */
export interface PullStats {
  /** Times the valve closed (the backlog reached the high-water mark). */
  readonly pauses: number;
  /** Sources waiting now. */
  readonly waiting: number;
  /** Largest backlog a paced source saw when it asked. */
  readonly peakBacklog: number;
}

/**
 * Create an open valve; hand it to the paced sources and to `analyse`.
 *
 * @returns the valve (see module doc)
 */
export function createPullControl(): PullControl {
  let backlog: (() => number) | undefined;
  let high = Number.POSITIVE_INFINITY;
  let low = 0;
  let closed = false;
  let checkQueued = false;
  const paced = new Set<string>();
  const waiters = new Set<() => void>();
  const counters = { pauses: 0, peakBacklog: 0 };

  /** Re-evaluates the hysteresis: closes at high water, opens at low water. */
  const isClosed = (): boolean => {
    if (backlog === undefined) return false;
    const level = backlog();
    if (level > counters.peakBacklog) counters.peakBacklog = level;
    if (!closed && level >= high) {
      closed = true;
      counters.pauses += 1;
    } else if (closed && level <= low) {
      closed = false;
    }
    return closed;
  };

  const check = (): void => {
    checkQueued = false;
    if (waiters.size === 0 || isClosed()) return;
    const ready = [...waiters];
    waiters.clear();
    for (const resume of ready) resume();
  };

  // A microtask, not a direct call: the stage that reports progress updates its own counters
  // after emitting, and a source resumed synchronously would re-enter that stage mid-update.
  const scheduleCheck = (): void => {
    if (checkQueued || waiters.size === 0) return;
    checkQueued = true;
    queueMicrotask(check);
  };

  return {
    pace(cameraId) {
      paced.add(cameraId);
    },
    full: isClosed,
    whenDrained(resume) {
      // Wrapped so the same function registered twice is two waits, each cancellable.
      const waiter = (): void => resume();
      waiters.add(waiter);
      scheduleCheck();
      return () => {
        waiters.delete(waiter);
      };
    },
    watch(read, marks) {
      if (!(Number.isInteger(marks.highWater) && marks.highWater >= 1)) {
        throw new ConfigError(`pull highWater must be an integer >= 1, got ${marks.highWater}`, [{ path: 'highWater', message: 'must be an integer >= 1' }]);
      }
      if (!(Number.isInteger(marks.lowWater) && marks.lowWater >= 0 && marks.lowWater < marks.highWater)) {
        throw new ConfigError(`pull lowWater must be an integer in [0, highWater), got ${marks.lowWater}`, [{ path: 'lowWater', message: 'must be an integer in [0, highWater)' }]);
      }
      backlog = read;
      high = marks.highWater;
      low = marks.lowWater;
      closed = false;
      scheduleCheck();
    },
    drained: scheduleCheck,
    paces: (cameraId) => paced.has(cameraId),
    stats: () => ({ pauses: counters.pauses, waiting: waiters.size, peakBacklog: counters.peakBacklog }),
  };
}
