import { checkInteger, checkNumber } from './checkOptions.ts';

/** Options of {@link createRateGovernor}. */
export interface RateGovernorOptions {
  /** The inference queue bound (`inferBatches.maxQueuedClips`): clips are dropped beyond it. */
  readonly maxQueued: number;
  /** Clips waiting for a free inference call now (the inference stage's `stats.buffered`). */
  readonly queued: () => number;
  /** Largest decimation factor. Default 8. */
  readonly maxFactor?: number;
  /**
   * Falling behind, by age: the oldest clip still waiting for its feature was cut this long ago.
   * Default 2000 ms (the pipeline passes one clip span). A burst that drains in time (every
   * camera's clip at once) does not count; a backlog that keeps growing does.
   */
  readonly lagBudgetMs?: number;
  /** Falling behind, by length: a queue this long (a safety margin before drops). Default max(1, ⌊maxQueued / 2⌋). */
  readonly highWater?: number;
  /** Target load as a fraction of the measured capacity when rates are lowered. Default 0.8. */
  readonly headroom?: number;
  /** Inference calls that run at once (workers): capacity = concurrency / time per clip. Default 1. */
  readonly concurrency?: number;
  /** After lowering rates, wait this long before lowering again (the change needs a clip to show). Default 2000 ms. */
  readonly cooldownMs?: number;
  /** Inference must stay quiet (queue ≤ highWater/4, oldest clip ≤ half the lag budget) this long before rates are raised again. Default 10 000 ms. */
  readonly recoverMs?: number;
  /** Clock (ms). Default `performance.now`. */
  readonly now?: () => number;
  /** Called for every factor the governor sets. */
  readonly onChange?: (cameraId: string, factor: number, why: 'overload' | 'recover') => void;
}

/** The load policy {@link adaptFrameRate} asks; fed by the pipeline with clip events. */
export interface RateGovernor {
  /** Decimation factor wanted for a camera now (1 = full rate). */
  readonly factor: (cameraId: string) => number;
  /** A clip of the camera was cut and goes to inference. */
  clipCut(cameraId: string): void;
  /** A clip's feature came out of inference. */
  clipDone(cameraId: string): void;
  /** An inference call of `clips` clips took `ms` (wall time): how capacity is measured. */
  callDone(clips: number, ms: number): void;
  /** A clip was dropped: `'backpressure'` (the queue overflowed: overload) or a failed call. */
  clipDropped(cameraId: string, reason?: 'backpressure' | 'inference-error'): void;
  /** Wanted factor per camera. */
  factors(): ReadonlyMap<string, number>;
  /** Clips per second inference can take now: concurrency / time per clip (median of the last calls; undefined before a call). */
  capacity(): number | undefined;
}

interface CameraLoad {
  factor: number;
  /** Clips per second this camera would send at factor 1, undefined before two clips. */
  baseRate: number | undefined;
  /** EWMA of the time between its clips, scaled to factor 1 (ms): averaging intervals, not rates, keeps a burst from spiking it. */
  interval: number | undefined;
  lastCutAt: number | undefined;
  /** Cut times of this camera's clips still in inference, oldest first (per-camera order is kept downstream). */
  readonly outstanding: number[];
}

const RATE_EWMA = 0.3;
// Time per clip of inference calls: the median of the last calls, so a slow first call (kernel
// setup) or a GC pause does not make the machine look slow for long.
const CALL_SAMPLES = 15;

