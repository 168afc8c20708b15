/**
 * The records that flow through the topology, in data-path order:
 * Frame → Clip → ClipFeature → Window → WindowResult → Detection → ActionEvent.
 * Kept in one module so operators, adapters and the model agree on one vocabulary.
 */

/** One decoded video frame of one camera, RGB24, already at the analysis size. */
export interface Frame {
  readonly cameraId: string;
  /** Per-camera sequence number, +1 per delivered frame; never reset while the process runs. */
  readonly seq: number;
  /** Source timestamp in milliseconds (media time for files, epoch ms for live cameras). */
  readonly ptsMs: number;
  readonly width: number;
  readonly height: number;
  /** RGB24, row-major, length width*height*3. */
  readonly data: Uint8Array;
  /**
   * Frames were lost right before this one (reconnect, stall, dropped frames beyond the
   * tolerance). Clips never span such a gap and windows are never fused across it.
   */
  readonly gapBefore?: boolean;
  /**
   * The Kafka message this frame was decoded from, when it came from a frames topic. The
   * topology keeps the oldest offset still needed by open state and commits it (low watermark).
   */
  readonly source?: FrameSource;
}

/** Position of a frame's message in Kafka; offsets are numbers (2^53 messages is never reached). */
export interface FrameSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** Where a clip sits in its camera's timeline; everything but the pixels. */
export interface ClipMeta {
  readonly cameraId: string;
  /** Sequence number of the clip's first frame: the clip's identity, stable across replays. */
  readonly startSeq: number;
  /** Sequence number of the clip's last frame (inclusive). */
  readonly endSeq: number;
  /** pts of the first frame, ms. */
  readonly startMs: number;
  /** pts of the last frame plus one frame duration, ms. */
  readonly endMs: number;
  /** Increments at every gap: clips of different segments are never fused together. */
  readonly segment: number;
}

/** T consecutive frames of one camera. */
export interface Clip extends ClipMeta {
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  /** RGB24 [T, H, W, 3], row-major. */
  readonly data: Uint8Array;
}

/** A clip turned into its descriptor by the backbone. */
export interface ClipFeature extends ClipMeta {
  /** Descriptor v ∈ R^d. */
  readonly feature: Float32Array;
}

/** The last C clip features of one camera, ready for a head. */
export interface Window {
  readonly cameraId: string;
  /** C entries, oldest first; loop-padded windows repeat real clips (see `padded`). */
  readonly clips: readonly ClipMeta[];
  /** padded[i] is true where slot i repeats an earlier clip to fill the window. */
  readonly padded: readonly boolean[];
  /** Row-major [C, d]. */
  readonly features: Float32Array;
  readonly dim: number;
  readonly segment: number;
}

/** What a head says about one window. */
export interface WindowResult {
  readonly window: Window;
  /** Class probabilities, length K (index 0 is background when the model has one). */
  readonly probs: Float32Array;
  /** Per-clip weights in the window (GCF attention ∈ (0,1), ATW softmax weights), when the head has them. */
  readonly attention?: Float32Array;
}

/** One window's claim that an action of one class is in a run of its clips. */
export interface Detection {
  readonly cameraId: string;
  readonly classIndex: number;
  readonly action: string;
  readonly confidence: number;
  /** First and last clip of the attention run (bounds of the action). */
  readonly startClip: ClipMeta;
  readonly endClip: ClipMeta;
  /** Attention over the window that produced it, and the window's clip time ranges. */
  readonly attention: readonly number[];
  readonly windowClips: readonly ClipMeta[];
  readonly segment: number;
}

/** The event schema version written into every event and the Kafka `schema` header. */
export const EVENT_SCHEMA_VERSION = 1;

/** An action event as subscribers receive it (actions topic, stdout, JSONL, SSE). */
export interface ActionEvent {
  readonly schema: number;
  /** Deterministic: hash of (camera, class, start clip) so a replay re-emits the same id. */
  readonly id: string;
  readonly cameraId: string;
  readonly action: string;
  readonly classIndex: number;
  readonly confidence: number;
  readonly start: string;
  readonly end: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly startClip: number;
  readonly endClip: number;
  readonly attention: readonly number[];
  readonly clips: readonly { readonly startMs: number; readonly endMs: number }[];
  readonly model: { readonly name: string; readonly version: string; readonly head: string };
  readonly emittedAt: string;
  readonly status: 'open' | 'closed';
  /** True when the event touches a camera gap: its bounds may be cut by missing video. */
  readonly nearGap: boolean;
}

/**
 * A window, what the head said about it, and the detections read from it. Emitted for every
 * window, detections or not, because the event tracker counts windows without a class to
 * decide when an open event ends.
 */
export interface WindowDetections {
  readonly window: Window;
  readonly result: WindowResult;
  /** At most one per class, ordered by class index. */
  readonly detections: readonly Detection[];
}
