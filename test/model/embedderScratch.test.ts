import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initRuntime } from '../../src/model/runtime.ts';
import { createClipwiseModel, createEmbedder, saveClipwiseModel } from '../../src/model/clipModel.ts';

const SHAPE = { frames: 4, height: 32, width: 32 } as const;
const LEN = SHAPE.frames * SHAPE.height * SHAPE.width * 3;

function clipBytes(seed: number): Uint8Array {
  const out = new Uint8Array(LEN);
  let s = seed;
  for (let i = 0; i < LEN; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

// The wasm embedder reuses one float buffer across calls: a call's descriptors must not depend
// on what an earlier (larger or smaller) batch left in it.
test('wasm embedder: descriptors do not depend on earlier calls (reused input buffer)', async () => {
  await initRuntime({ backend: 'wasm' });
  const dir = await mkdtemp(join(tmpdir(), 'cw-scratch-'));
  const model = createClipwiseModel({ classes: ['background', 'a'], backbone: { frames: 4, size: 32, dim: 16, widthMultiplier: 0.25 }, head: { clips: 3, fusionDim: 8 }, heads: ['gcf'], seed: 2 });
  await saveClipwiseModel(model, dir);
  model.dispose();
  const fresh = await createEmbedder(dir);
  const [a, b, c] = [clipBytes(1), clipBytes(2), clipBytes(3)];
  const wantC = await fresh.embed([c], SHAPE);
  const wantAB = await fresh.embed([a, b], SHAPE);
  fresh.dispose();

  const embedder = await createEmbedder(dir);
  const tensors = tf.memory().numTensors;
  const ab1 = await embedder.embed([a, b], SHAPE);
  const c1 = await embedder.embed([c], SHAPE); // smaller batch after a larger one
  const cab = await embedder.embed([c, a, b], SHAPE); // larger batch: the buffer grows
  const ab2 = await embedder.embed([a, b], SHAPE);
  assert.deepEqual(Array.from(ab1), Array.from(wantAB));
  assert.deepEqual(Array.from(c1), Array.from(wantC));
  assert.deepEqual(Array.from(cab), [...wantC, ...wantAB]);
  assert.deepEqual(Array.from(ab2), Array.from(wantAB));
  assert.equal(tf.memory().numTensors, tensors, 'no tensor left behind');
  embedder.dispose();
});
