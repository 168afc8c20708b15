import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  averagePrecision,
  detectionDelays,
  detectionErrors,
  falseAlarms,
  meanAveragePrecision,
  overlapSeconds,
  percentile,
  tIoU,
  unionSeconds,
  type DetectedEvent,
  type GroundTruth,
} from '../../src/eval/detectionMetrics.ts';

const gt = (video: string, classIndex: number, start: number, end: number): GroundTruth => ({ video, classIndex, start, end });
const det = (video: string, classIndex: number, start: number, end: number, confidence: number, emittedAt?: number): DetectedEvent => ({
  video,
  classIndex,
  start,
  end,
  confidence,
  ...(emittedAt !== undefined ? { emittedAt } : {}),
});

const close = (a: number, b: number, eps = 1e-9): void => assert.ok(Math.abs(a - b) < eps, `${a} ≈ ${b}`);

test('tIoU of intervals', () => {
  close(tIoU({ start: 10, end: 14 }, { start: 11, end: 15 }), 3 / 5);
  close(tIoU({ start: 0, end: 2 }, { start: 2, end: 4 }), 0);
  close(tIoU({ start: 0, end: 10 }, { start: 2, end: 4 }), 0.2);
});

test('overlapSeconds: the shared seconds, or minus the gap when apart, either order', () => {
  close(overlapSeconds({ start: 10, end: 14 }, { start: 11, end: 15 }), 3);
  close(overlapSeconds({ start: 11, end: 15 }, { start: 10, end: 14 }), 3);
  close(overlapSeconds({ start: 0, end: 10 }, { start: 2, end: 4 }), 2);
  close(overlapSeconds({ start: 0, end: 2 }, { start: 2, end: 4 }), 0);
  close(overlapSeconds({ start: 0, end: 2 }, { start: 3.5, end: 4 }), -1.5);
  close(overlapSeconds({ start: 5, end: 6 }, { start: 1, end: 4.5 }), -0.5);
});

test('perfect detections give mAP 1 at every threshold', () => {
  const truth = [gt('a', 1, 10, 14), gt('a', 2, 30, 33), gt('b', 1, 5, 9)];
  const events = truth.map((g, i) => det(g.video, g.classIndex, g.start, g.end, 0.9 - i * 0.1));
  for (const t of [0.3, 0.5, 0.7]) close(meanAveragePrecision(events, truth, t).mAP, 1);
});

test('a shifted detection counts only at thresholds its tIoU reaches', () => {
  const truth = [gt('a', 1, 10, 14)];
  const events = [det('a', 1, 11, 15, 0.8)]; // tIoU 0.6
  close(meanAveragePrecision(events, truth, 0.5).mAP, 1);
  close(meanAveragePrecision(events, truth, 0.7).mAP, 0);
  // A more shifted one is lower at 0.5 too.
  close(meanAveragePrecision([det('a', 1, 12.5, 16.5, 0.8)], truth, 0.5).mAP, 0);
});

test('a false alarm ranked above a true detection lowers AP and is counted per hour', () => {
  const truth = [gt('a', 1, 10, 14)];
  const events = [det('a', 1, 50, 54, 0.95), det('a', 1, 10, 14, 0.9)];
  // Ranked: FP then TP → precision at full recall 1/2.
  close(meanAveragePrecision(events, truth, 0.5).mAP, 0.5);
  const fa = falseAlarms(events, truth, new Map([['a', 3600 + 4]]));
  assert.equal(fa.count, 1);
  close(fa.hours, 1);
  close(fa.perHour, 1);
  // Ranked below the true detection it costs nothing in AP (recall is already complete).
  close(meanAveragePrecision([det('a', 1, 50, 54, 0.5), det('a', 1, 10, 14, 0.9)], truth, 0.5).mAP, 1);
});

test('AP uses the monotone precision envelope, duplicates are false positives, wrong class or video never match', () => {
  const truth = [gt('a', 1, 0, 4), gt('a', 1, 20, 24)];
  const events = [det('a', 1, 0, 4, 0.9), det('a', 1, 0.2, 4, 0.8), det('a', 1, 20, 24, 0.7)];
  // Precision after each: 1, 1/2, 2/3 → envelope 1, 2/3, 2/3; recall steps 0.5, 0.5, 1 → AP = 0.5·1 + 0.5·2/3.
  const r = averagePrecision(events, truth, 0.5);
  close(r.ap, 0.5 + 0.5 * (2 / 3));
  assert.deepEqual(r.matches, [0, -1, 1]);
  close(meanAveragePrecision([det('b', 1, 0, 4, 0.9), det('a', 2, 20, 24, 0.9)], truth, 0.3).mAP, 0);
});

test('mAP averages over the classes that have ground truth', () => {
  const truth = [gt('a', 1, 0, 4), gt('a', 2, 10, 14)];
  const events = [det('a', 1, 0, 4, 0.9), det('a', 3, 30, 34, 0.9)];
  const r = meanAveragePrecision(events, truth, 0.5);
  close(r.mAP, 0.5);
  assert.deepEqual(
    r.perClass.map((c) => [c.classIndex, c.ap]),
    [
      [1, 1],
      [2, 0],
    ],
  );
  assert.ok(Number.isNaN(meanAveragePrecision(events, [], 0.5).mAP));
});

