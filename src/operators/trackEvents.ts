import { createHash } from 'node:crypto';
import { Observable, type OperatorFunction } from 'rxjs';
import { ShapeError } from '../errors.ts';
import { EVENT_SCHEMA_VERSION } from '../types.ts';
import type { ActionEvent, ClipMeta, Detection, WindowDetections } from '../types.ts';
import { checkInteger } from './checkOptions.ts';
import { whenForgotten, type ForgetCameras } from './forgetCameras.ts';
import { recordLevels, type OperatorStats } from './operatorStats.ts';

/** Options of {@link trackEvents}. */
export interface TrackEventsOptions {
  /** Written into every event so subscribers know which model spoke. */
  readonly model: { readonly name: string; readonly version: string; readonly head: string };
  /** An open event closes after this many consecutive windows of its camera without its class. Default 2. */
  readonly holdWindows?: number;
  /**
   * Also emit `status: 'open'` updates: when an event opens, and each time a later detection
   * changes its bounds or raises its confidence. Default false (only `closed` events).
   */
  readonly emitOpen?: boolean;
  /**
   * Fewest clips an event must span to be reported at all (default 1: every event). A shorter
   * one is dropped when it closes, and sends no `open` update before it reaches this length.
   * Why: measured on clipwise models, one-clip events (1.6 s) are almost never an action — the
   * actor walking in or standing before acting — and were most of the false alarms (see
   * calibrate.ts, which picks this per model on validation). At most the window length C, so an
   * event not yet reported still starts inside the newest window (the watermark relies on that).
   */
  readonly minClips?: number;
  /** Clock for `emittedAt`, epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Updated live: `buffered` = open events, `keys` = cameras. */
  readonly stats?: OperatorStats;
  /**
   * Cameras to forget: their open events are dropped, not closed (the consumer that took the
   * camera over re-emits them whole, with the same ids); see {@link ForgetCameras}.
   */
  readonly forget?: ForgetCameras;
}

interface OpenEvent {
  readonly id: string;
  readonly classIndex: number;
  readonly action: string;
  start: ClipMeta;
  end: ClipMeta;
  /** The strongest detection so far: confidence, attention and clips come from its window. */
  best: Detection;
  misses: number;
  nearGap: boolean;
  /** startSeq of the clips it spans, collected only until there are minClips of them. */
  readonly clipSeqs: Set<number>;
}

/** Adds the clips of d's run to e's span count (stops once `minClips` are known). */
function countClips(e: OpenEvent, d: Detection, minClips: number): void {
  for (const c of d.windowClips) {
    if (e.clipSeqs.size >= minClips) return;
    if (c.startSeq >= d.startClip.startSeq && c.startSeq <= d.endClip.startSeq) e.clipSeqs.add(c.startSeq);
  }
}

interface CameraTrack {
  segment: number;
  /** startSeq of the first clip of the current segment when that segment began at a gap. */
  gapStartSeq: number | undefined;
  /** Open events by class index. */
  readonly open: Map<number, OpenEvent>;
  /** Span of the last closed event, by class index (see `repeats`). */
  readonly closed: Map<number, { readonly start: ClipMeta; readonly end: ClipMeta }>;
}

/** Detection d lies within the span of an event of its class that was already closed. */
function repeats(track: CameraTrack, d: Detection): boolean {
  const c = track.closed.get(d.classIndex);
  return c !== undefined && d.startClip.startSeq >= c.start.startSeq && d.endClip.endSeq <= c.end.endSeq;
}

/**
 * The deterministic event id: the first 16 hex digits of sha1(cameraId, classIndex, startSeq).
 *
 * Why: a replay after a crash or rebalance re-emits the same ids, so subscribers can drop
 * duplicates (at-least-once delivery with recognisable duplicates).
 *
 * @example
 * eventId('cam-1', 3, 1200) // '9c1f…' (16 hex chars), the same on every run
 * @param cameraId - the camera
 * @param classIndex - the class
 * @param startSeq - startSeq of the clip the event started at when it opened
 * @returns 16 lowercase hex characters
 */
export function eventId(cameraId: string, classIndex: number, startSeq: number): string {
  return createHash('sha1').update(`${cameraId}\u0000${classIndex}\u0000${startSeq}`).digest('hex').slice(0, 16);
}

/** ISO-8601 of epoch ms; media-time pts (files) come out near 1970, on purpose (see trackEvents). */
function isoTime(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) throw new ShapeError(`trackEvents: time ${ms} ms cannot be written as ISO-8601`);
  return date.toISOString();
}

