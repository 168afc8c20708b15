import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { evaluationSettings, replayFrames, runAnalysis } from '../../src/eval/analysisRun.ts';
import { pullWaterMarks } from '../../src/topology/pipeline.ts';
import { createPullControl } from '../../src/topology/pullControl.ts';
import { createFfmpegSource } from '../../src/topology/sources/ffmpegSource.ts';
import type { HeadResult, ModelManifest } from '../../src/model/clipModel.ts';
import type { Clip } from '../../src/types.ts';
import { fakeManifest } from '../support/manifest.ts';

// A 3-class model shape (background, a, b) with T = S = 8 frames at 5 fps (1.6 s clips), C = 10.
const manifest: ModelManifest = fakeManifest({
  classes: ['background', 'a', 'b'],
  clip: { frames: 8, size: 1, fps: 5, stride: 8 },
  window: { clips: 10 },
  backbone: { dim: 4 },
  detection: { classThreshold: 0.5, attentionThreshold: 0.5 },
  trained: true,
});
const D = 4;
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const CLIPS = 24;
// Clips 5, 6, 7 hold action 'a' (feature[0] = 1); every clip has a unique feature[1].
const feature = (j: number): Float32Array => Float32Array.from([j >= 5 && j <= 7 ? 1 : 0, j + 1, 0, 0]);

// A head that says 'a' with probability 0.9 when any clip of the window holds it, and puts its
// attention exactly on those clips.
async function fakeHead(windows: readonly Float32Array[]): Promise<HeadResult[]> {
  return windows.map((w) => {
    const weights = new Float32Array(10);
    let any = false;
    for (let c = 0; c < 10; c++) {
      if (w[c * D] === 1) {
        weights[c] = 1;
        any = true;
      }
    }
    return { probs: Float32Array.from(any ? [0.05, 0.9, 0.05] : [0.9, 0.05, 0.05]), weights };
  });
}

test('runAnalysis replays descriptors through analyse and times each event by the window that emitted it', async () => {
  const settings = evaluationSettings(manifest);
  assert.equal(settings.classThreshold, 0.5, 'thresholds come from the manifest');
  assert.equal(settings.stride, 8);
  const seen: number[] = [];
  const run = await runAnalysis({
    frames$: replayFrames('cam', (CLIPS - 1) * 8 + 8, 5),
    manifest,
    headKind: 'gcf',
    infer: async (clips: readonly Clip[]) => clips.map((c) => (seen.push(c.startSeq), feature(c.startSeq / 8))),
    runHead: fakeHead,
    settings,
  });
  assert.deepEqual(seen, Array.from({ length: CLIPS }, (_, j) => j * 8), 'every stride-aligned clip inferred once, in order');
  assert.equal(run.droppedClips + run.droppedFrames + run.droppedWindows, 0);
  // Windows from minClips (3) real clips on: one per clip.
  assert.equal(run.windows.length, CLIPS - settings.minClips + 1);
  assert.equal(run.windows[0]?.endMs, 3 * 1600);
  assert.equal(run.features.size, CLIPS);
  assert.equal(run.events.length, 1);
  const [only] = run.events;
  assert.ok(only);
  assert.equal(only.event.action, 'a');
  // Bounds: clips 5..7 → [8.0 s, 12.8 s).
  assert.equal(only.event.startMs, 8000);
  assert.equal(only.event.endMs, 12800);
  // Clip 7 leaves the window after the window ending at clip 16; the tracker closes the event
  // after holdWindows (2) windows without 'a': the window ending at clip 18, whose end is
  // 19 · 1.6 s.
  assert.equal(settings.holdWindows, 2);
  assert.equal(only.emittedAtMs, 19 * 1600);
});

test('a replay loses no window to a slow head (calibration scores every window, even on its first, uncached pass)', async () => {
  const settings = evaluationSettings(manifest);
  let calls = 0;
  const run = await runAnalysis({
    frames$: replayFrames('cam', 120 * 8, 5),
    manifest,
    headKind: 'gcf',
    infer: async (clips: readonly Clip[]) => clips.map((c) => feature(c.startSeq / 8)),
    // Slower than the replay produces windows: run's default window queue (4 batches) would overflow.
    runHead: async (w) => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 40));
      return fakeHead(w);
    },
    settings,
  });
  assert.equal(run.droppedWindows, 0);
  assert.equal(run.windows.length, 120 - settings.minClips + 1, 'one window per clip from minClips on');
  assert.ok(calls > 1);
});

test('evaluationSettings lets calibration override the thresholds and never drops clips', () => {
  const s = evaluationSettings(manifest, { classThreshold: 0.7, attentionThreshold: 0.2 });
  assert.equal(s.classThreshold, 0.7);
  assert.equal(s.attentionThreshold, 0.2);
  assert.ok(s.maxQueuedClips >= 100_000);
});

test('a decoded file in evaluation waits on the pull valve for a slow backbone: every clip scored, backlog bounded', { skip: !existsSync(VTEST) && 'opencv-doc not installed' }, async () => {
  const settings = evaluationSettings(manifest, {}, true);
  assert.ok(settings.maxQueuedClips < 1000, 'a paced evaluation keeps run\'s default queue');
  const pull = createPullControl();
  const source = createFfmpegSource({ cameraId: 'vtest', path: VTEST, fps: 5, width: 16, height: 16, stallTimeoutMs: 30_000, pull });
  let inferred = 0;
  const run = await runAnalysis({
    frames$: source.frames$,
    manifest,
    headKind: 'gcf',
    // Inference holds its first batch until the valve has paused ffmpeg (or 20 s went by), so
    // a backlog builds however fast or slow this machine decodes; unpaced, the whole file would
    // queue up as clips and the assertions below fail. (A fixed 250 ms per batch was not enough
    // with the host's cores busy: decoding then never outran it and nothing paused.)
    infer: async (clips: readonly Clip[]) => {
      const deadline = Date.now() + 20_000;
      while (pull.stats().pauses === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      inferred += clips.length;
      return clips.map((c) => feature(c.startSeq / 8 + 100));
    },
    runHead: fakeHead,
    settings,
    pull,
  });
  const frames = source.stats().frames;
  const clips = Math.floor((frames - manifest.clip.frames) / settings.stride) + 1;
  assert.ok(clips > pullWaterMarks(settings).highWater, `the file (${clips} clips) is longer than the valve's high-water mark`);
  assert.equal(run.droppedClips + run.droppedFrames + run.droppedWindows, 0);
  assert.equal(inferred, clips, 'every clip inferred');
  assert.ok(pull.stats().pauses > 0, 'ffmpeg was paused');
  assert.ok(pull.stats().peakBacklog <= pullWaterMarks(settings).highWater + 1, `peak backlog ${pull.stats().peakBacklog}`);
});
