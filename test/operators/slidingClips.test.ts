import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConfigError } from '../../src/errors.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import { slidingClips, type FrameDropReason } from '../../src/operators/slidingClips.ts';
import type { Clip, Frame } from '../../src/types.ts';
import { interleave, makeFrame, seededRandom } from './fixtures.ts';

const run = (frames: readonly Frame[], opts: Parameters<typeof slidingClips>[0]): Promise<Clip[]> =>
  lastValueFrom(from(frames).pipe(slidingClips(opts), toArray()));

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

/** Which frame value sits in each slot of a clip (fixture frames fill every byte with seq mod 256). */
const slotValues = (clip: Clip): number[] => {
  const bytes = clip.width * clip.height * 3;
  return range(0, clip.frames).map((i) => {
    const slot = clip.data.subarray(i * bytes, (i + 1) * bytes);
    assert.ok(slot.every((b) => b === slot[0]), 'a slot holds one frame');
    return slot[0] as number;
  });
};

test('overlapping clips (T=4, S=2) cover [k·S, k·S+T) with the frames of those seqs', async () => {
  const clips = await run(range(0, 12).map((s) => makeFrame('a', s)), { frames: 4, stride: 2 });
  assert.deepEqual(
    clips.map((c) => [c.startSeq, c.endSeq]),
    [0, 2, 4, 6, 8].map((k) => [k, k + 3]),
  );
  for (const c of clips) {
    assert.deepEqual(slotValues(c), range(c.startSeq, c.startSeq + 4));
    assert.equal(c.data.length, 4 * 2 * 2 * 3);
    assert.equal(c.startMs, 1000 + 40 * c.startSeq);
    assert.equal(c.endMs, 1000 + 40 * (c.endSeq + 1));
    assert.equal(c.segment, 0);
  }
});

test('stride larger than T skips the frames between clips', async () => {
  const clips = await run(range(5, 20).map((s) => makeFrame('a', s)), { frames: 2, stride: 3 });
  assert.deepEqual(
    clips.map((c) => slotValues(c)),
    [[5, 6], [8, 9], [11, 12], [14, 15], [17, 18]],
  );
});

test('clip pixels are copies: changing a frame afterwards does not change the clip', async () => {
  const frames = range(0, 2).map((s) => makeFrame('a', s));
  const [clip] = await run(frames, { frames: 2, stride: 2 });
  (frames[0] as Frame).data.fill(99);
  assert.deepEqual(slotValues(clip as Clip), [0, 1]);
});

test('interleaved cameras give each camera the clips it would get alone', async () => {
  const random = seededRandom(7);
  const perCamera = ['a', 'b', 'c'].map((cam, i) => range(i * 10, i * 10 + 40).map((s) => makeFrame(cam, s, { value: i * 50 + (s % 50) })));
  const mixed = interleave(perCamera, random);
  const opts = { frames: 4, stride: 3 };
  const together = await run(mixed, opts);
  for (const frames of perCamera) {
    const cam = (frames[0] as Frame).cameraId;
    const alone = await run(frames, opts);
    assert.ok(alone.length > 5);
    assert.deepEqual(
      together.filter((c) => c.cameraId === cam),
      alone,
    );
  }
});

test('a gap (gapBefore or a seq jump) starts a new segment and no clip spans it', async () => {
  const frames = [
    ...range(0, 7).map((s) => makeFrame('a', s)),
    ...range(7, 15).map((s) => makeFrame('a', s, { gapBefore: s === 7 })),
    ...range(20, 26).map((s) => makeFrame('a', s)), // jump of 6 > maxSeqJump 1
  ];
  const clips = await run(frames, { frames: 4, stride: 2 });
  assert.deepEqual(
    clips.map((c) => [c.startSeq, c.segment]),
    [[0, 0], [2, 0], [7, 1], [9, 1], [11, 1], [20, 2], [22, 2]],
  );
  const gapsAt = [7, 20];
  for (const c of clips) {
    for (const g of gapsAt) assert.ok(!(c.startSeq < g && c.endSeq >= g), `clip ${c.startSeq} spans gap at ${g}`);
  }
});

test('missing frames within maxSeqJump are filled by repeating the previous frame', async () => {
  const seqs = [0, 1, 3, 4, 5, 7];
  const clips = await run(seqs.map((s) => makeFrame('a', s)), { frames: 4, stride: 4, maxSeqJump: 2 });
  assert.deepEqual(clips.map(slotValues), [[0, 1, 1, 3], [4, 5, 5, 7]]);
  assert.deepEqual(clips.map((c) => c.segment), [0, 0]);
  assert.equal((clips[1] as Clip).endMs, 1000 + 40 * 8);
});

test('duplicates and out-of-order frames are dropped, counted, and do not change the clips', async () => {
  const clean = range(0, 10).map((s) => makeFrame('a', s));
  const dirty = [...clean];
  dirty.splice(5, 0, makeFrame('a', 4, { value: 200 })); // duplicate of 4
  dirty.splice(8, 0, makeFrame('a', 2, { value: 201 })); // late frame
  const drops: [string, FrameDropReason][] = [];
  const stats = createOperatorStats();
  const opts = { frames: 3, stride: 2, onDrop: (cam: string, why: FrameDropReason) => drops.push([cam, why]), stats };
  const got = await run(dirty, opts);
  assert.deepEqual(got, await run(clean, { frames: 3, stride: 2 }));
  assert.deepEqual(drops, [['a', 'duplicate'], ['a', 'out-of-order']]);
  assert.equal(stats.dropped, 2);
  assert.equal(stats.received, dirty.length);
});