/** Detection d overlaps, touches (adjacent frames), or is the next clip after / before the event. */
function joins(event: OpenEvent, d: Detection): boolean {
  if (d.startClip.startSeq <= event.end.endSeq + 1 && d.endClip.endSeq >= event.start.startSeq - 1) return true;
  // With stride > T consecutive clips leave frames between them: adjacency is by clip order.
  const clips = d.windowClips;
  const iEnd = clips.findIndex((c) => c.startSeq === event.end.startSeq);
  const next = clips[iEnd + 1];
  if (iEnd >= 0 && next !== undefined && d.startClip.startSeq <= next.startSeq && d.endClip.endSeq >= event.start.startSeq) {
    return true;
  }
  const iStart = clips.findIndex((c) => c.startSeq === event.start.startSeq);
  const prev = clips[iStart - 1];
  return iStart >= 1 && prev !== undefined && d.endClip.startSeq >= prev.startSeq && d.startClip.startSeq <= event.end.startSeq;
}

/**
 * Merges per-window detections into action events with a start and an end, per (camera, class).
 *
 * Why: windows overlap (one per new clip), so one action is detected by many windows; a
 * subscriber wants one event. Each (camera, class) has at most one open event. A detection
 * that overlaps or touches it (by clip sequence numbers, or is the next clip in the window)
 * extends it; any other detection closes it and opens a new one. An open event also closes
 * after `holdWindows` consecutive windows of its camera without its class, when the camera's
 * segment changes (a gap: `nearGap` = true), and when the input completes (everything open is
 * flushed, camera by camera, in class order). An event that starts at the first clip of a
 * segment that began at a gap is also `nearGap`. A detection that lies within the span of the
 * last closed event of its (camera, class) opens nothing: a later window that sees the same
 * clips again after the hold ran out (the head flickered) would otherwise report the action a
 * second time, often with the same id (measured: clipwise-default 1.6.0 on the rtspSynth video
 * emitted one loiter event twice at one of 16 clip phases, bench/clipPhaseStudy.ts).
 *
 * Fields: `id` = {@link eventId} of the start clip of the event's first detection (fixed when
 * it opens, so `open` updates and the `closed` event share it, even if a later detection moves
 * the start earlier); `startClip`/`endClip` = startSeq of the first/last clip (a clip's
 * identity); `startMs`/`endMs` as the clips carry them and `start`/`end` their ISO-8601,
 * always read as epoch ms (file sources give media time, so their ISO dates are near 1970);
 * `confidence`, `attention`, `clips` from the strongest detection (attention is empty for heads
 * without it). Memory: one open event per (camera, class).
 *
 * @example
 * detections$.pipe(trackEvents({ model: { name: 'gcf', version: '1', head: 'gcf' }, holdWindows: 2 }))
 * @param options - model identity, hold, open updates, clock, stats
 * @returns an operator from window detections to action events
 */
