import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { ConfigError } from '../../src/errors.ts';
import { batchClips } from '../../src/operators/batchClips.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';

const scheduler = (): TestScheduler => new TestScheduler((a, b) => assert.deepEqual(a, b));

test('marble: emits when the batch is full or maxWaitMs after its first item; flushes on complete', () => {
  const ts = scheduler();
  ts.run(({ cold, expectObservable, expectSubscriptions }) => {
    const items = cold('-a-b------c-d-e-f-g|');
    const batches = items.pipe(batchClips<string>({ maxBatch: 3, maxWaitMs: 4 }));
    // [a,b]: wait from a (1) to 5; [c,d,e]: full at e (14), before c's timer (14) fires; [f,g]: flushed by complete.
    expectObservable(batches).toBe('5ms x 8ms y 4ms (z|)', { x: ['a', 'b'], y: ['c', 'd', 'e'], z: ['f', 'g'] });
    expectSubscriptions(items.subscriptions).toBe('^------------------!');
  });
});

test('marble: the wait restarts with the first item of each batch, not on a fixed tick', () => {
  const ts = scheduler();
  ts.run(({ cold, expectObservable }) => {
    const items = cold('a--b--c--------|');
    // a at 0 waits to 5 and takes b; c at 6 starts a new wait to 11.
    expectObservable(items.pipe(batchClips<string>({ maxBatch: 10, maxWaitMs: 5 }))).toBe('-----x-----y---|', {
      x: ['a', 'b'],
      y: ['c'],
    });
  });
});

test('marble: a batch flushed by size cancels its timer, so it cannot cut the next batch short', () => {
  const ts = scheduler();
  ts.run(({ cold, expectObservable }) => {
    const items = cold('abcd----|');
    // [a,b,c] full at 2; d at 3 waits its own 4 frames, to 7 (a stale timer from a or b would fire at 4 or 5).
    expectObservable(items.pipe(batchClips<string>({ maxBatch: 3, maxWaitMs: 4 }))).toBe('--x----y|', { x: ['a', 'b', 'c'], y: ['d'] });
  });
});

test('marble: never emits an empty batch', () => {
  const ts = scheduler();
  ts.run(({ cold, expectObservable }) => {
    expectObservable(cold('------|').pipe(batchClips({ maxBatch: 2, maxWaitMs: 1 }))).toBe('------|');
    // Full at b; nothing left when the source completes.
    expectObservable(cold('ab|').pipe(batchClips<string>({ maxBatch: 2, maxWaitMs: 1 }))).toBe('-x|', { x: ['a', 'b'] });
  });
});

test('marble: a source error discards the open batch and passes the error on', () => {
  const ts = scheduler();
  ts.run(({ cold, expectObservable, expectSubscriptions }) => {
    const items = cold('-a-#');
    expectObservable(items.pipe(batchClips({ maxBatch: 4, maxWaitMs: 5 }))).toBe('---#');
    expectSubscriptions(items.subscriptions).toBe('^--!');
  });
});

test('marble: unsubscribing cancels the wait timer and frees the batch', () => {
  const ts = scheduler();
  const stats = createOperatorStats();
  ts.run(({ hot, expectObservable, expectSubscriptions }) => {
    const items = hot('-a----b-|');
    expectObservable(items.pipe(batchClips({ maxBatch: 4, maxWaitMs: 3, stats })), '^-!').toBe('----');
    expectSubscriptions(items.subscriptions).toBe('^-!');
  });
  assert.equal(stats.peakBuffered, 1);
  assert.equal(stats.buffered, 0);
  assert.equal(stats.emitted, 0, 'the timer of the torn-down batch never fired');
});

test('maxBatch 1 passes items through one by one, at once', () => {
  const ts = scheduler();
  ts.run(({ cold, expectObservable }) => {
    expectObservable(cold('a-b|').pipe(batchClips<string>({ maxBatch: 1, maxWaitMs: 100 }))).toBe('x-y|', { x: ['a'], y: ['b'] });
  });
});

test('bad options fail with a ConfigError', () => {
  assert.throws(() => batchClips({ maxBatch: 0, maxWaitMs: 1 }), ConfigError);
  assert.throws(() => batchClips({ maxBatch: 2, maxWaitMs: -1 }), ConfigError);
  assert.throws(() => batchClips({ maxBatch: 2, maxWaitMs: Number.POSITIVE_INFINITY }), ConfigError);
});
