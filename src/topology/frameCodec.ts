/**
 * The frames-topic message format, and its validating decoder.
 *
 * A message is one frame of one camera: key = camera id, value = a JPEG or raw RGB24 image,
 * headers `ts` (pts, ms), `seq` (per-camera sequence number), `width`, `height` (the
 * payload's own size) and `encoding` (`jpeg` | `rgb24`).
 *
 * Why validate before decoding: the frames topic is written by edge devices we do not
 * control, and a hostile or broken message must cost bytes, not memory. A 600 KB JPEG can
 * claim 30000×30000 pixels and take gigabytes to decode, so sizes are checked from the
 * headers and from the JPEG's own SOF marker before sharp sees the bytes, and sharp still
 * runs with `limitInputPixels` as a second fence.
 */
import sharp from 'sharp';
import { FrameRejectedError, type FrameRejectReason } from '../errors.ts';
import type { Frame } from '../types.ts';

/** Payload encodings a frame message may carry. */
export type FrameEncoding = 'jpeg' | 'rgb24';

/** Header names of a frame message; one place so producers and the decoder agree. */
export const FRAME_HEADER = {
  ts: 'ts',
  seq: 'seq',
  width: 'width',
  height: 'height',
  encoding: 'encoding',
} as const;

/** A header value as Kafka clients hand it over (kafkajs `IHeaders` values). */
export type FrameHeaderValue = Buffer | string | readonly (Buffer | string)[] | undefined;

/**
 * The parts of a Kafka message the decoder reads. Structurally a subset of kafkajs'
 * `KafkaMessage`, so consumer messages are passed as they are.
 */
export interface FrameMessage {
  readonly key?: Buffer | string | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, FrameHeaderValue>>;
}

/** Limits and target size of {@link decodeFrameMessage}. */
export interface DecodeFrameOptions {
  /** Analysis width: every decoded frame is resized to width×height. */
  readonly width: number;
  /** Analysis height. */
  readonly height: number;
  /** Largest accepted message value, bytes. Default 4 MiB. */
  readonly maxBytes?: number;
  /** Largest accepted source image, pixels (width·height of the payload). Default 4096². */
  readonly maxPixels?: number;
}

/** Default {@link DecodeFrameOptions.maxBytes}: a 4K JPEG fits with room to spare. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Default {@link DecodeFrameOptions.maxPixels}: 4096×4096 (4K UHD is 8.3 M). */
export const DEFAULT_MAX_FRAME_PIXELS = 4096 * 4096;

const CAMERA_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DIMENSION_MAX = 65_535;

/**
 * Validates a frame message and decodes it to an RGB24 frame at the analysis size.
 *
 * Why the order of checks: every check that needs no pixels (size, key, headers, JPEG
 * SOF dimensions) runs first, so a malformed or oversized message is refused without
 * allocating its pixels; only then does sharp decode, with `failOn: 'error'` so a truncated
 * or corrupt JPEG is refused instead of half-grey.
 *
 * @example
 * const frame = await decodeFrameMessage(message, { width: 112, height: 112, maxBytes: 4 << 20 });
 * @param message - a frames-topic message (key, value, headers)
 * @param options - analysis size and limits
 * @returns the frame (camera, seq, pts, RGB24 at width×height); no `source` (the consumer adds it)
 * @throws FrameRejectedError with a `reason` code when the message is malformed or over a limit
 */
