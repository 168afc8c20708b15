/**
 * Low-watermark bookkeeping for Kafka sources (DESIGN.md "Delivery"): per partition, the
 * offset of the oldest frame still needed by open state, so a consumer that takes the
 * partition over after a crash or rebalance replays from there and re-emits identical events.
 *
 * What "needed" means: to rebuild an open event exactly, every window that saw it, i.e. from
 * C−1 clips before its first clip; and since the next window may open an event at the newest
 * window's oldest clip before this process can close it, C−1 clips before that clip too. Both
 * are clip starts, and clips are aligned to seq mod S, so replaying from any of them rebuilds
 * the same clips. Windows are not loop-padded in this
 * mode (minClips = C), so the first window after a replay is one the earlier run also had.
 *
 * A partition holds several cameras and is committed at the minimum over them, so some
 * cameras replay from further back than they need; events they rebuild that start less than
 * C−1 clips after their first replayed frame may be cut short by the replay and are suppressed
 * (the earlier run emitted them whole). Events rebuilt whole are re-emitted with the same id.
 *
 * Feed `window` with windows as they reach the event tracker (after detection), not as they
 * are formed: the tracker opens an event synchronously from its window, so no commit can fall
 * between a window and the open event it causes.
 *
 * @example
 * const wm = createWatermarkTracker({ stride: 8, windowClips: 10 });
 * frames$.pipe(tap((f) => wm.frame(f)));  ...  await source.commitLowWatermark(wm.lowWatermarks());
 */
import type { ActionEvent, Frame, FrameSource, Window } from '../types.ts';

export interface WatermarkOptions {
  /** Clip stride S (frames). */
  readonly stride: number;
  /** Window length C (clips). */
  readonly windowClips: number;
}

interface CameraMarks {
  partitionKey: string;
  readonly topic: string;
  readonly partition: number;
  /** First seq this process saw for the camera. */
  readonly firstSeq: number;
  /** Offsets of clip-start frames (seq ≡ 0 mod S) and of the first frame, by seq, ascending. */
  readonly offsets: { seq: number; offset: number }[];
  windowOldest: number | undefined;
  readonly openStarts: Map<string, number>;
}

export interface WatermarkTracker {
  /** Record a frame's source offset (frames without `source` are ignored). */
  frame(f: Frame): void;
  /** Record the newest window of a camera. */
  window(w: Window): void;
  /** Record an event: `open` adds it to open state, `closed` removes it. */
  event(e: ActionEvent): void;
  /** True for an event a replay may have cut short (see module doc): do not emit it. */
  suppress(e: ActionEvent): boolean;
  /** Forget cameras (their partitions were revoked). */
  forget(cameraIds: readonly string[]): void;
  /** Per tracked partition, the offset to commit. */
  lowWatermarks(): FrameSource[];
  /** Seq of the oldest frame still needed, per camera (tests, debugging). */
  lowSeq(cameraId: string): number | undefined;
  /** Entries held (bounded by the replay horizon). */
  size(): number;
}

/** Create the tracker (see module doc). */
export function createWatermarkTracker(opts: WatermarkOptions): WatermarkTracker {
  const S = opts.stride;
  const back = (opts.windowClips - 1) * S;
  const cams = new Map<string, CameraMarks>();

  const lowSeqOf = (c: CameraMarks): number => {
    if (c.windowOldest === undefined) return c.firstSeq;
    // The next window may open an event at the newest window's oldest clip, after a commit and
    // before this process closes it; if the partition is revoked in between, the new owner must
    // rebuild that event whole, i.e. from C−1 clips before it (committing the window's oldest
    // clip itself made the new owner suppress it as cut short: one event lost in a Kafka e2e run).
    let needed = c.windowOldest - back;
    for (const s of c.openStarts.values()) needed = Math.min(needed, s - back);
    return Math.max(c.firstSeq, needed);
  };

  const prune = (c: CameraMarks): void => {
    const low = lowSeqOf(c);
    // Keep the last entry at or below the low seq: its offset is where a replay must start.
    let keepFrom = 0;
    for (let i = 0; i < c.offsets.length; i++) if ((c.offsets[i] as { seq: number }).seq <= low) keepFrom = i;
    if (keepFrom > 0) c.offsets.splice(0, keepFrom);
  };

  return {
    frame(f) {
      const src = f.source;
      if (!src) return;
      let c = cams.get(f.cameraId);
      if (!c) {
        c = { partitionKey: `${src.topic}:${src.partition}`, topic: src.topic, partition: src.partition, firstSeq: f.seq, offsets: [], windowOldest: undefined, openStarts: new Map() };
        cams.set(f.cameraId, c);
        c.offsets.push({ seq: f.seq, offset: src.offset });
        return;
      }
      if (f.seq % S === 0) c.offsets.push({ seq: f.seq, offset: src.offset });
    },
    window(w) {
      const c = cams.get(w.cameraId);
      const oldest = w.clips.find((_, i) => !w.padded[i]);
      if (!c || !oldest) return;
      c.windowOldest = oldest.startSeq;
      prune(c);
    },
    event(e) {
      const c = cams.get(e.cameraId);
      if (!c) return;
      if (e.status === 'open') c.openStarts.set(e.id, e.startClip);
      else c.openStarts.delete(e.id);
      prune(c);
    },
    suppress(e) {
      const c = cams.get(e.cameraId);
      return c !== undefined && c.firstSeq > 0 && e.startClip < c.firstSeq + back;
    },
    forget(cameraIds) {
      for (const id of cameraIds) cams.delete(id);
    },
    lowWatermarks() {
      const out = new Map<string, FrameSource>();
      for (const c of cams.values()) {
        const low = lowSeqOf(c);
        let entry = c.offsets[0];
        for (const o of c.offsets) if (o.seq <= low) entry = o;
        if (!entry) continue;
        const prev = out.get(c.partitionKey);
        if (!prev || entry.offset < prev.offset) out.set(c.partitionKey, { topic: c.topic, partition: c.partition, offset: entry.offset });
      }
      return [...out.values()];
    },
    lowSeq(cameraId) {
      const c = cams.get(cameraId);
      return c ? lowSeqOf(c) : undefined;
    },
    size() {
      let n = 0;
      for (const c of cams.values()) n += c.offsets.length + c.openStarts.size;
      return n;
    },
  };
}
