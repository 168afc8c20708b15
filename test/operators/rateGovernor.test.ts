import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.ts';
import { createRateGovernor, type RateGovernorOptions } from '../../src/operators/rateGovernor.ts';

/** A governor on a fake clock and a fake queue the test moves by hand. */
function rig(opts: Partial<RateGovernorOptions> = {}) {
  const state = { t: 0, queued: 0 };
  const changes: string[] = [];
  const g = createRateGovernor({
    maxQueued: 40,
    highWater: 10,
    // Most tests drive the queue length by hand; the age signal has its own test.
    lagBudgetMs: 1e9,
    queued: () => state.queued,
    now: () => state.t,
    onChange: (cam, k, why) => changes.push(`${cam}=${k}:${why}`),
    ...opts,
  });
  /** Camera clips arrive every `everyMs` (each camera once per period) for `ms`, while inference (one call at a time) completes `done` clips per period. */
  const run = (cameras: readonly string[], everyMs: number, ms: number, done: number): void => {
    const end = state.t + ms;
    while (state.t < end) {
      state.t += everyMs;
      for (const c of cameras) {
        // A camera at factor k sends one clip every k periods.
        if (Math.round(state.t / everyMs) % g.factor(c) === 0) g.clipCut(c);
      }
      for (let i = 0; i < done; i++) g.clipDone(cameras[i % cameras.length] as string);
      if (done > 0) g.callDone(done, everyMs);
    }
  };
  return { g, state, changes, run };
}

test('no backlog: every camera keeps full rate', () => {
  const { g, run, changes } = rig();
  run(['a', 'b', 'c'], 100, 30_000, 3);
  assert.deepEqual(changes, []);
  assert.deepEqual([...g.factors().values()], [1, 1, 1]);
});

test('a backlog lowers the cameras that send the most clips, equal cameras to equal factors, enough to fit the measured capacity', () => {
  const { g, state, run, changes } = rig({ cooldownMs: 1000 });
  // Capacity: 20 clips/s (calls of 2 clips take 100 ms); 6 cameras send 10 clips/s each.
  state.queued = 5;
  run(['a', 'b', 'c', 'd', 'e', 'f'], 100, 3000, 2);
  assert.equal(changes.length, 0, 'a queue below high water changes nothing');
  const cap = g.capacity();
  assert.ok(cap !== undefined && Math.abs(cap - 20) < 1, `capacity measured ≈ 20 clips/s, got ${cap}`);
  state.queued = 10; // at high water (40 / 4)
  run(['a', 'b', 'c', 'd', 'e', 'f'], 100, 1000, 2);
  assert.ok(changes.length > 0 && changes.every((c) => c.endsWith(':overload')), 'rates were lowered');
  const factors = [...g.factors().values()];
  const demand = factors.reduce((s, k) => s + 10 / k, 0);
  assert.ok(demand <= 0.8 * 20 + 1e-9, `demand ${demand} fits 80% of capacity (factors ${factors})`);
  assert.ok(Math.max(...factors) - Math.min(...factors) <= 1, `max-min fair: ${factors}`);
});

test('a busy camera is lowered before quiet ones', () => {
  const { g, state } = rig({ cooldownMs: 0 });
  // 'busy' sends a clip every 50 ms, 'calm' every 500 ms; inference takes 100 ms per call of 3
  // clips (30 clips/s), so capacity is known when the backlog reaches high water.
  state.queued = 2;
  for (let t = 50; t <= 2000; t += 50) {
    state.t = t;
    g.clipCut('busy');
    if (t % 500 === 0) g.clipCut('calm');
    if (t % 100 === 0) {
      for (let i = 0; i < 3; i++) g.clipDone('busy');
      g.callDone(3, 100);
    }
  }
  assert.ok(g.capacity() !== undefined);
  state.queued = 10;
  g.clipCut('busy');
  assert.ok(g.factor('busy') > 1);
  assert.equal(g.factor('calm'), 1);
});

test('before capacity is measured, overload lowers every camera at the lowest factor one step', () => {
  const { g, state } = rig({ cooldownMs: 0 });
  for (let t = 100; t <= 1000; t += 100) {
    state.t = t;
    g.clipCut('a');
    g.clipCut('b');
  }
  state.queued = 10;
  g.clipCut('a');
  assert.equal(g.capacity(), undefined);
  assert.deepEqual([...g.factors().values()], [2, 2]);
});

