import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BACKOFF, createBackoff, retryAsync, sleep } from '../src/retry.ts';
import { ClipwiseError } from '../src/errors.ts';

test('without jitter, delays grow by the factor from initialMs and stop at maxMs', () => {
  const backoff = createBackoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
  const delays = Array.from({ length: 7 }, () => backoff.next());
  const expected = Array.from({ length: 7 }, (_, n) => Math.min(1000, 100 * 2 ** n));
  assert.deepEqual(delays, expected);
  assert.equal(backoff.attempt, 7);
});

test('reset starts the sequence over', () => {
  const backoff = createBackoff({ initialMs: 50, maxMs: 10_000, factor: 3, jitter: 0 });
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.next(), 50);
});

test('jitter spreads each delay within ±jitter of the base and never past maxMs', () => {
  const base = 400;
  const low = createBackoff({ initialMs: base, maxMs: 1000, jitter: 0.25, random: () => 0 });
  const high = createBackoff({ initialMs: base, maxMs: 1000, jitter: 0.25, random: () => 0.999999 });
  assert.equal(low.next(), base * 0.75);
  assert.equal(high.next(), Math.round(base * (1 + 0.25 * (2 * 0.999999 - 1))));
  // Second step: base 800, +25 % would be 1000 → clamped to maxMs.
  assert.equal(high.next(), 1000);

  let seed = 1;
  const lcg = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const noisy = createBackoff({ initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5, random: lcg });
  const seen = new Set<number>();
  for (let n = 0; n < 12; n += 1) {
    const nominal = Math.min(5000, 100 * 2 ** n);
    const delay = noisy.next();
    seen.add(delay);
    assert.ok(delay >= Math.floor(nominal * 0.5) && delay <= Math.min(5000, Math.ceil(nominal * 1.5)), `delay ${delay} for nominal ${nominal}`);
  }
  assert.ok(seen.size > 5, 'jitter should vary delays');
});

test('defaults are documented in one place and used when nothing is passed', () => {
  const backoff = createBackoff({ random: () => 0.5 });
  assert.equal(backoff.next(), DEFAULT_BACKOFF.initialMs);
  assert.equal(backoff.next(), DEFAULT_BACKOFF.initialMs * DEFAULT_BACKOFF.factor);
  assert.ok(Object.isFrozen(DEFAULT_BACKOFF));
});

test('long outages do not overflow: the delay stays at maxMs', () => {
  const backoff = createBackoff({ initialMs: 1, maxMs: 30_000, factor: 10, jitter: 0 });
  let last = 0;
  for (let n = 0; n < 2000; n += 1) last = backoff.next();
  assert.equal(last, 30_000);
});

test('invalid settings are rejected with a typed error', () => {
  assert.throws(() => createBackoff({ initialMs: -1 }), ClipwiseError);
  assert.throws(() => createBackoff({ initialMs: 100, maxMs: 50 }), ClipwiseError);
  assert.throws(() => createBackoff({ factor: 0.5 }), ClipwiseError);
  assert.throws(() => createBackoff({ jitter: 1.5 }), ClipwiseError);
});

test('retryAsync retries failures with backoff and returns the first success', async () => {
  const retries: number[] = [];
  let calls = 0;
  const value = await retryAsync(
    async (attempt) => {
      calls += 1;
      if (attempt < 2) throw new Error(`transient ${attempt}`);
      return attempt * 10;
    },
    { retries: 5, backoff: { initialMs: 1, maxMs: 4, jitter: 0 }, onRetry: (info) => retries.push(info.delayMs) },
  );
  assert.equal(value, 20);
  assert.equal(calls, 3);
  assert.deepEqual(retries, [1, 2]);
});

test('retryAsync gives up after the retry budget with the last error', async () => {
  let calls = 0;
  await assert.rejects(
    retryAsync(
      async () => {
        calls += 1;
        throw new Error(`failure ${calls}`);
      },
      { retries: 2, backoff: { initialMs: 0, jitter: 0 } },
    ),
    /failure 3/,
  );
  assert.equal(calls, 3);
});

test('retryAsync does not retry a non-retriable ClipwiseError but does retry a retriable one', async () => {
  let calls = 0;
  await assert.rejects(
    retryAsync(async () => {
      calls += 1;
      throw new ClipwiseError('bad config', { retriable: false });
    }, { backoff: { initialMs: 0 } }),
    /bad config/,
  );
  assert.equal(calls, 1);

  calls = 0;
  const result = await retryAsync(async () => {
    calls += 1;
    if (calls === 1) throw new ClipwiseError('broker down', { retriable: true });
    return 'ok';
  }, { backoff: { initialMs: 0 } });
  assert.equal(result, 'ok');
  assert.equal(calls, 2);
});

test('an abort during the wait stops retrying and clears the timer', async () => {
  const controller = new AbortController();
  const pending = retryAsync(
    async () => {
      throw new Error('down');
    },
    { retries: 100, backoff: { initialMs: 60_000, maxMs: 60_000 }, signal: controller.signal, onRetry: () => controller.abort(new Error('shutdown')) },
  );
  // A 60 s timer left behind would keep this test process alive past its end.
  await assert.rejects(pending, /shutdown/);
  await assert.rejects(sleep(10, AbortSignal.abort(new Error('already'))), /already/);
});
