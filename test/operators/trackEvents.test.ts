import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, map, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConfigError } from '../../src/errors.ts';
import { detectActions } from '../../src/operators/detectActions.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import { eventId, trackEvents, type TrackEventsOptions } from '../../src/operators/trackEvents.ts';
import { EVENT_SCHEMA_VERSION } from '../../src/types.ts';
import type { ActionEvent, ClipMeta, Detection, Window, WindowDetections } from '../../src/types.ts';
import { interleave, makeWindow, seededRandom } from './fixtures.ts';

const CLASSES = ['bg', 'wave', 'fall'];
const model = { name: 'test-model', version: '0.0.1', head: 'gcf' };

interface Det {
  readonly k: number;
  /** Slot range [first, last] of the attention run. */
  readonly run: readonly [number, number];
  readonly p?: number;
}

/**
 * A window of C clips (clip i starts at first + stride·i, 4 frames long) with detections.
 * Attention is 0.9 on the first detection's run, 0.1 elsewhere.
 */
function wd(cam: string, first: number, dets: readonly Det[], o: { C?: number; segment?: number; stride?: number } = {}): WindowDetections {
  const C = o.C ?? 4;
  const stride = o.stride ?? 4;
  const base = makeWindow(cam, first, C, o.segment ?? 0);
  const clips: ClipMeta[] = base.clips.map((c, i) => ({
    ...c,
    startSeq: first + stride * i,
    endSeq: first + stride * i + 3,
    startMs: 1000 + 40 * (first + stride * i),
    endMs: 1000 + 40 * (first + stride * i + 4),
  }));
  const window: Window = { ...base, clips };
  const run0 = dets[0]?.run;
  const attention = clips.map((_c, i) => (run0 !== undefined && i >= run0[0] && i <= run0[1] ? 0.9 : 0.1));
  const detections: Detection[] = dets.map((d) => ({
    cameraId: cam,
    classIndex: d.k,
    action: CLASSES[d.k] as string,
    confidence: d.p ?? 0.8,
    startClip: clips[d.run[0]] as ClipMeta,
    endClip: clips[d.run[1]] as ClipMeta,
    attention,
    windowClips: clips,
    segment: window.segment,
  }));
  return { window, result: { window, probs: new Float32Array(3), attention: Float32Array.from(attention) }, detections };
}

const summary = (e: ActionEvent): string => `${e.status}:${e.cameraId}:${e.action}:${e.startClip}-${e.endClip}${e.nearGap ? ':gap' : ''}`;

const track = (input: readonly WindowDetections[], o: Partial<TrackEventsOptions> = {}): Promise<ActionEvent[]> =>
  lastValueFrom(from(input).pipe(trackEvents({ model, now: () => 0, ...o }), toArray()));

test('marble: an event closes after holdWindows windows of its camera without its class', () => {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  ts.run(({ cold, expectObservable, expectSubscriptions }) => {
    const windows = cold('a-b-c-d-e|', {
      a: wd('x', 0, [{ k: 1, run: [1, 2] }]), // clips 4, 8
      b: wd('x', 4, [{ k: 1, run: [1, 2] }]), // clips 8, 12: overlaps, extends to 12
      c: wd('x', 8, []),
      d: wd('x', 12, []), // second window without "wave": closes here
      e: wd('x', 16, []),
    });
    const events = windows.pipe(
      trackEvents({ model, holdWindows: 2, now: () => ts.now() }),
      map((e) => `${summary(e)}@${e.emittedAt}`),
    );
    expectObservable(events).toBe('------x--|', { x: 'closed:x:wave:4-12@1970-01-01T00:00:00.006Z' });
    expectSubscriptions(windows.subscriptions).toBe('^--------!');
  });
});

test('marble: a detection inside the hold resets it; holdWindows 1 closes at the first empty window', () => {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  ts.run(({ cold, expectObservable }) => {
    const values = {
      a: wd('x', 0, [{ k: 2, run: [3, 3] }]), // clip 12
      b: wd('x', 4, []),
      c: wd('x', 8, [{ k: 2, run: [2, 3] }]), // clips 16, 20: touches 12..15
      d: wd('x', 12, []),
      e: wd('x', 16, []),
    };
    const hold2 = cold('abcde|', values).pipe(trackEvents({ model, holdWindows: 2 }), map(summary));
    expectObservable(hold2).toBe('----x|', { x: 'closed:x:fall:12-20' });
    const hold1 = cold('abcde|', values).pipe(trackEvents({ model, holdWindows: 1 }), map(summary));
    expectObservable(hold1).toBe('-x-y-|', { x: 'closed:x:fall:12-12', y: 'closed:x:fall:16-20' });
  });
});

