import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initRuntime } from '../../src/model/runtime.ts';
import { createClipwiseModel, createEmbedder, createWindowHead, DETECTION_DEFAULTS, loadClipwiseModel, loadManifest, manifestBackboneConfig, resolveDetection, saveClipwiseModel } from '../../src/model/clipModel.ts';
import { embedClips, preprocessClips, resolveBackboneConfig } from '../../src/model/backbone.ts';
import { predictWindows } from '../../src/model/heads.ts';
import { ModelLoadError } from '../../src/errors.ts';

const run = promisify(execFile);
const SMALL = { frames: 4, size: 32, dim: 32, widthMultiplier: 0.5 } as const;

function clipBytes(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

// The child loads the saved model in a fresh process (fresh tfjs, layer classes registered
// only by importing clipwise's modules) and prints its outputs for the same inputs.
const CHILD = `
import { initRuntime } from './src/model/runtime.ts';
import { loadClipwiseModel } from './src/model/clipModel.ts';
import { embedClips, preprocessClips } from './src/model/backbone.ts';
import { predictWindows } from './src/model/heads.ts';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
const [dir, clipsFile, windowsFile] = process.argv.slice(2);
await initRuntime({ backend: 'cpu' });
const m = await loadClipwiseModel(dir, { heads: 'all' });
const clip = new Uint8Array(readFileSync(clipsFile));
const { frames, size } = m.manifest.clip;
const x = preprocessClips([clip], frames, size, size);
const feats = Array.from(embedClips(m.backbone, x).dataSync());
const w = new Float32Array(Uint8Array.from(readFileSync(windowsFile)).buffer);
const out = {};
for (const [k, h] of m.heads) {
  const { probs, weights } = predictWindows(h, tf.tensor3d(w, [1, m.manifest.window.clips, feats.length]));
  out[k] = [Array.from(probs.dataSync()), Array.from(weights.dataSync())];
}
console.log(JSON.stringify({ feats, out }));
`;

test('save → load in a new process gives identical backbone and head outputs', async () => {
  await initRuntime({ backend: 'cpu' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-model-'));
  const model = createClipwiseModel({ classes: ['background', 'fall', 'wave'], backbone: SMALL, head: { clips: 6, fusionDim: 16 }, seed: 3 });
  await saveClipwiseModel(model, dir);
  const clip = clipBytes(1, 4 * 32 * 32 * 3);
  const x = preprocessClips([clip], 4, 32, 32);
  const feats = Array.from(embedClips(model.backbone, x).dataSync());
  const windows = new Float32Array(6 * 32).map((_, i) => Math.sin(i * 0.37));
  const expected: Record<string, [number[], number[]]> = {};
  for (const [k, h] of model.heads) {
    const { probs, weights } = predictWindows(h, tf.tensor3d(windows, [1, 6, 32]));
    expected[k] = [Array.from(probs.dataSync()), Array.from(weights.dataSync())];
  }
  const clipsFile = join(dir, 'clip.bin');
  const windowsFile = join(dir, 'windows.bin');
  await writeFile(clipsFile, clip);
  await writeFile(windowsFile, new Uint8Array(windows.buffer));
  const childFile = join(process.cwd(), `.child-load-${process.pid}.mts`);
  await writeFile(childFile, CHILD);
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', childFile, dir, clipsFile, windowsFile], { maxBuffer: 1 << 24 });
    const got = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { feats: number[]; out: typeof expected };
    assert.deepEqual(got.feats, feats, 'backbone outputs differ after reload');
    assert.deepEqual(Object.keys(got.out).sort(), Object.keys(expected).sort());
    for (const k of Object.keys(expected)) assert.deepEqual(got.out[k], expected[k], `head ${k} differs after reload`);
  } finally {
    await import('node:fs/promises').then((fs) => fs.rm(childFile, { force: true }));
    model.dispose();
    tf.disposeVariables();
  }
});

test('embedder and window head load from a folder and keep tensors flat', async () => {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-model-'));
  const model = createClipwiseModel({ classes: ['background', 'a'], backbone: SMALL, head: { clips: 5, fusionDim: 8 }, heads: ['gcf'], seed: 5 });
  await saveClipwiseModel(model, dir);
  model.dispose();
  const embedder = await createEmbedder(dir);
  const head = await createWindowHead(dir);
  assert.equal(head.kind, 'gcf');
  const clip = clipBytes(2, 4 * 32 * 32 * 3);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 50; i++) {
    const f = await embedder.embed([clip, clip], { frames: 4, height: 32, width: 32 });
    assert.equal(f.length, 2 * 32);
    const r = await head.run([new Float32Array(5 * 32).fill(i / 50)]);
    assert.equal(r[0]?.probs.length, 2);
    assert.equal(r[0]?.weights.length, 5);
  }
  assert.equal(tf.memory().numTensors, before);
  embedder.dispose();
  head.dispose();
});

test('a missing, corrupt or mismatched model folder is a ModelLoadError saying what is wrong', async () => {
  await initRuntime({ backend: 'cpu' });
  const empty = await mkdtemp(join(tmpdir(), 'cw-model-'));
  await assert.rejects(loadManifest(empty), (e: unknown) => e instanceof ModelLoadError && /manifest\.json/.test(e.message));
  await writeFile(join(empty, 'manifest.json'), '{"format":"something-else"}');
  await assert.rejects(loadManifest(empty), (e: unknown) => e instanceof ModelLoadError && /not a clipwise model manifest/.test(e.message));

  const dir = await mkdtemp(join(tmpdir(), 'cw-model-'));
  const model = createClipwiseModel({ classes: ['background', 'a'], backbone: SMALL, head: { clips: 5, fusionDim: 8 }, heads: ['gcf'], seed: 5 });
  await saveClipwiseModel(model, dir);
  model.dispose();
  const weights = join(dir, 'heads', 'gcf', 'weights.bin');
  const bytes = await readFile(weights);
  await writeFile(weights, bytes.subarray(0, bytes.length - 8));
  await assert.rejects(loadClipwiseModel(dir), (e: unknown) => e instanceof ModelLoadError && /do not belong together/.test(e.message));
  await assert.rejects(loadClipwiseModel(dir, { heads: ['atw'] }), (e: unknown) => e instanceof ModelLoadError && /no 'atw' head/.test(e.message));
});

test('temporalDifference in the manifest: stored with the backbone config, absent in older manifests (read as off), served by the compiled embedder', async () => {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-model-tdiff-'));
  const model = createClipwiseModel({ classes: ['background', 'a'], backbone: { ...SMALL, temporalDifference: true }, head: { clips: 5, fusionDim: 8 }, heads: ['gcf'], seed: 5 });
  await saveClipwiseModel(model, dir);
  const clips = [clipBytes(3, 4 * 32 * 32 * 3), clipBytes(4, 4 * 32 * 32 * 3)];
  const x = preprocessClips(clips, 4, 32, 32);
  const want = embedClips(model.backbone, x);
  const wantValues = Array.from(want.dataSync());
  tf.dispose([x, want]);
  model.dispose();
  const manifest = await loadManifest(dir);
  assert.equal(manifest.backbone['temporalDifference'], true);
  const embedder = await createEmbedder(dir);
  const got = await embedder.embed(clips, { frames: 4, height: 32, width: 32 });
  let scale = 0;
  for (const v of wantValues) scale = Math.max(scale, Math.abs(v));
  wantValues.forEach((v, i) => assert.ok(Math.abs(v - (got[i] as number)) <= 1e-4 * scale, `descriptor ${i}: ${got[i]} vs ${v}`));
  embedder.dispose();

  // A manifest written before the field existed (as models/default 1.0.0) loads unchanged: no
  // difference layer, and its backbone config resolves to temporalDifference = false.
  const old = await mkdtemp(join(tmpdir(), 'cw-model-old-'));
  const plain = createClipwiseModel({ classes: ['background', 'a'], backbone: SMALL, head: { clips: 5, fusionDim: 8 }, heads: ['gcf'], seed: 5 });
  await saveClipwiseModel(plain, old);
  plain.dispose();
  const path = join(old, 'manifest.json');
  const json = JSON.parse(await readFile(path, 'utf8')) as { backbone: Record<string, unknown> };
  delete json.backbone['temporalDifference'];
  await writeFile(path, JSON.stringify(json));
  const loaded = await loadClipwiseModel(old);
  assert.ok(!loaded.backbone.layers.some((l) => l.name === 'bb_tdiff'));
  assert.equal(resolveBackboneConfig(manifestBackboneConfig(loaded.manifest)).temporalDifference, false);
  loaded.dispose();
  const oldEmbedder = await createEmbedder(old);
  assert.equal((await oldEmbedder.embed([clips[0] as Uint8Array], { frames: 4, height: 32, width: 32 })).length, 32);
  oldEmbedder.dispose();
});

test('resolveDetection: the first layer that sets a field wins, then the defaults', () => {
  const config = { classThreshold: 0.9, attentionThreshold: undefined, minEventClips: undefined };
  const manifest = { classThreshold: 0.4, attentionThreshold: 0.7, minEventClips: 2 };
  // clipwise run: the operator's config over the manifest, field by field.
  assert.deepEqual(resolveDetection(config, manifest), { classThreshold: 0.9, attentionThreshold: 0.7, minEventClips: 2 });
  // A manifest from before minEventClips (1.6.0) and no config: every event reported.
  assert.deepEqual(resolveDetection(config, { classThreshold: 0.4, attentionThreshold: 0.7 }), { classThreshold: 0.9, attentionThreshold: 0.7, minEventClips: 1 });
  assert.deepEqual(resolveDetection(undefined, undefined), DETECTION_DEFAULTS);
  // 0 is a setting, not a gap.
  assert.equal(resolveDetection({ attentionThreshold: 0 }, manifest).attentionThreshold, 0);
});
