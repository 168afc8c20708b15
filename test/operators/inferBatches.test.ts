import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { InferenceError, ShapeError } from '../../src/errors.ts';
import { inferBatches } from '../../src/operators/inferBatches.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import type { BatchDropReason } from '../../src/operators/runBatched.ts';
import type { Clip, ClipFeature } from '../../src/types.ts';
import { makeMeta, seededRandom } from './fixtures.ts';

const clip = (cameraId: string, startSeq: number): Clip => ({
  ...makeMeta(cameraId, startSeq),
  frames: 4,
  width: 1,
  height: 1,
  data: new Uint8Array(12).fill(startSeq % 256),
});

/** The fake backbone's descriptor: the clip's identity, so outputs can be traced to inputs. */
const featureOf = (c: Clip): Float32Array => Float32Array.of(c.startSeq, c.data[0] as number);

interface Call {
  readonly clips: readonly Clip[];
  readonly signal: AbortSignal;
  resolve(features: readonly Float32Array[]): void;
  reject(err: unknown): void;
}

/** An infer whose calls wait until the test settles them. */
function manualInfer(): { calls: Call[]; infer: (clips: readonly Clip[], signal: AbortSignal) => Promise<readonly Float32Array[]> } {
  const calls: Call[] = [];
  const infer = (clips: readonly Clip[], signal: AbortSignal): Promise<readonly Float32Array[]> =>
    new Promise((resolve, reject) => calls.push({ clips, signal, resolve, reject }));
  return { calls, infer };
}

const ok = (call: Call | undefined): void => call?.resolve(call.clips.map(featureOf));
const ids = (xs: readonly { cameraId: string; startSeq: number }[]): string[] => xs.map((x) => `${x.cameraId}${x.startSeq}`);

test('queue overflow drops the oldest queued clip of the camera with the most queued clips', async () => {
  const { calls, infer } = manualInfer();
  const drops: [string, BatchDropReason][] = [];
  const stats = createOperatorStats();
  const input = new Subject<Clip[]>();
  const out: ClipFeature[] = [];
  let done = false;
  input
    .pipe(inferBatches({ infer, maxQueuedClips: 6, maxBatch: 1, onDrop: (c, r) => drops.push([c, r]), stats }))
    .subscribe({ next: (f) => out.push(f), complete: () => (done = true) });

  input.next([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => clip('a', s)));
  assert.equal(calls.length, 1, 'an idle runner takes the first clip at once');
  assert.deepEqual(ids(calls[0]?.clips ?? []), ['a0']);
  assert.deepEqual(drops, [['a', 'backpressure'], ['a', 'backpressure'], ['a', 'backpressure']]);
  input.next([clip('b', 0), clip('b', 1)]);
  // a holds 6 then 5 queued clips, b 2: a is the lagging camera both times.
  assert.equal(drops.length, 5);
  assert.ok(drops.every(([c]) => c === 'a'));
  assert.equal(stats.buffered, 6);
  input.complete();

  while (!done) {
    ok(calls[calls.length - 1]);
    await tick();
  }
  assert.deepEqual(ids(out), ['a0', 'a6', 'a7', 'a8', 'a9', 'b0', 'b1']);
  assert.deepEqual(out.map((f) => Array.from(f.feature)), [0, 6, 7, 8, 9, 0, 1].map((s) => [s, s]));
  assert.equal(stats.dropped, 5);
  assert.equal(stats.peakBuffered, 6);
});

test('features keep per-camera order when calls finish out of order', async () => {
  const { calls, infer } = manualInfer();
  const out: ClipFeature[] = [];
  const input = new Subject<Clip[]>();
  input.pipe(inferBatches({ infer, concurrency: 2, maxBatch: 2, maxQueuedClips: 10 })).subscribe((f) => out.push(f));
  input.next([clip('a', 0), clip('b', 0), clip('a', 4), clip('b', 4)]);
  assert.equal(calls.length, 2);
  ok(calls[1]);
  await tick();
  assert.equal(out.length, 0, 'a4 and b4 wait for a0 and b0');
  ok(calls[0]);
  await tick();
  assert.deepEqual(ids(out.filter((f) => f.cameraId === 'a')), ['a0', 'a4']);
  assert.deepEqual(ids(out.filter((f) => f.cameraId === 'b')), ['b0', 'b4']);
  assert.equal(out[0]?.segment, 0);
  assert.equal('data' in (out[0] as object), false, 'pixels are not carried on');
});

test('one camera does not wait for another camera’s slow call', async () => {
  const { calls, infer } = manualInfer();
  const out: ClipFeature[] = [];
  const input = new Subject<Clip[]>();
  input.pipe(inferBatches({ infer, concurrency: 2, maxBatch: 1, maxQueuedClips: 4 })).subscribe((f) => out.push(f));
  input.next([clip('a', 0), clip('b', 0)]);
  ok(calls[1]);
  await tick();
  assert.deepEqual(ids(out), ['b0']);
});