test('marble: unsubscribing early tears down without flushing open events', () => {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  ts.run(({ hot, expectObservable, expectSubscriptions }) => {
    const windows = hot('-a-b-|', { a: wd('x', 0, [{ k: 1, run: [0, 1] }]), b: wd('x', 4, [{ k: 1, run: [0, 1] }]) });
    expectObservable(windows.pipe(trackEvents({ model })), '^--!').toBe('----');
    expectSubscriptions(windows.subscriptions).toBe('^--!');
  });
});

test('marble: minClips 2 drops a one-clip event when it closes and reports a two-clip one', () => {
  const ts = new TestScheduler((a, b) => assert.deepEqual(a, b));
  const stats = createOperatorStats();
  ts.run(({ cold, expectObservable }) => {
    const values = {
      a: wd('x', 0, [{ k: 1, run: [2, 2] }]), // wave: clip 8 only
      b: wd('x', 4, [{ k: 1, run: [1, 1] }]), // clip 8 again: still one clip
      c: wd('x', 8, [{ k: 2, run: [1, 2] }]), // fall: clips 12, 16
      d: wd('x', 12, []), // wave closes (hold 2): one clip, dropped
      e: wd('x', 16, []), // fall closes: two clips, reported
    };
    const events = cold('abcde|', values).pipe(trackEvents({ model, minClips: 2, stats }), map(summary));
    expectObservable(events).toBe('----x|', { x: 'closed:x:fall:12-16' });
    // Without the minimum, the same input reports both.
    const all = cold('abcde|', values).pipe(trackEvents({ model }), map(summary));
    expectObservable(all).toBe('---wx|', { w: 'closed:x:wave:8-8', x: 'closed:x:fall:12-16' });
  });
  assert.equal(stats.dropped, 1);
});

test('minClips: an event growing clip by clip is reported once it is long enough, open updates only from then', async () => {
  const events = await track(
    [
      wd('x', 0, [{ k: 1, run: [1, 1] }]), // clip 4: not yet reportable, no open update
      wd('x', 4, [{ k: 1, run: [1, 1] }]), // clip 8 joins: two clips, first open update
      wd('x', 8, [{ k: 1, run: [1, 2] }]), // clips 12, 16: grows
    ],
    { emitOpen: true, minClips: 2 },
  );
  assert.deepEqual(events.map(summary), ['open:x:wave:4-8', 'open:x:wave:4-16', 'closed:x:wave:4-16']);
  // The id is still the first detection's start, as without a minimum.
  assert.equal(events[0]?.id, eventId('x', 1, 4));
  // A window seeing a dropped event's clip again opens nothing (it counts as closed).
  const again = await track([wd('x', 0, [{ k: 1, run: [1, 1] }]), wd('x', 20, []), wd('x', 24, []), wd('x', 0, [{ k: 1, run: [1, 1] }])], {
    emitOpen: true,
    minClips: 2,
  });
  assert.deepEqual(again.map(summary), []);
});

test('a detection that neither overlaps nor touches closes the open event and opens a new one', async () => {
  const events = await track(
    [wd('x', 0, [{ k: 1, run: [0, 0] }]), wd('x', 40, [{ k: 1, run: [1, 1] }]), wd('x', 44, [{ k: 1, run: [0, 0] }])],
    { holdWindows: 5 },
  );
  // 0..3 and 44..47 are apart; 44..47 then overlaps itself in the third window.
  assert.deepEqual(events.map(summary), ['closed:x:wave:0-0', 'closed:x:wave:44-44']);
});

