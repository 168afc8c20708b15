/**
 * A one-line progress bar for long training stages, on stderr.
 *
 * Why its own module: training prints step, loss, accuracy and an ETA many times a second;
 * on a terminal one line is rewritten in place (`\r`), in a log file (not a TTY) a full line is
 * written at most every `intervalMs`, so `nohup … > train.log` stays readable.
 *
 * @example
 * const bar = createProgress({ label: 'backbone', total: 600 });
 * bar.update(10, { loss: 1.2, acc: 0.4 });
 * bar.done({ loss: 0.3 });
 */

/**
 * Wait for one turn of the event loop (a macrotask).
 *
 * Why: a tfjs training step on wasm or cpu resolves its promises as microtasks, so a loop of
 * `await model.trainOnBatch(…)` never lets the event loop reach its signal and I/O phases:
 * Ctrl-C and SIGTERM handlers never ran and `clipwise train` ignored them (measured: a SIGTERM
 * left stage 1 training on for over a minute until SIGKILL). Awaiting this once per step costs
 * microseconds against a step's ~1 s.
 *
 * @example
 * for (let step = 0; step < steps; step++) { await letSignalsIn(); signal?.throwIfAborted(); … }
 * @returns a promise resolved on the next macrotask turn.
 */
export function letSignalsIn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Where and how often the bar writes. */
export interface ProgressOptions {
  /** Stage name printed first. */
  readonly label: string;
  /** Steps in the stage. */
  readonly total: number;
  /** Steps already done before this run (resume): excluded from the speed estimate. */
  readonly startAt?: number;
  /** Output stream; default process.stderr. */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Minimum ms between two writes when the stream is not a TTY. Default 10 s. */
  readonly intervalMs?: number;
  /** Clock, ms. Default performance.now. */
  readonly now?: () => number;
}

/** A live progress bar. */
export interface Progress {
  /** Report that `step` steps are done, with the numbers to show. */
  update(step: number, values?: Readonly<Record<string, number>>): void;
  /** Finish the line (always written). */
  done(values?: Readonly<Record<string, number>>): void;
}

/**
 * Format seconds as `1h02m`, `4m05s` or `12s`.
 *
 * @param seconds non-negative seconds.
 * @returns a short human duration.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

function formatValue(key: string, v: number): string {
  if (key === 'acc' || key.endsWith('Acc')) return `${key} ${(100 * v).toFixed(1)}%`;
  if (Number.isInteger(v)) return `${key} ${v}`;
  return `${key} ${Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)}`;
}

/**
 * Create a progress bar.
 *
 * @param options label, total steps, stream.
 * @returns the bar.
 */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const now = options.now ?? (() => performance.now());
  const interval = options.intervalMs ?? 10_000;
  const startAt = options.startAt ?? 0;
  const t0 = now();
  let lastWrite = -Infinity;
  let lastStep = startAt;

  const line = (step: number, values: Readonly<Record<string, number>>): string => {
    const total = Math.max(1, options.total);
    const frac = Math.min(1, step / total);
    const width = 20;
    const filled = Math.round(frac * width);
    const elapsed = (now() - t0) / 1000;
    const rate = step > startAt ? elapsed / (step - startAt) : NaN;
    const eta = rate * (total - step);
    const vals = Object.entries(values)
      .map(([k, v]) => formatValue(k, v))
      .join(' ');
    return (
      `${options.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${step}/${options.total}` +
      (vals ? ` ${vals}` : '') +
      ` elapsed ${formatDuration(elapsed)} ETA ${formatDuration(eta)}`
    );
  };

  return {
    update(step, values = {}) {
      lastStep = step;
      const t = now();
      if (tty) {
        stream.write(`\r${line(step, values)}\u001b[K`);
      } else if (t - lastWrite >= interval) {
        lastWrite = t;
        stream.write(`${line(step, values)}\n`);
      }
    },
    done(values = {}) {
      stream.write(`${tty ? '\r' : ''}${line(lastStep, values)}${tty ? '\u001b[K' : ''}\n`);
    },
  };
}
