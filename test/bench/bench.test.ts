import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTestModel } from '../support/model.ts';

const CLI = fileURLToPath(new URL('../../bin/clipwise.mjs', import.meta.url));

function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

test('clipwise bench runs a tiny configuration through the pipeline and writes the documented JSON fields', async () => {
  const model = await makeTestModel(); // 4 frames of 32×32 per clip
  const dir = await mkdtemp(join(tmpdir(), 'cw-bench-'));
  try {
    const out = join(dir, 'bench.json');
    const res = await runCli(['bench', '--json', out, '--cameras', '1,3', '--seconds', '2', '--warmup', '1', '--model', model, '--fps', '10', '--workers', '1', '--backend', 'wasm', '--no-decode']);
    assert.equal(res.code, 0, res.stderr);
    const r = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown> & { runs: Record<string, unknown>[] };
    // The fields.
    assert.equal(r['backend'], 'wasm');
    for (const k of ['backboneGflops', 'matmulGflops', 'headShare', 'overheadShare', 'realtimeCameras']) assert.ok(isNum(r[k]), `${k}: ${String(r[k])}`);
    const rss = r['rssMB'] as Record<string, unknown>;
    assert.ok(isNum(rss['start']) && isNum(rss['end']) && (rss['start'] as number) > 0);
    assert.deepEqual(r.runs.map((x) => x['cameras']), [1, 3]);
    for (const run of r.runs) {
      const clipsPerSec = run['clipsPerSec'] as number;
      assert.ok(isNum(clipsPerSec) && clipsPerSec > 0, `clips/s ${clipsPerSec}`);
      // 4 frames per clip in the test model.
      assert.ok(Math.abs((run['framesPerSec'] as number) - 4 * clipsPerSec) < 0.05);
      const lat = run['latencyMs'] as { p50: number; p99: number };
      assert.ok(isNum(lat.p50) && isNum(lat.p99) && lat.p50 <= lat.p99);
      const stages = run['stageMs'] as Record<string, number>;
      for (const k of ['decode', 'preprocess', 'backbone', 'head', 'tracker', 'sinks', 'overhead', 'total']) assert.ok(isNum(stages[k]), `stage ${k}`);
      const parts = Object.entries(stages).filter(([k]) => k !== 'total').reduce((s, [, v]) => s + v, 0);
      assert.ok(parts >= (stages['total'] as number) - 0.01, 'stages plus overhead account for the total CPU per clip');
      assert.ok((run['headShare'] as number) >= 0 && (run['headShare'] as number) <= 1);
      const tensors = run['tensors'] as { start: number; end: number };
      assert.ok(isNum(tensors.start) && isNum(tensors.end));
    }
    const realtime = r.runs.filter((x) => x['realtime'] === true).map((x) => x['cameras'] as number);
    assert.equal(r['realtimeCameras'], realtime.length ? Math.max(...realtime) : 0);
    // Backends side by side (tiny model: the cpu backend is quick here).
    const backends = r['backends'] as { backend: string; msPerClip: number }[];
    assert.deepEqual(backends.map((b) => b.backend).sort(), ['cpu', 'wasm']);
    assert.ok(isNum(r['backendRatio']) && (r['backendRatio'] as number) >= 1);
    // The table names every camera count.
    for (const n of [1, 3]) assert.match(res.stdout, new RegExp(`^\\|\\s+${n} \\|`, 'm'));
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(model, { recursive: true, force: true });
  }
});

test('clipwise bench --calls-per-worker runs each camera count once per value, side by side', async () => {
  const model = await makeTestModel();
  const dir = await mkdtemp(join(tmpdir(), 'cw-bench-'));
  try {
    const out = join(dir, 'bench.json');
    const res = await runCli(['bench', '--json', out, '--cameras', '2', '--calls-per-worker', '1,2', '--seconds', '2', '--warmup', '1', '--model', model, '--fps', '10', '--workers', '1', '--backend', 'wasm', '--no-decode', '--no-compare']);
    assert.equal(res.code, 0, res.stderr);
    const r = JSON.parse(await readFile(out, 'utf8')) as { runs: { cameras: number; callsPerWorker: number; clipsPerSec: number; realtime: boolean }[]; realtimeCameras: number; realtimeCamerasByCalls: { callsPerWorker: number; realtimeCameras: number }[] };
    assert.deepEqual(r.runs.map((x) => [x.cameras, x.callsPerWorker]), [[2, 1], [2, 2]]);
    for (const x of r.runs) assert.ok(x.clipsPerSec > 0);
    assert.deepEqual(r.realtimeCamerasByCalls.map((c) => c.callsPerWorker), [1, 2]);
    for (const c of r.realtimeCamerasByCalls) assert.equal(c.realtimeCameras, r.runs.some((x) => x.callsPerWorker === c.callsPerWorker && x.realtime) ? 2 : 0);
    assert.equal(r.realtimeCameras, r.realtimeCamerasByCalls[0]?.realtimeCameras);
    for (const k of [1, 2]) assert.match(res.stdout, new RegExp(`^\\|\\s+2 \\(${k}/w\\) \\|`, 'm'));
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(model, { recursive: true, force: true });
  }
});

test('clipwise bench refuses bad flags with exit code 2 before starting anything', async () => {
  const res = await runCli(['bench', '--cameras', '1,x', '--json', '/tmp/never.json']);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--cameras/);
  const badCalls = await runCli(['bench', '--calls-per-worker', '1,0', '--json', '/tmp/never.json']);
  assert.equal(badCalls.code, 2);
  assert.match(badCalls.stderr, /--calls-per-worker/);
  const noJson = await runCli(['bench', '--cameras', '1']);
  assert.equal(noJson.code, 2);
  assert.match(noJson.stderr, /--json/);
});
