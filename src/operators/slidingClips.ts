import { Observable, type OperatorFunction } from 'rxjs';
import type { Clip, Frame } from '../types.ts';
import { checkInteger, checkNumber } from './checkOptions.ts';
import { whenForgotten, type ForgetCameras } from './forgetCameras.ts';
import { recordLevels, type OperatorStats } from './operatorStats.ts';

/** Why {@link slidingClips} dropped a frame. */
export type FrameDropReason = 'duplicate' | 'out-of-order' | 'bad-frame';

/** Options of {@link slidingClips}. */
export interface SlidingClipsOptions {
  /** T: frames per clip. */
  readonly frames: number;
  /** S: frames from one clip's start to the next (S < T overlaps, S > T skips frames). */
  readonly stride: number;
  /**
   * Largest tolerated step between consecutive sequence numbers; a larger step starts a new
   * segment. Default 1: any missing frame is a gap. With a larger value, the few missing
   * frames inside the tolerance are filled by repeating the frame before them, so a clip
   * still holds exactly T slots of its sequence range.
   */
  readonly maxSeqJump?: number;
  /** Frame duration (ms) used when it cannot be estimated from pts (T = 1 at a segment's start). Default 40. */
  readonly fallbackFrameMs?: number;
  /**
   * Where clips start: `'segment'` (default) at the first frame of each segment, then every S;
   * `'sequence'` only at seq ≡ 0 (mod S), so replays from any offset rebuild the same clips.
   */
  readonly align?: 'segment' | 'sequence';
  /** Called once per dropped frame. */
  readonly onDrop?: (cameraId: string, reason: FrameDropReason) => void;
  /** Updated live: `buffered` = frames held over all cameras, `keys` = cameras. */
  readonly stats?: OperatorStats;
  /** Cameras to forget (their frames of unfinished clips dropped, no clip emitted); see {@link ForgetCameras}. */
  readonly forget?: ForgetCameras;
}

interface CameraState {
  segment: number;
  /** Sequence number of the first frame of the next clip; buf[i] holds slot nextStart + i. */
  nextStart: number;
  width: number;
  height: number;
  /** Frames of the slots of the next clip, in slot order; a held frame may fill several slots. */
  readonly buf: Frame[];
  lastSeq: number;
  last: Frame;
  /** A dropped frame carried gapBefore: the next accepted one starts the segment. */
  pendingGap: boolean;
  /** Last good per-frame duration estimate (ms), or undefined before one exists. */
  frameMs: number | undefined;
}

/**
 * Cuts each camera's frames into clips of T frames every S frames, by sequence number.
 *
 * Why by sequence number: arrival order depends on the network, sequence numbers do not, so a
 * replay rebuilds exactly the same clips (same `startSeq`, hence the same event ids later).
 * Clip k of a segment covers frames [base + k·S, base + k·S + T) where base is the segment's
 * first sequence number. A frame with `gapBefore`, a sequence jump larger than `maxSeqJump`,
 * or a change of frame size starts a new segment: no clip spans it, and the segment counter
 * (per camera, from 0) increments. Duplicate and out-of-order frames (seq ≤ last accepted)
 * and malformed frames are dropped and reported through `onDrop`. Cameras are independent;
 * their frames may interleave in any way.
 *
 * Memory: at most T frames per camera (plus the latest frame, kept to fill tolerated missing
 * frames); pixels are copied into each clip's own [T, H, W, 3] buffer, so a clip does not pin
 * frames. Frames of an unfinished clip are discarded when the input completes.
 * Timing: `startMs` = pts of the first frame; `endMs` = pts of the last frame plus one frame
 * duration, estimated from the clip's own pts (mean step per sequence number).
 *
 * @example
 * frames$.pipe(slidingClips({ frames: 16, stride: 8, onDrop: (cam, why) => dropped.inc({ cam, why }) }))
 * @param options - clip length, stride, gap tolerance, drop callback, stats
 * @returns an operator from frames (any cameras, interleaved) to clips
 */
