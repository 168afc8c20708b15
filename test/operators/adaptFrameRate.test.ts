import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, map, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConfigError } from '../../src/errors.ts';
import { adaptFrameRate } from '../../src/operators/adaptFrameRate.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import { slidingClips } from '../../src/operators/slidingClips.ts';
import type { Clip, Frame } from '../../src/types.ts';
import { makeFrame } from './fixtures.ts';

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

/** Marble values: letter i = frame seq i of camera 'a' (pts 1000 + 40·seq, pixels = seq). */
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const frameValues = Object.fromEntries([...LETTERS].map((ch, i) => [ch, makeFrame('a', i)]));

/** What a test compares: seq, which input frame (pixel value), pts, gap marker. */
const view = (f: Frame): string => `${f.seq}:${f.data[0]}@${f.ptsMs}${f.gapBefore === true ? '!' : ''}`;

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

test('at factor 1 every frame passes unchanged, the same objects', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold('abcdef|', frameValues);
    const out = src.pipe(adaptFrameRate({ frames: 2, stride: 2, factor: () => 1 }));
    expectObservable(out).toBe('abcdef|', frameValues);
    expectSubscriptions(src.subscriptions).toBe('^-----!');
  });
});

test('a lower rate starts at the next clip boundary, keeps every k-th frame, renumbers seqs densely, marks the change as a gap', () => {
  const s = scheduler();
  s.run(({ cold, expectObservable }) => {
    // Wanted factor 2 from t = 3 (frame d, seq 3): with T = S = 2 the clip [2, 3] is half cut
    // then, so the change waits for frame e (seq 4), which starts the new segment.
    const src = cold('abcdefghijk|', frameValues);
    const out = src.pipe(
      adaptFrameRate({ frames: 2, stride: 2, factor: () => (s.now() >= 3 ? 2 : 1) }),
      map(view),
    );
    expectObservable(out).toBe('abcde-f-g-h|', {
      a: '0:0@1000',
      b: '1:1@1040',
      c: '2:2@1080',
      d: '3:3@1120',
      e: '4:4@1160!',
      f: '5:6@1240',
      g: '6:8@1320',
      h: '7:10@1400',
    });
  });
});

test('raising the rate again also waits for a boundary and keeps seqs dense and increasing', () => {
  const s = scheduler();
  s.run(({ cold, expectObservable }) => {
    // Factor 3 from the start, back to 1 from t = 4 (frame e): the run at factor 3 has emitted
    // a (seq 0) and d (seq 1) = one full clip (T = S = 2); the switch comes on g (seq 6), the
    // frame factor 3 would keep next, where that clip's time span ends.
    const src = cold('abcdefgh|', frameValues);
    const out = src.pipe(adaptFrameRate({ frames: 2, stride: 2, factor: () => (s.now() >= 4 ? 1 : 3) }), map(view));
    expectObservable(out).toBe('a--d--gh|', {
      a: '0:0@1000',
      d: '1:3@1120',
      g: '2:6@1240!',
      h: '3:7@1280',
    });
  });
});

test('unsubscribing tears down the source subscription', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold('abcdefgh|', frameValues);
    const out = src.pipe(adaptFrameRate({ frames: 2, stride: 2, factor: () => 2 }), map(view));
    expectObservable(out, '^--!').toBe('a-c', { a: '0:0@1000', c: '1:2@1080' });
    expectSubscriptions(src.subscriptions).toBe('^--!');
  });
});

test('errors pass through', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const src = cold('ab#', frameValues, new Error('boom'));
    expectObservable(src.pipe(adaptFrameRate({ frames: 2, stride: 2, factor: () => 1 }))).toBe('ab#', frameValues, new Error('boom'));
  });
});

