import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initRuntime, BACKEND_PACKAGES } from '../../src/model/runtime.ts';
import { BackendUnavailableError } from '../../src/errors.ts';

test('auto falls back past missing native packages to wasm and logs the choice', async () => {
  const logs: string[] = [];
  const rt = await initRuntime({
    backend: 'auto',
    logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
    importPackage: async (name) => {
      if (name.startsWith('@tensorflow/tfjs-node')) throw new Error(`Cannot find package '${name}'`);
      return import(name);
    },
  });
  assert.equal(rt.backend, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(
    rt.attempts.map((a) => a.backend),
    ['tensorflow-gpu', 'tensorflow', 'wasm'],
  );
  assert.match(logs.join('\n'), /tensor backend: wasm — skipped tensorflow-gpu/);
});

test('an explicit missing backend is a clear error naming the package', async () => {
  await assert.rejects(
    initRuntime({
      backend: 'tensorflow',
      importPackage: async (name) => {
        throw new Error(`Cannot find package '${name}'`);
      },
    }),
    (err: unknown) => {
      assert.ok(err instanceof BackendUnavailableError);
      assert.equal(err.packageName, BACKEND_PACKAGES.tensorflow);
      assert.match(err.message, /npm install @tensorflow\/tfjs-node/);
      return true;
    },
  );
});

test('cpu and wasm both initialise and compute the same matMul', async () => {
  const a = [1, 2, 3, 4];
  const results: number[][] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    const rt = await initRuntime({ backend });
    assert.equal(rt.backend, backend);
    const out = tf.tidy(() => tf.matMul(tf.tensor2d(a, [2, 2]), tf.tensor2d(a, [2, 2])));
    results.push(Array.from(await out.data()));
    out.dispose();
  }
  assert.deepEqual(results[0], [7, 10, 15, 22]);
  assert.deepEqual(results[1], results[0]);
});