export async function decodeFrameMessage(message: FrameMessage, options: DecodeFrameOptions): Promise<Frame> {
  const { width, height } = options;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_FRAME_PIXELS;
  if (!isDimension(width) || !isDimension(height)) {
    throw new RangeError(`analysis size must be positive integers, got ${width}x${height}`);
  }

  const keyText = message.key == null ? undefined : message.key.toString();
  const cameraId = keyText !== undefined && CAMERA_ID.test(keyText) ? keyText : undefined;
  const reject = (reason: FrameRejectReason, text: string, cause?: unknown): FrameRejectedError =>
    new FrameRejectedError(text, reason, cameraId, cause === undefined ? {} : { cause });

  const value = message.value;
  if (value === null || value.length === 0) throw reject('empty', 'frame message has no value');
  if (value.length > maxBytes) {
    throw reject('too-large', `frame message is ${value.length} bytes, over the ${maxBytes}-byte limit`);
  }
  if (cameraId === undefined) {
    throw reject('bad-key', 'frame message key must be a camera id (letters, digits, . _ : -; 1-128 chars)');
  }

  const headers = message.headers ?? {};
  const ptsMs = parseNumber(headers, FRAME_HEADER.ts, reject, (n) => Number.isFinite(n) && n >= 0);
  const seq = parseNumber(headers, FRAME_HEADER.seq, reject, (n) => Number.isSafeInteger(n) && n >= 0);
  const srcWidth = parseNumber(headers, FRAME_HEADER.width, reject, isDimension);
  const srcHeight = parseNumber(headers, FRAME_HEADER.height, reject, isDimension);
  const encoding = headerText(headers, FRAME_HEADER.encoding, reject);
  if (encoding !== 'jpeg' && encoding !== 'rgb24') {
    throw reject('bad-encoding', `unknown frame encoding '${encoding.slice(0, 32)}' (jpeg or rgb24)`);
  }
  if (srcWidth * srcHeight > maxPixels) {
    throw reject('too-many-pixels', `frame claims ${srcWidth}x${srcHeight}, over the ${maxPixels}-pixel limit`);
  }

  const meta = { cameraId, seq, ptsMs, width, height } as const;
  if (encoding === 'rgb24') {
    if (value.length !== srcWidth * srcHeight * 3) {
      throw reject('bad-size', `rgb24 frame is ${value.length} bytes, ${srcWidth}x${srcHeight}x3 = ${srcWidth * srcHeight * 3} expected`);
    }
    if (srcWidth === width && srcHeight === height) {
      // Copy: the value is a slice of the consumer's whole fetch buffer, which a kept
      // reference would pin in memory for as long as the frame lives.
      return { ...meta, data: new Uint8Array(value) };
    }
    return { ...meta, data: await resize(value, { raw: { width: srcWidth, height: srcHeight, channels: 3 } }, options, maxPixels, reject) };
  }

  const sof = readJpegSize(value);
  if (sof === undefined) throw reject('bad-jpeg', 'value is not a JPEG with a frame header (SOI … SOF)');
  if (sof.width * sof.height > maxPixels || sof.width === 0 || sof.height === 0) {
    throw reject('too-many-pixels', `JPEG header claims ${sof.width}x${sof.height}, over the ${maxPixels}-pixel limit or empty`);
  }
  if (sof.width !== srcWidth || sof.height !== srcHeight) {
    throw reject('dimension-mismatch', `headers say ${srcWidth}x${srcHeight} but the JPEG is ${sof.width}x${sof.height}`);
  }
  return { ...meta, data: await resize(value, undefined, options, maxPixels, reject) };
}

/**
 * Encodes a frame as a frames-topic message (the inverse of {@link decodeFrameMessage}).
 *
 * Why here: the ingest role, edge simulators and tests all produce frame messages; one
 * encoder keeps their headers identical to what the decoder expects.
 *
 * @example
 * await producer.send({ topic, messages: [await encodeFrameMessage(frame, 'jpeg')] });
 * @param frame - an RGB24 frame
 * @param encoding - `jpeg` (quality 85 by default) or `rgb24` (the bytes as they are)
 * @param jpegQuality - JPEG quality 1-100
 * @returns a message with key, value and string headers, ready for kafkajs `send`
 */
