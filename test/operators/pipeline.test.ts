import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { from, lastValueFrom, toArray, type Observable } from 'rxjs';
import { batchClips } from '../../src/operators/batchClips.ts';
import { detectActions } from '../../src/operators/detectActions.ts';
import { fuseWindows, type HeadOutput } from '../../src/operators/fuseWindows.ts';
import { inferBatches } from '../../src/operators/inferBatches.ts';
import { createOperatorStats, type OperatorStats } from '../../src/operators/operatorStats.ts';
import { rollingWindows } from '../../src/operators/rollingWindows.ts';
import { slidingClips } from '../../src/operators/slidingClips.ts';
import { trackEvents } from '../../src/operators/trackEvents.ts';
import type { ActionEvent, Clip, Frame, Window } from '../../src/types.ts';
import { interleave, makeFrame, seededRandom } from './fixtures.ts';

const T = 4;
const C = 6;
const FRAMES = 1200;
const CAMERAS = ['c0', 'c1', 'c2', 'c3'];
/** Pixel values that mark the two actions in the synthetic video (the fake backbone reads them). */
const PIXEL = { none: 10, wave: 200, fall: 100 } as const;

interface Truth {
  readonly cameraId: string;
  readonly action: 'wave' | 'fall';
  /** [from, to) by frame seq. */
  readonly from: number;
  readonly to: number;
}

/** Camera i waves in [200 + 48i, 320 + 48i) and falls in [700, 820); c2 has a gap at 500..531, c3 one at 400..403 (inside its wave). */
function scenario(): { frames: Frame[][]; truth: Truth[]; gapAt: Map<string, number> } {
  const truth: Truth[] = [];
  const frames = CAMERAS.map((cameraId, i) => {
    const wave = { cameraId, action: 'wave' as const, from: 200 + 48 * i, to: 320 + 48 * i };
    const fall = { cameraId, action: 'fall' as const, from: 700, to: 820 };
    truth.push(wave, fall);
    const list: Frame[] = [];
    let gapNext = false;
    for (let seq = 0; seq < FRAMES; seq++) {
      if ((cameraId === 'c2' && seq >= 500 && seq < 532) || (cameraId === 'c3' && seq >= 400 && seq < 404)) {
        gapNext = true;
        continue;
      }
      const value = seq >= wave.from && seq < wave.to ? PIXEL.wave : seq >= fall.from && seq < fall.to ? PIXEL.fall : PIXEL.none;
      list.push(makeFrame(cameraId, seq, { value, width: 4, height: 4, gapBefore: gapNext }));
      gapNext = false;
    }
    return list;
  });
  return { frames, truth, gapAt: new Map([['c2', 532], ['c3', 404]]) };
}

/** Fake backbone: per clip, the fraction of frames showing each action. */
async function infer(clips: readonly Clip[]): Promise<readonly Float32Array[]> {
  await tick();
  return clips.map((clip) => {
    const bytes = clip.width * clip.height * 3;
    let wave = 0;
    let fall = 0;
    for (let f = 0; f < clip.frames; f++) {
      const v = clip.data[f * bytes];
      if (v === PIXEL.wave) wave++;
      if (v === PIXEL.fall) fall++;
    }
    return Float32Array.of(wave / clip.frames, fall / clip.frames);
  });
}

/** Fake head: p(action) = its strongest clip; attention = the clip's action fraction. */
async function head(windows: readonly Window[]): Promise<readonly HeadOutput[]> {
  await tick();
  return windows.map((w) => {
    const attention = new Float32Array(C);
    let wave = 0;
    let fall = 0;
    for (let i = 0; i < C; i++) {
      const a = w.features[i * w.dim] as number;
      const b = w.features[i * w.dim + 1] as number;
      wave = Math.max(wave, a);
      fall = Math.max(fall, b);
      attention[i] = Math.max(a, b);
    }
    return { probs: Float32Array.of(1 - Math.max(wave, fall), wave, fall), attention };
  });
}

interface AllStats {
  readonly clips: OperatorStats;
  readonly clipBatch: OperatorStats;
  readonly infer: OperatorStats;
  readonly windows: OperatorStats;
  readonly headBatch: OperatorStats;
  readonly head: OperatorStats;
  readonly events: OperatorStats;
}

const LIMITS = { maxQueuedClips: 32, clipBatch: 4, concurrency: 2, headBatch: 4, maxQueuedWindows: 16 };

function topology(frames$: Observable<Frame>, stats: AllStats, drops: string[]): Observable<ActionEvent> {
  return frames$.pipe(
    slidingClips({ frames: T, stride: T, stats: stats.clips, onDrop: (c, r) => drops.push(`${c}:${r}`) }),
    batchClips({ maxBatch: LIMITS.clipBatch, maxWaitMs: 2, stats: stats.clipBatch }),
    inferBatches({
      infer,
      concurrency: LIMITS.concurrency,
      maxBatch: LIMITS.clipBatch,
      maxQueuedClips: LIMITS.maxQueuedClips,
      stats: stats.infer,
      onDrop: (c, r) => drops.push(`${c}:${r}`),
    }),
    rollingWindows({ clips: C, minClips: 3, stats: stats.windows }),
    fuseWindows({
      run: head,
      maxBatch: LIMITS.headBatch,
      maxWaitMs: 2,
      maxQueuedWindows: LIMITS.maxQueuedWindows,
      stats: stats.head,
      batchStats: stats.headBatch,
      onDrop: (c, r) => drops.push(`${c}:${r}`),
    }),
    detectActions({ classes: ['bg', 'wave', 'fall'], backgroundIndex: 0, classThreshold: 0.5, attentionThreshold: 0.5 }),
    trackEvents({ model: { name: 'synthetic', version: '0', head: 'max' }, holdWindows: 2, now: () => 0, stats: stats.events }),
  );
}