test('false alarms ignore events overlapping any action; action-free time excludes the union of instances', () => {
  const truth = [gt('a', 1, 10, 20), gt('a', 2, 15, 25), gt('b', 1, 0, 10)];
  close(unionSeconds(truth.filter((g) => g.video === 'a'), 100), 15);
  const events = [det('a', 3, 24, 30, 0.9), det('a', 1, 40, 44, 0.9), det('b', 1, 50, 60, 0.9)];
  const fa = falseAlarms(events, truth, new Map([
    ['a', 100],
    ['b', 60],
  ]));
  assert.equal(fa.count, 2, 'the wrong-class event overlapping an action is not a false alarm');
  assert.deepEqual([...fa.byClass], [[1, 2]], 'both are class 1; class 3 overlapped an action');
  close(fa.hours, (85 + 50) / 3600);
});

test('delays run from each matched action end to its event emission; percentiles interpolate', () => {
  const truth = [gt('a', 1, 10, 14), gt('a', 1, 40, 44)];
  const events = [det('a', 1, 10, 14, 0.9, 30), det('a', 1, 40, 45, 0.8, 52), det('a', 1, 70, 74, 0.7, 90)];
  assert.deepEqual(detectionDelays(events, truth, 0.3).sort((a, b) => a - b), [8, 16]);
  close(percentile([1, 2, 3, 4], 50), 2.5);
  close(percentile([5, 1, 3], 95), 4.8);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('detectionErrors sorts every event into one DETAD kind and counts missed instances', () => {
  const truth = [gt('a', 1, 10, 14), gt('a', 2, 30, 34), gt('a', 3, 60, 64), gt('b', 1, 5, 9)];
  const events = [
    det('a', 1, 10, 14, 0.9), // true positive
    det('a', 1, 10.5, 14, 0.8), // same instance again at tIoU 0.875: duplicate
    det('a', 2, 26, 44, 0.7), // right class, tIoU 4/18 ≈ 0.22: localization
    det('a', 1, 30, 34, 0.6), // class 1 on the class-2 instance, tIoU 1: wrong label
    det('a', 2, 61, 70, 0.5), // class 2 on the class-3 instance, tIoU 3/10: confusion
    det('a', 1, 100, 104, 0.4), // nothing there: background
    det('b', 2, 5, 9, 0.3), // video b's instance is class 1: wrong label
  ];
  const r = detectionErrors(events, truth, 0.5);
  assert.deepEqual(r.counts, { truePositive: 1, duplicate: 1, localization: 1, wrongLabel: 2, confusion: 1, background: 1 });
  assert.equal(Object.values(r.counts).reduce((a, b) => a + b, 0), events.length, 'each event counted once');
  // Class 3 at 60–64 and class 1 in video b: no event of their class touches them.
  assert.equal(r.missed, 2);
  assert.equal(r.instances, 4);
  // Per class: class 1 has two instances (video b's missed), class 3 its only one.
  assert.deepEqual(r.byClass, [
    { classIndex: 1, instances: 2, missed: 1 },
    { classIndex: 2, instances: 1, missed: 0 },
    { classIndex: 3, instances: 1, missed: 1 },
  ]);
  // Right-class overlaps: the TP (ratio 1), the duplicate (3.5/4) and the localization (18/4).
  close(r.lengthRatioP50, 1);
  close(r.startOffsetP50, 0);
  close(r.endOffsetP50, 0);
  // The same events judged at a looser α: the localization error becomes a true positive.
  const loose = detectionErrors(events, truth, 0.2);
  assert.equal(loose.counts.localization, 0);
  assert.equal(loose.counts.truePositive, 2);
  // Events that run long show in the length ratio and end offset.
  const long = detectionErrors([det('a', 1, 9, 19, 0.9)], [gt('a', 1, 10, 14)]);
  close(long.lengthRatioP50, 2.5);
  close(long.startOffsetP50, -1);
  close(long.endOffsetP50, 5);
  assert.equal(long.counts.localization, 1);
  assert.ok(Number.isNaN(detectionErrors([], truth).lengthRatioP50));
  // Without the clip timing there is no length table.
  assert.equal(r.byClips, undefined);
});

test('detectionErrors byClips: events by the clips they span, with true positives and false alarms per length', () => {
  // 1.6 s clips every 1.6 s: 1.6 s = 1 clip, 3.2 s = 2, 4.8 s = 3.
  const timing = { seconds: 1.6, strideSeconds: 1.6 };
  const truth = [gt('a', 1, 10, 14.8), gt('a', 2, 30, 33.2)];
  const events = [
    det('a', 1, 9.6, 14.4, 0.9), // 3 clips, tIoU 4.4/5.2: true positive
    det('a', 1, 8, 9.6, 0.8), // 1 clip just before the instance: false alarm
    det('a', 2, 32.4, 34, 0.7), // 1 clip over the class-2 instance's end, tIoU 0.2: localization, not a false alarm
    det('a', 2, 30, 33.2, 0.6), // 2 clips, exact: true positive
    det('a', 1, 50, 53.2, 0.5), // 2 clips on nothing: false alarm
  ];
  const r = detectionErrors(events, truth, 0.5, timing);
  assert.deepEqual(r.byClips, [
    { clips: 1, events: 2, truePositive: 0, falseAlarms: 1 },
    { clips: 2, events: 2, truePositive: 1, falseAlarms: 1 },
    { clips: 3, events: 1, truePositive: 1, falseAlarms: 0 },
  ]);
  // Overlapping clips (stride half a clip): 1.6 + 0.8 = 2.4 s is two clips.
  const half = detectionErrors([det('a', 1, 10, 12.4, 0.9)], truth, 0.5, { seconds: 1.6, strideSeconds: 0.8 });
  assert.equal(half.byClips?.[0]?.clips, 2);
});
