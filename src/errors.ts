/**
 * Typed errors for clipwise. Every failure the system reports is a `ClipwiseError`
 * subclass carrying the context an operator needs (camera, field, topic…), the
 * underlying `cause`, and whether retrying can help.
 *
 * @example
 * throw new ShapeError('window must be [C, d]', { expected: [10, 256], actual: [9, 256] });
 */
export interface ClipwiseErrorOptions {
  /** The lower-level error that caused this one. */
  readonly cause?: unknown;
  /** True when the same call may succeed later (broker down, camera reconnecting). */
  readonly retriable?: boolean;
}

/** Base class: every error clipwise throws on purpose. */
export class ClipwiseError extends Error {
  readonly retriable: boolean;
  constructor(message: string, options: ClipwiseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? false;
  }
}

/** A tensor backend was requested that cannot be loaded here. */
export class BackendUnavailableError extends ClipwiseError {
  constructor(
    readonly backend: string,
    readonly packageName: string | undefined,
    message: string,
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A tensor or array had the wrong rank or dimensions for a model component. */
export class ShapeError extends ClipwiseError {
  constructor(
    message: string,
    readonly detail: { readonly expected?: readonly (number | null)[]; readonly actual?: readonly number[] } = {},
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** Input held NaN or ±Infinity where finite numbers are required. */
export class NonFiniteInputError extends ClipwiseError {}

/** A configuration value is wrong; `path` names the field (e.g. `cameras[2].url`). */
export class ConfigError extends ClipwiseError {
  constructor(
    message: string,
    readonly issues: readonly { readonly path: string; readonly message: string }[] = [],
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A saved model could not be read or does not match what the code expects. */
export class ModelLoadError extends ClipwiseError {
  constructor(
    message: string,
    readonly path: string,
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/**
 * An asynchronous model call of the stream (backbone batch, head batch) failed or returned
 * results that do not match its inputs. `cameraIds` names the cameras whose items were in the call.
 */
export class InferenceError extends ClipwiseError {
  constructor(
    message: string,
    readonly cameraIds: readonly string[],
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A sink could not take a record (its stream failed, or its bounded queue overflowed). */
export class SinkError extends ClipwiseError {
  constructor(
    message: string,
    readonly sink: string,
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/**
 * A video source failed: ffmpeg could not open or decode the input, the process could not
 * start, or a live camera stayed unreachable past its reconnect budget. Carries the camera,
 * the input (path or URL with credentials removed) and ffmpeg's last stderr lines, which
 * usually hold the real reason ("No such file or directory", "401 Unauthorized").
 */
export class SourceError extends ClipwiseError {
  constructor(
    message: string,
    readonly cameraId: string,
    readonly detail: {
      readonly input?: string;
      readonly exitCode?: number | null;
      readonly signal?: string | null;
      readonly stderrTail?: readonly string[];
    } = {},
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/**
 * Why a frame message was refused before (or while) decoding. Stable codes: they are the
 * dead-letter topic's `reason` header and the `reason` label of the dead-letter metric.
 */
export type FrameRejectReason =
  | 'empty'
  | 'too-large'
  | 'bad-key'
  | 'missing-header'
  | 'bad-header'
  | 'bad-encoding'
  | 'too-many-pixels'
  | 'bad-size'
  | 'bad-jpeg'
  | 'dimension-mismatch'
  | 'decode-failed';

/**
 * A frame message (Kafka frames topic) was malformed or over a limit, so it was not decoded.
 * Never retriable: the same bytes fail the same way. `cameraId` is the message key when it
 * was readable.
 */
export class FrameRejectedError extends ClipwiseError {
  constructor(
    message: string,
    readonly reason: FrameRejectReason,
    readonly cameraId: string | undefined,
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, { ...options, retriable: false });
  }
}

/**
 * No Kafka broker could be reached (or authenticated against) within the client's retry
 * budget. Retriable when the cause was a connection failure, not when it was authentication.
 */
export class KafkaUnavailableError extends ClipwiseError {
  constructor(
    message: string,
    readonly brokers: readonly string[],
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A Kafka operation (produce, commit, subscribe, consume) failed after the client's retries. */
export class KafkaOperationError extends ClipwiseError {
  constructor(
    message: string,
    readonly operation: 'produce' | 'commit' | 'subscribe' | 'consume',
    readonly topic: string,
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/**
 * A tensor kernel was called with an attribute value, dtype or layout it does not implement
 * (e.g. a `NCDHW` conv3d on wasm). `kernel` is the tfjs kernel name, `attribute` the offending
 * attribute (or `dtype`).
 */
export class UnsupportedKernelError extends ClipwiseError {
  constructor(
    readonly kernel: string,
    readonly attribute: string,
    message: string,
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/**
 * The synthetic benchmark generator (`clipwise synth`) failed: ffmpeg missing or exiting
 * with an error while encoding a video, or the output not writable. `reason` is a stable
 * code; `stderrTail` holds ffmpeg's last stderr lines, which usually name the real cause.
 */
export class SynthError extends ClipwiseError {
  constructor(
    message: string,
    readonly reason: 'ffmpeg-missing' | 'ffmpeg-failed' | 'aborted' | 'io',
    readonly detail: {
      readonly videoPath?: string;
      readonly ffmpegPath?: string;
      readonly exitCode?: number | null;
      readonly signal?: string | null;
      readonly stderrTail?: readonly string[];
    } = {},
    options: ClipwiseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/**
 * A data-parallel training worker (src/train/replicaPool.ts) failed, exited or was sent a
 * malformed batch; the message names the worker and its error. Training cannot go on in that
 * run: finished epochs are checkpointed, `clipwise train --resume` continues.
 */
export class TrainingWorkerError extends ClipwiseError {}
