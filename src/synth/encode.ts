/**
 * Encodes RGB24 frames to H.264 MP4 by piping them into an ffmpeg child process.
 *
 * Why own the process instead of a wrapper: the encoder must respect the pipe's
 * backpressure (a renderer is faster than x264 on a busy machine), always drain ffmpeg's
 * stderr (an undrained pipe stalls it), always reap the child, and turn a missing or
 * failing ffmpeg into a typed error carrying the stderr tail that names the cause.
 */
import { spawn } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import { ShapeError, SynthError } from '../errors.ts';

/** Where and how to encode. */
export interface EncodeOptions {
  /** Output file (.mp4); written as `<path>.part.mp4` and renamed when ffmpeg succeeds. */
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** ffmpeg executable (default 'ffmpeg', looked up on PATH). */
  readonly ffmpegPath?: string;
  /** x264 constant rate factor (default 23). */
  readonly crf?: number;
  /** x264 preset (default 'veryfast'). */
  readonly preset?: string;
  /** Aborting kills ffmpeg and rejects with a SynthError ('aborted'). */
  readonly signal?: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL when ffmpeg must be stopped (ms, default 2000). */
  readonly killGraceMs?: number;
}

/** What was encoded. */
export interface EncodeResult {
  readonly path: string;
  readonly frames: number;
}

const STDERR_LINES = 20;

/**
 * Pipes frames into `ffmpeg -f rawvideo -pix_fmt rgb24 … -c:v libx264 -pix_fmt yuv420p`.
 *
 * @example
 * await encodeVideo(videoFrames(spec), { path: 'out/videos/0000.mp4', width: 320, height: 240, fps: 10 });
 * @param frames - RGB24 frames of width·height·3 bytes; each buffer must stay untouched
 *   after it is yielded (the pipe may still hold it)
 * @param o - output path, size, rate, encoder settings
 * @returns the output path and the number of frames written
 * @throws SynthError 'ffmpeg-missing' when the executable cannot be started,
 *   'ffmpeg-failed' when it exits non-zero (with its stderr tail), 'aborted' on abort;
 *   errors thrown by the frame source are rethrown after ffmpeg is stopped
 */
export async function encodeVideo(
  frames: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  o: EncodeOptions,
): Promise<EncodeResult> {
  const ffmpeg = o.ffmpegPath ?? 'ffmpeg';
  const part = `${o.path}.part.mp4`;
  const frameBytes = o.width * o.height * 3;
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${o.width}x${o.height}`,
    '-r',
    String(o.fps),
    '-i',
    '-',
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    o.preset ?? 'veryfast',
    '-crf',
    String(o.crf ?? 23),
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    part,
  ];
  o.signal?.throwIfAborted();
  const child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  const tail: string[] = [];
  let partial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') tail.push(line);
    if (tail.length > STDERR_LINES) tail.splice(0, tail.length - STDERR_LINES);
  });
  let spawnError: NodeJS.ErrnoException | undefined;
  let pipeError: Error | undefined;
  let exited = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      // A child that never started emits no 'close' on some platforms.
      if (child.pid === undefined) {
        exited = true;
        resolve({ code: null, signal: null });
      }
    });
    child.once('close', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });
  // EPIPE when ffmpeg dies early: remembered, reported with ffmpeg's own exit status.
  child.stdin.on('error', (err: Error) => {
    pipeError = err;
  });
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (exited) return;
    child.kill('SIGTERM');
    killTimer ??= setTimeout(() => {
      if (!exited) child.kill('SIGKILL');
    }, o.killGraceMs ?? 2000);
  };
  const onAbort = (): void => stop();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const stderrTail = (): string[] => (partial.trim() === '' ? [...tail] : [...tail, partial]);

  let count = 0;
  let sourceError: unknown;
  try {
    try {
      for await (const frame of frames) {
        if (frame.length !== frameBytes) {
          throw new ShapeError(`frame ${count} has ${frame.length} bytes, expected ${frameBytes}`, {
            expected: [o.height, o.width, 3],
            actual: [frame.length],
          });
        }
        if (exited || pipeError !== undefined || spawnError !== undefined || o.signal?.aborted === true) break;
        count++;
        if (!child.stdin.write(frame)) await drainOrClose(child.stdin, closed);
      }
    } catch (err) {
      sourceError = err;
      stop();
    }
    if (!exited) child.stdin.end();
    const { code, signal } = await closed;
    if (sourceError !== undefined) throw sourceError;
    if (spawnError?.code === 'ENOENT' || spawnError?.code === 'EACCES') {
      throw new SynthError(`ffmpeg could not be started (${spawnError.code}): '${ffmpeg}'. Install ffmpeg or pass --ffmpeg PATH.`, 'ffmpeg-missing', { videoPath: o.path, ffmpegPath: ffmpeg }, { cause: spawnError });
    }
    if (o.signal?.aborted === true) {
      throw new SynthError(`encoding ${o.path} aborted`, 'aborted', { videoPath: o.path, ffmpegPath: ffmpeg }, { cause: o.signal.reason });
    }
    if (spawnError !== undefined || code !== 0) {
      const lines = stderrTail();
      throw new SynthError(
        `ffmpeg failed encoding ${o.path} (exit ${code ?? signal ?? 'unknown'})${lines.length ? `: ${lines.slice(-3).join(' | ')}` : ''}`,
        'ffmpeg-failed',
        { videoPath: o.path, ffmpegPath: ffmpeg, exitCode: code, signal, stderrTail: lines },
        { cause: spawnError ?? pipeError },
      );
    }
    try {
      await rename(part, o.path);
    } catch (err) {
      throw new SynthError(`could not move ${part} to ${o.path}`, 'io', { videoPath: o.path }, { cause: err });
    }
    return { path: o.path, frames: count };
  } catch (err) {
    await rm(part, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    // Whatever happened above, the child is reaped before we return.
    if (!exited) {
      stop();
      await closed;
    }
    if (killTimer !== undefined) clearTimeout(killTimer);
  }
}

/** Resolves when the writable drains, errors, or the child closes, whichever comes first. */
function drainOrClose(stdin: NodeJS.WritableStream, closed: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stdin.off('drain', done);
      stdin.off('error', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('error', done);
    void closed.then(done);
  });
}