test('lowering waits out the cooldown between steps, and a drop counts as overload below high water', () => {
  const { g, state } = rig({ cooldownMs: 2000 });
  for (let t = 100; t <= 1000; t += 100) {
    state.t = t;
    g.clipCut('a');
    g.clipCut('b');
  }
  state.queued = 1; // below high water
  g.clipCut('a');
  assert.deepEqual([...g.factors().values()], [1, 1]);
  g.clipDropped('a');
  assert.deepEqual([...g.factors().values()], [2, 2], 'a drop lowers rates');
  state.t += 500;
  g.clipDropped('b');
  assert.deepEqual([...g.factors().values()], [2, 2], 'not again inside the cooldown');
  state.t += 2000;
  g.clipDropped('b');
  assert.deepEqual([...g.factors().values()], [3, 3], 'again after it');
});

test('a clip waiting longer than the lag budget means behind; a burst that drains in time does not', () => {
  const { g, state } = rig({ lagBudgetMs: 1000, cooldownMs: 0 });
  // Every 500 ms four cameras cut a clip at once; all four finish 300 ms later.
  for (let k = 0; k < 10; k++) {
    state.t = k * 500;
    for (const c of ['a', 'b', 'c', 'd']) g.clipCut(c);
    state.t += 300;
    for (const c of ['a', 'b', 'c', 'd']) g.clipDone(c);
    g.callDone(4, 300);
  }
  assert.deepEqual([...g.factors().values()], [1, 1, 1, 1], 'bursts drain within the budget');
  // Now only half of each burst finishes: the backlog ages past the budget.
  for (let k = 10; k < 20 && [...g.factors().values()].every((f) => f === 1); k++) {
    state.t = k * 500;
    for (const c of ['a', 'b', 'c', 'd']) g.clipCut(c);
    state.t += 300;
    for (const c of ['a', 'b']) g.clipDone(c);
  }
  assert.ok([...g.factors().values()].some((f) => f > 1), 'a growing backlog lowers rates');
});

test('factors never exceed maxFactor', () => {
  const { g, state, run } = rig({ maxFactor: 3, cooldownMs: 0 });
  state.queued = 40;
  run(['a', 'b'], 10, 5000, 0);
  assert.deepEqual([...g.factors().values()], [3, 3]);
});

test('after inference stays quiet for recoverMs, rates come back, largest factors first, only as far as the predicted load fits', () => {
  const { g, state, run, changes } = rig({ cooldownMs: 500, recoverMs: 5000 });
  // Overload: 4 cameras × 10 clips/s against 20 clips/s.
  state.queued = 12;
  run(['a', 'b', 'c', 'd'], 100, 4000, 2);
  const lowered = [...g.factors().values()];
  assert.ok(lowered.every((k) => k >= 2), `all lowered: ${lowered}`);
  changes.length = 0;
  // Quiet: the queue is empty, inference keeps up.
  state.queued = 0;
  run(['a', 'b', 'c', 'd'], 100, 4000, 2);
  assert.equal(changes.length, 0, 'nothing before recoverMs');
  run(['a', 'b', 'c', 'd'], 100, 1100, 2);
  const firstRecovery = changes.length;
  assert.ok(firstRecovery >= 2, `one quiet period gives back several steps at once: ${changes}`);
  run(['a', 'b', 'c', 'd'], 100, 40_000, 2);
  assert.ok(changes.every((c) => c.endsWith(':recover')));
  const factors = [...g.factors().values()];
  const demand = factors.reduce((s, k) => s + 10 / k, 0);
  assert.ok(demand <= 0.8 * 20 + 1e-9, `recovery stops while the load fits 80% of capacity: ${factors} → ${demand}`);
  // 4 cameras at 10 clips/s can never all return to full rate on 20 clips/s.
  assert.ok(factors.some((k) => k > 1));
});

test('capacity follows the recent time per clip of inference calls, times the calls that run at once', () => {
  const { g } = rig({ concurrency: 2 });
  assert.equal(g.capacity(), undefined);
  for (let i = 0; i < 50; i++) g.callDone(4, 100); // 25 ms per clip, two at a time
  assert.ok(Math.abs((g.capacity() as number) - 80) < 1e-6);
  for (let i = 0; i < 60; i++) g.callDone(4, 200); // the machine got busier: 50 ms per clip
  assert.ok(Math.abs((g.capacity() as number) - 40) < 1, `follows: ${g.capacity()}`);
  g.callDone(0, 100); // ignored
  g.callDone(2, Number.NaN);
  assert.ok(Math.abs((g.capacity() as number) - 40) < 1);
});

test('bad options are ConfigErrors', () => {
  assert.throws(() => createRateGovernor({ maxQueued: 0, queued: () => 0 }), ConfigError);
  assert.throws(() => createRateGovernor({ maxQueued: 8, queued: () => 0, headroom: 2 }), ConfigError);
});
