import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { initRuntime } from '../../src/model/runtime.ts';
import { createClipwiseModel } from '../../src/model/clipModel.ts';
import { modelInfo } from '../../src/cli/modelInfo.ts';
import { HEAD_KINDS } from '../../src/model/heads.ts';

const run = promisify(execFile);

test('clipwise model-info --json prints backbone and head complexity in the documented shape', async () => {
  const { stdout } = await run(process.execPath, ['bin/clipwise.mjs', 'model-info', '--json'], { maxBuffer: 1 << 22 });
  const info = JSON.parse(stdout) as {
    backbone: { params: number; mflopsPerClip: number };
    heads: Record<string, { params: number; mflops: number }>;
    window: { clips: number };
    paperConfig: { heads: Record<string, { params: number; mflops: number }>; window: { clips: number } };
  };
  assert.ok(info.backbone.params > 10_000 && info.backbone.mflopsPerClip > 1);
  assert.deepEqual(Object.keys(info.heads).sort(), [...HEAD_KINDS].sort());
  assert.equal(info.window.clips, 10);
  // The paper configuration lands near gcf-net Table 3 (0.86 M params, 15 MFLOPs).
  const gcf = info.paperConfig.heads.gcf;
  assert.ok(gcf && Math.abs(gcf.params - 860_000) / 860_000 < 0.05, `paper-config GCF params ${gcf?.params}`);
  assert.ok(gcf && Math.abs(gcf.mflops - 15) / 15 < 0.1, `paper-config GCF MFLOPs ${gcf?.mflops}`);
});

test('model-info params equal what tfjs counts on the built models', async () => {
  await initRuntime({ backend: 'cpu' });
  const backbone = { frames: 4, size: 32, dim: 32, widthMultiplier: 0.5 };
  const model = createClipwiseModel({ classes: ['background', 'a', 'b'], backbone, head: { clips: 6, fusionDim: 16 } });
  const info = modelInfo(backbone, { inputDim: 32, numClasses: 3, clips: 6, fusionDim: 16 });
  assert.equal(info.backbone.params, model.backbone.countParams());
  for (const [k, h] of model.heads) assert.equal(info.heads[k].params, h.countParams(), k);
  model.dispose();
});
