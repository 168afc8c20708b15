import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { HeadResult, ModelManifest } from '../../src/model/clipModel.ts';
import { bestPoint, calibrateThresholds, replayEvents, scoreEvents, type CalibrationPoint, type ReplayVideo } from '../../src/train/calibrate.ts';
import { fakeManifest } from '../support/manifest.ts';

// A 3-class model shape (background, a, b) with T = S = 8 frames at 5 fps (1.6 s clips), C = 10.
const manifest: ModelManifest = fakeManifest({
  classes: ['background', 'a', 'b'],
  clip: { frames: 8, size: 1, fps: 5, stride: 8 },
  window: { clips: 10 },
  backbone: { dim: 4 },
  trained: true,
});
const D = 4;
const CLIPS = 30;
// Clip j's descriptor carries j + 1 (distinct rows, and the head can tell the window's newest clip).
const features = new Float32Array(CLIPS * D);
for (let j = 0; j < CLIPS; j++) features[j * D] = j + 1;
const video: ReplayVideo = { id: 'v', features, count: CLIPS, dim: D, durationSeconds: CLIPS * 1.6, instances: [] };

/** Says 'a' (0.9) when the window's newest clip is in `on`, with attention on every clip. */
const headSaying =
  (on: ReadonlySet<number>) =>
  async (windows: readonly Float32Array[]): Promise<HeadResult[]> =>
    windows.map((w) => {
      let newest = 0;
      for (let c = 0; c < 10; c++) newest = Math.max(newest, (w[c * D] as number) - 1);
      return { probs: Float32Array.from(on.has(newest) ? [0.05, 0.9, 0.05] : [0.9, 0.05, 0.05]), weights: new Float32Array(10).fill(1) };
    });

// The replay's head is given, so the layers model is never touched.
const head = {} as unknown as tfl.LayersModel;

test('replayEvents replays with the holdWindows it is given: a 2-window gap splits an event at hold 2, not at hold 3', async () => {
  // 'a' in the windows ending at clips 5, 6 and 9, 10: windows 7 and 8 miss it.
  const runHead = headSaying(new Set([5, 6, 9, 10]));
  const base = { manifest, headKind: 'gcf' as const, head, videos: [video], runHead };
  const hold2 = await replayEvents({ ...base, holdWindows: 2 }, 0.5, 0.5);
  const hold3 = await replayEvents({ ...base, holdWindows: 3 }, 0.5, 0.5);
  const byDefault = await replayEvents(base, 0.5, 0.5);
  assert.equal(hold2.events.length, 2);
  assert.equal(hold3.events.length, 1);
  assert.deepEqual(byDefault.events, hold2.events, "clipwise run's default hold is 2");
  // The merged event spans both detections: from clip 0 (the first window's real clips) to clip 10's end.
  assert.equal(hold3.events[0]?.start, 0);
  assert.equal(hold3.events[0]?.end, 11 * 1.6);
  assert.equal(hold3.dropped.windows + hold3.dropped.clips, 0);
});

test('the minimum event length is calibrated too: a one-clip false alarm is dropped at 2 clips, the four-clip action kept', async () => {
  // 'a' with attention on the newest clip only, in the windows ending at clips 5..8 (one event
  // of four clips, the instance) and 20 (one clip, nothing there).
  const on = new Set([5, 6, 7, 8, 20]);
  const runHead = async (windows: readonly Float32Array[]): Promise<HeadResult[]> =>
    windows.map((w) => {
      let newest = 0;
      for (let c = 0; c < 10; c++) newest = Math.max(newest, (w[c * D] as number) - 1);
      const weights = Float32Array.from({ length: 10 }, (_, c) => ((w[c * D] as number) - 1 === newest ? 1 : 0));
      return { probs: Float32Array.from(on.has(newest) ? [0.05, 0.9, 0.05] : [0.9, 0.05, 0.05]), weights };
    });
  const labelled: ReplayVideo = { ...video, instances: [{ class: 'a', classIndex: 1, start: 5 * 1.6, end: 9 * 1.6 }] };
  const o = { manifest, headKind: 'gcf' as const, head, videos: [labelled], runHead };
  const one = await replayEvents(o, 0.5, 0.5, runHead, 1);
  const two = await replayEvents(o, 0.5, 0.5, runHead, 2);
  assert.deepEqual(
    one.events.map((e) => [e.start, e.end]),
    [
      [5 * 1.6, 9 * 1.6],
      [20 * 1.6, 21 * 1.6],
    ],
  );
  assert.deepEqual(two.events, one.events.slice(0, 1));
  const cal = await calibrateThresholds({ ...o, classThresholds: [0.5], attentionThresholds: [0.5] });
  assert.deepEqual(
    cal.grid.map((p) => [p.minEventClips, p.events, p.falseAlarmsPerHour > 0]),
    [
      [1, 2, true],
      [2, 1, false],
    ],
  );
  assert.equal(cal.best.minEventClips, 2);
});

