import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShapeError, SynthError } from '../../src/errors.ts';
import { encodeVideo } from '../../src/synth/encode.ts';
import { planVideo } from '../../src/synth/plan.ts';
import { createVideoRenderer, videoFrames } from '../../src/synth/render.ts';

const dir = mkdtempSync(join(tmpdir(), 'clipwise-encode-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const spec = planVideo(3, { quick: true, minSeconds: 4, maxSeconds: 4, fps: 8 });

function probe(path: string): { frames: number; duration: number; width: number; height: number; pixFmt: string; codec: string } {
  const out = execFileSync('ffprobe', [
    '-v', 'error', '-count_frames', '-select_streams', 'v:0',
    '-show_entries', 'stream=nb_read_frames,width,height,pix_fmt,codec_name:format=duration',
    '-of', 'json', path,
  ]).toString();
  const j = JSON.parse(out) as { streams: { nb_read_frames: string; width: number; height: number; pix_fmt: string; codec_name: string }[]; format: { duration: string } };
  const s = j.streams[0];
  assert.ok(s !== undefined);
  return { frames: Number(s.nb_read_frames), duration: Number(j.format.duration), width: s.width, height: s.height, pixFmt: s.pix_fmt, codec: s.codec_name };
}

test('encodes every frame: ffprobe sees the expected count, duration, size and format', async () => {
  const path = join(dir, 'ok.mp4');
  const res = await encodeVideo(videoFrames(spec), { path, width: spec.width, height: spec.height, fps: spec.fps });
  assert.equal(res.frames, spec.frameCount);
  const p = probe(path);
  assert.equal(p.frames, spec.frameCount);
  assert.ok(Math.abs(p.duration - spec.frameCount / spec.fps) <= 1 / spec.fps + 1e-6, `duration ${p.duration}`);
  assert.equal(p.width, spec.width);
  assert.equal(p.height, spec.height);
  assert.equal(p.pixFmt, 'yuv420p');
  assert.equal(p.codec, 'h264');
  assert.ok(!readdirSync(dir).some((f) => f.includes('.part')));
  // The decoded frames are the rendered ones, in order (up to compression loss).
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 * 1024 * 1024 });
  const size = spec.width * spec.height * 3;
  assert.equal(raw.length, size * spec.frameCount);
  const r = createVideoRenderer(spec);
  for (const k of [0, Math.floor(spec.frameCount / 2), spec.frameCount - 1]) {
    const src = r.renderFrame(k);
    let same = 0;
    let other = 0;
    const wrong = r.renderFrame(k === 0 ? spec.frameCount - 1 : 0);
    for (let i = 0; i < size; i++) {
      same += Math.abs((raw[k * size + i] ?? 0) - (src[i] ?? 0));
      other += Math.abs((raw[k * size + i] ?? 0) - (wrong[i] ?? 0));
    }
    assert.ok(same / size < 6, `frame ${k}: mean abs error ${same / size}`);
    assert.ok(same < other, `frame ${k} decodes closer to itself than to another frame`);
  }
});

test('a missing ffmpeg is a SynthError ffmpeg-missing', async () => {
  const path = join(dir, 'missing.mp4');
  await assert.rejects(
    encodeVideo(videoFrames(spec), { path, width: spec.width, height: spec.height, fps: spec.fps, ffmpegPath: join(dir, 'no-such-ffmpeg') }),
    (err: unknown) => err instanceof SynthError && err.reason === 'ffmpeg-missing' && err.detail.ffmpegPath?.endsWith('no-such-ffmpeg') === true,
  );
  assert.equal(existsSync(path), false);
});

test('ffmpeg failing is a SynthError ffmpeg-failed with its stderr tail, and leaves no file', async () => {
  const path = join(dir, 'bad.mp4');
  await assert.rejects(
    encodeVideo(videoFrames(spec), { path, width: spec.width, height: spec.height, fps: spec.fps, preset: 'no-such-preset' }),
    (err: unknown) =>
      err instanceof SynthError &&
      err.reason === 'ffmpeg-failed' &&
      (err.detail.stderrTail?.length ?? 0) > 0 &&
      err.detail.exitCode !== 0 &&
      /preset/i.test(err.detail.stderrTail?.join('\n') ?? ''),
  );
  assert.equal(existsSync(path), false);
  assert.ok(!readdirSync(dir).some((f) => f.startsWith('bad.mp4')));
});

test('a failing frame source is rethrown after ffmpeg is stopped; wrong frame sizes are a ShapeError', async () => {
  function* broken(): Generator<Uint8Array> {
    const r = createVideoRenderer(spec);
    for (let i = 0; i < 3; i++) yield r.renderFrame(i);
    throw new Error('renderer broke');
  }
  const path = join(dir, 'broken.mp4');
  await assert.rejects(encodeVideo(broken(), { path, width: spec.width, height: spec.height, fps: spec.fps }), /renderer broke/);
  assert.ok(!readdirSync(dir).some((f) => f.startsWith('broken.mp4')));
  await assert.rejects(
    encodeVideo([new Uint8Array(10)], { path: join(dir, 'shape.mp4'), width: spec.width, height: spec.height, fps: spec.fps }),
    ShapeError,
  );
});

test('abort stops the encoder with a SynthError aborted', async () => {
  const ac = new AbortController();
  async function* slow(): AsyncGenerator<Uint8Array> {
    const r = createVideoRenderer(spec);
    for (let i = 0; i < spec.frameCount; i++) {
      if (i === 5) ac.abort();
      yield r.renderFrame(i);
    }
  }
  const path = join(dir, 'aborted.mp4');
  await assert.rejects(
    encodeVideo(slow(), { path, width: spec.width, height: spec.height, fps: spec.fps, signal: ac.signal, killGraceMs: 200 }),
    (err: unknown) => err instanceof SynthError && err.reason === 'aborted',
  );
  assert.ok(!readdirSync(dir).some((f) => f.startsWith('aborted.mp4')));
});
