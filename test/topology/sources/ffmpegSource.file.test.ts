import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { createFfmpegSource } from '../../../src/topology/sources/ffmpegSource.ts';
import type { ExitInfo, FfmpegSourceOptions } from '../../../src/topology/sources/ffmpegSource.ts';
import { ConfigError, SourceError } from '../../../src/errors.ts';
import type { Frame } from '../../../src/types.ts';
import { pidExists } from '../../support/rtsp.ts';

const DATA = '/usr/share/doc/opencv-doc/examples/data';
const VTEST = `${DATA}/vtest.avi`;
const BUGGY = `${DATA}/Megamind_bugy.avi`;
const skip = existsSync(VTEST) && existsSync(BUGGY) ? false : 'opencv-doc sample videos are not installed';

function durationSeconds(path: string): number {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { encoding: 'utf8' });
  const seconds = Number(out.trim());
  assert.ok(seconds > 0, `ffprobe duration of ${path}: ${out}`);
  return seconds;
}

function source(overrides: Partial<FfmpegSourceOptions> & Pick<FfmpegSourceOptions, 'path'>): ReturnType<typeof createFfmpegSource> {
  return createFfmpegSource({ cameraId: 'file-cam', fps: 5, width: 112, height: 112, stallTimeoutMs: 20_000, ...overrides });
}

function distinctValues(data: Uint8Array): number {
  return new Set(data).size;
}

test('vtest.avi decodes at 5 fps and 112×112: duration × fps frames of W·H·3 bytes with real pixels', { skip }, async () => {
  const fps = 5;
  const cam = source({ path: VTEST, fps });
  const frames = await lastValueFrom(cam.frames$.pipe(toArray()));
  const expected = durationSeconds(VTEST) * fps;
  assert.ok(Math.abs(frames.length - expected) <= 1, `got ${frames.length} frames, expected ≈ ${expected}`);
  for (const [i, frame] of frames.entries()) {
    assert.equal(frame.data.length, 112 * 112 * 3);
    assert.equal(frame.width, 112);
    assert.equal(frame.height, 112);
    assert.equal(frame.seq, i);
    assert.equal(frame.ptsMs, (i * 1000) / fps);
    assert.equal(frame.cameraId, 'file-cam');
    assert.ok(!frame.gapBefore);
  }
  const first = frames[0];
  const middle = frames[Math.floor(frames.length / 2)];
  assert.ok(first !== undefined && middle !== undefined);
  assert.ok(distinctValues(first.data) > 50, 'a real picture has many distinct byte values');
  assert.notDeepEqual(first.data, middle.data, 'people walk: frames differ over time');
  const stats = cam.stats();
  assert.equal(stats.frames, frames.length);
  assert.equal(stats.spawns, 1);
  assert.equal(stats.reconnects, 0);
  assert.equal(stats.pid, undefined, 'no decoder left running after completion');
});

test('a corrupted file yields its decodable frames, counts the corrupt ones and completes', { skip }, async () => {
  const exits: ExitInfo[] = [];
  const cam = source({ path: BUGGY, onExit: (e) => exits.push(e) });
  const frames = await lastValueFrom(cam.frames$.pipe(toArray()));
  const expected = durationSeconds(BUGGY) * 5;
  assert.ok(Math.abs(frames.length - expected) <= 1, `got ${frames.length}, expected ≈ ${expected}`);
  assert.ok(frames.every((f) => f.data.length === 112 * 112 * 3));
  assert.ok(cam.stats().corruptFrames > 0, 'ffmpeg reports corrupt frames in this file');
  assert.equal(exits.length, 1);
  assert.equal(exits[0]?.exitCode, 0);
});

test('with error detection off, the same file reports no corrupt frames (the flag is what finds them)', { skip }, async () => {
  const cam = source({ path: BUGGY, errorDetection: 'default' });
  await lastValueFrom(cam.frames$.pipe(toArray()));
  assert.equal(cam.stats().corruptFrames, 0);
});

test('a missing file is a typed, non-retriable error naming the camera', { skip }, async () => {
  const cam = source({ path: `${DATA}/does-not-exist.avi` });
  await assert.rejects(lastValueFrom(cam.frames$), (error: unknown) => {
    assert.ok(error instanceof SourceError);
    assert.equal(error.cameraId, 'file-cam');
    assert.equal(error.retriable, false);
    assert.match(error.message, /does-not-exist\.avi/);
    assert.match(error.message, /ENOENT|no such file/i);
    return true;
  });
  assert.equal(cam.stats().spawns, 0, 'no process for a file that is not there');
});

test('an unsupported format fails with ffmpeg\'s reason and its stderr tail', { skip }, async () => {
  const notVideo = fileURLToPath(new URL('../../../package.json', import.meta.url));
  const cam = source({ path: notVideo });
  await assert.rejects(lastValueFrom(cam.frames$), (error: unknown) => {
    assert.ok(error instanceof SourceError);
    assert.equal(error.retriable, false);
    assert.ok(error.detail.exitCode !== 0 && error.detail.exitCode !== undefined);
    assert.ok((error.detail.stderrTail?.length ?? 0) > 0);
    assert.match(error.message, /Invalid data/);
    return true;
  });
});

