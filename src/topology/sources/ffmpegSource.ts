/**
 * The ffmpeg decoder adapter: files and live URLs (RTSP) in, `Frame`s at the analysis rate
 * and size out. fluent-ffmpeg builds the command (`ffmpegCommand.ts`); the child process
 * is owned here: stdout parsed into frames, stderr always drained, a stall watchdog,
 * SIGTERM → SIGKILL escalation, reaping, and reconnects with backoff.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Observable } from 'rxjs';
import { ConfigError, SourceError } from '../../errors.ts';
import { createBackoff } from '../../retry.ts';
import type { BackoffOptions } from '../../retry.ts';
import type { Frame } from '../../types.ts';
import type { PullGate } from '../pullControl.ts';
import { buildFfmpegArgs, detectFfmpegCapabilities, isRtsp } from './ffmpegCommand.ts';
import type { FfmpegCapabilities } from './ffmpegCommand.ts';
import { RawFrameParser } from './rawFrameParser.ts';
import type { SourceLogger, SourceStats, VideoSource } from './source.ts';

/** Options of {@link createFfmpegSource}. Exactly one of `url` and `path` is required. */
export interface FfmpegSourceOptions {
  readonly cameraId: string;
  /** Live input (rtsp://…, also http/udp/srt URLs ffmpeg reads): reconnects forever by default. */
  readonly url?: string;
  /** File input: completes at end of file (or starts over with `loop`). */
  readonly path?: string;
  /** Analysis rate, frames/s. */
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** ffmpeg binary; default `ffmpeg` from PATH. */
  readonly ffmpegPath?: string;
  /** No frame for this long → the decoder is killed and (live) reconnected. */
  readonly stallTimeoutMs: number;
  /**
   * Allowance for the first frame of each run (connect, probe, wait for a key frame).
   * Default: the larger of `stallTimeoutMs` and 10 s — ffmpeg's default probe alone took
   * ~3 s on a local RTSP server, so a short stall timeout must not apply before the first
   * frame or such a camera would be killed on every attempt and never start.
   */
  readonly startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace, ms. Default 2000. */
  readonly killGraceMs?: number;
  /** Reconnect delays (see `retry.ts` for defaults). */
  readonly backoff?: BackoffOptions;
  /** Live sources: give up with a `SourceError` after this many consecutive failed reconnects. Default: never. */
  readonly maxReconnects?: number;
  /** RTSP socket timeout ffmpeg itself enforces (its `-timeout`), ms. Default 5000. */
  readonly ioTimeoutMs?: number;
  /** Pace file input at its native rate (`-re`), for demos. */
  readonly realtime?: boolean;
  /** File input: start over at end of file instead of completing. */
  readonly loop?: boolean;
  /**
   * Pace a file (not `realtime`) by its consumer: while the gate is full, ffmpeg's output is
   * paused (ffmpeg then blocks on the pipe) instead of frames being pushed into queues that
   * drop. The stall watchdog sleeps while the source waits. Live inputs cannot wait: refused.
   */
  readonly pull?: PullGate;
  /** See `FfmpegArgsOptions.errorDetection`. Default `aggressive`. */
  readonly errorDetection?: 'aggressive' | 'default';
  /** Extra ffmpeg input options (see `FfmpegArgsOptions.extraInputArgs`). */
  readonly extraInputArgs?: readonly string[];
  /** stderr lines kept for error messages. Default 20. */
  readonly stderrTailLines?: number;
  readonly logger?: SourceLogger;
  /** Called when a reconnect is scheduled (metrics, logs). */
  readonly onReconnect?: (info: ReconnectInfo) => void;
  /** Called when the watchdog fires, before the decoder is killed. */
  readonly onStall?: (info: StallInfo) => void;
  /** Called after each decoder start. */
  readonly onSpawn?: (info: { readonly pid: number; readonly args: readonly string[] }) => void;
  /** Called for each source frame the decoder reports as corrupt and drops (metrics). */
  readonly onCorruptFrame?: (cameraId: string) => void;
  /** Called after each decoder exit, once the process has been reaped. */
  readonly onExit?: (info: ExitInfo) => void;
  /** Wall clock for live pts, epoch ms; injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
}

/** How a decoder run ended. */
export interface ExitInfo {
  readonly pid: number;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Frames this run delivered. */
  readonly frames: number;
  /** Why it ended: the input ended or failed by itself, the watchdog, or unsubscribe. */
  readonly reason: 'exit' | 'stall' | 'unsubscribe';
  readonly stderrTail: readonly string[];
}

/** A scheduled reconnect. */
export interface ReconnectInfo {
  readonly cameraId: string;
  /** Consecutive failed runs so far (1 = first retry since the last healthy run). */
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: 'exit' | 'stall';
  readonly exit: ExitInfo;
}

/** A watchdog firing. */
export interface StallInfo {
  readonly cameraId: string;
  readonly pid: number;
  /** ms since the last frame (or since the start, before the first frame). */
  readonly silentMs: number;
  /** True when no frame had come yet in this run (connect or probe hung). */
  readonly beforeFirstFrame: boolean;
}

const DEFAULT_KILL_GRACE_MS = 2000;
const MIN_DEFAULT_START_TIMEOUT_MS = 10_000;
const DEFAULT_IO_TIMEOUT_MS = 5000;
const DEFAULT_STDERR_TAIL = 20;
/** Long stderr lines (a dumped SDP, a URL list) are cut: the tail is for humans. */
const MAX_STDERR_LINE = 500;

type FfmpegChild = ChildProcessByStdio<null, Readable, Readable>;

/**
 * Creates a decoder-backed video source for one camera or file.
 *
 * Why: ffmpeg reads every camera and container there is; this adapter turns its raw output
 * into the project's `Frame`s and keeps a flaky camera from ever taking the process down or
 * leaving processes behind. Timing: ffmpeg's `fps` filter makes the output constant-rate,
 * so frame k of a run is at k/fps after the run's first frame; pts are derived from that
 * index (files: media time from 0, continued across loops; live: epoch ms at the run's
 * first frame plus k/fps, kept increasing across reconnects, pulled back to a frame's arrival
 * when frames come sooner than that, as after a slow decoder start). Real per-frame pts would need
 * `showinfo` lines on stderr matched to stdout frames across two pipes, for no gain after
 * a constant-rate filter.
 *
 * Live inputs push frames as ffmpeg produces them, with no backpressure: live video cannot
 * wait, so slow consumers drop downstream (bounded queues). A file without `realtime`
 * arrives as fast as ffmpeg decodes it (hundreds of frames/s at 112×112) unless it is given
 * a `pull` gate: then it stops after any frame that finds the gate full (the rest of the pipe
 * chunk is given back to the stream, which is paused) and goes on when the gate drains.
 *
 * @example
 * const cam = createFfmpegSource({ cameraId: 'gate', url: 'rtsp://10.0.0.7/stream1', fps: 5,
 *   width: 112, height: 112, stallTimeoutMs: 5000, backoff: { initialMs: 500 }, logger: console });
 * const sub = cam.frames$.subscribe((f) => console.log(f.seq, f.ptsMs, f.gapBefore));
 * // later: sub.unsubscribe(); // ffmpeg gets SIGTERM, then SIGKILL, and is reaped
 * @param options - input, analysis format, watchdog and reconnect policy
 * @returns the source; nothing starts until `frames$` is subscribed
 * @throws ConfigError when the options are inconsistent
 */
export function createFfmpegSource(options: FfmpegSourceOptions): VideoSource {
  validate(options);
  const cameraId = options.cameraId;
  const live = options.url !== undefined;
  const input = options.url ?? options.path ?? '';
  const shownInput = redactUrl(input);
  const ffmpegPath = options.ffmpegPath ?? 'ffmpeg';
  const frameBytes = options.width * options.height * 3;
  const frameMs = 1000 / options.fps;
  const startTimeoutMs = options.startTimeoutMs ?? Math.max(options.stallTimeoutMs, MIN_DEFAULT_START_TIMEOUT_MS);
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const maxReconnects = options.maxReconnects ?? Number.POSITIVE_INFINITY;
  const tailLines = options.stderrTailLines ?? DEFAULT_STDERR_TAIL;
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const pull = options.pull;
  pull?.pace(cameraId);

  // Source-level state: outlives subscriptions so numbering never restarts.
  let nextSeq = 0;
  let lastPtsMs = Number.NEGATIVE_INFINITY;
  const counters = { frames: 0, reconnects: 0, stalls: 0, corruptFrames: 0, loops: 0, spawns: 0 };
  let currentPid: number | undefined;
  let capabilities: Promise<FfmpegCapabilities> | undefined;
  let warnedNoTimeout = false;

  const frames$ = new Observable<Frame>((subscriber) => {
    let unsubscribed = false;
    let child: FfmpegChild | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    let cancelWait: (() => void) | undefined;
    // Frames delivered before this subscription (an earlier one failed): mark the seam.
    let gapPending = nextSeq > 0;
    let failedRuns = 0;
    let loopOffsetMs = 0;
    const backoff = createBackoff(options.backoff);
    const parser = new RawFrameParser(frameBytes);

    const fail = (error: SourceError): void => {
      if (unsubscribed) return;
      unsubscribed = true;
      subscriber.error(error);
    };

    const run = (args: readonly string[]): void => {
      if (unsubscribed) return;
      let proc: FfmpegChild;
      try {
        proc = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (error) {
        fail(new SourceError(`camera ${cameraId}: cannot start ${ffmpegPath}: ${String(error)}`, cameraId, { input: shownInput }, { cause: error }));
        return;
      }
      child = proc;
      counters.spawns += 1;
      const pid = proc.pid ?? -1;
      currentPid = proc.pid;
      let runFrames = 0;
      let runBaseMs = 0;
      let endReason: ExitInfo['reason'] = 'exit';
      let spawnError: Error | undefined;
      let lastFrameAt = now();
      const startedAt = lastFrameAt;
      const tail: string[] = [];
      let partialLine = '';

      const onStall = (): void => {
        if (unsubscribed || endReason !== 'exit') return;
        endReason = 'stall';
        counters.stalls += 1;
        const info: StallInfo = { cameraId, pid, silentMs: now() - (runFrames === 0 ? startedAt : lastFrameAt), beforeFirstFrame: runFrames === 0 };
        logger?.warn('source stalled; killing decoder', { ...info });
        options.onStall?.(info);
        terminate(proc, killGraceMs);
      };
      let watchdog = setTimeout(onStall, startTimeoutMs);
      if (proc.pid !== undefined) options.onSpawn?.({ pid: proc.pid, args });

      /** Pull: give back what was not read, pause the pipe, and sleep the watchdog until the gate drains. */
      const hold = (gate: PullGate, rest: Buffer): void => {
        proc.stdout.pause();
        // After pause(): unshifting into a flowing stream would re-emit the bytes at once.
        if (rest.length > 0) proc.stdout.unshift(rest);
        clearTimeout(watchdog);
        cancelWait = gate.whenDrained(() => {
          cancelWait = undefined;
          if (unsubscribed || child !== proc) return;
          watchdog = setTimeout(onStall, runFrames === 0 ? startTimeoutMs : options.stallTimeoutMs);
          proc.stdout.resume();
        });
      };

      proc.stdout.on('data', (chunk: Buffer) => {
        if (cancelWait !== undefined) {
          // Still waiting, yet data: Node resumes a child's paused stdio when the child exits
          // (child_process flushStdio). Put it back; the drain resumes the pipe.
          proc.stdout.pause();
          proc.stdout.unshift(chunk);
          return;
        }
        let wait = false;
        const used = parser.push(chunk, (data) => {
          // After a stall verdict or unsubscribe, late bytes are drained, not delivered.
          if (unsubscribed || endReason !== 'exit') return true;
          lastFrameAt = now();
          if (runFrames === 0) {
            backoff.reset();
            failedRuns = 0;
            runBaseMs = live ? Math.max(lastFrameAt, lastPtsMs + frameMs) : loopOffsetMs;
            // The first frame may come late (connect, probe); later ones get the stall leash.
            clearTimeout(watchdog);
            watchdog = setTimeout(onStall, options.stallTimeoutMs);
          } else {
            watchdog.refresh();
          }
          let ptsMs = runBaseMs + runFrames * frameMs;
          if (live && lastFrameAt < ptsMs) {
            // Here before its slot: the run's first frame came late (the decoder's start-up
            // delay) and ffmpeg is catching up. Follow the arrivals back so that no frame is
            // stamped after it arrived (measured: 2 s ahead on an RTSP camera otherwise,
            // making events end after they were emitted); stay increasing.
            ptsMs = Math.max(lastFrameAt, lastPtsMs + 1);
            runBaseMs = ptsMs - runFrames * frameMs;
          }
          runFrames += 1;
          lastPtsMs = ptsMs;
          counters.frames += 1;
          const frame: Frame = gapPending
            ? { cameraId, seq: nextSeq, ptsMs, width: options.width, height: options.height, data, gapBefore: true }
            : { cameraId, seq: nextSeq, ptsMs, width: options.width, height: options.height, data };
          nextSeq += 1;
          gapPending = false;
          subscriber.next(frame);
          wait = pull !== undefined && !unsubscribed && pull.full();
          return !wait;
        });
        if (wait && pull !== undefined) hold(pull, chunk.subarray(used));
      });

      // Always drained: ffmpeg blocks once the stderr pipe buffer (64 KiB) is full.
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (text: string) => {
        const lines = (partialLine + text).split('\n');
        partialLine = lines.pop() ?? '';
        for (const line of lines) onStderrLine(line);
      });
      const onStderrLine = (raw: string): void => {
        const line = raw.trimEnd();
        if (line === '') return;
        if (line.includes('corrupt decoded frame')) {
          counters.corruptFrames += 1;
          options.onCorruptFrame?.(cameraId);
        }
        tail.push(line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}…` : line);
        if (tail.length > tailLines) tail.shift();
      };

      proc.once('error', (error) => {
        // Spawn failures (ENOENT, EACCES) come here; 'close' still follows.
        spawnError = error;
      });
      proc.once('close', (exitCode, signal) => {
        clearTimeout(watchdog);
        if (partialLine !== '') onStderrLine(partialLine);
        parser.reset();
        if (child === proc) {
          child = undefined;
          currentPid = undefined;
        }
        const exit: ExitInfo = { pid, exitCode, signal, frames: runFrames, reason: unsubscribed ? 'unsubscribe' : endReason, stderrTail: tail };
        options.onExit?.(exit);
        if (unsubscribed) return;
        logger?.debug?.('decoder exited', { cameraId, pid, exitCode, signal, frames: runFrames, reason: exit.reason });
        afterExit(exit, spawnError);
      });
    };

    const afterExit = (exit: ExitInfo, spawnError: Error | undefined): void => {
      if (spawnError !== undefined) {
        fail(new SourceError(`camera ${cameraId}: cannot start ${ffmpegPath}: ${spawnError.message}`, cameraId, { input: shownInput }, { cause: spawnError }));
        return;
      }
      if (!live) {
        if (exit.reason === 'stall') {
          fail(sourceFailure(`camera ${cameraId}: decoding ${shownInput} stalled`, exit, true));
        } else if (exit.exitCode !== 0) {
          // Killed by someone else (OOM killer, operator): the file itself may be fine.
          fail(sourceFailure(`camera ${cameraId}: ffmpeg could not decode ${shownInput}`, exit, exit.signal !== null));
        } else if (options.loop === true && exit.frames > 0) {
          counters.loops += 1;
          loopOffsetMs = lastPtsMs + frameMs;
          gapPending = true;
          start();
        } else {
          unsubscribed = true;
          subscriber.complete();
        }
        return;
      }
      // Whatever ended the run, frames were lost between it and the next one. The next run
      // starts only after this one was reaped: never two decoders for one subscription.
      gapPending = nextSeq > 0;
      failedRuns += 1;
      if (failedRuns > maxReconnects) {
        fail(sourceFailure(`camera ${cameraId}: ${shownInput} unreachable after ${maxReconnects} reconnects`, exit, true));
        return;
      }
      const delayMs = backoff.next();
      counters.reconnects += 1;
      const info: ReconnectInfo = { cameraId, attempt: failedRuns, delayMs, reason: exit.reason === 'stall' ? 'stall' : 'exit', exit };
      logger?.warn('source lost; reconnecting', { cameraId, input: shownInput, attempt: info.attempt, delayMs, reason: info.reason, exitCode: exit.exitCode, signal: exit.signal, stderr: exit.stderrTail.slice(-3) });
      options.onReconnect?.(info);
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        start();
      }, delayMs);
    };

    const sourceFailure = (message: string, exit: ExitInfo, retriable: boolean): SourceError => {
      const reason = lastErrorLine(exit.stderrTail);
      return new SourceError(reason === undefined ? message : `${message}: ${reason}`, cameraId, {
        input: shownInput,
        exitCode: exit.exitCode,
        signal: exit.signal,
        stderrTail: exit.stderrTail,
      }, { retriable });
    };

    const start = (): void => {
      if (unsubscribed) return;
      const needsProbe = isRtsp(input);
      if (needsProbe) capabilities ??= detectFfmpegCapabilities(ffmpegPath);
      const ready: Promise<FfmpegCapabilities | undefined> = needsProbe && capabilities !== undefined ? capabilities : Promise.resolve(undefined);
      const checked: Promise<void> = live ? Promise.resolve() : ensureReadable(input);
      Promise.all([ready, checked]).then(
        ([caps]) => {
          if (caps !== undefined && caps.rtspTimeoutOption === undefined && !warnedNoTimeout) {
            warnedNoTimeout = true;
            logger?.warn('this ffmpeg has no RTSP socket timeout option; relying on the stall watchdog', { cameraId, version: caps.version });
          }
          run(buildFfmpegArgs({
            input,
            fps: options.fps,
            width: options.width,
            height: options.height,
            realtime: options.realtime,
            ioTimeoutMs: options.ioTimeoutMs ?? DEFAULT_IO_TIMEOUT_MS,
            rtspTimeoutOption: caps?.rtspTimeoutOption,
            errorDetection: options.errorDetection,
            extraInputArgs: options.extraInputArgs,
          }));
        },
        (error: unknown) => {
          fail(error instanceof SourceError
            ? error
            : new SourceError(`camera ${cameraId}: cannot start ${ffmpegPath}: ${String(error)}`, cameraId, { input: shownInput }, { cause: error }));
        },
      );
    };

    const ensureReadable = async (path: string): Promise<void> => {
      try {
        const info = await stat(path);
        if (!info.isFile()) throw new Error(`${path} is not a regular file`);
      } catch (error) {
        throw new SourceError(`camera ${cameraId}: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, cameraId, { input: path }, { cause: error });
      }
    };

    start();
    return () => {
      unsubscribed = true;
      clearTimeout(retryTimer);
      cancelWait?.();
      cancelWait = undefined;
      if (child !== undefined) {
        // A paused pipe never reaches its end, and the child's 'close' (our reaping) waits
        // for it: let it flow (the bytes are discarded) while ffmpeg is terminated.
        child.stdout.resume();
        terminate(child, killGraceMs);
      }
    };
  });

