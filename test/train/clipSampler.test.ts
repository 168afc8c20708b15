import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClipSampler, isNearAction, NEAR_ACTION_SECONDS, type LabelledVideo } from '../../src/train/clipSampler.ts';
import type { Instance } from '../../src/train/dataset.ts';
import { ConfigError } from '../../src/errors.ts';
import { createRng } from '../../src/synth/prng.ts';

const timing = { fps: 5, frames: 8, stride: 8 };
const wave = (start: number, end: number): Instance => ({ class: 'wave', classIndex: 1, start, end });

/** A 2×2 video of `count` frames whose every pixel holds its frame index: a clip's first value is its start frame. */
function indexedVideo(count: number, instances: readonly Instance[]): LabelledVideo {
  const size = 2;
  const frameBytes = size * size * 3;
  const frames = new Uint8Array(count * frameBytes);
  for (let f = 0; f < count; f++) frames.fill(f, f * frameBytes, (f + 1) * frameBytes);
  return { decoded: { frames, count, size, frameBytes }, instances };
}

/** Start frames of the background clips in `batches` batches of 16. */
function backgroundStarts(share: number, batches: number): number[] {
  // 200 frames = 40 s; one wave at 20–24 s. Background weight 1000: nearly every draw is background.
  const video = indexedVideo(200, [wave(20, 24)]);
  const sampler = createClipSampler([video], timing, 2, { backgroundWeight: 1000, nearActionShare: share });
  const clipValues = timing.frames * 2 * 2 * 3;
  const starts: number[] = [];
  for (let b = 0; b < batches; b++) {
    const batch = sampler.batch(createRng(100 + b), 16, false);
    for (let i = 0; i < batch.n; i++) if (batch.labels[i] === 0) starts.push(batch.x[i * clipValues] as number);
  }
  return starts;
}

const nearWave = (f: number): boolean => isNearAction([wave(20, 24)], f / 5, (f + 8) / 5);

test('isNearAction: within NEAR_ACTION_SECONDS of an instance, either side, and not overlapping it', () => {
  assert.equal(NEAR_ACTION_SECONDS, 3);
  const inst = [wave(20, 24)];
  assert.equal(isNearAction(inst, 17, 18.6), true); // ends 1.4 s before
  assert.equal(isNearAction(inst, 15.4, 17), true); // ends exactly 3 s before
  assert.equal(isNearAction(inst, 15, 16.6), false); // 3.4 s before
  assert.equal(isNearAction(inst, 24, 25.6), true); // starts as the instance ends
  assert.equal(isNearAction(inst, 27.2, 28.8), false); // 3.2 s after
  assert.equal(isNearAction(inst, 19, 20.6), false); // overlaps the instance's start
  assert.equal(isNearAction([], 0, 1.6), false);
  // Overlapping one instance rules a clip out even when another is near.
  assert.equal(isNearAction([wave(10, 12), wave(13, 20)], 12.5, 14.1), false);
});

test('nearActionShare 1 draws every background clip from around the instance; 0 draws from the whole video', () => {
  const near = backgroundStarts(1, 20);
  assert.ok(near.length > 250, `background draws: ${near.length}`);
  const notNear = near.filter((f) => !nearWave(f));
  assert.deepEqual(notNear, [], 'every background clip near the wave');
  // Both sides of the instance are drawn: the approach and the departure.
  assert.ok(near.some((f) => f < 100) && near.some((f) => f >= 120));

  const uniform = backgroundStarts(0, 20);
  const uniformNear = uniform.filter(nearWave).length / uniform.length;
  // Near clips are 32 of 172 background starts (19%) here: uniform draws land there that often.
  assert.ok(uniformNear > 0.08 && uniformNear < 0.3, `uniform near share ${uniformNear}`);

  const half = backgroundStarts(0.5, 20);
  const halfNear = half.filter(nearWave).length / half.length;
  // 0.5 + 0.5 · 19% ≈ 59%.
  assert.ok(halfNear > 0.48 && halfNear < 0.7, `half near share ${halfNear}`);
});

test('sampler counts the near-action clips and rejects a share outside 0–1', () => {
  const video = indexedVideo(200, [wave(20, 24)]);
  const sampler = createClipSampler([video], timing, 2, { nearActionShare: 0.5 });
  let expected = 0;
  for (let f = 0; f + 8 <= 200; f++) if (nearWave(f)) expected++;
  assert.equal(sampler.nearAction, expected);
  assert.equal(createClipSampler([video], timing, 2).nearAction, 0, 'not indexed without a share');
  assert.throws(() => createClipSampler([video], timing, 2, { nearActionShare: 1.5 }), ConfigError);
  assert.throws(() => createClipSampler([video], timing, 2, { nearActionShare: Number.NaN }), ConfigError);
});