export async function encodeFrameMessage(
  frame: Frame,
  encoding: FrameEncoding,
  jpegQuality = 85,
): Promise<{ key: string; value: Buffer; headers: Record<string, string> }> {
  if (frame.data.length !== frame.width * frame.height * 3) {
    throw new RangeError(`frame data is ${frame.data.length} bytes, ${frame.width}x${frame.height}x3 expected`);
  }
  const value =
    encoding === 'rgb24'
      ? Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength)
      : await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
          .jpeg({ quality: jpegQuality })
          .toBuffer();
  return {
    key: frame.cameraId,
    value,
    headers: {
      [FRAME_HEADER.ts]: String(frame.ptsMs),
      [FRAME_HEADER.seq]: String(frame.seq),
      [FRAME_HEADER.width]: String(frame.width),
      [FRAME_HEADER.height]: String(frame.height),
      [FRAME_HEADER.encoding]: encoding,
    },
  };
}

/**
 * Reads the image size from a JPEG's SOF marker without decoding anything.
 *
 * Why by hand: it is a few lines over the marker segments, needs no allocation, and gives
 * an answer sharp's own header probe would only give after setting up a decoder.
 *
 * @example
 * readJpegSize(bytes); // { width: 640, height: 480 } or undefined
 * @param bytes - the candidate JPEG
 * @returns the SOF dimensions, or undefined when the bytes are not a JPEG or end before a SOF
 */
export function readJpegSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1] ?? 0;
    // Fill bytes (0xFF padding) may precede a marker.
    if (marker === 0xff) {
      i += 1;
      continue;
    }
    // Markers without a length field: TEM and RSTn.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    // Start of scan or end of image before any frame header: not a usable JPEG.
    if (marker === 0xda || marker === 0xd9) return undefined;
    const length = ((bytes[i + 2] ?? 0) << 8) | (bytes[i + 3] ?? 0);
    if (length < 2) return undefined;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > bytes.length) return undefined;
      const height = ((bytes[i + 5] ?? 0) << 8) | (bytes[i + 6] ?? 0);
      const width = ((bytes[i + 7] ?? 0) << 8) | (bytes[i + 8] ?? 0);
      return { width, height };
    }
    i += 2 + length;
  }
  return undefined;
}

type Reject = (reason: FrameRejectReason, text: string, cause?: unknown) => FrameRejectedError;

async function resize(
  input: Buffer,
  raw: { raw: { width: number; height: number; channels: 3 } } | undefined,
  options: DecodeFrameOptions,
  maxPixels: number,
  reject: Reject,
): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(input, { ...raw, limitInputPixels: maxPixels, failOn: 'error', sequentialRead: true })
      .resize(options.width, options.height, { fit: 'fill' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== options.width * options.height * 3) {
      throw new Error(`decoder produced ${info.width}x${info.height}x${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    throw reject('decode-failed', `frame could not be decoded: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function headerText(headers: Readonly<Record<string, FrameHeaderValue>>, name: string, reject: Reject): string {
  const raw = headers[name];
  if (raw === undefined) throw reject('missing-header', `frame message has no '${name}' header`);
  // A repeated header is ambiguous (which one is right?), so it is refused, not guessed.
  if (Array.isArray(raw) && raw.length !== 1) {
    throw reject('bad-header', `frame message has ${raw.length} '${name}' headers`);
  }
  const one: Buffer | string = Array.isArray(raw) ? (raw[0] as Buffer | string) : (raw as Buffer | string);
  const text = one.toString();
  if (text.length > 64) throw reject('bad-header', `'${name}' header is ${text.length} characters long`);
  return text;
}

function parseNumber(
  headers: Readonly<Record<string, FrameHeaderValue>>,
  name: string,
  reject: Reject,
  valid: (n: number) => boolean,
): number {
  const text = headerText(headers, name, reject).trim();
  // Number('') is 0 and Number('0x10') is 16: only plain decimal notation is a frame header.
  const n = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!valid(n)) throw reject('bad-header', `'${name}' header '${text.slice(0, 32)}' is not valid`);
  return n;
}

function isDimension(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n <= DIMENSION_MAX;
}