  return {
    cameraId,
    frames$,
    stats: (): SourceStats => ({ ...counters, pid: currentPid }),
  };
}

/**
 * SIGTERM first (ffmpeg closes its outputs and exits within ~100 ms, even inside a blocked
 * network read), SIGKILL after the grace period if it did not. The 'close' handler of the
 * run observes the exit, which is when Node has reaped the child.
 */
function terminate(proc: FfmpegChild, graceMs: number): void {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const escalate = setTimeout(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }, graceMs);
  proc.once('exit', () => clearTimeout(escalate));
}

function lastErrorLine(tail: readonly string[]): string | undefined {
  for (let i = tail.length - 1; i >= 0; i -= 1) {
    const line = tail[i];
    if (line !== undefined && /^\[(error|fatal|panic)\]/.test(line)) return line.replace(/^\[\w+\]\s*/, '');
  }
  return tail.at(-1);
}

/** Hides the password of `scheme://user:password@host` so URLs can be logged. */
function redactUrl(input: string): string {
  return input.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

function validate(options: FfmpegSourceOptions): void {
  const issues: { path: string; message: string }[] = [];
  const positive = (path: string, value: number | undefined, integer: boolean): void => {
    if (value === undefined) return;
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      issues.push({ path, message: `must be a positive ${integer ? 'integer' : 'number'}, got ${value}` });
    }
  };
  if (options.cameraId === '') issues.push({ path: 'cameraId', message: 'must not be empty' });
  if ((options.url === undefined) === (options.path === undefined)) issues.push({ path: 'url|path', message: 'exactly one of url and path is required' });
  if (options.url === '' || options.path === '') issues.push({ path: 'url|path', message: 'must not be empty' });
  if (options.url !== undefined && options.loop === true) issues.push({ path: 'loop', message: 'only file sources loop' });
  if (options.pull !== undefined && (options.url !== undefined || options.realtime === true)) {
    issues.push({ path: 'pull', message: 'only files read faster than real time can wait for their consumer' });
  }
  positive('fps', options.fps, false);
  positive('width', options.width, true);
  positive('height', options.height, true);
  positive('stallTimeoutMs', options.stallTimeoutMs, false);
  positive('startTimeoutMs', options.startTimeoutMs, false);
  positive('killGraceMs', options.killGraceMs, false);
  positive('ioTimeoutMs', options.ioTimeoutMs, false);
  positive('stderrTailLines', options.stderrTailLines, true);
  if (options.maxReconnects !== undefined && !(options.maxReconnects >= 0)) issues.push({ path: 'maxReconnects', message: 'must be >= 0' });
  if (issues.length > 0) {
    throw new ConfigError(`invalid ffmpeg source options for camera ${options.cameraId}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues);
  }
}
