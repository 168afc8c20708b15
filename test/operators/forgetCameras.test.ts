/**
 * `forget` on every per-camera operator: a revoked camera's state goes without a single
 * emission for it, other cameras are untouched, and the camera starts afresh afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { Subject, map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConfigError } from '../../src/errors.ts';
import { batchClips } from '../../src/operators/batchClips.ts';
import type { ForgetCameras } from '../../src/operators/forgetCameras.ts';
import { inferBatches } from '../../src/operators/inferBatches.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import { rollingWindows } from '../../src/operators/rollingWindows.ts';
import { slidingClips } from '../../src/operators/slidingClips.ts';
import { trackEvents } from '../../src/operators/trackEvents.ts';
import type { Clip, ClipFeature, Frame, WindowDetections } from '../../src/types.ts';
import { makeFeature, makeFrame, makeMeta, makeWindow } from './fixtures.ts';

const scheduler = (): TestScheduler => new TestScheduler((a, b) => assert.deepEqual(a, b));

/** A forget option over `cameras$` that records what each camera lost. */
function recording(cameras$: ForgetCameras['cameras$']): { forget: ForgetCameras; dropped: [string, number][] } {
  const dropped: [string, number][] = [];
  return { forget: { cameras$, onDropped: (c, n) => dropped.push([c, n]) }, dropped };
}

test('slidingClips: a forgotten camera loses its unfinished clip and starts afresh at a replayed seq', () => {
  const ts = scheduler();
  ts.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
    const f = (cam: string, seq: number): Frame => makeFrame(cam, seq);
    // a0..a2 buffered, b0..b3 make a clip, a is forgotten, then a replays from 0.
    const frames = cold('abcdefg--hijk|', {
      a: f('a', 0), b: f('a', 1), c: f('a', 2), d: f('b', 0), e: f('b', 1), f: f('b', 2), g: f('b', 3),
      h: f('a', 0), i: f('a', 1), j: f('a', 2), k: f('a', 3),
    });
    const revoke = hot('--------x', { x: ['a'] });
    const stats = createOperatorStats();
    const { forget, dropped } = recording(revoke);
    const clips = frames.pipe(
      slidingClips({ frames: 4, stride: 4, stats, forget }),
      map((c: Clip) => `${c.cameraId}${c.startSeq}`),
    );
    expectObservable(clips).toBe('------x-----y|', { x: 'b0', y: 'a0' });
    expectSubscriptions(revoke.subscriptions).toBe('^------------!');
    ts.flush();
    assert.deepEqual(dropped, [['a', 3]]);
    assert.equal(stats.dropped, 0, 'the replayed frames were not taken for duplicates');
  });
});

test('rollingWindows: a forgotten camera loses its ring and starts a fresh one', () => {
  const ts = scheduler();
  ts.run(({ cold, hot, expectObservable }) => {
    // Without the forget, a4 would complete a's window [0, 4].
    const features = cold('ab-cd|', { a: makeFeature('a', 0), b: makeFeature('a', 4), c: makeFeature('b', 0), d: makeFeature('b', 4) });
    const revoke = hot('-x', { x: ['a'] });
    const stats = createOperatorStats();
    const { forget, dropped } = recording(revoke);
    const windows = features.pipe(
      rollingWindows({ clips: 2, minClips: 2, stats, forget }),
      map((w) => `${w.cameraId}:${w.clips.map((c) => c.startSeq).join(',')}`),
    );
    expectObservable(windows).toBe('----x|', { x: 'b:0,4' });
    ts.flush();
    assert.deepEqual(dropped, [['a', 1]]);
    assert.equal(stats.keys, 0, 'teardown cleared the rings');
  });
});

