import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.ts';
import { DEFAULT_TRAIN_OPTIONS, QUICK_TRAIN_OPTIONS, trainModel, validateTrainOptions, type TrainOptions } from '../../src/train/trainModel.ts';

const base: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, data: '/nonexistent/clipwise-data', out: '/nonexistent/clipwise-model' };

test('validateTrainOptions: the defaults and the quick settings pass', () => {
  validateTrainOptions(base);
  validateTrainOptions({ ...base, ...QUICK_TRAIN_OPTIONS });
  validateTrainOptions({ ...base, nearActionNegatives: 1, falseAlarmBudget: 0, headNoise: 0 });
});

test('validateTrainOptions: every bad option is named in one ConfigError', () => {
  const bad: TrainOptions = { ...base, epochs: 0, workers: 1.5, learningRate: Number.NaN, nearActionNegatives: 1.5, valFraction: 1, falseAlarmBudget: -1 };
  assert.throws(
    () => validateTrainOptions(bad),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.path).sort(),
        ['epochs', 'falseAlarmBudget', 'learningRate', 'nearActionNegatives', 'valFraction', 'workers'],
      );
      assert.match(err.message, /epochs must be a whole number ≥ 1, got 0/);
      assert.match(err.message, /nearActionNegatives must be between 0 and 1, got 1\.5/);
      return true;
    },
  );
});

test('trainModel rejects bad options before it loads the data (the error is about the option, not the missing folder)', async () => {
  await assert.rejects(trainModel({ ...base, headSteps: 0 }), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.deepEqual(err.issues.map((i) => i.path), ['headSteps']);
    return true;
  });
});
