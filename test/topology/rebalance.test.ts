/**
 * A Kafka rebalance inside one analyzer (issue 3): when a camera's partition is revoked, every
 * stage drops the camera's state without emitting, and a later replay of the camera from an
 * earlier offset (the partition handed back) rebuilds exactly the events of an undisturbed run,
 * with the same ids. The other camera is not touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { createMetrics, METRIC, type Metrics } from '../../src/metrics/metrics.ts';
import type { HeadResult } from '../../src/model/clipModel.ts';
import { analyse, analysisBacklog, createPipelineStats, type AnalysisSettings, type PipelineStats } from '../../src/topology/pipeline.ts';
import type { ActionEvent, Clip, Frame } from '../../src/types.ts';
import { fakeManifest } from '../support/manifest.ts';

const manifest = fakeManifest({ clip: { frames: 4, size: 2, fps: 5, stride: 4 } });

/** What `clipwise run` sets for a Kafka source: sequence-aligned clips, whole windows only, open updates. */
const settings: AnalysisSettings = {
  stride: 4,
  minClips: 4,
  hop: 1,
  batchClips: 4,
  batchWaitMs: 1,
  maxQueuedClips: 64,
  inferConcurrency: 1,
  classThreshold: 0.5,
  attentionThreshold: 0.5,
  holdWindows: 1,
  minEventClips: 1,
  emitOpen: true,
  align: 'sequence',
};

const frame = (cameraId: string, seq: number): Frame => ({ cameraId, seq, ptsMs: seq * 200, width: 2, height: 2, data: new Uint8Array(12).fill(seq % 256) });
const frames = (cameraId: string, from: number, to: number): Frame[] => Array.from({ length: to - from }, (_, i) => frame(cameraId, from + i));

/** Action "x" on in clips whose start is in [0, 20) mod 40; per-clip attention follows it. */
const infer = async (clips: readonly Clip[]): Promise<Float32Array[]> => clips.map((c) => new Float32Array(8).fill(c.startSeq % 40 < 20 ? 1 : 0));
const runHead = async (windows: readonly Float32Array[]): Promise<HeadResult[]> =>
  windows.map((w) => {
    const C = manifest.window.clips;
    const d = w.length / C;
    const perClip = Array.from({ length: C }, (_, i) => w[i * d] as number);
    const on = perClip.reduce((s, v) => s + v, 0) / C;
    return { probs: new Float32Array([1 - on, on]), weights: Float32Array.from(perClip, (v) => (v > 0.5 ? 0.9 : 0.1)) };
  });

const deps = (metrics: Metrics, stats: PipelineStats) => ({ manifest, headKind: 'gcf' as const, infer, runHead, backend: 'fake', settings, metrics, stats });
const closed = (events: readonly ActionEvent[], cameraId: string): string[] =>
  events.filter((e) => e.cameraId === cameraId && e.status === 'closed').map((e) => `${e.id}:${e.startClip}-${e.endClip}`);

/** The events of one camera's stream analysed alone, undisturbed. */
async function reference(cameraId: string, to: number): Promise<string[]> {
  const metrics = createMetrics({ registry: new Registry(), backend: 'fake', defaultMetrics: false });
  const events = await lastValueFrom(from(frames(cameraId, 0, to)).pipe(analyse(deps(metrics, createPipelineStats())), toArray()));
  return closed(events, cameraId);
}

/** Resolves once every clip cut so far has come out of the head and reached the tracker. */
async function idle(stats: PipelineStats): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (analysisBacklog(stats) === 0 && stats.clips.emitted === stats.inference.emitted && stats.windows.emitted === stats.events.received) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail('the pipeline did not go idle');
}

async function dropped(metrics: Metrics, stage: string): Promise<number> {
  return (await metrics.revokedStateDropped.get()).values.filter((v) => v.labels.stage === stage).reduce((s, v) => s + v.value, 0);
}

test('a revoked camera loses its state without emitting; handed back and replayed, it re-emits the undisturbed events with the same ids', async () => {
  const END = 120;
  const [refA, refB] = await Promise.all([reference('a', END), reference('b', END)]);
  assert.ok(refA.length >= 2, `the reference has events to compare (${refA.join(' ')})`);

  const metrics = createMetrics({ registry: new Registry(), backend: 'fake', defaultMetrics: false });
  const stats = createPipelineStats();
  const input = new Subject<Frame>();
  const revoke = new Subject<readonly string[]>();
  const all: ActionEvent[] = [];
  const done = new Promise<void>((resolve, reject) => {
    input.pipe(analyse({ ...deps(metrics, stats), forget$: revoke })).subscribe({ next: (e) => all.push(e), error: reject, complete: resolve });
  });

  // Both cameras up to frame 50: a's second action (clips 40…) is open, two frames of an
  // unfinished clip wait, a's window ring is full.
  for (let seq = 0; seq < 50; seq++) {
    input.next(frame('a', seq));
    input.next(frame('b', seq));
  }
  await idle(stats);
  const openIds = new Set(all.filter((e) => e.cameraId === 'a' && e.status === 'open').map((e) => e.id));
  for (const e of all) if (e.status === 'closed') openIds.delete(e.id);
  assert.equal(openIds.size, 1, 'an event of a is open when its partition is revoked');
  revoke.next(['a']);
  const cut = all.length;

  // The partition comes back: a replays from its start (the committed low watermark of an
  // analyzer that never committed); b goes on.
  for (let seq = 0; seq < END; seq++) {
    input.next(frame('a', seq));
    if (seq >= 50) input.next(frame('b', seq));
  }
  input.complete();
  await done;

  const before = all.slice(0, cut);
  const after = all.slice(cut);
  assert.ok(closed(before, 'a').every((e) => refA.includes(e)), `a's events before the revoke are undisturbed ones: ${closed(before, 'a').join(' ')}`);
  assert.deepEqual(closed(after, 'a'), refA, 'the replay re-emits exactly the undisturbed events (same ids, same bounds), nothing truncated');
  assert.deepEqual(closed(all, 'b'), refB, 'b is untouched');
  assert.equal(await dropped(metrics, 'events'), 1, 'the open event was dropped, and counted');
  assert.equal(await dropped(metrics, 'features'), manifest.window.clips, 'the window ring');
  assert.equal(await dropped(metrics, 'frames'), 2, 'frames 48 and 49 of the unfinished clip');
  assert.equal(await dropped(metrics, 'clips'), 0, 'nothing was queued at the revoke');
  assert.match(await metrics.registry.getSingleMetricAsString(METRIC.revokedStateDropped), /stage="events"/);
});
