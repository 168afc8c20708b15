import { test } from 'node:test';
import assert from 'node:assert/strict';
import { personStateAt } from '../../src/synth/actors.ts';
import type { PersonSpec, PersonState } from '../../src/synth/actors.ts';
import { sampleMotion } from '../../src/synth/motions.ts';
import { planVideo } from '../../src/synth/plan.ts';
import { hashSeed } from '../../src/synth/prng.ts';
import { BODY, forwardKinematics, JOINT_NAMES, NEUTRAL_POSE } from '../../src/synth/skeleton.ts';
import type { Vec3 } from '../../src/synth/skeleton.ts';
import type { SynthAction, SynthInstance, VideoSpec } from '../../src/synth/spec.ts';

interface Case {
  readonly video: VideoSpec;
  readonly inst: SynthInstance;
  readonly actors: readonly PersonSpec[];
}

/** Planned instances of one class, across seeds, so random parameters are covered. */
function casesOf(cls: SynthAction, count: number): Case[] {
  const out: Case[] = [];
  for (let i = 0; out.length < count && i < 500; i++) {
    const video = planVideo(hashSeed(77, i), { classes: [cls], emptyFraction: 0 });
    video.instances.forEach((inst, k) => {
      if (out.length < count) out.push({ video, inst, actors: video.people.filter((p) => p.instance === k) });
    });
  }
  assert.equal(out.length, count, `found ${out.length} ${cls} instances`);
  return out;
}

function states(p: PersonSpec, t0: number, t1: number, n: number): PersonState[] {
  return Array.from({ length: n + 1 }, (_, j) => {
    const s = personStateAt(p, t0 + ((t1 - t0) * j) / n);
    assert.ok(s !== undefined);
    return s;
  });
}

const dist = (a: Vec3, b: Vec3): number => Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);
const spread = (xs: readonly number[]): number => Math.max(...xs) - Math.min(...xs);

/** Angle of the pelvis→neck vector above the ground plane, radians. */
function torsoElevation(s: PersonState): number {
  const { pelvis, neck } = s.skeleton.joints;
  return Math.atan2(neck.y - pelvis.y, Math.hypot(neck.x - pelvis.x, neck.z - pelvis.z));
}

test('standing figure: 1.72 m tall at scale 1, feet on the ground, scales uniformly', () => {
  for (const scale of [0.9, 1, 1.1]) {
    const sk = forwardKinematics(NEUTRAL_POSE, { X: 3, Z: 12, yaw: 1, scale });
    const top = sk.joints.head.y + BODY.headRadius * scale;
    assert.ok(Math.abs(top - 1.72 * scale) < 0.06 * scale, `height ${top}`);
    assert.ok(Math.abs(sk.joints.ankleL.y - BODY.ankleHeight * scale) < 1e-9);
    assert.ok(Math.abs(sk.joints.pelvis.x - 3) < 1e-9 && Math.abs(sk.joints.pelvis.z - 12) < 1e-9);
  }
});

test('wave: the raised arm swings while the torso stays put', () => {
  for (const { inst, actors } of casesOf('wave', 8)) {
    const actor = actors[0];
    assert.ok(actor !== undefined);
    const phase = actor.phases.find((p) => p.t0 === inst.start);
    assert.ok(phase !== undefined && phase.motion.kind === 'wave');
    const m = phase.motion;
    // The middle of the instance, after raising and before lowering the arm.
    const ss = states(actor, inst.start + m.raise + 0.05, inst.end - m.raise - 0.05, 40);
    const side = m.arms === 'L' ? 'L' : 'R';
    const abd = ss.map((s) => (side === 'L' ? s.pose.shoulderAbdL : s.pose.shoulderAbdR));
    assert.ok(spread(abd) > 0.3, `shoulder abduction spread ${spread(abd)}`);
    assert.ok(Math.min(...abd) > 1.5, 'arm stays raised');
    const wrist = ss.map((s) => s.skeleton.joints[side === 'L' ? 'wristL' : 'wristR']);
    assert.ok(Math.max(...wrist.map((w) => dist(w, wrist[0] ?? w))) > 0.15, 'hand moves');
    for (const s of ss) assert.ok((wrist[ss.indexOf(s)]?.y ?? 0) > s.skeleton.joints.neck.y, 'hand above the shoulders');
    const pelvis = ss.map((s) => s.skeleton.joints.pelvis);
    const neck = ss.map((s) => s.skeleton.joints.neck);
    const p0 = pelvis[0];
    const n0 = neck[0];
    assert.ok(p0 !== undefined && n0 !== undefined);
    assert.ok(Math.max(...pelvis.map((p) => dist(p, p0))) < 0.05, 'pelvis still');
    assert.ok(Math.max(...neck.map((p) => dist(p, n0))) < 0.06, 'neck still');
    for (const s of ss) assert.ok(Math.abs(s.pose.torsoLean) < 0.05 && Math.abs(s.pose.bodyPitch) < 1e-9);
  }
});

