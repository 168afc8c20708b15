import { test } from 'node:test';
import assert from 'node:assert/strict';
import { personStateAt } from '../../src/synth/actors.ts';
import { project } from '../../src/synth/camera.ts';
import { planVideo } from '../../src/synth/plan.ts';
import { hashSeed } from '../../src/synth/prng.ts';
import { SYNTH_ACTIONS, SYNTH_CLASSES } from '../../src/synth/spec.ts';
import type { VideoSpec } from '../../src/synth/spec.ts';

const EPS = 1e-6;
const seeds = Array.from({ length: 120 }, (_, i) => hashSeed(2024, i));

test('planVideo is deterministic for a seed and differs across seeds', () => {
  const a = planVideo(seeds[0] ?? 1);
  const b = planVideo(seeds[0] ?? 1);
  assert.deepEqual(a, b);
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  const c = planVideo(seeds[1] ?? 2);
  assert.notDeepEqual(c.instances, a.instances);
  assert.notEqual(JSON.stringify(c.scene), JSON.stringify(a.scene));
});

test('default timeline: 60-120 s, 0-4 non-overlapping instances of 2-8 s separated by 10-40 s stretches', () => {
  let empty = 0;
  let total = 0;
  const seen = new Set<string>();
  for (const seed of seeds) {
    const v = planVideo(seed);
    assert.ok(v.durationSeconds >= 60 - EPS && v.durationSeconds <= 120 + EPS, `duration ${v.durationSeconds}`);
    assert.equal(v.frameCount, Math.round(v.durationSeconds * v.fps));
    assert.ok(v.instances.length <= 4);
    if (v.instances.length === 0) {
      empty++;
      continue;
    }
    let prevEnd = 0;
    for (const inst of v.instances) {
      total++;
      seen.add(inst.class);
      assert.equal(SYNTH_CLASSES[inst.classIndex], inst.class);
      assert.notEqual(inst.classIndex, 0, 'background is never an instance');
      const d = inst.end - inst.start;
      assert.ok(d >= 2 - EPS && d <= 8 + EPS, `instance duration ${d}`);
      const gap = inst.start - prevEnd;
      assert.ok(gap >= 10 - EPS && gap <= 40 + EPS, `gap ${gap} before ${inst.class} (seed ${seed})`);
      prevEnd = inst.end;
    }
    const tail = v.durationSeconds - prevEnd;
    assert.ok(tail >= 10 - EPS && tail <= 40 + 1 / v.fps + EPS, `tail ${tail} (seed ${seed})`);
  }
  // Defaults: about 10 % empty videos (false-alarm material), every class represented.
  assert.ok(empty > 0 && empty < seeds.length / 4, `empty videos: ${empty}`);
  assert.deepEqual([...seen].sort(), [...SYNTH_ACTIONS].sort());
  assert.ok(total > seeds.length);
});

test('classes subset, emptyFraction and instance bounds are honoured', () => {
  for (const seed of seeds.slice(0, 40)) {
    const v = planVideo(seed, { classes: ['fall', 'wave'], emptyFraction: 0 });
    assert.ok(v.instances.length >= 1);
    for (const i of v.instances) assert.ok(i.class === 'fall' || i.class === 'wave');
    assert.equal(planVideo(seed, { emptyFraction: 1 }).instances.length, 0);
    const q = planVideo(seed, { quick: true, emptyFraction: 0 });
    assert.ok(q.durationSeconds >= 10 - EPS && q.durationSeconds <= 14 + EPS);
    assert.equal(q.width, 160);
    for (const i of q.instances) assert.ok(i.end - i.start >= 2 - EPS && i.end - i.start <= 3 + EPS);
  }
});

test('nuisance knobs change the nuisances, not the annotated timeline', () => {
  for (const seed of seeds.slice(0, 20)) {
    const base = planVideo(seed);
    const noisy = planVideo(seed, { noise: 12, distractors: 3, shake: 1 });
    assert.deepEqual(noisy.instances, base.instances);
    assert.equal(noisy.noise, 12);
    assert.ok(noisy.shake.length > 0);
    const walkers = (v: VideoSpec): number => v.people.filter((p) => p.role === 'walker').length;
    assert.ok(walkers(noisy) >= walkers(base));
    const calm = planVideo(seed, { distractors: 0 });
    assert.equal(walkers(calm), 0);
    assert.equal(calm.vehicles.length, 0);
    assert.equal(calm.scene.trees.length, 0);
  }
});

test('every instance has its actor(s) on screen for its whole duration, walking in before and out after', () => {
  for (const seed of seeds.slice(0, 60)) {
    const v = planVideo(seed);
    v.instances.forEach((inst, k) => {
      const actors = v.people.filter((p) => p.role === 'actor' && p.instance === k);
      assert.equal(actors.length, inst.class === 'fight' ? 2 : 1, `${inst.class} actors`);
      for (const a of actors) {
        const first = a.phases[0];
        const last = a.phases[a.phases.length - 1];
        assert.ok(first !== undefined && last !== undefined);
        assert.ok(first.t0 < inst.start && last.t1 > inst.end, 'actor present before and after');
        assert.equal(first.motion.kind, 'walk');
        assert.equal(last.motion.kind, 'walk');
        for (let j = 0; j <= 10; j++) {
          const t = inst.start + ((inst.end - inst.start) * j) / 10;
          const s = personStateAt(a, t);
          assert.ok(s !== undefined, `actor missing at ${t}`);
          const p = project(v.camera, s.skeleton.joints.pelvis.x, s.skeleton.joints.pelvis.y, s.skeleton.joints.pelvis.z);
          assert.ok(p.x >= 0 && p.x < v.width && p.y >= 0 && p.y < v.height, `${inst.class} actor off screen at ${t}: ${p.x},${p.y}`);
        }
      }
    });
  }
});