test('after the hold ran out, a window that sees the closed event’s clips again reports nothing; clips beyond them open a new event', async () => {
  const events = await track(
    [
      wd('x', 0, [{ k: 1, run: [1, 2] }]), // clips 4–8 (startSeq): wave
      wd('x', 4, []),
      wd('x', 8, []), // hold 2 runs out: closed 4–8
      wd('x', 4, [{ k: 1, run: [0, 1] }]), // clips 4–8 again (the head flickered back): nothing new
      wd('x', 8, [{ k: 1, run: [0, 0] }]), // clip 8 alone, inside 4–8: nothing new
      wd('x', 12, []),
      wd('x', 16, []),
      wd('x', 8, [{ k: 1, run: [0, 1] }]), // clips 8–12: reaches past the closed span, a new event
      wd('x', 4, [{ k: 2, run: [1, 2] }]), // another class on the same clips is its own event
    ],
    { holdWindows: 2 },
  );
  assert.deepEqual(events.map(summary), ['closed:x:wave:4-8', 'closed:x:wave:8-12', 'closed:x:fall:8-12']);
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'no id twice');
});

test('clips that leave frames between them (stride > T) still join when they are consecutive in the window', async () => {
  const events = await track([
    wd('x', 0, [{ k: 1, run: [1, 1] }], { stride: 8 }), // clip 8 (8..11)
    wd('x', 8, [{ k: 1, run: [1, 1] }], { stride: 8 }), // clip 16 (16..19): next clip after 8
    wd('x', 16, [{ k: 1, run: [2, 2] }], { stride: 8 }), // clip 32: not next after 16 (24 is)
  ]);
  assert.deepEqual(events.map(summary), ['closed:x:wave:8-16', 'closed:x:wave:32-32']);
});

test('a segment change closes open events as nearGap; an event starting the new segment is nearGap too', async () => {
  const events = await track([
    wd('x', 0, [{ k: 1, run: [2, 3] }]),
    wd('x', 100, [{ k: 2, run: [0, 1] }], { segment: 1 }),
    wd('x', 104, [{ k: 1, run: [2, 3] }], { segment: 1 }),
  ]);
  // Both events of segment 1 are still open at the end: flushed in class order.
  assert.deepEqual(events.map(summary), ['closed:x:wave:8-12:gap', 'closed:x:wave:112-116', 'closed:x:fall:100-104:gap']);
});

test('cameras are tracked apart: another camera’s windows do not count against the hold', async () => {
  const a = [wd('a', 0, [{ k: 1, run: [0, 1] }]), wd('a', 4, []), wd('a', 8, [{ k: 1, run: [0, 1] }])];
  const b = Array.from({ length: 6 }, (_, i) => wd('b', 4 * i, i === 2 ? [{ k: 1, run: [3, 3] }] : []));
  const alone = [...(await track(a)), ...(await track(b))].map(summary).sort();
  const mixed = (await track(interleave([a, b], seededRandom(2)))).map(summary).sort();
  assert.deepEqual(mixed, alone);
  assert.deepEqual(alone, ['closed:a:wave:0-12', 'closed:b:wave:20-20']);
});

test('completion flushes every open event, camera by camera in class order', async () => {
  const events = await track([wd('a', 0, [{ k: 2, run: [0, 0] }, { k: 1, run: [0, 0] }]), wd('b', 0, [{ k: 1, run: [1, 1] }])]);
  assert.deepEqual(events.map(summary), ['closed:a:wave:0-0', 'closed:a:fall:0-0', 'closed:b:wave:4-4']);
});

test('every field of the event is filled: times, clips, strongest detection, model, schema', async () => {
  const stats = createOperatorStats();
  const input = [wd('cam', 0, [{ k: 1, run: [2, 3], p: 0.7 }]), wd('cam', 4, [{ k: 1, run: [1, 3], p: 0.9 }]), wd('cam', 8, [{ k: 1, run: [1, 1], p: 0.6 }])];
  const [e, ...rest] = await track(input, { now: () => Date.UTC(2025, 0, 2, 3, 4, 5, 6), stats });
  assert.equal(rest.length, 0);
  assert.ok(e);
  const strongest = input[1]?.detections[0] as Detection;
  assert.equal(e.schema, EVENT_SCHEMA_VERSION);
  assert.equal(e.id, eventId('cam', 1, 8), 'id from the start clip of the first detection');
  assert.match(e.id, /^[0-9a-f]{16}$/);
  assert.equal(e.action, 'wave');
  assert.equal(e.classIndex, 1);
  assert.equal(e.confidence, 0.9);
  assert.equal(e.startClip, 8);
  assert.equal(e.endClip, 16);
  assert.equal(e.startMs, 1000 + 40 * 8);
  assert.equal(e.endMs, 1000 + 40 * 20);
  assert.equal(e.start, new Date(e.startMs).toISOString());
  assert.equal(e.end, new Date(e.endMs).toISOString());
  assert.deepEqual(e.attention, strongest.attention);
  assert.deepEqual(e.clips, strongest.windowClips.map((c) => ({ startMs: c.startMs, endMs: c.endMs })));
  assert.deepEqual(e.model, model);
  assert.equal(e.emittedAt, '2025-01-02T03:04:05.006Z');
  assert.equal(e.status, 'closed');
  assert.equal(e.nearGap, false);
  assert.equal(stats.peakBuffered, 1);
  assert.equal(stats.buffered, 0);
});

