import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWatermarkTracker } from '../../src/topology/watermark.ts';
import type { ActionEvent, ClipMeta, Frame, Window } from '../../src/types.ts';

const S = 4;
const C = 3;
const frame = (cam: string, seq: number, partition: number, offset: number): Frame => ({
  cameraId: cam,
  seq,
  ptsMs: seq * 200,
  width: 1,
  height: 1,
  data: new Uint8Array(3),
  source: { topic: 'frames', partition, offset },
});
const clip = (cam: string, startSeq: number): ClipMeta => ({ cameraId: cam, startSeq, endSeq: startSeq + S - 1, startMs: 0, endMs: 1, segment: 0 });
const win = (cam: string, oldest: number): Window => ({
  cameraId: cam,
  clips: [0, 1, 2].map((i) => clip(cam, oldest + i * S)),
  padded: [false, false, false],
  features: new Float32Array(3),
  dim: 1,
  segment: 0,
});
const ev = (cam: string, id: string, startClip: number, status: 'open' | 'closed'): ActionEvent =>
  ({ cameraId: cam, id, startClip, status }) as unknown as ActionEvent;

test('the low watermark is C−1 clips before the newest window’s oldest clip or an open event’s first clip', () => {
  const wm = createWatermarkTracker({ stride: S, windowClips: C });
  // Camera a on partition 0: offsets = 100 + seq.
  for (let seq = 0; seq < 60; seq++) wm.frame(frame('a', seq, 0, 100 + seq));
  assert.deepEqual(wm.lowWatermarks(), [{ topic: 'frames', partition: 0, offset: 100 }], 'no window yet: from the first frame');
  wm.window(win('a', 16));
  assert.equal(wm.lowSeq('a'), 16 - (C - 1) * S);
  wm.window(win('a', 20));
  // Committed now, before the next window opens an event at clip 20 or later: a new owner
  // replaying from here must not suppress that event as cut short (it was never emitted).
  const replayFrom = wm.lowSeq('a') as number;
  for (const start of [20, 24]) assert.equal(replayFrom + (C - 1) * S <= start, true, `an event at ${start} would be suppressed after a replay from ${replayFrom}`);
  // An event opened by the window whose oldest clip is 20, starting at clip 24.
  wm.event(ev('a', 'e1', 24, 'open'));
  assert.equal(wm.lowSeq('a'), 20 - (C - 1) * S, 'the newest window still reaches further back');
  wm.window(win('a', 40));
  assert.equal(wm.lowSeq('a'), 16, 'the open event holds the watermark back');
  assert.deepEqual(wm.lowWatermarks(), [{ topic: 'frames', partition: 0, offset: 116 }]);
  wm.event(ev('a', 'e1', 24, 'closed'));
  assert.equal(wm.lowSeq('a'), 40 - (C - 1) * S);
  assert.deepEqual(wm.lowWatermarks(), [{ topic: 'frames', partition: 0, offset: 132 }]);
  // Entries below the watermark are pruned: memory is bounded by the replay horizon.
  assert.ok(wm.size() <= (60 - 40 + (C - 1) * S) / S + 1, `size ${wm.size()}`);
});

test('cameras sharing a partition commit at their minimum; revoked cameras are forgotten', () => {
  const wm = createWatermarkTracker({ stride: S, windowClips: C });
  let off = 0;
  for (let seq = 0; seq < 80; seq++) {
    wm.frame(frame('a', seq, 0, off++));
    wm.frame(frame('b', seq, 0, off++));
    wm.frame(frame('c', seq, 1, 1000 + seq));
  }
  wm.window(win('a', 60));
  wm.window(win('b', 40));
  wm.window(win('c', 72));
  const marks = wm.lowWatermarks().sort((x, y) => x.partition - y.partition);
  // b needs seq 40 − 8 = 32 (offset 2·32+1 = 65), a 60 − 8 = 52 (offset 104): the partition commits 65.
  assert.deepEqual(marks, [
    { topic: 'frames', partition: 0, offset: 65 },
    { topic: 'frames', partition: 1, offset: 1064 },
  ]);
  wm.forget(['b']);
  assert.deepEqual(wm.lowWatermarks().find((m) => m.partition === 0), { topic: 'frames', partition: 0, offset: 104 });
});

test('after a replay, events that start within C−1 clips of the first replayed frame are suppressed', () => {
  const wm = createWatermarkTracker({ stride: S, windowClips: C });
  for (let seq = 40; seq < 80; seq++) wm.frame(frame('a', seq, 0, seq));
  assert.equal(wm.suppress(ev('a', 'x', 44, 'closed')), true);
  assert.equal(wm.suppress(ev('a', 'y', 48, 'closed')), false);
  // A camera whose stream this process saw from its very first frame suppresses nothing.
  for (let seq = 0; seq < 10; seq++) wm.frame(frame('fresh', seq, 0, 500 + seq));
  assert.equal(wm.suppress(ev('fresh', 'z', 0, 'closed')), false);
});