/**
 * Decides each camera's analysis-rate factor from the inference backlog: lower the busiest
 * cameras' rates first when inference falls behind, give rate back slowly when it keeps up.
 *
 * Why: dropping clips leaves holes in what was watched; lowering a camera's frame rate by an
 * integer factor (see {@link adaptFrameRate}) keeps watching everything, more coarsely. Drops
 * ({@link inferBatches}) remain for what this cannot absorb (every camera at `maxFactor`, or a
 * burst faster than a clip).
 *
 * Policy: inference is behind when the oldest clip still waiting for its feature is older than
 * `lagBudgetMs`, or the queue (`queued()`) is at least `highWater` long, or a clip was dropped.
 * Then the governor lowers rates, at most once per `cooldownMs`: it measures
 * inference capacity μ (concurrency / recent wall time per clip of inference calls: it follows
 * what the machine gives now, busy or not) and each camera's clip rate at full speed, then raises factors one step at a time on the camera that sends the most
 * clips now (max-min fair: equal cameras end at equal factors) until the total fits
 * `headroom · μ`; before any call has finished it takes one step on every camera at the lowest
 * factor. After inference has been quiet for `recoverMs`, it gives rate back the same way in
 * reverse (largest factors first, one step each) as far as the predicted load still fits
 * `headroom · μ`. Everything runs inside the calls (no timers); state is a few numbers per camera.
 *
 * @example
 * const governor = createRateGovernor({ maxQueued: 64, queued: () => stats.inference.buffered });
 * frames$.pipe(adaptFrameRate({ frames: 8, stride: 8, factor: governor.factor }), slidingClips(…), tap((c) => governor.clipCut(c.cameraId)), …)
 * @param options - queue bound and probe, limits, timing, clock
 * @returns the governor
 */
