/**
 * Live pts when the decoder starts slowly and then catches up (what ffmpeg does on an RTSP
 * camera: the first frame ~3 s late, then a burst). A stand-in decoder (a Node script in
 * ffmpeg's place) writes raw frames with that timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFfmpegSource } from '../../../src/topology/sources/ffmpegSource.ts';

const W = 4;
const H = 4;
// 600 ms of start-up, a burst of 6 frames, then one frame per 100 ms (10 fps) for 10 frames.
const FAKE = `#!/usr/bin/env node
const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('-version')) { console.log('ffmpeg version fake\\n  -timeout <int64> set timeout (in microseconds) of socket I/O operations'); process.exit(0); }
const frame = Buffer.alloc(${W * H * 3}, 128);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  await sleep(600);
  for (let i = 0; i < 6; i++) process.stdout.write(frame);
  for (let i = 0; i < 10; i++) { await sleep(100); process.stdout.write(frame); }
  await sleep(50);
  process.exit(0);
})();
`;

test('live pts never run ahead of arrival after a slow start and a catch-up burst; they keep increasing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cw-fake-ffmpeg-'));
  const bin = join(dir, 'ffmpeg');
  await writeFile(bin, FAKE);
  await chmod(bin, 0o755);
  // Arrival = when the subscriber gets the frame; one decoder run (no reconnect), so the
  // source ends (with an error) when the stand-in exits.
  const seen: { pts: number; at: number }[] = [];
  await new Promise<void>((resolve) => {
    const src = createFfmpegSource({ cameraId: 'cam', url: 'rtsp://127.0.0.1:1/x', fps: 10, width: W, height: H, ffmpegPath: bin, stallTimeoutMs: 5000, maxReconnects: 0 });
    src.frames$.subscribe({ next: (f) => seen.push({ pts: f.ptsMs, at: Date.now() }), error: () => resolve(), complete: () => resolve() });
  });
  assert.equal(seen.length, 16, 'every frame arrives');
  for (let i = 1; i < seen.length; i++) assert.ok((seen[i]?.pts ?? 0) > (seen[i - 1]?.pts ?? 0), `pts increase at ${i}`);
  // Stamped no later than its arrival (a few ms for the hop from the pipe to the subscriber).
  for (const [i, f] of seen.entries()) assert.ok(f.pts <= f.at + 5, `frame ${i}: pts ${f.pts} is ${f.pts - f.at} ms after its arrival`);
  // After the burst, frames are spaced at the nominal rate again.
  const steady = seen.slice(7).map((f, i, a) => (i === 0 ? 100 : f.pts - (a[i - 1]?.pts ?? 0)));
  for (const gap of steady) assert.ok(gap >= 60 && gap <= 140, `steady gap ${gap} ms`);
});
