/**
 * Cuts a byte stream of concatenated fixed-size raw frames (ffmpeg's `-f rawvideo`) into
 * frames. Pipe reads end anywhere, so a frame may start in one chunk and end two chunks
 * later; this keeps the partial frame and completes it from the next chunks.
 */
import { ShapeError } from '../../errors.ts';

/**
 * Splits raw video bytes into frames of exactly `frameBytes`.
 *
 * Why a copy per frame: each output frame gets its own exactly sized buffer, filled by one
 * `set` per chunk piece, so every byte is copied once and chunks are never concatenated.
 * Handing out `subarray`s of the pipe's chunks instead would save that copy but pin each
 * 64 KiB chunk for as long as any frame in it lives (clip buffers keep frames for seconds),
 * multiplying memory per camera.
 *
 * @example
 * const parser = new RawFrameParser(112 * 112 * 3);
 * child.stdout.on('data', (chunk) => parser.push(chunk, (frame) => emit(frame)));
 */
export class RawFrameParser {
  private current: Uint8Array | undefined;
  private filled = 0;

  /**
   * @param frameBytes - size of one frame (width·height·channels), > 0
   */
  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) {
      throw new ShapeError(`frame size must be a positive integer, got ${frameBytes}`);
    }
  }

  /** Bytes of an incomplete frame held back, waiting for the next chunk. */
  get pendingBytes(): number {
    return this.filled;
  }

  /**
   * Consumes one chunk and calls `onFrame` for each frame it completes, in order.
   *
   * Why it can stop early: a paced source must not hand out the rest of a chunk once its
   * consumer is full; it gives the unconsumed bytes back to the stream and pauses it.
   *
   * @param chunk - the next bytes of the stream
   * @param onFrame - receives each complete frame (a fresh buffer the callee may keep);
   *   returning `false` (exactly) stops right after that frame
   * @returns bytes of `chunk` consumed (`chunk.length` unless `onFrame` stopped it)
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => unknown): number {
    let offset = 0;
    while (offset < chunk.length) {
      const frame = (this.current ??= new Uint8Array(this.frameBytes));
      const take = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      frame.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameBytes) {
        this.current = undefined;
        this.filled = 0;
        if (onFrame(frame) === false) return offset;
      }
    }
    return offset;
  }

  /**
   * Drops a partial frame (the process died mid-frame; its rest will never come).
   *
   * @returns how many bytes were dropped
   */
  reset(): number {
    const dropped = this.filled;
    this.current = undefined;
    this.filled = 0;
    return dropped;
  }
}