test('through slidingClips: clips never mix rates, their frames are evenly spaced, and together they cover every stretch of video', async () => {
  const T = 4;
  let wanted = 1;
  const changes: [number, number][] = [];
  // Rate steps while frames flow: 1 → 2 → 3 → 1.
  const frames = range(0, 200).map((s) => makeFrame('a', s));
  const stepAt = new Map([
    [30, 2],
    [90, 3],
    [150, 1],
  ]);
  const clips = await lastValueFrom(
    from(frames).pipe(
      map((f) => {
        wanted = stepAt.get(f.seq) ?? wanted;
        return f;
      }),
      adaptFrameRate({ frames: T, stride: T, factor: () => wanted, onFactor: (_cam, k) => changes.push([changes.length, k]) }),
      slidingClips({ frames: T, stride: T }),
      toArray(),
    ),
  );
  assert.deepEqual(changes.map(([, k]) => k), [1, 2, 3, 1], 'onFactor: the first factor, then each change');
  const inputSeqs = (c: Clip): number[] => range(0, T).map((i) => c.data[i * 12] as number);
  let prevEnd: number | undefined;
  for (const c of clips) {
    const seqs = inputSeqs(c);
    const step = (seqs[1] as number) - (seqs[0] as number);
    assert.ok(step >= 1 && step <= 3, `clip ${c.startSeq}: step ${step}`);
    for (let i = 1; i < T; i++) assert.equal((seqs[i] as number) - (seqs[i - 1] as number), step, `clip ${c.startSeq} frames evenly spaced: ${seqs}`);
    assert.equal(c.startMs, 1000 + 40 * (seqs[0] as number), 'startMs is the pts of the first frame');
    assert.equal(c.endMs, 1000 + 40 * ((seqs[T - 1] as number) + step), 'endMs is the last pts plus one sampling step');
    if (prevEnd !== undefined) assert.equal(c.startMs, prevEnd, `no stretch unwatched before clip ${c.startSeq}`);
    prevEnd = c.endMs;
  }
  assert.deepEqual([...new Set(clips.map((c) => c.segment))], [0, 1, 2, 3], 'one segment per rate');
  for (const seg of [0, 1, 2, 3]) {
    const steps = new Set(clips.filter((c) => c.segment === seg).map((c) => (inputSeqs(c)[1] as number) - (inputSeqs(c)[0] as number)));
    assert.equal(steps.size, 1, `segment ${seg} holds one rate`);
  }
  const startSeqs = clips.map((c) => c.startSeq);
  assert.deepEqual(startSeqs, [...startSeqs].sort((a, b) => a - b), 'clip seqs increase');
  assert.equal(new Set(startSeqs).size, startSeqs.length, 'clip seqs are unique (event ids stay distinct)');
});

test('an input gap re-phases sampling and keeps its marker; duplicates and late frames still reach slidingClips as drops', async () => {
  const frames = [
    ...range(0, 6).map((s) => makeFrame('a', s)),
    makeFrame('a', 3), // late duplicate
    ...range(9, 15).map((s) => makeFrame('a', s, { gapBefore: s === 9 })),
  ];
  const stats = createOperatorStats();
  const out = await lastValueFrom(from(frames).pipe(adaptFrameRate({ frames: 2, stride: 2, factor: () => 2, stats }), toArray()));
  assert.deepEqual(
    out.map(view),
    ['0:0@1000', '1:2@1080', '2:4@1160', '0:3@1120', '6:9@1360!', '7:11@1440', '8:13@1520'],
  );
  assert.equal(stats.dropped, 6, 'frames 1, 3, 5, 10, 12, 14 skipped');
  const dropped: string[] = [];
  const clips = await lastValueFrom(
    from(out).pipe(slidingClips({ frames: 2, stride: 2, onDrop: (_c, why) => dropped.push(why) }), toArray()),
  );
  assert.deepEqual(dropped, ['out-of-order']);
  assert.deepEqual(clips.map((c) => [c.startSeq, c.segment]), [[0, 0], [6, 1]]);
});

test('cameras are independent and the factor is clamped to [1, maxFactor]', async () => {
  const frames = range(0, 24).flatMap((s) => [makeFrame('a', s), makeFrame('b', s)]);
  const onFactor: string[] = [];
  const out = await lastValueFrom(
    from(frames).pipe(
      adaptFrameRate({ frames: 2, stride: 2, maxFactor: 4, factor: (cam) => (cam === 'a' ? 99 : -3), onFactor: (c, k) => onFactor.push(`${c}=${k}`) }),
      toArray(),
    ),
  );
  assert.deepEqual(onFactor, ['a=4', 'b=1']);
  assert.deepEqual(out.filter((f) => f.cameraId === 'a').map((f) => f.data[0]), [0, 4, 8, 12, 16, 20]);
  assert.deepEqual(out.filter((f) => f.cameraId === 'b').map((f) => f.data[0]), range(0, 24));
});

test('with S < T a change comes right after a clip completes (overlap frames were already seen)', async () => {
  let wanted = 1;
  const frames = range(0, 40).map((s) => makeFrame('a', s));
  const clips = await lastValueFrom(
    from(frames).pipe(
      map((f) => {
        if (f.seq === 5) wanted = 2;
        return f;
      }),
      adaptFrameRate({ frames: 4, stride: 2, factor: () => wanted }),
      slidingClips({ frames: 4, stride: 2 }),
      toArray(),
    ),
  );
  const firstAt2 = clips.find((c) => c.segment === 1);
  assert.ok(firstAt2);
  // Clips of segment 0: [0..3], [2..5]; the change waits until [2..5] completes, so seq 6 starts it.
  assert.deepEqual(clips.filter((c) => c.segment === 0).map((c) => c.data[0]), [0, 2]);
  assert.equal(firstAt2.data[0], 6);
  assert.equal(firstAt2.startMs, clips[1]?.endMs, 'the lower-rate segment begins where the last full-rate clip ended');
});

test('bad options are ConfigErrors naming the field', () => {
  assert.throws(() => adaptFrameRate({ frames: 0, stride: 1, factor: () => 1 }), (e: unknown) => e instanceof ConfigError && /adaptFrameRate\.frames/.test(e.message));
  assert.throws(() => adaptFrameRate({ frames: 2, stride: 2, maxFactor: 0, factor: () => 1 }), ConfigError);
});
