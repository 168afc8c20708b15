import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastValueFrom, map, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { createSyntheticSource, SYNTHETIC_BATCH } from '../../../src/topology/sources/syntheticSource.ts';
import type { SyntheticSourceOptions } from '../../../src/topology/sources/syntheticSource.ts';
import { ConfigError } from '../../../src/errors.ts';
import type { Frame } from '../../../src/types.ts';
import type { PullGate } from '../../../src/topology/pullControl.ts';

const base: SyntheticSourceOptions = { cameraId: 'synth', fps: 10, width: 48, height: 32, seed: 7 };

function collect(options: SyntheticSourceOptions): Promise<Frame[]> {
  return lastValueFrom(createSyntheticSource(options).frames$.pipe(toArray()));
}

/** Mean absolute difference per byte. */
function difference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

test('emits the requested number of RGB24 frames with sequence numbers and pts at 1/fps', async () => {
  const frames = await collect({ ...base, frames: 25 });
  assert.equal(frames.length, 25);
  frames.forEach((frame, i) => {
    assert.equal(frame.cameraId, 'synth');
    assert.equal(frame.seq, i);
    assert.equal(frame.ptsMs, i * 100);
    assert.equal(frame.width, 48);
    assert.equal(frame.height, 32);
    assert.equal(frame.data.length, 48 * 32 * 3);
    assert.ok(!frame.gapBefore);
  });
});

test('the same seed gives the same bytes; another seed gives another scene', async () => {
  const a = await collect({ ...base, frames: 5 });
  const b = await collect({ ...base, frames: 5 });
  const c = await collect({ ...base, frames: 5, seed: 8 });
  assert.deepEqual(a.map((f) => f.data), b.map((f) => f.data));
  assert.ok(difference(a[0]?.data ?? new Uint8Array(), c[0]?.data ?? new Uint8Array()) > 5);
});

test('frame i does not depend on how many frames were asked for (a pure function of seed and index)', async () => {
  const short = await collect({ ...base, frames: 3 });
  const endless = await lastValueFrom(createSyntheticSource(base).frames$.pipe(take(3), toArray()));
  assert.deepEqual(endless.map((f) => f.data), short.map((f) => f.data));
});

test('the picture is textured and shapes move', async () => {
  const frames = await collect({ ...base, frames: 11 });
  const first = frames[0]?.data ?? new Uint8Array();
  assert.ok(new Set(first).size > 40, 'background has texture, not a flat fill');
  const later = frames[10]?.data ?? new Uint8Array();
  assert.ok(difference(first, later) > 0.5, 'something moved in one second');
  const still = await collect({ ...base, frames: 11, shapes: 0 });
  assert.deepEqual(still[0]?.data, still[10]?.data, 'without shapes nothing moves: motion comes from the shapes');
});

test('frames are separate buffers a consumer may keep or modify', async () => {
  const frames = await collect({ ...base, frames: 2, shapes: 0 });
  const [a, b] = frames;
  assert.ok(a !== undefined && b !== undefined);
  assert.notEqual(a.data.buffer, b.data.buffer);
  a.data.fill(0);
  assert.ok(b.data.some((v) => v !== 0));
});

