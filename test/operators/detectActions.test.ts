import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, toArray } from 'rxjs';
import { ConfigError, ShapeError } from '../../src/errors.ts';
import { attentionRun, detectActions, type DetectActionsOptions } from '../../src/operators/detectActions.ts';
import type { Window, WindowDetections, WindowResult } from '../../src/types.ts';
import { makeWindow } from './fixtures.ts';

const opts: DetectActionsOptions = { classes: ['bg', 'wave', 'fall'], backgroundIndex: 0, classThreshold: 0.5, attentionThreshold: 0.5 };

const detect = async (results: readonly WindowResult[], o: DetectActionsOptions = opts): Promise<WindowDetections[]> =>
  lastValueFrom(from(results).pipe(detectActions(o), toArray()));

const padTail = (w: Window, real: number): Window => ({
  ...w,
  clips: w.clips.map((c, i) => (i < real ? c : (w.clips[i % real] ?? c))),
  padded: w.clips.map((_c, i) => i >= real),
});

test('attentionRun: longest run above θ; ties go to the run holding the highest attention, then the earliest', () => {
  const none = [false, false, false, false, false, false, false, false];
  assert.deepEqual(attentionRun([0.9, 0.1, 0.6, 0.7, 0.6, 0.2, 0.8, 0.8], none, 0.5), { start: 2, end: 4 });
  assert.deepEqual(attentionRun([0.6, 0.6, 0.1, 0.6, 0.95, 0.1, 0.7, 0.7], none, 0.5), { start: 3, end: 4 });
  assert.deepEqual(attentionRun([0.6, 0.7, 0.1, 0.7, 0.6, 0.1, 0.1, 0.1], none, 0.5), { start: 0, end: 1 });
  assert.equal(attentionRun([0.1, 0.2, 0.49, 0, 0, 0, 0, 0], none, 0.5), undefined);
  assert.deepEqual(attentionRun([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], none, 0.5), { start: 0, end: 7 }, 'θ itself counts');
});

test('attentionRun ignores padded slots even when their attention is high', () => {
  const padded = [false, false, false, true, true, true];
  assert.deepEqual(attentionRun([0.1, 0.8, 0.9, 0.99, 0.99, 0.99], padded, 0.5), { start: 1, end: 2 });
  assert.equal(attentionRun([0.1, 0.1, 0.1, 0.99, 0.99, 0.99], padded, 0.5), undefined);
});

test('detects each non-background class over θ_class, bounded by the attention run', async () => {
  const window = makeWindow('cam', 100, 6);
  const attention = Float32Array.of(0.1, 0.2, 0.8, 0.9, 0.7, 0.3);
  const [wd] = await detect([{ window, probs: Float32Array.of(0.9, 0.6, 0.55), attention }]);
  assert.ok(wd);
  assert.equal(wd.window, window);
  assert.deepEqual(wd.detections.map((d) => [d.classIndex, d.action]), [[1, 'wave'], [2, 'fall']], 'background 0 is never detected');
  for (const d of wd.detections) {
    assert.equal(d.startClip, window.clips[2]);
    assert.equal(d.endClip, window.clips[4]);
    assert.equal(d.cameraId, 'cam');
    assert.deepEqual(d.attention, Array.from(attention));
    assert.deepEqual(d.windowClips, window.clips);
  }
  assert.equal(wd.detections[0]?.confidence, Math.fround(0.6));
});

test('classes under θ_class are not detected; every window is passed on', async () => {
  const window = makeWindow('cam', 0, 4);
  const out = await detect([{ window, probs: Float32Array.of(0.5, 0.49, 0.01), attention: Float32Array.of(1, 1, 1, 1) }]);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]?.detections, []);
});

test('attention with no clip over θ_att gives no detection even for a likely class', async () => {
  const window = makeWindow('cam', 0, 4);
  const [wd] = await detect([{ window, probs: Float32Array.of(0, 0.99, 0), attention: Float32Array.of(0.1, 0.2, 0.3, 0.4) }]);
  assert.deepEqual(wd?.detections, []);
});

test('without attention the bounds are the window’s real clips; padded slots never bound an event', async () => {
  const window = padTail(makeWindow('cam', 0, 5), 3);
  const [wd] = await detect([{ window, probs: Float32Array.of(0.1, 0.9, 0.1) }]);
  const [d] = wd?.detections ?? [];
  assert.equal(d?.startClip, window.clips[0]);
  assert.equal(d?.endClip, window.clips[2]);
  assert.deepEqual(d?.attention, []);
  assert.deepEqual(d?.windowClips, window.clips.slice(0, 3), 'only real clips are listed');
  const [wd2] = await detect([{ window, probs: Float32Array.of(0.1, 0.9, 0.1), attention: Float32Array.of(0.2, 0.9, 0.9, 0.9, 0.9) }]);
  assert.equal(wd2?.detections[0]?.endClip, window.clips[2], 'run cut at the last real clip');
  assert.deepEqual(wd2?.detections[0]?.attention, [0.2, 0.9, 0.9].map(Math.fround));
});

test('without a background index every class can be detected', async () => {
  const [wd] = await detect([{ window: makeWindow('c', 0, 2), probs: Float32Array.of(0.7, 0.3) }], {
    classes: ['a', 'b'],
    classThreshold: 0.6,
    attentionThreshold: 0.5,
  });
  assert.deepEqual(wd?.detections.map((d) => d.action), ['a']);
});

test('a probs length that does not match the classes is a ShapeError; bad options a ConfigError', async () => {
  await assert.rejects(detect([{ window: makeWindow('c', 0, 2), probs: Float32Array.of(1, 0) }]), ShapeError);
  assert.throws(() => detectActions({ ...opts, classes: [] }), ConfigError);
  assert.throws(() => detectActions({ ...opts, backgroundIndex: 3 }), ConfigError);
  assert.throws(() => detectActions({ ...opts, classThreshold: 1.5 }), ConfigError);
});