test('a straggling call holds back new calls rather than piling up finished features behind it', async () => {
  const { calls, infer } = manualInfer();
  const stats = createOperatorStats();
  const out: ClipFeature[] = [];
  const input = new Subject<Clip[]>();
  input.pipe(inferBatches({ infer, concurrency: 2, maxBatch: 1, maxQueuedClips: 8, stats })).subscribe((f) => out.push(f));
  input.next([0, 4, 8, 12].map((s) => clip('a', s)));
  assert.equal(calls.length, 2);
  ok(calls[1]); // a4 is done but must wait for a0
  await tick();
  assert.equal(out.length, 0);
  assert.equal(calls.length, 2, 'a call slot is free, but a0 + held a4 already fill concurrency × maxBatch');
  assert.ok(stats.peakInFlight <= 2);
  ok(calls[0]);
  await tick();
  assert.deepEqual(ids(out), ['a0', 'a4']);
  assert.equal(calls.length, 4, 'both slots start again once the straggler is in');
});

test('thousands of clips through a slow infer: queue bounded, drops counted, per-camera order kept', async () => {
  const maxQueuedClips = 24;
  const concurrency = 2;
  const maxBatch = 4;
  const stats = createOperatorStats();
  const dropsBy = new Map<string, number>();
  let callsInFlight = 0;
  let peakCalls = 0;
  const infer = async (clips: readonly Clip[]): Promise<readonly Float32Array[]> => {
    peakCalls = Math.max(peakCalls, ++callsInFlight);
    await tick();
    await tick();
    callsInFlight--;
    return clips.map(featureOf);
  };
  const random = seededRandom(11);
  // Camera "busy" sends four times as many clips as the others.
  const next = new Map<string, number>();
  const input = new Subject<Clip[]>();
  const resultP = lastValueFrom(
    input.pipe(
      inferBatches({ infer, concurrency, maxBatch, maxQueuedClips, stats, onDrop: (c) => dropsBy.set(c, (dropsBy.get(c) ?? 0) + 1) }),
      toArray(),
    ),
  );
  let sent = 0;
  for (let i = 0; i < 1500; i++) {
    const batch: Clip[] = [];
    for (let j = 0; j < 4; j++) {
      const r = random();
      const cam = r < 0.5 ? 'busy' : r < 0.625 ? 'c1' : r < 0.75 ? 'c2' : r < 0.875 ? 'c3' : 'c4';
      const seq = next.get(cam) ?? 0;
      next.set(cam, seq + 4);
      batch.push(clip(cam, seq));
    }
    input.next(batch);
    sent += batch.length;
    assert.ok(stats.buffered <= maxQueuedClips, `queue ${stats.buffered}`);
    if (i % 3 === 0) await tick();
  }
  input.complete();
  const out = await resultP;

  const dropped = [...dropsBy.values()].reduce((a, b) => a + b, 0);
  assert.ok(dropped > 100, `the fake infer is slow enough to force drops (${dropped})`);
  assert.equal(out.length + dropped, sent, 'every clip is either inferred or counted as dropped');
  assert.equal(stats.dropped, dropped);
  assert.ok(stats.peakBuffered <= maxQueuedClips);
  assert.ok(stats.peakInFlight <= concurrency * maxBatch);
  assert.ok(peakCalls <= concurrency);
  assert.ok((dropsBy.get('busy') ?? 0) > 2 * (dropsBy.get('c1') ?? 0), 'the lagging camera pays for the overflow');
  for (const cam of next.keys()) {
    const seqs = out.filter((f) => f.cameraId === cam).map((f) => f.startSeq);
    assert.ok(seqs.every((s, k) => k === 0 || s > (seqs[k - 1] as number)), `${cam} features in startSeq order`);
  }
  assert.ok(out.every((f) => f.feature[0] === f.startSeq), 'each feature belongs to its clip');
  assert.equal(stats.buffered, 0);
  assert.equal(stats.inFlight, 0);
});

test('a failed infer errors the stream with an InferenceError naming the cameras', async () => {
  const cause = new Error('worker crashed');
  const infer = (): Promise<readonly Float32Array[]> => Promise.reject(cause);
  await assert.rejects(
    lastValueFrom(from([[clip('a', 0), clip('b', 0)]]).pipe(inferBatches({ infer, maxQueuedClips: 4 }))),
    (e: unknown) => e instanceof InferenceError && e.cause === cause && e.cameraIds.join() === 'a,b',
  );
  const syncThrow = (): Promise<readonly Float32Array[]> => {
    throw cause;
  };
  await assert.rejects(lastValueFrom(from([[clip('a', 0)]]).pipe(inferBatches({ infer: syncThrow, maxQueuedClips: 4 }))), InferenceError);
});

test('a wrong number of results or a non-Float32Array result is a failed call', async () => {
  const short = async (clips: readonly Clip[]): Promise<readonly Float32Array[]> => clips.slice(1).map(featureOf);
  await assert.rejects(lastValueFrom(from([[clip('a', 0), clip('a', 4)]]).pipe(inferBatches({ infer: short, maxQueuedClips: 4 }))), InferenceError);
  const wrongType = async (clips: readonly Clip[]): Promise<readonly Float32Array[]> => clips.map(() => [1, 2] as unknown as Float32Array);
  await assert.rejects(
    lastValueFrom(from([[clip('a', 0)]]).pipe(inferBatches({ infer: wrongType, maxQueuedClips: 4 }))),
    (e: unknown) => e instanceof InferenceError && e.cause instanceof ShapeError,
  );
});

