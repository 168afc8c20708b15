import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { foldBatchNorm } from '../../src/model/backbone.ts';
import { loadManifest, manifestBackboneConfig } from '../../src/model/clipModel.ts';
import { compileInferenceBackbone } from '../../src/model/fastBackbone.ts';
import { loadLayersModel } from '../../src/model/io.ts';
import { createInferencePool } from '../../src/topology/inference/pool.ts';
import type { DecodedVideo } from '../../src/train/decode.ts';
import { videoFeatures, videoFeaturesOnPool } from '../../src/train/features.ts';
import { makeTestModel } from '../support/model.ts';

/** A decoded video of `count` frames whose pixels differ from frame to frame. */
function video(count: number, size: number): DecodedVideo {
  const frameBytes = size * size * 3;
  const frames = new Uint8Array(count * frameBytes);
  for (let i = 0; i < frames.length; i++) frames[i] = (i * 13 + Math.floor(i / frameBytes) * 57) & 255;
  return { frames, count, size, frameBytes };
}

test('descriptors from the inference pool equal the calling thread\'s, clip for clip, and leave the video intact', async () => {
  const dir = await makeTestModel({ backboneSeed: 3 });
  const manifest = await loadManifest(dir);
  const cfg = manifestBackboneConfig(manifest);
  const layers = await loadLayersModel(join(dir, 'backbone'));
  const served = compileInferenceBackbone(layers, cfg) ?? (await foldBatchNorm(layers));
  // 75 frames of 4-frame clips at stride 4: 18 clips, so 3 batches of 8 with a partial last one,
  // spread over two workers and returned out of order.
  const v = video(75, manifest.clip.size);
  const before = v.frames.slice();
  const timing = { fps: manifest.clip.fps, frames: manifest.clip.frames, stride: manifest.clip.stride };
  const pool = await createInferencePool({ modelDir: dir, backend: 'wasm', workers: 2 });
  try {
    const want = await videoFeatures(served, v, timing, 1);
    const got = await videoFeaturesOnPool(pool, v, timing, 1);
    assert.equal(got.count, 18);
    assert.equal(got.dim, want.dim);
    assert.equal(got.offset, 1);
    assert.deepEqual(Array.from(got.features), Array.from(want.features));
    // Clip j really is frames offset + j·stride … (no all-equal descriptors hiding a wrong slice).
    assert.notDeepEqual(Array.from(got.features.subarray(0, got.dim)), Array.from(got.features.subarray(got.dim, 2 * got.dim)));
    assert.deepEqual(v.frames, before, 'the decoded frames were copied, not transferred or changed');
  } finally {
    await pool.close();
    served.dispose();
    layers.dispose();
  }
});
