/**
 * Jittered exponential backoff and a promise retry helper built on it.
 *
 * Why one module: every adapter that reconnects (ffmpeg sources, Kafka clients, sinks)
 * needs the same policy, with the defaults written down once ({@link DEFAULT_BACKOFF}) and
 * tests passing fast settings in instead of switching on the environment.
 */
import { ClipwiseError } from './errors.ts';

/** Settings of a backoff policy; every field has a default in {@link DEFAULT_BACKOFF}. */
export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  readonly initialMs?: number;
  /** Upper bound of any delay, ms (jitter included). */
  readonly maxMs?: number;
  /** Growth per attempt (delay_n = initialMs · factor^n before jitter). */
  readonly factor?: number;
  /**
   * Relative spread in [0, 1]: the delay is drawn uniformly from
   * [d·(1 − jitter), d·(1 + jitter)], so many clients that failed together
   * (every camera behind one switch) do not reconnect in lockstep.
   */
  readonly jitter?: number;
  /** Uniform [0, 1) source; injectable so tests are deterministic. */
  readonly random?: () => number;
}

/**
 * The defaults, in one place: first retry after 0.5 s, doubling, capped at 30 s, ±20 %.
 * 30 s keeps a dead camera's reconnect noise low while a camera that comes back is
 * picked up within half a minute.
 */
export const DEFAULT_BACKOFF: Readonly<Required<Omit<BackoffOptions, 'random'>>> = Object.freeze({
  initialMs: 500,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.2,
});

/** A stateful backoff sequence: call {@link Backoff.next} per failure, `reset` after success. */
export interface Backoff {
  /** Delay to wait before the next attempt, ms; advances the attempt counter. */
  next(): number;
  /** Start over from `initialMs` (call once a connection proved healthy). */
  reset(): void;
  /** Failures since the last reset. */
  readonly attempt: number;
}

/**
 * Creates a jittered exponential backoff sequence.
 *
 * Why stateful: a reconnect loop asks "how long now?" after each failure and resets after a
 * success; keeping the counter here keeps that loop free of arithmetic.
 *
 * @example
 * const backoff = createBackoff({ initialMs: 100, maxMs: 2000 });
 * await sleep(backoff.next()); // ~100 ms, then ~200, ~400 … capped at 2000
 * @param options - overrides of {@link DEFAULT_BACKOFF}
 * @returns a fresh sequence at attempt 0
 * @throws ClipwiseError when a setting is out of range
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const factor = options.factor ?? DEFAULT_BACKOFF.factor;
  const jitter = options.jitter ?? DEFAULT_BACKOFF.jitter;
  const random = options.random ?? Math.random;
  if (!(initialMs >= 0) || !Number.isFinite(initialMs)) throw new ClipwiseError(`backoff initialMs must be a finite number >= 0, got ${initialMs}`);
  if (!(maxMs >= initialMs) || !Number.isFinite(maxMs)) throw new ClipwiseError(`backoff maxMs must be finite and >= initialMs (${initialMs}), got ${maxMs}`);
  if (!(factor >= 1) || !Number.isFinite(factor)) throw new ClipwiseError(`backoff factor must be a finite number >= 1, got ${factor}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new ClipwiseError(`backoff jitter must be in [0, 1], got ${jitter}`);

  let attempt = 0;
  return {
    next(): number {
      // Exponent capped so factor^attempt cannot overflow to Infinity on long outages.
      const base = Math.min(maxMs, initialMs * factor ** Math.min(attempt, 64));
      attempt += 1;
      const spread = base * jitter * (2 * random() - 1);
      return Math.max(0, Math.min(maxMs, Math.round(base + spread)));
    },
    reset(): void {
      attempt = 0;
    },
    get attempt(): number {
      return attempt;
    },
  };
}

/** Options of {@link retryAsync}. */
export interface RetryOptions {
  /** Retries after the first try (so `retries: 3` means at most 4 calls). Default 5. */
  readonly retries?: number;
  /** Backoff policy (settings or an existing sequence). */
  readonly backoff?: BackoffOptions | Backoff;
  /**
   * Whether an error is worth another try. Default: `ClipwiseError`s retry only when
   * `retriable`; any other error (network, driver) retries.
   */
  readonly isRetriable?: (error: unknown) => boolean;
  /** Stops waiting and rethrows the last error (or the abort reason) when aborted. */
  readonly signal?: AbortSignal;
  /** Called before each wait; for logging and metrics. */
  readonly onRetry?: (info: { readonly attempt: number; readonly delayMs: number; readonly error: unknown }) => void;
}

/**
 * Calls `fn` until it resolves, waiting a backoff delay between failed tries.
 *
 * Why: connecting a producer or fetching metadata fails transiently during broker
 * restarts; this gives every such call the same documented policy.
 *
 * @example
 * await retryAsync(() => producer.connect(), { retries: 8, backoff: { initialMs: 200 } });
 * @param fn - the operation; receives the 0-based attempt number
 * @param options - retry count, backoff, retriable predicate, abort signal
 * @returns what `fn` resolved to
 * @throws the last error once retries are spent or the error is not retriable
 */
export async function retryAsync<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const backoff = isBackoff(options.backoff) ? options.backoff : createBackoff(options.backoff);
  const isRetriable = options.isRetriable ?? defaultIsRetriable;
  for (let attempt = 0; ; attempt += 1) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= retries || !isRetriable(error)) throw error;
      const delayMs = backoff.next();
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, options.signal);
    }
  }
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts first.
 *
 * @example
 * await sleep(backoff.next(), controller.signal);
 * @param ms - delay in milliseconds
 * @param signal - optional abort signal; its timer is cleared on abort
 * @returns a promise of the wait
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isBackoff(value: BackoffOptions | Backoff | undefined): value is Backoff {
  return value !== undefined && typeof (value as Partial<Backoff>).next === 'function';
}

function defaultIsRetriable(error: unknown): boolean {
  return error instanceof ClipwiseError ? error.retriable : true;
}
