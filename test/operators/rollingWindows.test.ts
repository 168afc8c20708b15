import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, map, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConfigError, ShapeError } from '../../src/errors.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import { rollingWindows, type RollingWindowsOptions } from '../../src/operators/rollingWindows.ts';
import type { ClipFeature, Window } from '../../src/types.ts';
import { interleave, makeFeature, seededRandom } from './fixtures.ts';

const run = (features: readonly ClipFeature[], opts: RollingWindowsOptions): Promise<Window[]> =>
  lastValueFrom(from(features).pipe(rollingWindows(opts), toArray()));

const seqsOf = (w: Window): number[] => w.clips.map((c) => c.startSeq);
/** Row i of the window's [C, d] features. */
const row = (w: Window, i: number): number[] => Array.from(w.features.subarray(i * w.dim, (i + 1) * w.dim));

test('loop-pads from minClips until C real clips exist, then slides', async () => {
  const windows = await run([0, 4, 8, 12, 16].map((s) => makeFeature('a', s)), { clips: 4, minClips: 2 });
  assert.deepEqual(windows.map(seqsOf), [
    [0, 4, 0, 4],
    [0, 4, 8, 0],
    [0, 4, 8, 12],
    [4, 8, 12, 16],
  ]);
  assert.deepEqual(windows.map((w) => w.padded), [
    [false, false, true, true],
    [false, false, false, true],
    [false, false, false, false],
    [false, false, false, false],
  ]);
  for (const w of windows) {
    assert.equal(w.features.length, 4 * 2);
    w.clips.forEach((c, i) => assert.deepEqual(row(w, i), [c.startSeq, c.startSeq + 0.5], 'feature row matches its slot'));
    assert.ok(w.clips.every((c) => !('feature' in c)), 'window clips carry metadata only');
  }
});

test('minClips = C emits only full windows', async () => {
  const windows = await run([0, 4, 8, 12].map((s) => makeFeature('a', s)), { clips: 3, minClips: 3 });
  assert.deepEqual(windows.map(seqsOf), [[0, 4, 8], [4, 8, 12]]);
});

test('a new segment empties the ring: no window mixes segments', async () => {
  const features = [
    ...[0, 4, 8, 12].map((s) => makeFeature('a', s, 0)),
    ...[40, 44, 48].map((s) => makeFeature('a', s, 1)),
  ];
  const windows = await run(features, { clips: 3, minClips: 2 });
  assert.deepEqual(windows.map(seqsOf), [
    [0, 4, 0],
    [0, 4, 8],
    [4, 8, 12],
    [40, 44, 40],
    [40, 44, 48],
  ]);
  for (const w of windows) assert.ok(w.clips.every((c) => c.segment === w.segment));
});

test('hop emits every hop new clips and flushes unseen clips on completion', async () => {
  const windows = await run([0, 4, 8, 12, 16, 20, 24].map((s) => makeFeature('a', s)), { clips: 3, minClips: 1, hop: 3 });
  // First window at minClips, then every 3 clips; 24 arrives after the last window: flushed.
  assert.deepEqual(windows.map(seqsOf), [
    [0, 0, 0],
    [4, 8, 12],
    [16, 20, 24],
  ]);
  const flushed = await run([0, 4, 8, 12, 16].map((s) => makeFeature('a', s)), { clips: 3, minClips: 1, hop: 3 });
  assert.deepEqual(flushed.map(seqsOf), [[0, 0, 0], [4, 8, 12], [8, 12, 16]]);
});

test('interleaved cameras have independent rings', async () => {
  const per = ['a', 'b', 'c'].map((cam, i) => Array.from({ length: 30 }, (_, k) => makeFeature(cam, 100 * i + 4 * k, Math.floor(k / 12))));
  const opts = { clips: 5, minClips: 3 };
  const mixed = await run(interleave(per, seededRandom(5)), opts);
  for (const list of per) {
    const cam = list[0]?.cameraId;
    assert.deepEqual(mixed.filter((w) => w.cameraId === cam), await run(list, opts));
  }
});

test('memory: C features per camera at most', async () => {
  const stats = createOperatorStats();
  const per = ['a', 'b'].map((cam) => Array.from({ length: 500 }, (_, k) => makeFeature(cam, 4 * k)));
  const windows = await run(interleave(per, seededRandom(9)), { clips: 6, minClips: 2, stats });
  assert.equal(windows.length, 2 * (500 - 1));
  assert.equal(stats.peakBuffered, 2 * 6);
  assert.equal(stats.keys, 0, 'state released on completion');
});

test('a feature of another dimension is a ShapeError', async () => {
  const features = [makeFeature('a', 0), makeFeature('a', 4, 0, new Float32Array(3))];
  await assert.rejects(run(features, { clips: 2, minClips: 1 }), ShapeError);
});

test('marble: windows follow their clip at once; teardown reaches the source', () => {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  ts.run(({ cold, expectObservable, expectSubscriptions }) => {
    const f = { a: makeFeature('x', 0), b: makeFeature('x', 4), c: makeFeature('x', 8) };
    const source = cold('a-b--c|', f);
    const out = source.pipe(rollingWindows({ clips: 2, minClips: 2 }), map((w) => seqsOf(w).join(',')));
    expectObservable(out).toBe('--p--q|', { p: '0,4', q: '4,8' });
    expectSubscriptions(source.subscriptions).toBe('^-----!');
    const hot = ts.createHotObservable('-a-b-c-|', f);
    expectObservable(hot.pipe(rollingWindows({ clips: 2, minClips: 2 })), '^--!').toBe('---');
    expectSubscriptions(hot.subscriptions).toBe('^--!');
  });
});

test('bad options fail with a ConfigError', () => {
  assert.throws(() => rollingWindows({ clips: 4, minClips: 5 }), ConfigError);
  assert.throws(() => rollingWindows({ clips: 4, minClips: 0 }), ConfigError);
  assert.throws(() => rollingWindows({ clips: 4, minClips: 2, hop: 0 }), ConfigError);
});