test('malformed frames are dropped as bad-frame; a size change starts a new segment', async () => {
  const drops: FrameDropReason[] = [];
  const bad: Frame = { ...makeFrame('a', 2), data: new Uint8Array(5) };
  const frames = [makeFrame('a', 0), makeFrame('a', 1), bad, makeFrame('a', 2), makeFrame('a', 3, { width: 4 }), makeFrame('a', 4, { width: 4 })];
  const clips = await run(frames, { frames: 2, stride: 2, onDrop: (_c, why) => drops.push(why) });
  assert.deepEqual(drops, ['bad-frame']);
  assert.deepEqual(clips.map((c) => [c.startSeq, c.segment, c.width]), [[0, 0, 2], [3, 1, 4]]);
});

test('endMs uses the frame duration estimated from the clip pts', async () => {
  const frames = range(0, 4).map((s) => makeFrame('a', s, { ptsMs: 5000 + 33.5 * s }));
  const [clip] = await run(frames, { frames: 4, stride: 4 });
  assert.equal(clip?.startMs, 5000);
  assert.equal(clip?.endMs, 5000 + 33.5 * 4);
});

test('memory: at most T frames buffered per camera over a long stream', async () => {
  const stats = createOperatorStats();
  const random = seededRandom(3);
  const perCamera = ['a', 'b'].map((cam) => range(0, 600).map((s) => makeFrame(cam, s, { gapBefore: s % 97 === 0 && s > 0 })));
  const clips = await run(interleave(perCamera, random), { frames: 8, stride: 3, stats });
  assert.ok(clips.length > 300);
  assert.ok(stats.peakBuffered <= 2 * 8, `peak ${stats.peakBuffered}`);
  assert.ok(stats.peakBuffered >= 8);
  assert.equal(stats.buffered, 0, 'released on completion');
});

test('marble: emits on the frame that completes a clip, completes and unsubscribes with the source', () => {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  const f = (s: number): Frame => makeFrame('a', s);
  ts.run(({ cold, expectObservable, expectSubscriptions }) => {
    const frames = cold('a-b-c-d-e|', { a: f(0), b: f(1), c: f(2), d: f(3), e: f(4) });
    const clips = frames.pipe(slidingClips({ frames: 2, stride: 2 }));
    const clip = (s: number): Clip => ({
      cameraId: 'a',
      startSeq: s,
      endSeq: s + 1,
      startMs: 1000 + 40 * s,
      endMs: 1000 + 40 * (s + 2),
      segment: 0,
      frames: 2,
      width: 2,
      height: 2,
      data: Uint8Array.from([...new Array<number>(12).fill(s), ...new Array<number>(12).fill(s + 1)]),
    });
    expectObservable(clips).toBe('--x---y--|', { x: clip(0), y: clip(2) });
    expectSubscriptions(frames.subscriptions).toBe('^--------!');
  });
});

test('marble: an early unsubscribe tears the source down; source errors pass through', () => {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  ts.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
    const frames = hot('-a-b-c-d-|', { a: makeFrame('a', 0), b: makeFrame('a', 1), c: makeFrame('a', 2), d: makeFrame('a', 3) });
    expectObservable(frames.pipe(slidingClips({ frames: 3, stride: 1 })), '^----!').toBe('------');
    expectSubscriptions(frames.subscriptions).toBe('^----!');
    const failing = cold('-a-#', { a: makeFrame('a', 0) }, new Error('decoder died'));
    expectObservable(failing.pipe(slidingClips({ frames: 1, stride: 1 }))).toBe('-x-#', { x: slidingClipOf(0) }, new Error('decoder died'));
    expectSubscriptions(failing.subscriptions).toBe('^--!');
  });
});

function slidingClipOf(s: number): Clip {
  const f = makeFrame('a', s);
  return { cameraId: 'a', startSeq: s, endSeq: s, startMs: f.ptsMs, endMs: f.ptsMs + 40, segment: 0, frames: 1, width: 2, height: 2, data: f.data };
}

test('bad options fail at construction with a ConfigError naming the field', () => {
  assert.throws(() => slidingClips({ frames: 0, stride: 1 }), (e: unknown) => e instanceof ConfigError && /slidingClips\.frames/.test(e.message));
  assert.throws(() => slidingClips({ frames: 4, stride: 1.5 }), ConfigError);
  assert.throws(() => slidingClips({ frames: 4, stride: 1, maxSeqJump: 0 }), ConfigError);
});

test("align: 'sequence' rebuilds the same clips whatever frame a replay starts from", async () => {
  const full = await run(range(0, 60).map((s) => makeFrame('a', s)), { frames: 8, stride: 4, align: 'sequence' });
  for (const start of [1, 3, 13, 22]) {
    const replay = await run(range(start, 60).map((s) => makeFrame('a', s)), { frames: 8, stride: 4, align: 'sequence' });
    const first = replay[0];
    assert.ok(first && first.startSeq % 4 === 0 && first.startSeq >= start, `replay from ${start} starts at ${first?.startSeq}`);
    const same = full.filter((c) => c.startSeq >= first.startSeq);
    assert.deepEqual(replay.map((c) => [c.startSeq, Array.from(c.data)]), same.map((c) => [c.startSeq, Array.from(c.data)]));
  }
  // The default aligns to the first frame seen, so the same replay gives different clips.
  const seg = await run(range(3, 60).map((s) => makeFrame('a', s)), { frames: 8, stride: 4 });
  assert.equal(seg[0]?.startSeq, 3);
  // After a gap, 'sequence' waits for the next aligned frame.
  const gap = await run([...range(0, 10), ...range(31, 50)].map((s) => makeFrame('a', s, { gapBefore: s === 31 })), { frames: 8, stride: 4, align: 'sequence' });
  assert.ok(gap.every((c) => c.startSeq % 4 === 0));
  assert.ok(gap.some((c) => c.startSeq === 32 && c.segment === 1));
});
