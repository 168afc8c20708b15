/**
 * What every video source adapter exposes to the topology: a cold stream of frames of one
 * camera plus counters for metrics and health. File, RTSP and synthetic sources all fit it,
 * so the topology wires any of them the same way.
 */
import type { Observable } from 'rxjs';
import type { Frame } from '../../types.ts';

/** Counters of one source since it was created (they survive re-subscription). */
export interface SourceStats {
  /** Frames delivered to subscribers. */
  readonly frames: number;
  /** Times the decoder was started again after a failure, stall or drop (loops excluded). */
  readonly reconnects: number;
  /** Times no frame came within the stall timeout and the decoder was killed. */
  readonly stalls: number;
  /** Source frames the decoder reported as corrupt and dropped (ffmpeg's own count). */
  readonly corruptFrames: number;
  /** Times a file source started over at its beginning (`loop`). */
  readonly loops: number;
  /** Decoder processes started in total. */
  readonly spawns: number;
  /** pid of the decoder running now, if any. */
  readonly pid: number | undefined;
}

/** A camera (or file, or generator) as a stream of frames. */
export interface VideoSource {
  readonly cameraId: string;
  /**
   * Cold: each subscription starts its own decoder (or generator) and unsubscribing stops
   * it and frees everything. Sequence numbers belong to the source, not the subscription,
   * so a re-subscription after an error continues counting (and marks `gapBefore`).
   * Subscribe once at a time; multicast with `share()` when several consumers need it.
   */
  readonly frames$: Observable<Frame>;
  /** A snapshot of the counters. */
  stats(): SourceStats;
}

/** The logging a source needs; a console or any structured logger fits. */
export interface SourceLogger {
  info(msg: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(msg: string, fields?: Readonly<Record<string, unknown>>): void;
  debug?(msg: string, fields?: Readonly<Record<string, unknown>>): void;
}