const newStats = (): AllStats => ({
  clips: createOperatorStats(),
  clipBatch: createOperatorStats(),
  infer: createOperatorStats(),
  windows: createOperatorStats(),
  headBatch: createOperatorStats(),
  head: createOperatorStats(),
  events: createOperatorStats(),
});

function assertBounded(stats: AllStats): void {
  const cams = CAMERAS.length;
  assert.ok(stats.clips.peakBuffered <= T * cams, `frames held ${stats.clips.peakBuffered}`);
  assert.ok(stats.clipBatch.peakBuffered <= LIMITS.clipBatch);
  assert.ok(stats.infer.peakBuffered <= LIMITS.maxQueuedClips, `clips queued ${stats.infer.peakBuffered}`);
  assert.ok(stats.infer.peakInFlight <= LIMITS.concurrency * LIMITS.clipBatch);
  assert.ok(stats.windows.peakBuffered <= C * cams);
  assert.ok(stats.headBatch.peakBuffered <= LIMITS.headBatch);
  assert.ok(stats.head.peakBuffered <= LIMITS.maxQueuedWindows);
  assert.ok(stats.events.peakBuffered <= 2 * cams, 'one open event per (camera, class) at most');
  for (const s of Object.values(stats)) assert.equal(s.buffered, 0, 'everything released at the end');
}

/** Frames of all cameras interleaved at random, with a turn of the event loop every `every` frames (8: live pace). */
async function* live(frames: readonly Frame[], every = 8): AsyncGenerator<Frame> {
  for (let i = 0; i < frames.length; i++) {
    if (i % every === 0) await tick();
    yield frames[i] as Frame;
  }
}

test('long synthetic stream at live pace: every action found with its bounds, state bounded, no drops', async () => {
  const { frames, truth, gapAt } = scenario();
  const stats = newStats();
  const drops: string[] = [];
  const mixed = interleave(frames, seededRandom(42));
  const events = await lastValueFrom(topology(from(live(mixed)), stats, drops).pipe(toArray()));

  assert.deepEqual(drops, []);
  assert.equal(stats.clips.received, mixed.length);
  assertBounded(stats);
  assert.ok(events.every((e) => e.status === 'closed'));
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids unique');

  const key = (e: { cameraId: string; action: string; startClip: number; endClip: number; nearGap: boolean }): string =>
    `${e.cameraId}:${e.action}:${e.startClip}-${e.endClip}${e.nearGap ? ':gap' : ''}`;
  const expected = truth.flatMap((t) => {
    const gap = gapAt.get(t.cameraId);
    if (gap !== undefined && gap > t.from && gap < t.to) {
      // The gap (frames 400..403) cuts the action in two events, both marked nearGap.
      return [
        { ...t, startClip: t.from, endClip: gap - 4 - T, nearGap: true },
        { ...t, startClip: gap, endClip: t.to - T, nearGap: true },
      ];
    }
    return [{ ...t, startClip: t.from, endClip: t.to - T, nearGap: false }];
  });
  assert.deepEqual(events.map(key).sort(), expected.map(key).sort());
  for (const e of events) {
    assert.equal(e.startMs, 1000 + 40 * e.startClip);
    assert.equal(e.endMs, 1000 + 40 * (e.endClip + T));
  }
});

test('the same stream replayed gives the same events and ids', async () => {
  const { frames } = scenario();
  const once = async (seed: number): Promise<string[]> =>
    (await lastValueFrom(topology(from(live(interleave(frames, seededRandom(seed)))), newStats(), []).pipe(toArray())))
      .map((e) => `${e.id}:${e.cameraId}:${e.action}:${e.startClip}-${e.endClip}`)
      .sort();
  assert.deepEqual(await once(1), await once(2));
});

test('overload (frames faster than inference): drops counted, every stage stays within its bounds, events well formed', async () => {
  const { frames } = scenario();
  const stats = newStats();
  const drops: string[] = [];
  const mixed = interleave(frames, seededRandom(7));
  // Six times the live pace: about 12 clips arrive per event-loop turn, inference takes ~8.
  const events = await lastValueFrom(topology(from(live(mixed, 48)), stats, drops).pipe(toArray()));

  const backpressure = drops.filter((d) => d.endsWith(':backpressure')).length;
  assert.ok(backpressure > 100, `a flood must overflow the bounded queues (${backpressure} drops)`);
  assert.equal(stats.infer.dropped + stats.head.dropped, backpressure);
  assert.equal(stats.infer.emitted + stats.infer.dropped, stats.clips.emitted, 'each clip inferred or counted as dropped');
  assertBounded(stats);
  assert.ok(events.length > 0, 'events still come through under overload');
  for (const e of events) {
    assert.ok(e.startClip <= e.endClip);
    assert.ok(e.startMs < e.endMs);
    assert.match(e.id, /^[0-9a-f]{16}$/);
    assert.ok(e.clips.length === e.attention.length && e.clips.length > 0);
  }
});
