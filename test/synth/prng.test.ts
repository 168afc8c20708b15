import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, hashSeed } from '../../src/synth/prng.ts';

test('prng: deterministic, seed-sensitive, uniform enough, hashSeed mixes', () => {
  const a = createRng(42);
  const b = createRng(42);
  const xs = Array.from({ length: 2000 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 2000 }, () => b.next()));
  const c = createRng(43);
  assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, () => c.next()));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.03);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const n = createRng(1);
  const zs = Array.from({ length: 4000 }, () => n.normal(0, 2));
  const m = zs.reduce((s, x) => s + x, 0) / zs.length;
  const sd = Math.sqrt(zs.reduce((s, x) => s + (x - m) ** 2, 0) / zs.length);
  assert.ok(Math.abs(m) < 0.1 && Math.abs(sd - 2) < 0.1, `normal ${m} ${sd}`);
  const ints = new Set(Array.from({ length: 500 }, () => n.int(1, 4)));
  assert.deepEqual([...ints].sort(), [1, 2, 3, 4]);
  assert.notEqual(hashSeed(1, 2), hashSeed(2, 1));
  assert.notEqual(hashSeed(1), hashSeed(1, 0));
  assert.equal(hashSeed(7, 9), hashSeed(7, 9));
});