export function slidingClips(options: SlidingClipsOptions): OperatorFunction<Frame, Clip> {
  const T = checkInteger('slidingClips.frames', options.frames, 1);
  const S = checkInteger('slidingClips.stride', options.stride, 1);
  const maxSeqJump = checkInteger('slidingClips.maxSeqJump', options.maxSeqJump ?? 1, 1);
  const fallbackFrameMs = checkNumber('slidingClips.fallbackFrameMs', options.fallbackFrameMs ?? 40, 0);
  const { onDrop, stats } = options;
  const align = options.align ?? 'segment';
  // 'sequence': clips start only at seq ≡ 0 (mod S), so a consumer that replays from any
  // offset rebuilds exactly the clips of an earlier run (Kafka low-watermark replays).
  const firstStart = (seq: number): number => (align === 'sequence' ? Math.ceil(seq / S) * S : seq);

  return (source) =>
    new Observable<Clip>((subscriber) => {
      const cameras = new Map<string, CameraState>();
      let buffered = 0;

      const drop = (cameraId: string, reason: FrameDropReason): void => {
        if (stats) stats.dropped++;
        onDrop?.(cameraId, reason);
      };

      const emitClip = (cam: CameraState, cameraId: string): void => {
        const first = cam.buf[0];
        const lastFrame = cam.buf[T - 1];
        if (first === undefined || lastFrame === undefined) return;
        const startSeq = cam.nextStart;
        const endSeq = startSeq + T - 1;
        let frameMs = cam.frameMs ?? fallbackFrameMs;
        if (lastFrame.seq > first.seq) {
          const est = (lastFrame.ptsMs - first.ptsMs) / (lastFrame.seq - first.seq);
          // pts that stand still or run backwards say nothing about duration: keep the last good one.
          if (est > 0 && Number.isFinite(est)) frameMs = cam.frameMs = est;
        }
        const frameBytes = cam.width * cam.height * 3;
        const data = new Uint8Array(T * frameBytes);
        for (let i = 0; i < T; i++) data.set((cam.buf[i] as Frame).data, i * frameBytes);
        // Held frames fill later slots than their own seq: shift their pts by the slot offset.
        const startMs = first.ptsMs + frameMs * (startSeq - first.seq);
        const endMs = lastFrame.ptsMs + frameMs * (endSeq - lastFrame.seq + 1);
        const clip: Clip = {
          cameraId,
          startSeq,
          endSeq,
          startMs,
          endMs,
          segment: cam.segment,
          frames: T,
          width: cam.width,
          height: cam.height,
          data,
        };
        cam.nextStart += S;
        const released = Math.min(S, T);
        cam.buf.splice(0, released);
        buffered -= released;
        if (stats) stats.emitted++;
        subscriber.next(clip);
      };

      /** Puts `frame` into slot `slotSeq` of the current segment, emitting the clip it completes. */
      const place = (cam: CameraState, cameraId: string, slotSeq: number, frame: Frame): void => {
        // With S > T the frames between clips belong to no clip.
        if (slotSeq < cam.nextStart) return;
        cam.buf.push(frame);
        buffered++;
        if (cam.buf.length === T) emitClip(cam, cameraId);
      };

      const onFrame = (frame: Frame): void => {
        if (stats) stats.received++;
        const { cameraId, seq, width, height } = frame;
        const cam = cameras.get(cameraId);
        const wellFormed =
          Number.isSafeInteger(seq) &&
          Number.isFinite(frame.ptsMs) &&
          Number.isInteger(width) &&
          Number.isInteger(height) &&
          width > 0 &&
          height > 0 &&
          frame.data.length === width * height * 3;
        if (!wellFormed) {
          if (cam && frame.gapBefore) cam.pendingGap = true;
          drop(cameraId, 'bad-frame');
          return;
        }
        if (cam === undefined) {
          cameras.set(cameraId, {
            segment: 0,
            nextStart: firstStart(seq),
            width,
            height,
            buf: [],
            lastSeq: seq,
            last: frame,
            pendingGap: false,
            frameMs: undefined,
          });
          if (stats) stats.keys = cameras.size;
          place(cameras.get(cameraId) as CameraState, cameraId, seq, frame);
          return;
        }
        if (seq <= cam.lastSeq) {
          // A gap marker on a frame we cannot use still means video was lost: keep it.
          if (frame.gapBefore) cam.pendingGap = true;
          drop(cameraId, seq === cam.lastSeq ? 'duplicate' : 'out-of-order');
          return;
        }
        const jump = seq - cam.lastSeq;
        const newSegment =
          frame.gapBefore === true || cam.pendingGap || jump > maxSeqJump || width !== cam.width || height !== cam.height;
        if (newSegment) {
          buffered -= cam.buf.length;
          cam.buf.length = 0;
          cam.segment++;
          cam.nextStart = firstStart(seq);
          cam.width = width;
          cam.height = height;
          cam.pendingGap = false;
        } else {
          if (jump === 1) {
            cam.frameMs = frame.ptsMs > cam.last.ptsMs ? frame.ptsMs - cam.last.ptsMs : cam.frameMs;
          }
          for (let s = cam.lastSeq + 1; s < seq; s++) place(cam, cameraId, s, cam.last);
        }
        cam.lastSeq = seq;
        cam.last = frame;
        place(cam, cameraId, seq, frame);
      };

      // A forgotten camera starts afresh at its next frame (a replay from an earlier seq).
      const forgetting = whenForgotten(
        options.forget,
        (cameraId) => {
          const cam = cameras.get(cameraId);
          if (cam === undefined) return 0;
          cameras.delete(cameraId);
          buffered -= cam.buf.length;
          recordLevels(stats, buffered);
          if (stats) stats.keys = cameras.size;
          return cam.buf.length;
        },
        (err) => subscriber.error(err),
      );
      const subscription = source.subscribe({
        next: (frame) => {
          try {
            onFrame(frame);
            recordLevels(stats, buffered);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        forgetting?.unsubscribe();
        subscription.unsubscribe();
        cameras.clear();
        buffered = 0;
        recordLevels(stats, 0);
        if (stats) stats.keys = 0;
      };
    });
}
