import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { ConfigError } from '../../src/errors.ts';
import { createEmbedder, createWindowHead, loadClipwiseModel } from '../../src/model/clipModel.ts';
import { HEAD_KINDS } from '../../src/model/heads.ts';
import { runSynth } from '../../src/synth/runSynth.ts';
import { loadDataset, splitByVideo } from '../../src/train/dataset.ts';
import type { TrainSummary } from '../../src/train/trainModel.ts';

const dir = mkdtempSync(join(tmpdir(), 'clipwise-train-'));
const data = join(dir, 'data');
test.after(() => rmSync(dir, { recursive: true, force: true }));

// Quiet the CLI's progress lines while keeping failures visible in the assertion messages.
async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), stderr: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

function summaryOf(modelDir: string): TrainSummary {
  return (JSON.parse(readFileSync(join(modelDir, 'training.json'), 'utf8')) as { summary: TrainSummary }).summary;
}

test.before(async () => {
  await runSynth({ out: data, videos: 4, seed: 5, quick: true, emptyFraction: 0, minInstances: 2, maxInstances: 2 }, () => undefined);
});

test('bad --data: a folder without annotations.json is a clear error and exit code 2', async () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  await assert.rejects(loadDataset(empty), (err: unknown) => err instanceof ConfigError && /annotations\.json/.test(err.message));
  const res = await cli(['train', '--data', empty, '--out', join(dir, 'never')]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /annotations\.json/);
  // A malformed file names the problem too.
  const broken = join(dir, 'broken');
  mkdirSync(broken, { recursive: true });
  writeFileSync(join(broken, 'annotations.json'), JSON.stringify({ classes: ['background', 'wave'], videos: [{ path: 'x.mp4' }] }));
  const res2 = await cli(['train', '--data', broken, '--out', join(dir, 'never')]);
  assert.equal(res2.code, 2);
  assert.match(res2.stderr, /durationSeconds/);
  assert.equal((await cli(['train', '--out', join(dir, 'never')])).code, 2, 'missing --data');
  const zeroWorkers = await cli(['train', '--data', data, '--out', join(dir, 'never'), '--workers', '0']);
  assert.equal(zeroWorkers.code, 2);
  assert.match(zeroWorkers.stderr, /--workers must be a positive integer/);
  const pooling = await cli(['train', '--data', data, '--out', join(dir, 'never'), '--spatial-pooling', 'median']);
  assert.equal(pooling.code, 2);
  assert.match(pooling.stderr, /--spatial-pooling must be mean, max or motion/);
  const share = await cli(['train', '--data', data, '--out', join(dir, 'never'), '--near-negatives', '1.5']);
  assert.equal(share.code, 2);
  assert.match(share.stderr, /--near-negatives must be between 0 and 1, got 1\.5/);
});

test('the split is by video, disjoint, deterministic for a seed', async () => {
  const set = await loadDataset(data);
  const a = splitByVideo(set.videos, 0.25, 3);
  const b = splitByVideo(set.videos, 0.25, 3);
  assert.deepEqual(a, b);
  assert.equal(a.val.length, 1);
  assert.equal(a.train.length + a.val.length, set.videos.length);
  const ids = new Set(a.train.map((v) => v.index));
  for (const v of a.val) assert.ok(!ids.has(v.index));
});

