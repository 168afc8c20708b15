import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceError } from '../../../src/errors.ts';
import { createInferencePool } from '../../../src/topology/inference/pool.ts';
import type { Clip } from '../../../src/types.ts';
import { makeTestModel } from '../../support/model.ts';

function clip(cameraId: string, seed: number, frames = 4, size = 32): Clip {
  const data = new Uint8Array(frames * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 97) & 255;
  return { cameraId, startSeq: seed * 4, endSeq: seed * 4 + 3, startMs: 0, endMs: 800, segment: 0, frames, width: size, height: size, data };
}

test('worker threads compute the same descriptors as the inline backbone, and close cleanly', async () => {
  const model = await makeTestModel();
  const inline = await createInferencePool({ modelDir: model, backend: 'wasm', workers: 0 });
  const pool = await createInferencePool({ modelDir: model, backend: 'wasm', workers: 2 });
  try {
    assert.equal(pool.workers, 2);
    assert.equal(pool.dim, inline.dim);
    const batches = [[clip('a', 1), clip('b', 2)], [clip('a', 3)], [clip('c', 4), clip('c', 5), clip('a', 6)]];
    // Several batches in flight at once, spread over both workers.
    const got = await Promise.all(batches.map((b) => pool.infer(b.map((c) => ({ ...c, data: c.data.slice() })))));
    for (let i = 0; i < batches.length; i++) {
      const want = await inline.infer(batches[i] ?? []);
      assert.equal(got[i]?.length, want.length);
      for (let j = 0; j < want.length; j++) assert.deepEqual(Array.from(got[i]?.[j] ?? []), Array.from(want[j] ?? []));
    }
    assert.equal(pool.inFlight(), 0);
  } finally {
    await pool.close();
    await inline.close();
  }
  await assert.rejects(pool.infer([clip('a', 1)]), (e: unknown) => e instanceof InferenceError && /closed/.test(e.message));
});

test('a clip of the wrong size is an InferenceError naming its camera; the pool keeps working', async () => {
  const model = await makeTestModel();
  const pool = await createInferencePool({ modelDir: model, backend: 'wasm', workers: 1 });
  try {
    await assert.rejects(pool.infer([clip('gate', 1, 4, 16)]), (e: unknown) => {
      assert.ok(e instanceof InferenceError);
      assert.deepEqual(e.cameraIds, ['gate']);
      return true;
    });
    await assert.rejects(pool.infer([clip('a', 1), clip('b', 2, 4, 16)]), (e: unknown) => e instanceof InferenceError && /differ in shape/.test(e.message));
    const ok = await pool.infer([clip('a', 1)]);
    assert.equal(ok[0]?.length, pool.dim);
  } finally {
    await pool.close();
  }
});