test("onError 'skip' drops the failed call's clips, reports them, and goes on", async () => {
  let n = 0;
  const infer = async (clips: readonly Clip[]): Promise<readonly Float32Array[]> => {
    if (n++ === 1) throw new Error('flaky');
    return clips.map(featureOf);
  };
  const drops: [string, BatchDropReason][] = [];
  const input = [[clip('a', 0)], [clip('a', 4), clip('b', 0)], [clip('a', 8)]];
  const out = await lastValueFrom(
    from(input).pipe(
      inferBatches({ infer, maxBatch: 2, maxQueuedClips: 8, onError: 'skip', onDrop: (c, r) => drops.push([c, r]) }),
      toArray(),
    ),
  );
  // The first call takes a0; the second the two oldest queued (a4, b0); it fails.
  assert.deepEqual(ids(out), ['a0', 'a8']);
  assert.deepEqual(drops, [['a', 'inference-error'], ['b', 'inference-error']]);
});

test('unsubscribing aborts calls in flight and ignores their results', async () => {
  const { calls, infer } = manualInfer();
  const out: ClipFeature[] = [];
  const stats = createOperatorStats();
  const sub = from([[clip('a', 0), clip('a', 4)]])
    .pipe(inferBatches({ infer, maxBatch: 1, maxQueuedClips: 4, stats }))
    .subscribe((f) => out.push(f));
  assert.equal(calls.length, 1);
  assert.equal(stats.buffered, 1);
  sub.unsubscribe();
  assert.equal(calls[0]?.signal.aborted, true);
  ok(calls[0]);
  await tick();
  assert.deepEqual(out, []);
  assert.equal(calls.length, 1, 'no new call after teardown');
  assert.equal(stats.buffered, 0);
});

test('completion waits for queued and in-flight clips', async () => {
  const infer = async (clips: readonly Clip[]): Promise<readonly Float32Array[]> => {
    await tick();
    return clips.map(featureOf);
  };
  const out = await lastValueFrom(
    from([[0, 4, 8, 12, 16].map((s) => clip('a', s))]).pipe(inferBatches({ infer, maxBatch: 2, maxQueuedClips: 8 }), toArray()),
  );
  assert.deepEqual(ids(out), ['a0', 'a4', 'a8', 'a12', 'a16']);
});

test('a burst is split evenly over the free call slots, oldest first; a lone free slot takes up to maxBatch', async () => {
  const { calls, infer } = manualInfer();
  const out: ClipFeature[] = [];
  const input = new Subject<Clip[]>();
  input.pipe(inferBatches({ infer, concurrency: 2, maxBatch: 8, maxQueuedClips: 32 })).subscribe((f) => out.push(f));
  // Six cameras' clips arrive at once: both runners get three, not one runner six.
  input.next(['a', 'b', 'c', 'd', 'e', 'f'].map((cam) => clip(cam, 0)));
  assert.deepEqual(calls.map((c) => ids(c.clips)), [['a0', 'b0', 'c0'], ['d0', 'e0', 'f0']]);
  // Both busy: the next burst waits; when one slot frees, it takes everything (up to maxBatch).
  input.next(['a', 'b', 'c', 'd', 'e'].map((cam) => clip(cam, 4)));
  assert.equal(calls.length, 2);
  ok(calls[0]);
  await tick();
  assert.deepEqual(ids(calls[2]?.clips ?? []), ['a4', 'b4', 'c4', 'd4', 'e4']);
});

test('a camera that is not droppable is never the victim: the lagging droppable camera loses clips instead', async () => {
  const { calls, infer } = manualInfer();
  const drops: string[] = [];
  const stats = createOperatorStats();
  const input = new Subject<Clip[]>();
  const out: ClipFeature[] = [];
  let done = false;
  input
    .pipe(inferBatches({ infer, maxQueuedClips: 4, maxBatch: 1, droppable: (c) => c !== 'file', onDrop: (c) => drops.push(c), stats }))
    .subscribe({ next: (f) => out.push(f), complete: () => (done = true) });

  // 'file' queues the most, but only 'live' may lose clips.
  input.next([0, 1, 2, 3, 4, 5].map((s) => clip('file', s)));
  assert.deepEqual(drops, [], 'only non-droppable clips queued: none dropped');
  assert.equal(stats.buffered, 5, 'the queue holds more than maxQueuedClips while only paced cameras fill it');
  input.next([clip('live', 0), clip('live', 1)]);
  assert.deepEqual(drops, ['live', 'live']);
  input.complete();
  while (!done) {
    ok(calls[calls.length - 1]);
    await tick();
  }
  assert.deepEqual(ids(out), ['file0', 'file1', 'file2', 'file3', 'file4', 'file5'], 'every clip of the paced camera, in order');
});
