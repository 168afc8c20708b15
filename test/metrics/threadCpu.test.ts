import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { threadCpuMs } from '../../src/metrics/threadCpu.ts';

test('threadCpuMs counts this thread\'s CPU: it grows while the thread computes, not while it sleeps', { skip: !existsSync('/proc/thread-self/schedstat') && 'no /proc/thread-self (not Linux)' }, async () => {
  const busy0 = threadCpuMs() as number;
  let x = 0;
  const end = performance.now() + 80;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  const busy = (threadCpuMs() as number) - busy0;
  const sleep0 = threadCpuMs() as number;
  await new Promise((r) => setTimeout(r, 80));
  const slept = (threadCpuMs() as number) - sleep0;
  assert.ok(Number.isFinite(x));
  assert.ok(busy > 0, `busy loop used ${busy} ms of CPU`);
  assert.ok(slept < busy, `sleeping used ${slept} ms, computing ${busy} ms`);
});