test('rollingWindows: the forgotten camera is not flushed at completion (it would be with minClips reached)', () => {
  const ts = scheduler();
  ts.run(({ cold, hot, expectObservable }) => {
    // hop 2: the ring holds a clip since the last window, which completion would flush.
    const features = cold('abc-|', { a: makeFeature('a', 0), b: makeFeature('a', 4), c: makeFeature('a', 8) });
    const revoke = hot('---x', { x: ['a'] });
    const windows = features.pipe(rollingWindows({ clips: 2, minClips: 1, hop: 2, forget: { cameras$: revoke } }), map((w) => w.clips.map((c) => c.startSeq).join(',')));
    expectObservable(windows).toBe('a-b-|', { a: '0,0', b: '4,8' });
  });
});

/** A window of camera `cam` from clip `first` with class 1 detected over all its clips. */
function detected(cam: string, first: number): WindowDetections {
  const window = makeWindow(cam, first, 2);
  const [c0, c1] = window.clips;
  assert.ok(c0 && c1);
  return {
    window,
    result: { window, probs: Float32Array.of(0.1, 0.9) },
    detections: [{ cameraId: cam, segment: 0, classIndex: 1, action: 'wave', confidence: 0.9, startClip: c0, endClip: c1, attention: [0.9, 0.9], windowClips: window.clips }],
  };
}

test('trackEvents: open events of a forgotten camera are dropped, not closed; the other camera closes normally', () => {
  const ts = scheduler();
  ts.run(({ cold, hot, expectObservable }) => {
    const windows = cold('ab--|', { a: detected('a', 0), b: detected('b', 0) });
    const revoke = hot('--x', { x: ['a'] });
    const stats = createOperatorStats();
    const { forget, dropped } = recording(revoke);
    const events = windows.pipe(
      trackEvents({ model: { name: 'm', version: '1', head: 'gcf' }, now: () => 0, stats, forget }),
      map((e) => `${e.cameraId}:${e.status}`),
    );
    expectObservable(events).toBe('----(x|)', { x: 'b:closed' });
    ts.flush();
    assert.deepEqual(dropped, [['a', 1]]);
    assert.equal(stats.buffered, 0);
  });
});

test('batchClips: a forgotten camera leaves the open batch; a batch it empties waits for nothing', () => {
  const ts = scheduler();
  ts.run(({ cold, hot, expectObservable }) => {
    const c = (cam: string, s: number): Clip => ({ ...makeMeta(cam, s), frames: 4, width: 1, height: 1, data: new Uint8Array(12) });
    const clips = cold('ab-c------d-|', { a: c('a', 0), b: c('b', 0), c: c('a', 4), d: c('b', 4) });
    const revoke = hot('--x--y', { x: ['a'], y: ['b'] });
    const batches = clips.pipe(
      batchClips<Clip>({ maxBatch: 10, maxWaitMs: 5, forget: { cameras$: revoke }, cameraOf: (x) => x.cameraId }),
      map((xs) => xs.map((x) => `${x.cameraId}${x.startSeq}`).join(' ')),
    );
    // a0 is taken out at 2 (the batch keeps b0 and its timer); a4 joins; b is forgotten at 5,
    // leaving a4, flushed on the original timer (first item at 0 → 5 ms); b4 is alone later.
    expectObservable(batches).toBe('-----x------(y|)', { x: 'a4', y: 'b4' });
  });
  scheduler().run(({ cold, hot, expectObservable }) => {
    const c = (cam: string, s: number): Clip => ({ ...makeMeta(cam, s), frames: 4, width: 1, height: 1, data: new Uint8Array(12) });
    // a0 alone is forgotten: its timer (due at 5) goes with it, so b0 waits its own 5 ms.
    const clips = cold('a--b-----|', { a: c('a', 0), b: c('b', 0) });
    const revoke = hot('--x', { x: ['a'] });
    const batches = clips.pipe(
      batchClips<Clip>({ maxBatch: 10, maxWaitMs: 5, forget: { cameras$: revoke }, cameraOf: (x) => x.cameraId }),
      map((xs) => xs.map((x) => `${x.cameraId}${x.startSeq}`).join(' ')),
    );
    expectObservable(batches).toBe('--------x|', { x: 'b0' });
  });
  assert.throws(() => batchClips<Clip>({ maxBatch: 2, maxWaitMs: 1, forget: { cameras$: new Subject<string[]>() } }), ConfigError);
});