test('scoreEvents scores events as calibration does: mAP at 0.3/0.5/0.7 and false alarms per hour', () => {
  // One hour without action beside the 10 s instance.
  const hour: ReplayVideo = { ...video, durationSeconds: 3610, instances: [{ class: 'a', classIndex: 1, start: 10, end: 20 }] };
  const truth = [{ video: 'v', classIndex: 1, start: 10, end: 20 }];
  const point = scoreEvents(
    [
      { video: 'v', classIndex: 1, start: 10, end: 16, confidence: 0.9 }, // tIoU 0.6 with the instance
      { video: 'v', classIndex: 2, start: 100, end: 110, confidence: 0.8 }, // overlaps nothing: a false alarm
    ],
    truth,
    [hour],
    { classThreshold: 0.4, attentionThreshold: 0.6 },
  );
  assert.equal(point.classThreshold, 0.4);
  assert.equal(point.attentionThreshold, 0.6);
  assert.equal(point.mAP30, 1);
  assert.equal(point.mAP50, 1);
  assert.equal(point.mAP70, 0);
  assert.equal(point.falseAlarmsPerHour, 1);
  assert.equal(point.events, 2);
  assert.deepEqual(point.perClass, [{ classIndex: 1, ap50: 1, events: 1, falseAlarms: 0 }], 'per class: only classes with ground truth');
  const twoWrong = scoreEvents(
    [
      { video: 'v', classIndex: 1, start: 200, end: 210, confidence: 0.9 },
      { video: 'v', classIndex: 1, start: 300, end: 310, confidence: 0.8 },
    ],
    truth,
    [hour],
    { classThreshold: 0.4, attentionThreshold: 0.6 },
  );
  assert.deepEqual(twoWrong.perClass, [{ classIndex: 1, ap50: 0, events: 2, falseAlarms: 2 }]);
});

/** A scored grid point for bestPoint: mAP@0.5, false alarms/h and the mAP@0.3 = mAP@0.7 "side" given, the rest fixed or overridden. */
const point = (mAP50: number, falseAlarmsPerHour: number, side: number, rest: Partial<CalibrationPoint> = {}): CalibrationPoint => ({
  classThreshold: 0.5,
  attentionThreshold: 0.5,
  mAP30: side,
  mAP50,
  mAP70: side,
  falseAlarmsPerHour,
  events: 1,
  ...rest,
});

test('bestPoint: highest mAP@0.5; within 0.005 of it the fewest false alarms, then the higher mean of mAP@0.3 and mAP@0.7', () => {
  const p = (mAP50: number, falseAlarmsPerHour: number, side = 0.5, classThreshold = 0.5): CalibrationPoint =>
    point(mAP50, falseAlarmsPerHour, side, { classThreshold });
  const top = p(0.5, 10);
  const fewer = p(0.496, 3, 0.4, 0.6);
  const fewerBetter = p(0.496, 3, 0.45, 0.7);
  const far = p(0.49, 0);
  assert.equal(bestPoint([top, far]), top, 'more than 0.005 below the top: not a candidate, however few false alarms');
  assert.equal(bestPoint([top, fewer, far]), fewer);
  assert.equal(bestPoint([top, fewer, fewerBetter, far]), fewerBetter);
  assert.equal(bestPoint([p(NaN, 0), far]), far, 'NaN mAP (no ground truth) ranks last');
});

test('bestPoint: when mAP@0.5 and false alarms tie, the longer minimum event length wins over a better mAP@0.3 + mAP@0.7', () => {
  // v21's case (session 10): 0.6/0.8 with one clip had mAP@0.3+0.7 0.4755, with two 0.4745.
  const at = (minEventClips: number | undefined, side: number, mAP50 = 0.55, falseAlarmsPerHour = 0.31): CalibrationPoint =>
    point(mAP50, falseAlarmsPerHour, side, { classThreshold: 0.6, attentionThreshold: 0.8, events: 10, ...(minEventClips !== undefined ? { minEventClips } : {}) });
  const one = at(1, 0.4755);
  const two = at(2, 0.4745);
  assert.equal(bestPoint([one, two]), two);
  assert.equal(bestPoint([two, one]), two, 'order of the grid does not matter');
  assert.equal(bestPoint([at(undefined, 0.48), two]), two, 'a point without a length counts as 1 clip');
  assert.equal(bestPoint([one, at(2, 0.4745, 0.544)]), one, 'more than 0.005 lower mAP@0.5: the length does not rescue it');
  const silentOne = at(1, 0.47, 0.55, 0);
  assert.equal(bestPoint([silentOne, two]), silentOne, 'fewer false alarms still come first');
});

test('bestPoint with a false-alarm budget: the best mAP@0.5 among the pairs within it that detect anything; all pairs when none does', () => {
  const p = (mAP50: number, falseAlarmsPerHour: number): CalibrationPoint => point(mAP50, falseAlarmsPerHour, mAP50);
  const loud = p(0.13, 15);
  const quiet = p(0.106, 1.87);
  const quieter = p(0.09, 1.87);
  const silent = p(0, 0);
  assert.equal(bestPoint([loud, quiet, quieter, silent], 2), quiet);
  assert.equal(bestPoint([loud, quiet, quieter, silent]), loud, 'no budget: the plain rule');
  assert.equal(bestPoint([loud, silent], 2), loud, 'a pair that detects nothing does not count as meeting the budget');
});
