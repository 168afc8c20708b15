import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { ConfigError } from '../../src/errors.ts';
import { createPullControl } from '../../src/topology/pullControl.ts';
import { pullWaterMarks } from '../../src/topology/pipeline.ts';

test('the valve is open until the pipeline watches it', () => {
  const pull = createPullControl();
  assert.equal(pull.full(), false);
});

test('closes at the high-water mark and reopens only at the low-water mark (hysteresis)', () => {
  const pull = createPullControl();
  let level = 0;
  pull.watch(() => level, { highWater: 8, lowWater: 3 });
  const seen: boolean[] = [];
  for (const l of [0, 7, 8, 9, 6, 4, 3, 5, 7, 8]) {
    level = l;
    seen.push(pull.full());
  }
  assert.deepEqual(seen, [false, false, true, true, true, true, false, false, false, true]);
  assert.equal(pull.stats().pauses, 2);
  assert.equal(pull.stats().peakBacklog, 9);
});

test('whenDrained resumes once, asynchronously, when progress brings the backlog to the low-water mark', async () => {
  const pull = createPullControl();
  let level = 10;
  pull.watch(() => level, { highWater: 8, lowWater: 4 });
  assert.equal(pull.full(), true);
  let resumed = 0;
  pull.whenDrained(() => (resumed += 1));
  await tick();
  assert.equal(resumed, 0, 'still above low water');
  level = 6;
  pull.drained();
  await tick();
  assert.equal(resumed, 0, 'between the marks the valve stays closed');
  level = 4;
  pull.drained();
  assert.equal(resumed, 0, 'never from inside the caller (the stage is mid-update)');
  await tick();
  assert.equal(resumed, 1);
  pull.drained();
  await tick();
  assert.equal(resumed, 1, 'once per wait');
  assert.equal(pull.stats().waiting, 0);
});

test('a wait registered when already drained resumes at once; a cancelled wait never does', async () => {
  const pull = createPullControl();
  let level = 0;
  pull.watch(() => level, { highWater: 2, lowWater: 1 });
  let a = 0;
  pull.whenDrained(() => (a += 1));
  assert.equal(a, 0, 'not from inside the caller');
  await tick();
  assert.equal(a, 1, 'no progress report needed');
  level = 5;
  assert.equal(pull.full(), true);
  let b = 0;
  const cancel = pull.whenDrained(() => (b += 1));
  cancel();
  level = 0;
  pull.drained();
  await tick();
  assert.equal(b, 0);
  assert.equal(pull.stats().waiting, 0);
});

test('pace marks cameras; bad water marks are refused', () => {
  const pull = createPullControl();
  pull.pace('file-1');
  assert.equal(pull.paces('file-1'), true);
  assert.equal(pull.paces('rtsp-1'), false);
  assert.throws(() => pull.watch(() => 0, { highWater: 0, lowWater: 0 }), ConfigError);
  assert.throws(() => pull.watch(() => 0, { highWater: 4, lowWater: 4 }), ConfigError);
});

test('water marks: half the clip queue, two call rounds at least, never above the queue', () => {
  assert.deepEqual(pullWaterMarks({ maxQueuedClips: 64, inferConcurrency: 2, batchClips: 8 }), { highWater: 32, lowWater: 16 });
  assert.deepEqual(pullWaterMarks({ maxQueuedClips: 64, inferConcurrency: 4, batchClips: 16 }), { highWater: 64, lowWater: 32 });
  assert.deepEqual(pullWaterMarks({ maxQueuedClips: 1, inferConcurrency: 1, batchClips: 8 }), { highWater: 1, lowWater: 0 });
});
