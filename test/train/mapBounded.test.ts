import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapBounded } from '../../src/train/mapBounded.ts';

test('mapBounded keeps input order and never runs more than `concurrency` calls at once', async () => {
  let running = 0;
  let most = 0;
  const out = await mapBounded([30, 5, 20, 1, 10, 2], 2, async (ms, i) => {
    running += 1;
    most = Math.max(most, running);
    await sleep(ms);
    running -= 1;
    return `${i}:${ms}`;
  });
  assert.deepEqual(out, ['0:30', '1:5', '2:20', '3:1', '4:10', '5:2']);
  assert.equal(most, 2);
});

test('after a failure no call starts, the one in flight sees its signal abort and is awaited, the first error is thrown', async () => {
  const started: number[] = [];
  let inFlightAborted = false;
  let inFlightFinished = false;
  const boom = new Error('boom');
  await assert.rejects(
    mapBounded([0, 1, 2, 3, 4], 2, async (_x, i, stop) => {
      started.push(i);
      if (i === 0) {
        await sleep(5);
        throw boom;
      }
      // Call 1 runs on: it must be told to stop, and mapBounded must wait for it.
      await new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }));
      inFlightAborted = stop.aborted;
      await sleep(20);
      inFlightFinished = true;
      throw new Error('second');
    }),
    (e: unknown) => e === boom,
  );
  assert.deepEqual(started, [0, 1]);
  assert.ok(inFlightAborted && inFlightFinished, 'the call in flight was aborted and awaited before the rejection');
});
