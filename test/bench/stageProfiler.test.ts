import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, filter, map, pipe, tap } from 'rxjs';
import { createStageProfiler, quantile } from '../../src/bench/stageProfiler.ts';

test('stage time is exclusive: a stage is not charged for the downstream work its emissions trigger', () => {
  let t = 0;
  const profiler = createStageProfiler(() => t);
  const input = new Subject<number>();
  // Stage a costs 2 per item, stage b 5 per item; unwrapped work after b costs 100.
  input
    .pipe(
      profiler.stage('a', pipe(tap(() => (t += 2)), map((x) => x + 1))),
      profiler.stage('b', pipe(tap(() => (t += 5)), filter((x) => x % 2 === 0))),
      tap(() => (t += 100)),
    )
    .subscribe();
  for (const x of [1, 2, 3, 4]) input.next(x);
  const { stagesMs } = profiler.read();
  assert.deepEqual(stagesMs, { a: 8, b: 20 });
  profiler.reset();
  assert.deepEqual(profiler.read().stagesMs, {});
});

test('nested stages charge the inner one; head calls and latency samples are kept until reset', () => {
  let t = 0;
  const profiler = createStageProfiler(() => t);
  const input = new Subject<number>();
  input.pipe(profiler.stage('outer', pipe(tap(() => (t += 1)), profiler.stage('inner', tap(() => (t += 10))), tap(() => (t += 3))))).subscribe();
  input.next(0);
  assert.deepEqual(profiler.read().stagesMs, { outer: 4, inner: 10 });
  profiler.head(7, 3);
  profiler.head(5, 1);
  profiler.windowLatency(120);
  profiler.eventLatency(900);
  const r = profiler.read();
  assert.deepEqual(r.head, { ms: 12, calls: 2, windows: 4 });
  assert.deepEqual([r.windowLatencyMs, r.eventLatencyMs], [[120], [900]]);
});

test('quantile interpolates between order statistics', () => {
  assert.equal(quantile([], 0.5), null);
  assert.equal(quantile([5], 0.99), 5);
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  assert.equal(quantile([10, 20, 30, 40, 50], 1), 50);
  assert.ok(Math.abs((quantile(Array.from({ length: 101 }, (_, i) => i), 0.99) as number) - 99) < 1e-9);
});
