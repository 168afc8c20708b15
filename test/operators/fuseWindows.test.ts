import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { InferenceError, ShapeError } from '../../src/errors.ts';
import { fuseWindows, type HeadOutput } from '../../src/operators/fuseWindows.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import type { Window, WindowResult } from '../../src/types.ts';
import { makeWindow } from './fixtures.ts';

/** A fake head whose outputs name their window: probs = [first clip startSeq, C], attention = slot index / C. */
const fakeHead =
  (calls: (readonly Window[])[]) =>
  async (windows: readonly Window[]): Promise<readonly HeadOutput[]> => {
    calls.push(windows);
    await tick();
    return windows.map((w) => ({
      probs: Float32Array.of(w.clips[0]?.startSeq ?? -1, w.clips.length),
      attention: Float32Array.from(w.clips, (_c, i) => i / w.clips.length),
    }));
  };

test('batches windows of different cameras into one head call and pairs each result with its window', async () => {
  const calls: (readonly Window[])[] = [];
  const windows = [makeWindow('a', 0, 3), makeWindow('b', 0, 3), makeWindow('c', 8, 3), makeWindow('a', 4, 3), makeWindow('b', 4, 3)];
  const results = await lastValueFrom(from(windows).pipe(fuseWindows({ run: fakeHead(calls), maxBatch: 4, maxWaitMs: 5 }), toArray()));
  assert.deepEqual(calls.map((c) => c.length), [4, 1]);
  assert.deepEqual(new Set(calls[0]?.map((w) => w.cameraId)), new Set(['a', 'b', 'c']));
  assert.equal(results.length, windows.length);
  for (const r of results) {
    assert.ok(windows.includes(r.window));
    assert.deepEqual(Array.from(r.probs), [r.window.clips[0]?.startSeq, 3]);
    assert.deepEqual(Array.from(r.attention ?? []), [0, 1 / 3, 2 / 3].map(Math.fround));
  }
  for (const cam of ['a', 'b']) {
    const firsts = results.filter((r) => r.window.cameraId === cam).map((r) => r.window.clips[0]?.startSeq);
    assert.deepEqual(firsts, [0, 4], `${cam} results in window order`);
  }
});

test('a head without attention gives results without attention', async () => {
  const run = async (ws: readonly Window[]): Promise<readonly HeadOutput[]> => ws.map(() => ({ probs: Float32Array.of(0.2, 0.8) }));
  const [r] = await lastValueFrom(from([makeWindow('a', 0, 2)]).pipe(fuseWindows({ run, maxBatch: 2, maxWaitMs: 1 }), toArray()));
  assert.equal(r?.attention, undefined);
  assert.deepEqual(Array.from(r?.probs ?? []), [0.2, 0.8].map(Math.fround));
});

test('attention of the wrong length fails the stream with an InferenceError caused by a ShapeError', async () => {
  const run = async (ws: readonly Window[]): Promise<readonly HeadOutput[]> =>
    ws.map(() => ({ probs: Float32Array.of(1), attention: new Float32Array(2) }));
  await assert.rejects(
    lastValueFrom(from([makeWindow('a', 0, 3)]).pipe(fuseWindows({ run, maxBatch: 2, maxWaitMs: 1 }))),
    (e: unknown) => e instanceof InferenceError && e.cause instanceof ShapeError && e.cameraIds.includes('a'),
  );
});

test('a slow head drops the lagging camera’s oldest windows and keeps its queue bounded', async () => {
  const pending: (() => void)[] = [];
  const run = (ws: readonly Window[]): Promise<readonly HeadOutput[]> =>
    new Promise((resolve) => pending.push(() => resolve(ws.map(() => ({ probs: Float32Array.of(1) })))));
  const drops: string[] = [];
  const stats = createOperatorStats();
  const input = new Subject<Window>();
  const out: WindowResult[] = [];
  let done = false;
  input
    .pipe(fuseWindows({ run, maxBatch: 2, maxWaitMs: 1, maxQueuedWindows: 3, onDrop: (c) => drops.push(c), stats }))
    .subscribe({ next: (r) => out.push(r), complete: () => (done = true) });
  // maxBatch 2 flushes synchronously on every second window; the first pair goes to the head.
  for (let k = 0; k < 6; k++) input.next(makeWindow('busy', 4 * k, 2));
  input.next(makeWindow('calm', 0, 2));
  input.next(makeWindow('calm', 4, 2));
  input.complete();
  assert.ok(stats.peakBuffered <= 3);
  assert.deepEqual(drops, ['busy', 'busy', 'busy']);
  while (!done) {
    pending.shift()?.();
    await tick();
  }
  assert.deepEqual(
    out.map((r) => `${r.window.cameraId}${r.window.clips[0]?.startSeq}`),
    ['busy0', 'busy4', 'busy20', 'calm0', 'calm4'],
  );
});
