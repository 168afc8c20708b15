import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { lastValueFrom, merge, toArray } from 'rxjs';
import { createMetrics, METRIC } from '../../src/metrics/metrics.ts';
import type { RateGovernor } from '../../src/operators/rateGovernor.ts';
import { analyse, createPipelineStats } from '../../src/topology/pipeline.ts';
import { createSyntheticSource } from '../../src/topology/sources/syntheticSource.ts';
import type { Clip, ClipMeta, Window } from '../../src/types.ts';
import { fakeManifest } from '../support/manifest.ts';

const T = 4;
const FPS = 100;
const manifest = fakeManifest({ clip: { frames: T, size: 16, fps: FPS, stride: T } });

test('overload lowers the lagging cameras’ analysis rate before any clip is dropped; the effective rate is exported; clips stay exact', async () => {
  const registry = new Registry();
  const metrics = createMetrics({ registry, backend: 'fake', defaultMetrics: false });
  const stats = createPipelineStats();
  let governor: RateGovernor | undefined;
  let loweredBeforeFirstDrop: boolean | undefined;
  let lowered = false;
  // The first drop (if any) records whether some camera's rate was already lowered then.
  const inc = metrics.clipsDropped.inc.bind(metrics.clipsDropped);
  metrics.clipsDropped.inc = ((...args: Parameters<typeof inc>) => {
    loweredBeforeFirstDrop ??= [...(governor?.factors().values() ?? [])].some((k) => k > 1);
    inc(...args);
  }) as typeof metrics.clipsDropped.inc;
  // Inference takes 8 ms per clip, one call at a time: 125 clips/s. Six realtime cameras at
  // 100 fps with T = S = 4 send 150 clips/s, so it falls behind.
  const infer = async (clips: readonly Clip[]): Promise<Float32Array[]> => {
    lowered ||= [...(governor?.factors().values() ?? [])].some((k) => k > 1);
    await new Promise((r) => setTimeout(r, 8 * clips.length));
    return clips.map(() => new Float32Array(4).fill(0.5));
  };
  const runHead = async (windows: readonly Float32Array[]) =>
    windows.map(() => ({ probs: new Float32Array([0.9, 0.1]), weights: new Float32Array(4).fill(0.5) }));
  const windows: Window[] = [];
  const cams = [0, 1, 2, 3, 4, 5].map((i) =>
    createSyntheticSource({ cameraId: `c${i}`, fps: FPS, width: 16, height: 16, seed: i, frames: 300, realtime: true }),
  );
  await lastValueFrom(
    merge(...cams.map((c) => c.frames$)).pipe(
      analyse({
        manifest,
        headKind: 'gcf',
        infer,
        runHead,
        backend: 'fake',
        metrics,
        stats,
        onGovernor: (g) => (governor = g),
        hooks: { window: (w) => windows.push(w) },
        settings: {
          fps: FPS,
          stride: T,
          minClips: 2,
          hop: 1,
          batchClips: 4,
          batchWaitMs: 5,
          maxQueuedClips: 32,
          inferConcurrency: 1,
          classThreshold: 0.5,
          attentionThreshold: 0.5,
          holdWindows: 1,
          minEventClips: 1,
          emitOpen: false,
          degrade: { maxFactor: 4, cooldownMs: 300, recoverMs: 60_000 },
        },
      }),
      toArray(),
    ),
  );
  assert.ok(governor, 'degradation is on when asked for');
  assert.ok(lowered, 'the overload lowered some camera’s rate');
  assert.notEqual(loweredBeforeFirstDrop, false, 'no clip was dropped before a rate was lowered');
  assert.ok(stats.inference.peakBuffered <= 32);

  // The exported effective rate: nominal / factor for every camera, lower for some.
  const text = await registry.getSingleMetricAsString(METRIC.effectiveFps);
  const rates = text
    .split('\n')
    .filter((l) => l.startsWith(METRIC.effectiveFps))
    .map((l) => Number(l.split(' ').pop()));
  assert.equal(rates.length, 6);
  assert.ok(rates.every((r) => [1, 2, 3, 4].some((k) => Math.abs(r - FPS / k) < 1e-9)), `rates ${rates}`);

  // Clip timing stays exact: a clip spans T sampling steps of its rate (k × 10 ms), and the
  // clips of one window all share one rate.
  const span = (c: ClipMeta): number => c.endMs - c.startMs;
  const spans = new Set<number>();
  for (const w of windows) {
    const s = new Set(w.clips.map((c) => Math.round(span(c) * 1000) / 1000));
    assert.equal(s.size, 1, `one rate per window: ${[...s]}`);
    for (const v of s) spans.add(v);
  }
  for (const v of spans) assert.ok([1, 2, 3, 4].some((k) => Math.abs(v - (T * k * 1000) / FPS) < 1e-6), `clip span ${v} ms`);
  assert.ok(spans.size > 1, `clips at more than one rate: ${[...spans]}`);
});
