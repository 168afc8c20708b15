import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const GUARD = pathToFileURL(join(import.meta.dirname, '../../src/cli/exitGuard.ts')).href;

/** Runs `body` in a fresh node process after arming the guard (code 3, 300 ms grace). */
function runChild(body: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const script = `import { exitIfStillRunning } from '${GUARD}';\n${body}\nexitIfStillRunning({ code: 3, graceMs: 300 });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  // A child the guard fails to end must not hang the suite: the harness kills it after 20 s.
  const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stderr });
    });
  });
}

test('a finished process held open by a leaked handle exits after the grace with its code and names what held it', async () => {
  // A ref'd interval and a listening socket: what a library forgetting to close would leave.
  const r = await runChild("setInterval(() => {}, 1000);\nimport('node:net').then((net) => net.createServer().listen(0, '127.0.0.1'));");
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /still running 0\.3 s after finishing; exiting with code 3/);
  assert.match(r.stderr, /"heldBy":\{[^}]*"Timeout":1/);
  assert.match(r.stderr, /"TCPServerWrap":1/);
});

test('a process that drains exits on its own at once: the guard neither holds it nor warns', async () => {
  const r = await runChild("process.exitCode = 0;\nsetTimeout(() => {}, 50);");
  // Code 0, not the guard's 3: had the guard's timer held the loop, it would have fired.
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});
