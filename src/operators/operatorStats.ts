/**
 * A live view of an operator's internal state, so a caller (metrics, tests, a soak run) can
 * check that memory stays bounded without reaching into closures.
 *
 * Why one shape for all operators: the topology exports the same gauges (queue depth, peak,
 * drops) for every stage, and tests assert the same invariant everywhere ("never more than N").
 * Operators write into the object; callers only read it.
 *
 * @example
 * const stats = createOperatorStats();
 * frames$.pipe(slidingClips({ frames: 16, stride: 16, stats })).subscribe();
 * // later: stats.buffered (frames held now), stats.peakBuffered (most ever held)
 */
export interface OperatorStats {
  /** Items the operator holds right now (frames, queued clips, ring entries, open events…). */
  buffered: number;
  /** The largest `buffered` ever seen since the stats object was created. */
  peakBuffered: number;
  /** Items handed to an asynchronous call that has not settled yet (0 for synchronous operators). */
  inFlight: number;
  /** Largest `inFlight` ever seen. */
  peakInFlight: number;
  /** Keys (cameras, camera×class pairs) with state right now. */
  keys: number;
  /** Items received. */
  received: number;
  /** Items emitted downstream. */
  emitted: number;
  /** Items dropped on purpose (out of order, backpressure, bad input). */
  dropped: number;
}

/**
 * A zeroed {@link OperatorStats} to pass to an operator's `stats` option.
 *
 * @returns a fresh, mutable stats object
 */
export function createOperatorStats(): OperatorStats {
  return { buffered: 0, peakBuffered: 0, inFlight: 0, peakInFlight: 0, keys: 0, received: 0, emitted: 0, dropped: 0 };
}

/**
 * Records the current buffered / in-flight counts and keeps the peaks; a no-op without stats.
 *
 * @param stats - the object to update, or undefined when the caller did not ask for stats
 * @param buffered - items held now
 * @param inFlight - items in asynchronous calls now
 */
export function recordLevels(stats: OperatorStats | undefined, buffered: number, inFlight = 0): void {
  if (stats === undefined) return;
  stats.buffered = buffered;
  stats.inFlight = inFlight;
  if (buffered > stats.peakBuffered) stats.peakBuffered = buffered;
  if (inFlight > stats.peakInFlight) stats.peakInFlight = inFlight;
}
