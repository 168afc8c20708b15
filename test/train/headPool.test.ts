import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainingWorkerError } from '../../src/errors.ts';
import { createHead, type HeadKind } from '../../src/model/heads.ts';
import { loadLayersModel, saveLayersModel } from '../../src/model/io.ts';
import { initRuntime } from '../../src/model/runtime.ts';
import { createRng } from '../../src/synth/prng.ts';
import { trainHeadsOnWorkers, type HeadJob, type HeadJobOptions } from '../../src/train/headPool.ts';
import { trainHead, type HeadTrainingResult } from '../../src/train/trainHeads.ts';
import { indexWindows, type FeatureVideo } from '../../src/train/windows.ts';

const K = 4;
const C = 4;
const DIM = 8;

/** Videos whose action clips carry a class-specific offset in one descriptor dimension: learnable. */
function videos(n: number): FeatureVideo[] {
  const rng = createRng(5);
  return Array.from({ length: n }, () => {
    const count = 24;
    const labels = Array.from({ length: count }, (_, j) => (j >= 8 && j < 14 ? 1 + (j % 3) : 0));
    const features = new Float32Array(count * DIM);
    for (let j = 0; j < count; j++) {
      for (let d = 0; d < DIM; d++) features[j * DIM + d] = rng.normal() * 0.3 + (d === labels[j] ? 2 : 0);
    }
    return { features, count, dim: DIM, labels };
  });
}

const options = (kind: HeadKind, steps: number, seed: number): HeadJobOptions => ({
  kind,
  numClasses: K,
  clips: C,
  steps,
  batchSize: 8,
  learningRate: 5e-3,
  lambda: 1e-3,
  attentionSupervision: 1,
  backgroundWeight: 2,
  noiseStd: 0,
  seed,
});

async function saveFresh(dir: string, kind: HeadKind, seed: number): Promise<string> {
  const head = createHead(kind, { clips: C, inputDim: DIM, numClasses: K, fusionDim: 8, dropout: 0, seed });
  const path = join(dir, 'init', kind);
  await saveLayersModel(head, path);
  head.dispose();
  return path;
}

async function weightsOf(dir: string): Promise<number[][]> {
  const m = await loadLayersModel(dir);
  const w = m.getWeights().map((t) => Array.from(t.dataSync()));
  m.dispose();
  return w;
}

test('heads trained on worker threads are the heads this thread trains, weight for weight; results in job order', async () => {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-headpool-'));
  const vids = videos(6);
  const windows = indexWindows(vids, C, 0);
  const kinds: HeadKind[] = ['gcf', 'dense', 'attentionOnly'];
  const jobs: HeadJob[] = [];
  for (const [i, kind] of kinds.entries()) {
    jobs.push({ initDir: await saveFresh(dir, kind, 20 + i), outDir: join(dir, 'out', kind), options: options(kind, 150, 7 + i) });
  }
  const seen: string[] = [];
  let inCallback = 0;
  const results = await trainHeadsOnWorkers({
    videos: vids,
    windows,
    workers: 2,
    jobs,
    onDone: async (job, r) => {
      inCallback += 1;
      assert.equal(inCallback, 1, 'onDone calls never overlap');
      assert.equal(r.kind, job.options.kind);
      await new Promise((res) => setTimeout(res, 20));
      seen.push(job.options.kind);
      inCallback -= 1;
    },
  });
  assert.deepEqual(results.map((r) => r.kind), kinds);
  assert.deepEqual([...seen].sort(), [...kinds].sort());
  for (const r of results) assert.ok(r.lastLoss < r.firstLoss, `${r.kind}: loss ${r.firstLoss} → ${r.lastLoss}`);

  // The same job on this thread: the worker's saved head is the same, weight for weight.
  const job = jobs[0] as HeadJob;
  const head = await loadLayersModel(job.initDir);
  const here: HeadTrainingResult = await trainHead({ ...job.options, head, videos: vids, windows });
  const want = head.getWeights().map((t) => Array.from(t.dataSync()));
  head.dispose();
  assert.deepEqual(await weightsOf(job.outDir), want);
  assert.equal(here.lastLoss, results[0]?.lastLoss);
  assert.notDeepEqual(await weightsOf(job.outDir), await weightsOf(job.initDir), 'the head was trained');
});

test('a job that cannot load its head fails with a TrainingWorkerError; the other worker is stopped', async () => {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-headpool-'));
  const vids = videos(3);
  const windows = indexWindows(vids, C, 0);
  const long: HeadJob = { initDir: await saveFresh(dir, 'gcf', 1), outDir: join(dir, 'out', 'gcf'), options: options('gcf', 100_000, 1) };
  const broken: HeadJob = { initDir: join(dir, 'missing'), outDir: join(dir, 'out', 'dense'), options: options('dense', 10, 2) };
  const t0 = performance.now();
  await assert.rejects(trainHeadsOnWorkers({ videos: vids, windows, workers: 2, jobs: [long, broken] }), (e: unknown) => {
    assert.ok(e instanceof TrainingWorkerError, String(e));
    assert.match(e.message, /head worker \d: .*missing/);
    return true;
  });
  // 100k steps would take minutes: the long job was stopped, not awaited.
  assert.ok(performance.now() - t0 < 60_000);
});

test('aborting stops the workers and rejects with the reason', async () => {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-headpool-'));
  const vids = videos(3);
  const windows = indexWindows(vids, C, 0);
  const job: HeadJob = { initDir: await saveFresh(dir, 'gcf', 1), outDir: join(dir, 'out', 'gcf'), options: options('gcf', 100_000, 1) };
  const abort = new AbortController();
  const reason = new Error('interrupted');
  setTimeout(() => abort.abort(reason), 1500);
  await assert.rejects(trainHeadsOnWorkers({ videos: vids, windows, workers: 2, jobs: [job, { ...job, outDir: join(dir, 'out', 'b') }], signal: abort.signal }), (e: unknown) => e === reason);
});
