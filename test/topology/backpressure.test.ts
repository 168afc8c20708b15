import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { lastValueFrom, merge, toArray } from 'rxjs';
import { createMetrics, METRIC } from '../../src/metrics/metrics.ts';
import { analyse, createPipelineStats } from '../../src/topology/pipeline.ts';
import { createSyntheticSource } from '../../src/topology/sources/syntheticSource.ts';
import type { Clip } from '../../src/types.ts';
import { fakeManifest } from '../support/manifest.ts';

const manifest = fakeManifest();

test('when inference is slower than input, clips are dropped and counted, queues stay bounded, events still flow', async () => {
  const registry = new Registry();
  const metrics = createMetrics({ registry, backend: 'fake', defaultMetrics: false });
  const stats = createPipelineStats();
  let calls = 0;
  // Inference 20 ms per call while 3 cameras deliver frames as fast as they can be generated.
  const infer = async (clips: readonly Clip[]): Promise<Float32Array[]> => {
    calls += 1;
    await new Promise((r) => setTimeout(r, 20));
    return clips.map((c) => new Float32Array(8).fill(c.startSeq % 40 < 20 ? 1 : 0));
  };
  const runHead = async (windows: readonly Float32Array[]) =>
    windows.map((w) => {
      const on = w.reduce((s, v) => s + v, 0) / w.length;
      return { probs: new Float32Array([1 - on, on]), weights: new Float32Array(4).fill(0.9) };
    });
  const cams = [0, 1, 2].map((i) => createSyntheticSource({ cameraId: `c${i}`, fps: 5, width: 16, height: 16, seed: i, frames: 2000 }));
  const events = await lastValueFrom(
    merge(...cams.map((c) => c.frames$)).pipe(
      analyse({
        manifest,
        headKind: 'gcf',
        infer,
        runHead,
        backend: 'fake',
        metrics,
        stats,
        settings: {
          stride: 4,
          minClips: 4,
          hop: 1,
          batchClips: 4,
          batchWaitMs: 5,
          maxQueuedClips: 16,
          inferConcurrency: 1,
          classThreshold: 0.5,
          attentionThreshold: 0.5,
          holdWindows: 1,
          minEventClips: 1,
          emitOpen: false,
          // Drop-only: this test counts every clip of full-rate cameras (degradation: pipelineDegrade.test.ts).
          degrade: false,
        },
      }),
      toArray(),
    ),
  );
  const value = async (name: string): Promise<number> =>
    (await registry.getSingleMetricAsString(name))
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  const dropped = await value(METRIC.clipsDropped);
  const inferred = await value(METRIC.clipsInferred);
  assert.ok(dropped > 100, `dropped ${dropped}`);
  assert.equal(dropped + inferred, 3 * 500, 'every clip is inferred or counted as dropped');
  assert.ok(stats.inference.peakBuffered <= 16, `queue peak ${stats.inference.peakBuffered}`);
  assert.ok(calls > 0 && events.length > 0, 'the pipeline kept producing events under overload');
});