test('ids are deterministic: the same input gives the same ids; different starts, classes or cameras differ', async () => {
  const input = [
    wd('a', 0, [{ k: 1, run: [0, 0] }, { k: 2, run: [0, 0] }]),
    wd('b', 0, [{ k: 1, run: [0, 0] }]),
    wd('a', 60, [{ k: 1, run: [0, 0] }]),
  ];
  const first = await track(input, { now: () => 1 });
  const second = await track(input, { now: () => 2 });
  assert.deepEqual(first.map((e) => e.id), second.map((e) => e.id));
  assert.equal(new Set(first.map((e) => e.id)).size, first.length);
  assert.equal(eventId('a', 1, 0), eventId('a', 1, 0));
  assert.notEqual(eventId('a', 1, 0), eventId('a', 1, 1));
});

test('emitOpen: an open update when the event opens and when it grows, then the closed event with the same id', async () => {
  const events = await track(
    [
      wd('x', 0, [{ k: 1, run: [1, 1], p: 0.6 }]),
      wd('x', 4, [{ k: 1, run: [0, 0], p: 0.6 }]), // same clip 4, nothing new: no update
      wd('x', 8, [{ k: 1, run: [0, 1], p: 0.6 }]), // end grows to clip 12
      wd('x', 12, [{ k: 1, run: [0, 0], p: 0.95 }]), // confidence grows
    ],
    { emitOpen: true },
  );
  assert.deepEqual(
    events.map((e) => `${summary(e)}:${e.confidence}`),
    ['open:x:wave:4-4:0.6', 'open:x:wave:4-12:0.6', 'open:x:wave:4-12:0.95', 'closed:x:wave:4-12:0.95'],
  );
  assert.equal(new Set(events.map((e) => e.id)).size, 1);
});

test('event bounds follow the attention runs read by detectActions over sliding windows', async () => {
  // Clips every 4 frames; the action is in clips 40..60 (by startSeq): attention 0.9 there.
  const C = 5;
  const inAction = (seq: number): boolean => seq >= 40 && seq <= 60;
  const results = Array.from({ length: 25 }, (_, k) => {
    const window = makeWindow('cam', 4 * k, C);
    const attention = Float32Array.from(window.clips, (c) => (inAction(c.startSeq) ? 0.9 : 0.1));
    const any = window.clips.some((c) => inAction(c.startSeq));
    return { window, probs: Float32Array.of(any ? 0.1 : 0.9, any ? 0.9 : 0.1), attention };
  });
  const events = await lastValueFrom(
    from(results).pipe(
      detectActions({ classes: ['bg', 'act'], backgroundIndex: 0, classThreshold: 0.5, attentionThreshold: 0.5 }),
      trackEvents({ model }),
      toArray(),
    ),
  );
  assert.deepEqual(events.map(summary), ['closed:cam:act:40-60']);
  assert.equal(events[0]?.startMs, 1000 + 40 * 40);
  assert.equal(events[0]?.endMs, 1000 + 40 * 64);
});

test('bad options fail with a ConfigError', () => {
  assert.throws(() => trackEvents({ model, holdWindows: 0 }), ConfigError);
  assert.throws(() => trackEvents({ model, minClips: 0 }), ConfigError);
  assert.throws(() => trackEvents({ model, minClips: 1.5 }), ConfigError);
});
