import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSynth } from '../../src/synth/runSynth.ts';

const dir = mkdtempSync(join(tmpdir(), 'clipwise-train-signal-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} stops \`clipwise train\` in the middle of stage 1 with a resume hint and exit code 130`, async () => {
    const data = join(dir, `data-${signal}`);
    await runSynth({ out: data, videos: 2, seed: 3, quick: true, emptyFraction: 0, minInstances: 1, maxInstances: 1 }, () => undefined);
    // One endless epoch: no checkpoint I/O at an epoch's end can let the signal in instead.
    const child = spawn(process.execPath, ['bin/clipwise.mjs', 'train', '--data', data, '--out', join(dir, `model-${signal}`), '--quick', '--epochs', '1', '--steps-per-epoch', '100000'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let sent = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (!sent && stderr.includes('stage 1 backbone')) {
        sent = true;
        child.kill(signal);
      }
    });
    // A liveness bound, not a timing claim: before the fix the process never exited on its own.
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(watchdog);
    assert.ok(sent, `stage 1 started:\n${stderr.slice(-2000)}`);
    assert.equal(code, 130, stderr.slice(-2000));
    assert.match(stderr, /interrupted; .*--resume/);
    assert.doesNotMatch(stderr, /stage 1 epoch 1\/1/, 'stopped inside the epoch');
  });
}