export function trackEvents(options: TrackEventsOptions): OperatorFunction<WindowDetections, ActionEvent> {
  const holdWindows = checkInteger('trackEvents.holdWindows', options.holdWindows ?? 2, 1);
  const emitOpen = options.emitOpen ?? false;
  const minClips = checkInteger('trackEvents.minClips', options.minClips ?? 1, 1);
  const now = options.now ?? Date.now;
  const model = { name: options.model.name, version: options.model.version, head: options.model.head };
  const { stats } = options;

  return (source) =>
    new Observable<ActionEvent>((subscriber) => {
      const tracks = new Map<string, CameraTrack>();
      let openCount = 0;

      const toEvent = (cameraId: string, e: OpenEvent, status: 'open' | 'closed'): ActionEvent => ({
        schema: EVENT_SCHEMA_VERSION,
        id: e.id,
        cameraId,
        action: e.action,
        classIndex: e.classIndex,
        confidence: e.best.confidence,
        start: isoTime(e.start.startMs),
        end: isoTime(e.end.endMs),
        startMs: e.start.startMs,
        endMs: e.end.endMs,
        startClip: e.start.startSeq,
        endClip: e.end.startSeq,
        attention: [...e.best.attention],
        clips: e.best.windowClips.map((c) => ({ startMs: c.startMs, endMs: c.endMs })),
        model,
        emittedAt: isoTime(now()),
        status,
        nearGap: e.nearGap,
      });

      const emit = (event: ActionEvent): void => {
        if (stats) stats.emitted++;
        subscriber.next(event);
      };

      const reportable = (e: OpenEvent): boolean => e.clipSeqs.size >= minClips;

      const close = (cameraId: string, track: CameraTrack, e: OpenEvent): void => {
        track.open.delete(e.classIndex);
        // A dropped short event still counts as closed: a window re-reading its clips opens nothing.
        track.closed.set(e.classIndex, { start: e.start, end: e.end });
        openCount--;
        if (reportable(e)) emit(toEvent(cameraId, e, 'closed'));
        else if (stats) stats.dropped++;
      };

      const closeAll = (cameraId: string, track: CameraTrack, nearGap: boolean): void => {
        const byClass = [...track.open.values()].sort((a, b) => a.classIndex - b.classIndex);
        for (const e of byClass) {
          if (subscriber.closed) return;
          if (nearGap) e.nearGap = true;
          close(cameraId, track, e);
        }
      };

      const onWindow = (wd: WindowDetections): void => {
        if (stats) stats.received++;
        const { cameraId, segment } = wd.window;
        let track = tracks.get(cameraId);
        if (track === undefined) {
          track = { segment, gapStartSeq: undefined, open: new Map(), closed: new Map() };
          tracks.set(cameraId, track);
          if (stats) stats.keys = tracks.size;
        } else if (track.segment !== segment) {
          closeAll(cameraId, track, true);
          track.segment = segment;
          track.gapStartSeq = wd.window.clips[0]?.startSeq;
        }
        const seen = new Set<number>();
        const detections = [...wd.detections].sort((a, b) => a.classIndex - b.classIndex);
        for (const d of detections) {
          if (subscriber.closed) return;
          if (d.cameraId !== cameraId || seen.has(d.classIndex)) continue;
          seen.add(d.classIndex);
          const atGap = d.startClip.startSeq === track.gapStartSeq;
          const e = track.open.get(d.classIndex);
          if (e !== undefined && joins(e, d)) {
            e.misses = 0;
            let changed = false;
            if (d.startClip.startSeq < e.start.startSeq) {
              e.start = d.startClip;
              changed = true;
            }
            if (d.endClip.endSeq > e.end.endSeq) {
              e.end = d.endClip;
              changed = true;
            }
            if (d.confidence > e.best.confidence) {
              e.best = d;
              changed = true;
            }
            if (atGap && !e.nearGap) {
              e.nearGap = true;
              changed = true;
            }
            const wasReportable = reportable(e);
            countClips(e, d, minClips);
            // The first update of an event that just reached minClips is sent even if this
            // detection changed nothing else: subscribers then see it open.
            if ((changed || !wasReportable) && reportable(e) && emitOpen) emit(toEvent(cameraId, e, 'open'));
            continue;
          }
          if (e !== undefined) close(cameraId, track, e);
          else if (repeats(track, d)) continue;
          const opened: OpenEvent = {
            id: eventId(cameraId, d.classIndex, d.startClip.startSeq),
            classIndex: d.classIndex,
            action: d.action,
            start: d.startClip,
            end: d.endClip,
            best: d,
            misses: 0,
            nearGap: atGap,
            clipSeqs: new Set(),
          };
          countClips(opened, d, minClips);
          track.open.set(d.classIndex, opened);
          openCount++;
          if (emitOpen && reportable(opened)) emit(toEvent(cameraId, opened, 'open'));
        }
        const idle = [...track.open.values()].filter((e) => !seen.has(e.classIndex)).sort((a, b) => a.classIndex - b.classIndex);
        for (const e of idle) {
          if (subscriber.closed) return;
          e.misses++;
          if (e.misses >= holdWindows) close(cameraId, track, e);
        }
      };

      const forgetting = whenForgotten(
        options.forget,
        (cameraId) => {
          const track = tracks.get(cameraId);
          if (track === undefined) return 0;
          tracks.delete(cameraId);
          openCount -= track.open.size;
          recordLevels(stats, openCount);
          if (stats) stats.keys = tracks.size;
          return track.open.size;
        },
        (err) => subscriber.error(err),
      );
      const subscription = source.subscribe({
        next: (wd) => {
          try {
            onWindow(wd);
            recordLevels(stats, openCount);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          try {
            for (const [cameraId, track] of tracks) closeAll(cameraId, track, false);
            recordLevels(stats, openCount);
            if (!subscriber.closed) subscriber.complete();
          } catch (err) {
            subscriber.error(err);
          }
        },
      });
      return () => {
        forgetting?.unsubscribe();
        subscription.unsubscribe();
        tracks.clear();
        openCount = 0;
        recordLevels(stats, 0);
        if (stats) stats.keys = 0;
      };
    });
}
