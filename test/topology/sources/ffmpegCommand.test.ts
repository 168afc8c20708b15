import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFfmpegArgs, detectFfmpegCapabilities, parseRtspTimeoutOption } from '../../../src/topology/sources/ffmpegCommand.ts';

function optionValue(args: readonly string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

test('decodes to raw RGB24 on stdout, rate and size converted by ffmpeg filters', () => {
  const args = buildFfmpegArgs({ input: '/data/a.mp4', fps: 7.5, width: 96, height: 64 });
  assert.equal(args.at(-1), 'pipe:1');
  assert.equal(optionValue(args, '-f'), 'rawvideo');
  assert.equal(optionValue(args, '-pix_fmt'), 'rgb24');
  assert.equal(optionValue(args, '-filter:v'), 'fps=7.5,scale=96:64:flags=area');
  assert.equal(optionValue(args, '-i'), '/data/a.mp4');
  assert.ok(args.includes('-an') && args.includes('-nostdin'));
  assert.equal(optionValue(args, '-err_detect'), 'aggressive');
  assert.ok(!args.includes('-rtsp_transport'), 'files get no RTSP flags');
  assert.ok(!args.includes('-re'));
  // Input options must come before -i to apply to the input.
  assert.ok(args.indexOf('-fflags') < args.indexOf('-i'));
  assert.equal(optionValue(args, '-fflags'), '+genpts+discardcorrupt');
});

test('RTSP inputs get TCP transport and the socket timeout in microseconds under the probed name', () => {
  const modern = buildFfmpegArgs({ input: 'rtsp://cam/1', fps: 5, width: 112, height: 112, ioTimeoutMs: 5000, rtspTimeoutOption: 'timeout' });
  assert.equal(optionValue(modern, '-rtsp_transport'), 'tcp');
  assert.equal(optionValue(modern, '-timeout'), '5000000');
  assert.ok(modern.indexOf('-timeout') < modern.indexOf('-i'));
  const legacy = buildFfmpegArgs({ input: 'RTSP://cam/1', fps: 5, width: 112, height: 112, ioTimeoutMs: 2500, rtspTimeoutOption: 'stimeout' });
  assert.equal(optionValue(legacy, '-stimeout'), '2500000');
  assert.ok(!legacy.includes('-timeout'));
  const unknown = buildFfmpegArgs({ input: 'rtsp://cam/1', fps: 5, width: 112, height: 112, ioTimeoutMs: 2500 });
  assert.ok(!unknown.includes('-timeout') && !unknown.includes('-stimeout'), 'no guessing when the name is unknown');
});

test('realtime, error detection and extra input options', () => {
  const args = buildFfmpegArgs({
    input: 'x.avi', fps: 5, width: 8, height: 8, realtime: true, errorDetection: 'default',
    extraInputArgs: ['-analyzeduration', '500000'],
  });
  assert.ok(args.includes('-re') && args.indexOf('-re') < args.indexOf('-i'));
  assert.ok(!args.includes('-err_detect'));
  assert.equal(optionValue(args, '-analyzeduration'), '500000');
  assert.ok(args.indexOf('-analyzeduration') < args.indexOf('-i'));
});

test('the RTSP timeout option name is read from ffmpeg help, never assumed', () => {
  const ffmpeg4 = [
    '  -rtsp_transport    <flags>      ED......... set RTSP transport protocols (default 0)',
    '  -timeout           <int>        .D......... set maximum timeout (in seconds) to wait for incoming connections (-1 is infinite, imply flag listen) (from INT_MIN to INT_MAX) (default -1)',
    '  -stimeout          <int64>      .D......... set timeout (in microseconds) of socket TCP I/O operations (from INT_MIN to I64_MAX) (default 0)',
  ].join('\n');
  const ffmpeg5 = [
    '  -listen_timeout    <int>        .D......... set maximum timeout (in seconds) to wait for incoming connections (-1 is infinite, imply flag listen) (from INT_MIN to INT_MAX) (default -1)',
    '  -timeout           <int64>      .D......... set timeout (in microseconds) of socket I/O operations (from INT_MIN to I64_MAX) (default 0)',
  ].join('\n');
  assert.equal(parseRtspTimeoutOption(ffmpeg4), 'stimeout');
  assert.equal(parseRtspTimeoutOption(ffmpeg5), 'timeout');
  assert.equal(parseRtspTimeoutOption(ffmpeg4.split('\n').slice(0, 2).join('\n')), undefined, 'a listen-only -timeout is not the socket timeout');
});

test('the installed ffmpeg is probed for its version and RTSP timeout option', async () => {
  const caps = await detectFfmpegCapabilities('ffmpeg');
  const major = Number(/ffmpeg version n?(\d+)/.exec(caps.version)?.[1]);
  assert.ok(Number.isInteger(major), `version line: ${caps.version}`);
  assert.equal(caps.rtspTimeoutOption, major >= 5 ? 'timeout' : 'stimeout');
  await assert.rejects(detectFfmpegCapabilities('/nonexistent/ffmpeg'), /ENOENT/);
});
