/**
 * The ffmpeg command line of the decoder adapter, and a probe of what the installed ffmpeg
 * supports. fluent-ffmpeg is archived upstream (2025), so it is used only here, only to
 * build the argument list; spawning, piping and reaping belong to `ffmpegSource.ts`.
 */
import { spawn } from 'node:child_process';
import ffmpeg from 'fluent-ffmpeg';

/** Inputs to {@link buildFfmpegArgs}. */
export interface FfmpegArgsOptions {
  /** File path or URL handed to `-i`. */
  readonly input: string;
  /** Analysis rate, frames per second (ffmpeg's `fps` filter resamples to it). */
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** Read the input at its native rate (`-re`): file demos that should look live. */
  readonly realtime?: boolean;
  /**
   * RTSP socket timeout in ms and the option name that sets it on this ffmpeg
   * (`timeout` since ffmpeg 5, `stimeout` before; see {@link detectFfmpegCapabilities}).
   * Ignored for inputs that are not `rtsp://`.
   */
  readonly ioTimeoutMs?: number;
  readonly rtspTimeoutOption?: RtspTimeoutOption;
  /**
   * `aggressive` makes the decoder flag (and ffmpeg drop) frames with bitstream errors
   * that it would otherwise conceal silently — on Megamind_bugy.avi the default decode
   * hands out frames with green bands; `default` leaves ffmpeg's own setting.
   */
  readonly errorDetection?: 'aggressive' | 'default';
  /**
   * More input options, placed after the built-in ones so they win where they overlap
   * (e.g. `['-analyzeduration', '500000']` to start a camera faster, at the risk of
   * misdetecting odd streams).
   */
  readonly extraInputArgs?: readonly string[];
}

/** ffmpeg's name for the RTSP socket I/O timeout (microseconds). */
export type RtspTimeoutOption = 'timeout' | 'stimeout';

/**
 * Options ahead of the input that apply to the whole run: no interactive stdin (ffmpeg would
 * otherwise read keystrokes from it), no progress line (it rewrites one line with `\r` many
 * times a second), and warnings with their level tag and without "Last message repeated N
 * times" folding, so every corrupt frame is one countable stderr line.
 */
const GLOBAL_ARGS: readonly string[] = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'repeat+level+warning'];

/**
 * Builds the decoder's argument list: decode to raw RGB24 at the analysis rate and size on
 * stdout. Rate and size conversion happen in ffmpeg's filter graph (`fps`, `scale`), never in
 * JS, so only analysis-sized frames cross the pipe.
 *
 * @example
 * buildFfmpegArgs({ input: 'rtsp://cam/1', fps: 5, width: 112, height: 112, ioTimeoutMs: 5000, rtspTimeoutOption: 'timeout' });
 * // ['-nostdin', …, '-rtsp_transport', 'tcp', '-timeout', '5000000', '-fflags', '+genpts+discardcorrupt', …, '-i', 'rtsp://cam/1', …, 'pipe:1']
 * @param options - input, rate, size and input flags
 * @returns the arguments after the ffmpeg binary
 */
export function buildFfmpegArgs(options: FfmpegArgsOptions): string[] {
  const inputOptions: string[] = [];
  if (isRtsp(options.input)) {
    // TCP interleaving: UDP loses packets under load and is blocked by most NATs.
    inputOptions.push('-rtsp_transport', 'tcp');
    if (options.ioTimeoutMs !== undefined && options.rtspTimeoutOption !== undefined) {
      inputOptions.push(`-${options.rtspTimeoutOption}`, String(Math.round(options.ioTimeoutMs * 1000)));
    }
  }
  inputOptions.push('-fflags', '+genpts+discardcorrupt');
  if ((options.errorDetection ?? 'aggressive') === 'aggressive') inputOptions.push('-err_detect', 'aggressive');
  if (options.realtime === true) inputOptions.push('-re');
  inputOptions.push(...(options.extraInputArgs ?? []));

  const command = ffmpeg()
    .input(options.input)
    .inputOptions(inputOptions)
    .noAudio()
    // `area` averages the source pixels under each output pixel: no aliasing when a
    // 1080p camera shrinks to 112×112, at a cost similar to bilinear.
    .videoFilters([`fps=${options.fps}`, `scale=${options.width}:${options.height}:flags=area`])
    .outputOptions(['-sn', '-dn', '-pix_fmt', 'rgb24'])
    .format('rawvideo')
    .output('pipe:1');
  return [...GLOBAL_ARGS, ...command._getArguments()];
}

/** True for `rtsp://` and `rtsps://` URLs, which get the RTSP input flags. */
export function isRtsp(input: string): boolean {
  return /^rtsps?:\/\//i.test(input);
}

/** What {@link detectFfmpegCapabilities} found out about an ffmpeg binary. */
export interface FfmpegCapabilities {
  /** First line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1 …". */
  readonly version: string;
  /**
   * The option that sets the RTSP socket timeout, or undefined when neither exists.
   * ffmpeg ≤ 4 calls it `-stimeout`; there `-timeout` is the *listen* timeout and turns
   * the client into a server, so the name must be probed, not assumed.
   */
  readonly rtspTimeoutOption: RtspTimeoutOption | undefined;
}

/**
 * Asks an ffmpeg binary for its version and RTSP demuxer options.
 *
 * Why: the RTSP timeout flag changed meaning between ffmpeg 4 and 5 (see
 * {@link FfmpegCapabilities.rtspTimeoutOption}); a wrong guess makes cameras hang or listen.
 *
 * @example
 * const caps = await detectFfmpegCapabilities('ffmpeg'); // { version: 'ffmpeg version 5.1.9…', rtspTimeoutOption: 'timeout' }
 * @param ffmpegPath - binary to ask
 * @returns its capabilities
 * @throws the spawn error (ENOENT) when the binary cannot start
 */
export async function detectFfmpegCapabilities(ffmpegPath: string): Promise<FfmpegCapabilities> {
  const help = await capture(ffmpegPath, ['-hide_banner', '-h', 'demuxer=rtsp']);
  const versionText = await capture(ffmpegPath, ['-version']);
  return {
    version: versionText.split('\n', 1)[0]?.trim() ?? '',
    rtspTimeoutOption: parseRtspTimeoutOption(help),
  };
}

/**
 * Reads the RTSP timeout option name out of `ffmpeg -h demuxer=rtsp` output.
 *
 * @param help - the help text
 * @returns `stimeout` when present (ffmpeg ≤ 4), `timeout` when it is the socket I/O
 *   timeout (ffmpeg ≥ 5), otherwise undefined
 */
export function parseRtspTimeoutOption(help: string): RtspTimeoutOption | undefined {
  if (/^\s*-stimeout\s/m.test(help)) return 'stimeout';
  const line = /^\s*-timeout\s.*$/m.exec(help)?.[0];
  if (line !== undefined && /socket|I\/O/i.test(line) && !/incoming connections/i.test(line)) return 'timeout';
  return undefined;
}

function capture(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
    });
    // Drained even though unused: a full stderr pipe would block the child.
    child.stderr.resume();
    child.once('error', reject);
    child.once('close', () => resolve(text));
  });
}