test('run: translates much faster than the same person walking, with higher knees and flight', () => {
  for (const { video, inst, actors } of casesOf('run', 8)) {
    const actor = actors[0];
    assert.ok(actor !== undefined);
    const walkIn = actor.phases[0];
    assert.ok(walkIn !== undefined && walkIn.motion.kind === 'walk');
    const speedOver = (t0: number, t1: number): number => {
      const a = personStateAt(actor, t0);
      const b = personStateAt(actor, t1);
      assert.ok(a !== undefined && b !== undefined);
      return Math.hypot(b.X - a.X, b.Z - a.Z) / (t1 - t0);
    };
    const run = speedOver(inst.start + 0.5, inst.end);
    const walk = speedOver(walkIn.t0, walkIn.t1);
    assert.ok(run > 1.4 * walk, `run ${run} vs walk ${walk}`);
    const walkers = video.people.filter((p) => p.role === 'walker');
    for (const w of walkers.slice(0, 5)) {
      const ph = w.phases[0];
      assert.ok(ph !== undefined && ph.motion.kind === 'walk');
      const a = personStateAt(w, ph.t0);
      const b = personStateAt(w, ph.t1);
      assert.ok(a !== undefined && b !== undefined);
      const ws = Math.hypot(b.X - a.X, b.Z - a.Z) / (ph.t1 - ph.t0);
      assert.ok(ws < 2.05 && ws > 0.75, `walker speed ${ws}`);
    }
    const runStates = states(actor, inst.start + 0.5, inst.end, 60);
    const walkStates = states(actor, walkIn.t0, walkIn.t1, 60);
    const knee = (ss: PersonState[]): number => Math.max(...ss.map((s) => Math.max(s.pose.kneeL, s.pose.kneeR)));
    assert.ok(knee(runStates) > knee(walkStates) + 0.4, 'running knees fold more');
    assert.ok(Math.max(...runStates.map((s) => s.lift)) > 0.02, 'flight phase');
    assert.ok(Math.max(...walkStates.map((s) => s.lift)) === 0, 'walking never leaves the ground');
  }
});

test('fall: upright at the start, torso near horizontal and low at the end, in every direction', () => {
  const dirs = new Set<string>();
  for (const { inst, actors } of casesOf('fall', 14)) {
    const actor = actors[0];
    assert.ok(actor !== undefined);
    const phase = actor.phases.find((p) => p.t0 === inst.start);
    assert.ok(phase !== undefined && phase.motion.kind === 'fall');
    dirs.add(phase.motion.dir);
    const first = personStateAt(actor, inst.start);
    const last = personStateAt(actor, inst.end - 1e-3);
    assert.ok(first !== undefined && last !== undefined);
    assert.ok(torsoElevation(first) > (70 * Math.PI) / 180, `start elevation ${torsoElevation(first)}`);
    assert.ok(Math.abs(torsoElevation(last)) < (20 * Math.PI) / 180, `end elevation ${torsoElevation(last)}`);
    assert.ok(last.skeleton.joints.neck.y < 0.5 && last.skeleton.joints.head.y < 0.55, 'lying on the ground');
    // And back on the feet once the annotated fall is over (getting up is not the action).
    const later = actor.phases[actor.phases.length - 1];
    assert.ok(later !== undefined);
    const up = personStateAt(actor, later.t0 + 0.01);
    assert.ok(up !== undefined && torsoElevation(up) > (60 * Math.PI) / 180);
  }
  for (const dir of ['forward', 'backward', 'left', 'right'] as const) {
    const end = sampleMotion({ kind: 'fall', dir, stumble: 0.4, drop: 0.7, twitch: 0 }, 3, 3, 1);
    const sk = forwardKinematics(end.pose, { X: 0, Z: 10, yaw: 0, scale: 1 });
    const e = Math.atan2(sk.joints.neck.y - sk.joints.pelvis.y, Math.hypot(sk.joints.neck.x - sk.joints.pelvis.x, sk.joints.neck.z - sk.joints.pelvis.z));
    assert.ok(Math.abs(e) < (20 * Math.PI) / 180, `${dir}: elevation ${e}`);
  }
  assert.ok(dirs.size >= 2, 'fall directions vary');
});

