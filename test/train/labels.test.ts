import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instance } from '../../src/train/dataset.ts';
import { clipCount, clipLabel, clipLabels, clipSpan, windowLabel, windowLabels } from '../../src/train/labels.ts';

const wave = (start: number, end: number): Instance => ({ class: 'wave', classIndex: 4, start, end });
const run = (start: number, end: number): Instance => ({ class: 'run', classIndex: 2, start, end });
const timing = { fps: 5, frames: 8, stride: 8 };

test('a clip takes an action class when the action covers at least half of it', () => {
  // Clip [1.6, 3.2): wave from 2.4 covers exactly 0.8 s = 50%.
  assert.equal(clipLabel([wave(2.4, 9)], 1.6, 3.2), 4);
  // From 2.5 it covers 0.7 s < 50%: background.
  assert.equal(clipLabel([wave(2.5, 9)], 1.6, 3.2), 0);
  // Inside the instance entirely.
  assert.equal(clipLabel([wave(0, 10)], 1.6, 3.2), 4);
  // Two instances of one class add up (0.5 + 0.4 s of 1.6 s).
  assert.equal(clipLabel([wave(1.6, 2.1), wave(2.8, 3.2)], 1.6, 3.2), 4);
  // Back-to-back instances: only the one covering half the clip counts (run 0.9 s, wave 0.7 s).
  assert.equal(clipLabel([run(0, 2.5), wave(2.5, 9)], 1.6, 3.2), 2);
  // Overlapping instances both over half: the larger cover wins.
  assert.equal(clipLabel([run(1.6, 2.6), wave(1.6, 3.2)], 1.6, 3.2), 4);
  assert.equal(clipLabel([run(1.0, 3.2), wave(1.6, 2.5)], 1.6, 3.2), 2);
  // A custom background index is returned when nothing covers enough.
  assert.equal(clipLabel([], 0, 1.6, 6), 6);
});

test('clip spans, counts and labels follow the stream: clip j starts at frame j·S', () => {
  assert.deepEqual(clipSpan(16, timing), [3.2, 4.8]);
  assert.equal(clipCount(7, timing), 0);
  assert.equal(clipCount(8, timing), 1);
  assert.equal(clipCount(23, timing), 2);
  assert.equal(clipCount(24, timing), 3);
  assert.equal(clipCount(24, timing, 4), 2);
  // wave [3.0, 6.5): clip 1 [1.6,3.2) 12.5% → bg, clip 2 [3.2,4.8) → wave, clip 3 [4.8,6.4) → wave, clip 4 [6.4,8.0) 6% → bg.
  assert.deepEqual(clipLabels([wave(3.0, 6.5)], 6, timing), [0, 0, 4, 4, 0, 0]);
  // Offset 4 frames (0.8 s): clip 1 is [2.4, 4.0) → 62.5% wave.
  assert.deepEqual(clipLabels([wave(3.0, 6.5)], 3, timing, 4), [0, 4, 4]);
});

test('a window is labelled with the action filling most of its clips, background when none', () => {
  assert.equal(windowLabel([0, 0, 0]), 0);
  assert.equal(windowLabel([0, 4, 4, 0, 2]), 4);
  assert.equal(windowLabel([2, 2, 4, 4, 4, 0]), 4);
  // Tie: the lower class index.
  assert.equal(windowLabel([4, 2, 0]), 2);
  assert.equal(windowLabel([4, 4, 2, 2]), 2);
  // Custom background index.
  assert.equal(windowLabel([6, 6, 1], 6), 1);
  assert.deepEqual(windowLabels([0, 4, 4, 0, 0, 2], 3), [4, 4, 4, 2]);
  assert.deepEqual(windowLabels([0, 4], 3), []);
});
