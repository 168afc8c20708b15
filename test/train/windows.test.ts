import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionConfusion, actionTop1, type WindowPredictions } from '../../src/train/windows.ts';

const preds = (rows: number[][]): WindowPredictions => ({
  probs: Float32Array.from(rows.flat()),
  weights: new Float32Array(0),
  n: rows.length,
  classes: rows[0]?.length ?? 0,
  clips: 0,
});

test('actionConfusion counts argmax over the action classes per true class; actionTop1 is its diagonal', () => {
  // Class 0 is background: it wins window 0 outright but is skipped by the argmax.
  const p = preds([
    [0.7, 0.2, 0.1], // label 1 → 1
    [0.1, 0.3, 0.6], // label 1 → 2
    [0.2, 0.1, 0.7], // label 2 → 2
    [0.9, 0.05, 0.05], // label 0: not scored
  ]);
  const labels = [1, 1, 2, 0];
  assert.deepEqual(actionConfusion(p, labels), [
    [0, 0, 0],
    [0, 1, 1],
    [0, 0, 1],
  ]);
  assert.deepEqual(actionTop1(p, labels), { top1: 2 / 3, count: 3 });
  // Another background index moves the skipped row and column.
  assert.deepEqual(actionConfusion(p, [1, 1, 2, 0], 2), [
    [1, 0, 0],
    [1, 1, 0],
    [0, 0, 0],
  ]);
  assert.ok(Number.isNaN(actionTop1(p, [0, 0, 0, 0]).top1));
});
