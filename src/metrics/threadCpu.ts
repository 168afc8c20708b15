/**
 * CPU time of the calling thread, from the kernel's scheduler statistics.
 *
 * Why its own module: inference workers report their running CPU total with every result and
 * the bench profiles the main thread with the same clock; one reader keeps both on the same
 * units. Read it as a running total over long windows: a single short call can read low by up
 * to a scheduler tick (measured: 2.1 ms reported for a 3 ms busy loop).
 *
 * @example
 * const t0 = threadCpuMs();
 * work();
 * const used = (threadCpuMs() ?? NaN) - (t0 ?? NaN); // NaN off Linux
 */
import { readFileSync } from 'node:fs';

/**
 * CPU milliseconds this thread has run, or undefined where /proc/thread-self is missing (not Linux).
 *
 * @returns a monotonic running total in ms, or undefined
 */
export function threadCpuMs(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}