test('a missing ffmpeg binary is a typed error', { skip }, async () => {
  const cam = source({ path: VTEST, ffmpegPath: '/nonexistent/bin/ffmpeg' });
  await assert.rejects(lastValueFrom(cam.frames$), (error: unknown) => error instanceof SourceError && /ENOENT/.test(error.message));
});

test('loop starts the file over: sequence and pts keep increasing, the seam is marked as a gap', { skip }, async () => {
  const perPass = Math.round(durationSeconds(BUGGY) * 5);
  const cam = source({ path: BUGGY, loop: true });
  const frames = await lastValueFrom(cam.frames$.pipe(take(perPass + 10), toArray()));
  assert.equal(frames.length, perPass + 10);
  assert.ok(cam.stats().loops >= 1);
  frames.forEach((frame, i) => assert.equal(frame.seq, i));
  for (let i = 1; i < frames.length; i += 1) {
    const a = frames[i - 1] as Frame;
    const b = frames[i] as Frame;
    assert.ok(b.ptsMs > a.ptsMs, `pts must increase at ${i}: ${a.ptsMs} → ${b.ptsMs}`);
  }
  const seams = frames.filter((f) => f.gapBefore === true).map((f) => f.seq);
  assert.equal(seams.length, 1);
  assert.ok(Math.abs((seams[0] ?? -1) - perPass) <= 1, `seam at ${seams[0]}, pass length ≈ ${perPass}`);
  // The second pass shows the same pictures as the first.
  assert.deepEqual(frames[seams[0] ?? 0]?.data, frames[0]?.data);
});

test('unsubscribing mid-stream stops ffmpeg and reaps it', { skip }, async () => {
  const exits: ExitInfo[] = [];
  const spawned: number[] = [];
  const exited = new Promise<void>((resolve) => {
    const cam = source({
      path: VTEST,
      realtime: true,
      onSpawn: (info) => spawned.push(info.pid),
      onExit: (info) => {
        exits.push(info);
        resolve();
      },
    });
    void firstValueFrom(cam.frames$.pipe(take(2), toArray())).then((frames) => assert.equal(frames.length, 2));
  });
  await exited;
  const pid = spawned[0];
  assert.ok(pid !== undefined);
  assert.equal(exits[0]?.reason, 'unsubscribe');
  assert.ok(exits[0]?.signal === 'SIGTERM' || exits[0]?.exitCode !== 0, 'stopped by us, not by end of file');
  assert.equal(pidExists(pid), false, `ffmpeg ${pid} must be gone (not even a zombie)`);
});

test('a decoder that ignores SIGTERM is SIGKILLed after the grace period and reaped', { skip }, async (t) => {
  // A stand-in "ffmpeg" that hangs without output and ignores SIGTERM (the ignored
  // disposition survives exec, so the pid we signal is the process that ignores it).
  const dir = mkdtempSync(join(tmpdir(), 'clipwise-hung-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'ffmpeg');
  writeFileSync(fake, "#!/bin/sh\ntrap '' TERM\nexec sleep 60\n");
  chmodSync(fake, 0o755);
  const exits: ExitInfo[] = [];
  const stalls: number[] = [];
  const cam = source({ path: VTEST, ffmpegPath: fake, stallTimeoutMs: 300, startTimeoutMs: 300, killGraceMs: 300, onExit: (e) => exits.push(e), onStall: (s) => stalls.push(s.pid) });
  await assert.rejects(lastValueFrom(cam.frames$), (error: unknown) => {
    assert.ok(error instanceof SourceError);
    assert.equal(error.retriable, true);
    assert.match(error.message, /stalled/);
    return true;
  });
  assert.equal(stalls.length, 1);
  assert.equal(exits.length, 1);
  assert.equal(exits[0]?.signal, 'SIGKILL', 'SIGTERM was ignored, so SIGKILL ended it');
  assert.equal(exits[0]?.reason, 'stall');
  assert.equal(pidExists(exits[0]?.pid ?? -1), false);
  assert.equal(cam.stats().stalls, 1);
});

test('inconsistent options are a ConfigError listing the fields', () => {
  assert.throws(
    () => createFfmpegSource({ cameraId: 'x', fps: 0, width: 10.5, height: 10, stallTimeoutMs: 1000 }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.issues.map((i) => i.path).sort(), ['fps', 'url|path', 'width']);
      return true;
    },
  );
  assert.throws(() => createFfmpegSource({ cameraId: 'x', url: 'rtsp://a/b', loop: true, fps: 5, width: 8, height: 8, stallTimeoutMs: 1000 }), ConfigError);
});