test('jump: the body leaves the ground repeatedly while the shadow point stays put', () => {
  for (const { inst, actors } of casesOf('jump', 6)) {
    const actor = actors[0];
    assert.ok(actor !== undefined);
    const ss = states(actor, inst.start, inst.end, 200);
    const lifts = ss.map((s) => s.lift);
    assert.ok(Math.max(...lifts) > 0.15, `peak lift ${Math.max(...lifts)}`);
    for (const s of ss) {
      const lowest = Math.min(...JOINT_NAMES.map((j) => s.skeleton.joints[j].y));
      if (s.lift > 0.1) assert.ok(lowest > 0.1, 'both feet off the ground in flight');
    }
    const xs = ss.map((s) => s.X);
    const zs = ss.map((s) => s.Z);
    assert.ok(spread(xs) < 1e-6 && spread(zs) < 1e-6, 'jumps in place');
    const phase = actor.phases.find((p) => p.t0 === inst.start);
    assert.ok(phase !== undefined && phase.motion.kind === 'jump');
    // Count take-offs: transitions from the ground into the air.
    let takeoffs = 0;
    for (let i = 1; i < lifts.length; i++) if ((lifts[i - 1] ?? 0) === 0 && (lifts[i] ?? 0) > 0) takeoffs++;
    assert.equal(takeoffs, phase.motion.starts.length);
  }
});

test('fight: two actors face each other at arm\'s length and throw fists towards each other', () => {
  for (const { inst, actors } of casesOf('fight', 6)) {
    assert.equal(actors.length, 2);
    const [a, b] = actors;
    assert.ok(a !== undefined && b !== undefined);
    const sa = states(a, inst.start + 0.3, inst.end, 120);
    const sb = states(b, inst.start + 0.3, inst.end, 120);
    const extension: number[] = [];
    const guard: number[] = [];
    sa.forEach((x, i) => {
      const y = sb[i];
      assert.ok(y !== undefined);
      assert.ok(Math.cos(x.yaw - y.yaw) < -0.9, 'facing each other');
      const d = Math.hypot(x.X - y.X, x.Z - y.Z);
      assert.ok(d > 0.4 && d < 1.6, `separation ${d}`);
      // How far each fist is ahead of the own neck, along the line to the opponent.
      const ux = (y.X - x.X) / d;
      const uz = (y.Z - x.Z) / d;
      const { neck, wristL, wristR } = x.skeleton.joints;
      const ahead = Math.max((wristL.x - neck.x) * ux + (wristL.z - neck.z) * uz, (wristR.x - neck.x) * ux + (wristR.z - neck.z) * uz);
      extension.push(ahead);
      if (x.pose.elbowL > 1.8 && x.pose.elbowR > 1.8) guard.push(ahead);
    });
    assert.ok(guard.length > 0, 'fighters hold a guard between blows');
    const guardMax = Math.max(...guard);
    assert.ok(Math.max(...extension) > guardMax + 0.1, `punch ${Math.max(...extension)} vs guard ${guardMax}`);
  }
});

test('loiter: dwells near one spot, unlike passers-by who cross at steady speed', () => {
  for (const { video, inst, actors } of casesOf('loiter', 8)) {
    const actor = actors[0];
    assert.ok(actor !== undefined);
    const ss = states(actor, inst.start, inst.end, 80);
    const s0 = ss[0];
    assert.ok(s0 !== undefined);
    const far = Math.max(...ss.map((s) => Math.hypot(s.X - s0.X, s.Z - s0.Z)));
    const dur = inst.end - inst.start;
    assert.ok(far < 0.8 * dur && far < 3.5, `loiterer strays ${far} m in ${dur} s`);
    for (const w of video.people.filter((p) => p.role === 'walker').slice(0, 5)) {
      const ph = w.phases[0];
      assert.ok(ph !== undefined);
      const a = personStateAt(w, ph.t0);
      const b = personStateAt(w, Math.min(ph.t1, ph.t0 + dur));
      assert.ok(a !== undefined && b !== undefined);
      assert.ok(Math.hypot(b.X - a.X, b.Z - a.Z) > far, 'a walker covers more ground in the same time');
    }
  }
});

test('ground contact: with no lift the lowest body part touches the ground', () => {
  const v = planVideo(hashSeed(5, 5));
  for (const p of v.people.slice(0, 6)) {
    const ph = p.phases[0];
    assert.ok(ph !== undefined);
    for (const s of states(p, ph.t0, ph.t1, 20)) {
      const lowest = Math.min(...JOINT_NAMES.map((j) => s.skeleton.joints[j].y));
      assert.ok(lowest > -1e-9 && lowest < 0.08, `lowest joint at ${lowest}`);
    }
  }
});