test('inferBatches: a forgotten camera loses queued clips and the results of clips already in calls', async () => {
  const calls: { clips: readonly Clip[]; resolve: (f: readonly Float32Array[]) => void }[] = [];
  const infer = (clips: readonly Clip[]): Promise<readonly Float32Array[]> => new Promise((resolve) => calls.push({ clips, resolve }));
  const clip = (cam: string, s: number): Clip => ({ ...makeMeta(cam, s), frames: 4, width: 1, height: 1, data: new Uint8Array(12) });
  const revoke = new Subject<readonly string[]>();
  const { forget, dropped } = recording(revoke);
  const stats = createOperatorStats();
  const input = new Subject<Clip[]>();
  const out: ClipFeature[] = [];
  let done = false;
  input.pipe(inferBatches({ infer, concurrency: 1, maxBatch: 2, maxQueuedClips: 10, stats, forget })).subscribe({ next: (f) => out.push(f), complete: () => (done = true) });

  input.next([clip('a', 0), clip('b', 0), clip('a', 4), clip('b', 4), clip('a', 8)]);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]?.clips.map((c) => `${c.cameraId}${c.startSeq}`), ['a0', 'b0']);
  revoke.next(['a']);
  assert.deepEqual(dropped, [['a', 3]], 'a0 in the call, a4 and a8 queued');
  assert.equal(stats.buffered, 1, 'b4 still queued');
  input.complete();
  while (!done) {
    const call = calls.shift();
    call?.resolve(call.clips.map((c) => Float32Array.of(c.startSeq)));
    await tick();
  }
  assert.deepEqual(out.map((f) => `${f.cameraId}${f.startSeq}`), ['b0', 'b4'], 'nothing of a comes out');
  assert.equal(stats.inFlight, 0);
  assert.equal(stats.dropped, 0, 'forgetting is not a backpressure drop');
});

test('inferBatches: outputs held for order behind a slower call are forgotten too, and free their room', async () => {
  const calls: { clips: readonly Clip[]; resolve: (f: readonly Float32Array[]) => void }[] = [];
  const infer = (clips: readonly Clip[]): Promise<readonly Float32Array[]> => new Promise((resolve) => calls.push({ clips, resolve }));
  const clip = (cam: string, s: number): Clip => ({ ...makeMeta(cam, s), frames: 4, width: 1, height: 1, data: new Uint8Array(12) });
  const revoke = new Subject<readonly string[]>();
  const stats = createOperatorStats();
  const input = new Subject<Clip[]>();
  const out: string[] = [];
  input.pipe(inferBatches({ infer, concurrency: 2, maxBatch: 1, maxQueuedClips: 10, stats, forget: { cameras$: revoke } })).subscribe((f) => out.push(`${f.cameraId}${f.startSeq}`));
  input.next([clip('a', 0), clip('a', 4)]);
  assert.equal(calls.length, 2);
  // a4 finishes first and is held behind a0.
  calls[1]?.resolve([Float32Array.of(4)]);
  await tick();
  assert.deepEqual(out, []);
  assert.equal(stats.inFlight, 2, 'one in a call, one held');
  revoke.next(['a']);
  assert.equal(stats.inFlight, 1, 'the held output is gone; a0 still occupies its call');
  calls[0]?.resolve([Float32Array.of(0)]);
  await tick();
  assert.deepEqual(out, [], 'a0 is not emitted either');
  assert.equal(stats.inFlight, 0);
  // The camera comes back (a replay): its clips flow again.
  input.next([clip('a', 0)]);
  calls[2]?.resolve([Float32Array.of(0)]);
  await tick();
  assert.deepEqual(out, ['a0']);
});
