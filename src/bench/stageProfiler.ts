/**
 * Exclusive stage timing for the analysis pipeline: how long the main thread spends inside
 * each operator, not counting the downstream work its emissions trigger.
 *
 * Why exclusive: RxJS runs synchronous operators as one call chain (a frame's `next` runs the
 * clip cutter, which emits a clip into batching, …), so timing a stage from entry to return
 * would count everything after it too. The profiler keeps a stack: entering a stage pauses the
 * one below it; an emission leaving a stage pauses it until the downstream call returns.
 * Work that runs outside any wrapped stage (timers, promise callbacks, unwrapped taps) is not
 * attributed: the bench reports it as overhead. Cost: two `performance.now()` calls per item
 * and stage.
 *
 * @example
 * const profiler = createStageProfiler();
 * const app = await startApp(config, { logger, profile: profiler });
 * profiler.read().stagesMs; // { clips: 12.3, windows: 4.5, tracker: 2.1, sinks: 0.8, … }
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { threadCpuMs as threadCpu } from '../metrics/threadCpu.ts';
import type { PipelineProfile } from '../topology/pipeline.ts';

/** What a {@link StageProfiler} has accumulated since its last reset. */
export interface StageTotals {
  /** Exclusive wall ms per stage name. */
  readonly stagesMs: Readonly<Record<string, number>>;
  /** Head calls: total wall ms, calls, windows. */
  readonly head: { readonly ms: number; readonly calls: number; readonly windows: number };
  /** Latency samples (ms), in arrival order. */
  readonly windowLatencyMs: readonly number[];
  readonly eventLatencyMs: readonly number[];
}

/**
 * CPU time of the calling thread (ms) from the kernel's scheduler stats, or wall time where
 * /proc/thread-self is missing (not Linux).
 *
 * @returns a monotonic ms count for this thread
 */
export function threadCpuMs(): number {
  return threadCpu() ?? performance.now();
}

/** A {@link PipelineProfile} that keeps totals; `reset()` starts a new measurement window. */
export interface StageProfiler extends PipelineProfile {
  read(): StageTotals;
  reset(): void;
}

// Time spent downstream of a stage's emission goes here unless a wrapped stage claims it.
const DOWNSTREAM = '(downstream)';

/**
 * Create a profiler to pass as `profile` to `analyse` / `startApp`.
 *
 * @param now - clock for stage times in ms (tests pass a fake)
 * @param headClock - clock for head calls; default this thread's CPU time
 * @returns the profiler
 */
export function createStageProfiler(now: () => number = () => performance.now(), headClock: () => number = threadCpuMs): StageProfiler {
  let stagesMs = new Map<string, number>();
  let head = { ms: 0, calls: 0, windows: 0 };
  let windowLatencyMs: number[] = [];
  let eventLatencyMs: number[] = [];
  const stack: string[] = [];
  let mark = 0;

  const charge = (t: number): void => {
    const top = stack[stack.length - 1];
    if (top !== undefined && top !== DOWNSTREAM) stagesMs.set(top, (stagesMs.get(top) ?? 0) + (t - mark));
    mark = t;
  };
  const enter = (name: string): void => {
    charge(now());
    stack.push(name);
  };
  const leave = (): void => {
    charge(now());
    stack.pop();
  };
  /** Run `fn` as stage `name` (exceptions still unwind the stack). */
  const within = (name: string, fn: () => void): void => {
    enter(name);
    try {
      fn();
    } finally {
      leave();
    }
  };

  return {
    stage<A, B>(name: string, op: OperatorFunction<A, B>): OperatorFunction<A, B> {
      return (source) => {
        const entered = new Observable<A>((sub) =>
          source.subscribe({
            next: (a) => within(name, () => sub.next(a)),
            error: (err: unknown) => sub.error(err),
            complete: () => within(name, () => sub.complete()),
          }),
        );
        return new Observable<B>((sub) =>
          op(entered).subscribe({
            // What runs after an emission belongs to the stage around this one (nested stages), else to nobody.
            next: (b) => {
              const top = stack.length - 1;
              within(stack[top] === name && top > 0 ? (stack[top - 1] as string) : DOWNSTREAM, () => sub.next(b));
            },
            error: (err: unknown) => sub.error(err),
            complete: () => sub.complete(),
          }),
        );
      };
    },
    headClock,
    head(ms, windows) {
      head.ms += ms;
      head.calls += 1;
      head.windows += windows;
    },
    windowLatency: (ms) => void windowLatencyMs.push(ms),
    eventLatency: (ms) => void eventLatencyMs.push(ms),
    read: () => ({ stagesMs: Object.fromEntries(stagesMs), head: { ...head }, windowLatencyMs: [...windowLatencyMs], eventLatencyMs: [...eventLatencyMs] }),
    reset() {
      stagesMs = new Map();
      head = { ms: 0, calls: 0, windows: 0 };
      windowLatencyMs = [];
      eventLatencyMs = [];
    },
  };
}

/**
 * The q-quantile (0..1) of samples by linear interpolation between order statistics, or null
 * when there are none.
 *
 * @param samples - values (not modified)
 * @param q - quantile, e.g. 0.5 or 0.99
 * @returns the quantile, or null
 */
export function quantile(samples: readonly number[], q: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}
