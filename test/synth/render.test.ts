import { test } from 'node:test';
import assert from 'node:assert/strict';
import { personStateAt } from '../../src/synth/actors.ts';
import { project } from '../../src/synth/camera.ts';
import { planVideo } from '../../src/synth/plan.ts';
import { hashSeed } from '../../src/synth/prng.ts';
import { createVideoRenderer, renderVideoFrames, shakeAt, videoFrames } from '../../src/synth/render.ts';
import { JOINT_NAMES } from '../../src/synth/skeleton.ts';
import type { VideoSpec } from '../../src/synth/spec.ts';

const quick = { quick: true, emptyFraction: 0 } as const;

function firstWithInstance(seed0: number, extra: object = {}): VideoSpec {
  for (let i = 0; i < 50; i++) {
    const v = planVideo(hashSeed(seed0, i), { ...quick, ...extra });
    if (v.instances.length > 0) return v;
  }
  throw new Error('no video with an instance');
}

test('same spec renders identical bytes; another seed renders different ones', () => {
  const spec = firstWithInstance(11);
  const a = createVideoRenderer(spec);
  const b = createVideoRenderer(planVideo(spec.seed, quick));
  const idx = [0, Math.floor(spec.frameCount / 2), spec.frameCount - 1];
  for (const i of idx) assert.deepEqual(a.renderFrame(i), b.renderFrame(i));
  const other = createVideoRenderer(planVideo(spec.seed + 1, quick));
  for (const i of idx) assert.notDeepEqual(other.renderFrame(i), a.renderFrame(i));
  assert.equal(a.renderFrame(0).length, spec.width * spec.height * 3);
  assert.throws(() => a.renderFrame(spec.frameCount), RangeError);
});

test('random access equals sequential rendering (videoFrames, renderVideoFrames)', async () => {
  const spec = firstWithInstance(12);
  const seq = [...videoFrames(spec, { start: 3, end: 9 })];
  assert.equal(seq.length, 6);
  const fresh = createVideoRenderer(spec);
  assert.deepEqual(fresh.renderFrame(7), seq[4]);
  assert.deepEqual(fresh.renderFrame(3), seq[0]);
  const viaCallback: Uint8Array[] = [];
  await renderVideoFrames(spec, (f, i) => {
    assert.equal(i, 3 + viaCallback.length);
    viaCallback.push(f.slice());
  }, { start: 3, end: 9 });
  assert.deepEqual(viaCallback, seq);
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  await assert.rejects(renderVideoFrames(spec, () => undefined, { signal: ac.signal }), /stop/);
});

test('the actor changes pixels only where the figure (and its shadow) is', () => {
  let checked = 0;
  for (let i = 0; checked < 6 && i < 60; i++) {
    const spec = { ...planVideo(hashSeed(13, i), quick), shake: [] };
    spec.instances.forEach((inst, k) => {
      const actor = spec.people.find((p) => p.instance === k);
      assert.ok(actor !== undefined);
      const without: VideoSpec = { ...spec, people: spec.people.filter((p) => p !== actor) };
      const frame = Math.floor(((inst.start + inst.end) / 2) * spec.fps);
      const a = createVideoRenderer(spec).renderFrame(frame);
      const b = createVideoRenderer(without).renderFrame(frame);
      const s = personStateAt(actor, frame / spec.fps);
      assert.ok(s !== undefined);
      // Box around the projected joints, widened by the thickest limb and the shadow.
      let x0 = Infinity;
      let x1 = -Infinity;
      let y0 = Infinity;
      let y1 = -Infinity;
      const take = (X: number, Y: number, Z: number): void => {
        const p = project(spec.camera, X, Y, Z);
        const r = (spec.camera.focal * 0.15) / p.depth + 2;
        x0 = Math.min(x0, p.x - r);
        x1 = Math.max(x1, p.x + r);
        y0 = Math.min(y0, p.y - r);
        y1 = Math.max(y1, p.y + r);
      };
      for (const j of JOINT_NAMES) {
        const q = s.skeleton.joints[j];
        take(q.x, q.y, q.z);
        take(q.x - 0.4, 0, q.z - 0.4);
        take(q.x + 0.4, 0, q.z + 0.4);
      }
      let changed = 0;
      for (let p = 0; p < a.length; p += 3) {
        if (a[p] === b[p] && a[p + 1] === b[p + 1] && a[p + 2] === b[p + 2]) continue;
        changed++;
        const x = (p / 3) % spec.width;
        const y = Math.floor(p / 3 / spec.width);
        assert.ok(x >= x0 - 1 && x <= x1 + 1 && y >= y0 - 1 && y <= y1 + 1, `change at ${x},${y} outside [${x0},${x1}]x[${y0},${y1}]`);
      }
      const boxArea = (Math.min(spec.width, x1) - Math.max(0, x0)) * (Math.min(spec.height, y1) - Math.max(0, y0));
      assert.ok(changed >= 15, `only ${changed} pixels changed`);
      assert.ok(changed < boxArea, 'the figure is thinner than its box');
      checked++;
    });
  }
  assert.ok(checked >= 6);
});

test('sensor noise has the requested standard deviation', () => {
  const base = planVideo(hashSeed(14, 0), quick);
  const clean = createVideoRenderer({ ...base, noise: 0 }).renderFrame(4);
  const noisy = createVideoRenderer({ ...base, noise: 6 }).renderFrame(4);
  let n = 0;
  let sum = 0;
  let sum2 = 0;
  for (let i = 0; i < clean.length; i++) {
    const c = clean[i] ?? 0;
    // Clipping near black and white would shrink the spread: skip those pixels.
    if (c < 30 || c > 225) continue;
    const d = (noisy[i] ?? 0) - c;
    n++;
    sum += d;
    sum2 += d * d;
  }
  const mean = sum / n;
  const std = Math.sqrt(sum2 / n - mean * mean);
  assert.ok(Math.abs(mean) < 0.3, `noise mean ${mean}`);
  assert.ok(Math.abs(std - 6) < 0.6, `noise std ${std}`);
  // Noise changes from frame to frame.
  const r = createVideoRenderer({ ...base, noise: 6 });
  assert.notDeepEqual(r.renderFrame(5), createVideoRenderer({ ...base, noise: 6 }).renderFrame(4));
});

test('camera shake shifts the whole image', () => {
  const base = planVideo(hashSeed(15, 0), { ...quick, noise: 0 });
  const episode = { t0: 0, t1: base.durationSeconds, amp: 6, fx: 2.3, fy: 3.1, phase: 0.7 };
  let frame = -1;
  let shift = { dx: 0, dy: 0 };
  for (let i = 1; i < base.frameCount; i++) {
    shift = shakeAt([episode], i / base.fps);
    if (shift.dx !== 0 && shift.dy !== 0) {
      frame = i;
      break;
    }
  }
  assert.ok(frame > 0);
  const still = createVideoRenderer({ ...base, shake: [] }).renderFrame(frame);
  const shaken = createVideoRenderer({ ...base, shake: [episode] }).renderFrame(frame);
  assert.notDeepEqual(shaken, still);
  const W = base.width;
  for (let y = 10; y < base.height - 10; y += 7) {
    for (let x = 10; x < W - 10; x += 5) {
      const p = (y * W + x) * 3;
      const q = ((y - shift.dy) * W + (x - shift.dx)) * 3;
      assert.equal(shaken[p], still[q]);
    }
  }
});