test('clipwise train --quick runs end to end and writes a loadable, trained model whose losses fell', async () => {
  const out = join(dir, 'model');
  const res = await cli(['train', '--data', data, '--out', out, '--quick', '--val-fraction', '0.25']);
  assert.equal(res.code, 0, res.stderr.slice(-2000));
  const model = await loadClipwiseModel(out, { heads: 'all' });
  try {
    assert.equal(model.manifest.trained, true);
    assert.deepEqual(model.manifest.classes, ['background', 'fall', 'run', 'fight', 'wave', 'jump', 'loiter']);
    assert.ok(model.manifest.detection, 'calibrated thresholds are in the manifest');
    assert.deepEqual([...model.heads.keys()].sort(), [...HEAD_KINDS].sort());
  } finally {
    model.dispose();
  }
  // The stream's loaders accept it: embed a clip and run a window through the default head.
  const embedder = await createEmbedder(out);
  const { frames, size } = embedder.manifest.clip;
  const feature = await embedder.embed([new Uint8Array(frames * size * size * 3).fill(90)], { frames, height: size, width: size });
  embedder.dispose();
  assert.equal(feature.length, embedder.dim);
  const head = await createWindowHead(out);
  const [result] = await head.run([new Float32Array(head.clips * head.dim).fill(0.5)]);
  head.dispose();
  assert.ok(result && Math.abs(result.probs.reduce((a, b) => a + b, 0) - 1) < 1e-4);

  const s = summaryOf(out);
  assert.equal(s.stage1.epochs.length, 2);
  assert.equal(s.stage2.heads.length, HEAD_KINDS.length);
  for (const h of s.stage2.heads) assert.ok(h.lastLoss < h.firstLoss, `${h.kind}: loss ${h.firstLoss} → ${h.lastLoss}`);
  // The paper-loss diagnostic head is opt-in (--gate-diagnostic): not trained, and the card says how to get it.
  assert.equal(s.stage2.unsupervisedGate, undefined);
  const card = readFileSync(join(out, 'MODEL_CARD.md'), 'utf8');
  assert.match(card, /clipwise train --gate-diagnostic/);
  assert.match(card, /## Training command/);
  assert.match(card, /--quick/);
});

test('--resume continues stage 1 from the last checkpoint instead of starting over', async () => {
  const out = join(dir, 'resume');
  // Epoch 1 on this thread, epoch 2 on two workers: a one-thread checkpoint resumes data-parallel.
  // Motion-weighted pooling on the way: its layer must reach the workers, the checkpoint and the served model.
  const first = await cli(['train', '--data', data, '--out', out, '--quick', '--epochs', '1', '--workers', '1', '--spatial-pooling', 'motion']);
  assert.equal(first.code, 0, first.stderr.slice(-2000));
  const before = summaryOf(out);
  assert.equal(before.stage1.epochs.length, 1);
  // The resumed epoch runs data-parallel: the replicas start from the checkpoint's weights and
  // Adam state, and the main thread's model is synced back before validation and the heads.
  // --gate-diagnostic on the way: the resumed run trains the paper-loss twin, and its time counts in the total.
  const second = await cli(['train', '--data', data, '--out', out, '--quick', '--epochs', '2', '--resume', '--workers', '2', '--spatial-pooling', 'motion', '--gate-diagnostic']);
  assert.equal(second.code, 0, second.stderr.slice(-2000));
  assert.match(second.stderr, /resumed stage 1 after epoch 1/);
  assert.match(readFileSync(join(out, 'MODEL_CARD.md'), 'utf8'), /data-parallel over 2 worker threads/);
  const after = summaryOf(out);
  assert.equal(after.stage1.epochs.length, 2);
  const diag = after.stage2.unsupervisedGate;
  assert.ok(diag && diag.seconds > 0 && diag.valTop1 >= 0 && diag.valTop1 <= 1, 'the diagnostic head ran');
  const parts = after.decodeSeconds + after.stage1.seconds + after.features.seconds + after.stage2.seconds + diag.seconds + after.calibration.seconds;
  assert.ok(Math.abs(after.totalSeconds - parts) < 1e-6, `total ${after.totalSeconds} = the stages ${parts}`);
  assert.match(readFileSync(join(out, 'MODEL_CARD.md'), 'utf8'), /\| diagnostic \| GCF head with the paper's loss/);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { backbone: { spatialPooling: string } };
  assert.equal(manifest.backbone.spatialPooling, 'motion');
  // The stream's embedder serves it (the compiled pass with motion weights).
  const embedder = await createEmbedder(out);
  const { frames, size } = embedder.manifest.clip;
  const moving = Uint8Array.from({ length: frames * size * size * 3 }, (_, i) => (i * 7) & 255);
  const feature = await embedder.embed([moving], { frames, height: size, width: size });
  embedder.dispose();
  assert.equal(feature.length, embedder.dim);
  assert.ok(feature.every(Number.isFinite));
  // Epoch 1 was not redone: its record is the checkpoint's, byte for byte.
  assert.deepEqual(after.stage1.epochs[0], before.stage1.epochs[0]);
  // A resume with another seed is refused rather than silently mixed.
  const other = await cli(['train', '--data', data, '--out', out, '--quick', '--epochs', '2', '--resume', '--seed', '9']);
  assert.equal(other.code, 2);
});
