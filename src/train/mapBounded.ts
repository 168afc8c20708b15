/**
 * A bounded-concurrency map for the training pipeline's per-video stages (decoding, clip
 * descriptors): a few calls in flight keep two cores or two workers busy without holding more
 * than a few videos' intermediate work at once.
 *
 * @example
 * const decoded = await mapBounded(paths, 2, (p, _i, stop) => decodeVideo(p, { ...o, signal: stop }));
 */

/**
 * `fn` over every item, at most `concurrency` calls at a time, results in input order.
 *
 * On a failure no further call starts, the signal handed to the calls in flight is aborted (so
 * they can stop early), they are awaited, then the first error is thrown: nothing keeps running
 * or writing after this rejects.
 *
 * @param items inputs.
 * @param concurrency most calls at once (at least 1 is used).
 * @param fn the work for one item; its signal aborts when another call failed.
 * @returns fn's results, `items` order.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number, stop: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  const stop = new AbortController();
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T, i, stop.signal);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  if (failure !== undefined) throw failure.error;
  return out;
}