export function createRateGovernor(options: RateGovernorOptions): RateGovernor {
  const maxQueued = checkInteger('rateGovernor.maxQueued', options.maxQueued, 1);
  const maxFactor = checkInteger('rateGovernor.maxFactor', options.maxFactor ?? 8, 1);
  const highWater = checkInteger('rateGovernor.highWater', options.highWater ?? Math.max(1, Math.floor(maxQueued / 2)), 1);
  const lagBudgetMs = checkNumber('rateGovernor.lagBudgetMs', options.lagBudgetMs ?? 2000, 0);
  const headroom = checkNumber('rateGovernor.headroom', options.headroom ?? 0.8, 0.05, 1);
  const cooldownMs = checkNumber('rateGovernor.cooldownMs', options.cooldownMs ?? 2000, 0);
  const recoverMs = checkNumber('rateGovernor.recoverMs', options.recoverMs ?? 10_000, 0);
  const now = options.now ?? (() => performance.now());
  const { queued, onChange } = options;

  const cameras = new Map<string, CameraLoad>();
  const concurrency = checkInteger('rateGovernor.concurrency', options.concurrency ?? 1, 1);
  const callSamples: number[] = [];
  let msPerClip: number | undefined;
  let lastLowerAt = Number.NEGATIVE_INFINITY;
  let lastChangeAt = Number.NEGATIVE_INFINITY;
  let quietSince: number | undefined;
  let droppedSinceLower = false;

  const camera = (cameraId: string): CameraLoad => {
    let c = cameras.get(cameraId);
    if (c === undefined) cameras.set(cameraId, (c = { factor: 1, baseRate: undefined, interval: undefined, lastCutAt: undefined, outstanding: [] }));
    return c;
  };
  const capacity = (): number | undefined => (msPerClip === undefined ? undefined : (concurrency * 1000) / Math.max(msPerClip, 1e-3));
  // Unknown rates count as the largest known one: a camera that just appeared is not free.
  let fallbackRate = 0;
  const refreshFallback = (): void => {
    fallbackRate = 0;
    for (const o of cameras.values()) fallbackRate = Math.max(fallbackRate, o.baseRate ?? 0);
  };
  const demandOf = (c: CameraLoad, factor = c.factor): number => (c.baseRate ?? fallbackRate) / factor;
  const totalDemand = (): number => {
    let sum = 0;
    for (const c of cameras.values()) sum += demandOf(c);
    return sum;
  };

  const set = (cameraId: string, c: CameraLoad, factor: number, why: 'overload' | 'recover', t: number): void => {
    c.factor = factor;
    lastChangeAt = t;
    onChange?.(cameraId, factor, why);
  };

  /** The camera sending the most clips now among those that can still go lower (ties: name order). */
  const busiest = (): [string, CameraLoad] | undefined => {
    let best: [string, CameraLoad] | undefined;
    for (const entry of cameras.entries()) {
      if (entry[1].factor >= maxFactor) continue;
      const d = demandOf(entry[1]);
      const b = best === undefined ? -1 : demandOf(best[1]);
      if (best === undefined || d > b || (d === b && entry[0] < best[0])) best = entry;
    }
    return best;
  };

  const lower = (t: number): void => {
    refreshFallback();
    const mu = capacity();
    if (mu === undefined) {
      // No capacity measured yet (the backlog built up fast): one step for every camera at the
      // lowest factor, so the first response is big enough; recovery gives back what was too much.
      let least = maxFactor;
      for (const c of cameras.values()) least = Math.min(least, c.factor);
      if (least < maxFactor) for (const [id, c] of cameras) if (c.factor === least) set(id, c, least + 1, 'overload', t);
      lastLowerAt = t;
      droppedSinceLower = false;
      return;
    }
    let steps = 0;
    for (;;) {
      const target = busiest();
      if (target === undefined) break;
      // Always at least one step: the queue says we are behind, whatever the estimates say.
      if (steps > 0 && totalDemand() <= headroom * mu) break;
      set(target[0], target[1], target[1].factor + 1, 'overload', t);
      steps++;
    }
    lastLowerAt = t;
    droppedSinceLower = false;
  };

  /** Raise rates back, largest factors first, as far as the predicted load fits; one step without a capacity estimate. */
  const recover = (t: number): void => {
    refreshFallback();
    const mu = capacity();
    let steps = 0;
    for (;;) {
      let best: [string, CameraLoad] | undefined;
      for (const entry of cameras.entries()) {
        const [id, c] = entry;
        if (c.factor > 1 && (best === undefined || c.factor > best[1].factor || (c.factor === best[1].factor && id < best[0]))) best = entry;
      }
      if (best === undefined) break;
      const [id, c] = best;
      if (mu === undefined ? steps > 0 : totalDemand() - demandOf(c) + demandOf(c, c.factor - 1) > headroom * mu) break;
      set(id, c, c.factor - 1, 'recover', t);
      steps++;
    }
    if (steps > 0) quietSince = t;
  };

  /** Age of the oldest clip still in inference (0 when none). */
  const lag = (t: number): number => {
    let oldest = t;
    for (const c of cameras.values()) oldest = Math.min(oldest, c.outstanding[0] ?? t);
    return t - oldest;
  };

  const evaluate = (): void => {
    const t = now();
    const q = queued();
    const age = lag(t);
    // Quiet: a short queue and fresh clips (a queue that is never quite empty under steady load still counts).
    quietSince = q <= Math.floor(highWater / 4) && age <= lagBudgetMs / 2 ? (quietSince ?? t) : undefined;
    // Age counts once a call has finished: the first calls (kernel setup) are slow by nature.
    const behind = q >= highWater || droppedSinceLower || (msPerClip !== undefined && age > lagBudgetMs);
    if (behind && t - lastLowerAt >= cooldownMs) lower(t);
    else if (quietSince !== undefined && t - quietSince >= recoverMs && t - lastChangeAt >= recoverMs) recover(t);
  };

  return {
    factor: (cameraId) => cameras.get(cameraId)?.factor ?? 1,
    clipCut(cameraId) {
      const t = now();
      const c = camera(cameraId);
      if (c.lastCutAt !== undefined) {
        const sample = (t - c.lastCutAt) / c.factor;
        c.interval = c.interval === undefined ? sample : c.interval + RATE_EWMA * (sample - c.interval);
        c.baseRate = 1000 / Math.max(c.interval, 1e-3);
      }
      c.lastCutAt = t;
      c.outstanding.push(t);
      evaluate();
    },
    clipDone(cameraId) {
      camera(cameraId).outstanding.shift();
      evaluate();
    },
    callDone(clips, ms) {
      if (!(clips > 0) || !Number.isFinite(ms) || ms < 0) return;
      callSamples.push(ms / clips);
      if (callSamples.length > CALL_SAMPLES) callSamples.shift();
      const sorted = [...callSamples].sort((a, b) => a - b);
      msPerClip = sorted[Math.floor(sorted.length / 2)];
    },
    clipDropped(cameraId, reason = 'backpressure') {
      camera(cameraId).outstanding.shift();
      if (reason === 'backpressure') droppedSinceLower = true;
      evaluate();
    },
    factors: () => new Map([...cameras].map(([id, c]) => [id, c.factor])),
    capacity,
  };
}