test('simulated outages mark gapBefore and advance media time by gapMs', async () => {
  const frames = await collect({ ...base, frames: 8, gapsBefore: [3, 6], gapMs: 1000 });
  assert.deepEqual(frames.filter((f) => f.gapBefore === true).map((f) => f.seq), [3, 6]);
  assert.deepEqual(frames.map((f) => f.ptsMs), [0, 100, 200, 1300, 1400, 1500, 2600, 2700]);
  assert.deepEqual(frames.map((f) => f.seq), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('realtime paces frames at 1/fps on the scheduler and completes after the last', () => {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  scheduler.run(({ expectObservable }) => {
    const cam = createSyntheticSource({ ...base, fps: 4, frames: 3, realtime: true });
    expectObservable(cam.frames$.pipe(map((f) => String(f.seq)))).toBe('0 249ms 1 249ms (2|)');
  });
});

test('realtime follows media time across a simulated outage', () => {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  scheduler.run(({ expectObservable }) => {
    const cam = createSyntheticSource({ ...base, fps: 10, frames: 3, realtime: true, gapsBefore: [2], gapMs: 500 });
    expectObservable(cam.frames$.pipe(map((f) => String(f.seq)))).toBe('0 99ms 1 599ms (2|)');
  });
});

test('unsubscribing cancels the scheduled frames', () => {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  // Finite so that a broken teardown shows up as extra generated frames, not a hung flush.
  const cam = createSyntheticSource({ ...base, fps: 10, frames: 100, realtime: true });
  scheduler.run(({ expectObservable }) => {
    expectObservable(cam.frames$.pipe(map((f) => String(f.seq))), '^ 250ms !').toBe('0 99ms 1 99ms 2');
  });
  assert.equal(cam.stats().frames, 3, 'no frame generated after unsubscribe');
});

test('an endless non-realtime source yields to the event loop between batches', async () => {
  const cam = createSyntheticSource({ ...base, width: 8, height: 8 });
  let ticks = 0;
  const interval = setInterval(() => {
    ticks += 1;
  }, 0);
  try {
    const frames = await lastValueFrom(cam.frames$.pipe(take(SYNTHETIC_BATCH * 20), toArray()));
    assert.equal(frames.length, SYNTHETIC_BATCH * 20);
  } finally {
    clearInterval(interval);
  }
  assert.ok(ticks > 0, 'timers ran while frames were generated');
  assert.equal(cam.stats().frames, SYNTHETIC_BATCH * 20);
});

test('bad options are a ConfigError naming the fields', () => {
  assert.throws(
    () => createSyntheticSource({ ...base, fps: -1, width: 0, frames: 1.5 }),
    (error: unknown) => error instanceof ConfigError && error.issues.map((i) => i.path).sort().join() === 'fps,frames,width',
  );
});

test('a paced generator stops while the gate is full and goes on when it drains; unsubscribing cancels the wait', async () => {
  let taken = 0;
  let waiting = false;
  let violations = 0;
  let pending = 0;
  const gate: PullGate = {
    pace: () => undefined,
    full: () => taken % 5 === 0,
    whenDrained: (resume) => {
      waiting = true;
      pending += 1;
      const timer = setTimeout(() => {
        pending -= 1;
        waiting = false;
        resume();
      }, 2);
      return () => {
        pending -= 1;
        clearTimeout(timer);
      };
    },
  };
  const cam = createSyntheticSource({ cameraId: 'p', fps: 10, width: 8, height: 8, seed: 1, frames: 52, pull: gate });
  const seqs = await lastValueFrom(
    cam.frames$.pipe(
      map((f) => {
        if (waiting) violations += 1;
        taken += 1;
        return f.seq;
      }),
      toArray(),
    ),
  );
  assert.equal(violations, 0);
  assert.deepEqual(seqs, Array.from({ length: 52 }, (_, i) => i));
  // Endless, unsubscribed while waiting: the wait is cancelled, nothing more comes.
  taken = 0;
  const endless = createSyntheticSource({ cameraId: 'q', fps: 10, width: 8, height: 8, seed: 1, pull: gate });
  const got: number[] = [];
  const sub = endless.frames$.subscribe((f) => {
    taken += 1;
    got.push(f.seq);
  });
  await new Promise((r) => setTimeout(r, 1));
  assert.equal(waiting, true);
  sub.unsubscribe();
  assert.equal(pending, 0, 'the wait was cancelled');
  assert.ok(got.length >= 5 && got.length % 5 === 0, `${got.length} frames, in steps of 5`);
  assert.throws(() => createSyntheticSource({ cameraId: 'r', fps: 10, width: 8, height: 8, seed: 1, realtime: true, pull: gate }), ConfigError);
});
