/**
 * People of a synthetic video — actors and passers-by alike — as a script of timed
 * phases (walk in, stand, act, walk out), and their state at any instant.
 *
 * Why one model for both: a passer-by must differ from an actor only by what it does
 * (a steady walk across the scene), so both are the same figure, with clothes drawn from
 * the same distribution, driven by {@link sampleMotion}.
 */
import { sampleMotion } from './motions.ts';
import type { Motion, MotionSample } from './motions.ts';
import type { Rgb } from './raster.ts';
import { forwardKinematics, lerpPose } from './skeleton.ts';
import type { Pose, Skeleton } from './skeleton.ts';

/** Clothing and skin colours of one person; drawn independently of what the person does. */
export interface Appearance {
  readonly shirt: Rgb;
  readonly pants: Rgb;
  readonly skin: Rgb;
  readonly hair: Rgb;
  readonly shoes: Rgb;
  /** Long sleeves colour the forearms like the shirt, otherwise like the skin. */
  readonly longSleeves: boolean;
}

/** One movement of a person over [t0, t1) video seconds, starting at ground point (X, Z). */
export interface Phase {
  readonly t0: number;
  readonly t1: number;
  readonly X: number;
  readonly Z: number;
  /** World facing at t0 (radians; 0 faces away from the camera, +π/2 faces +X). */
  readonly yaw: number;
  readonly motion: Motion;
  /** Seconds over which pose and facing blend in from the previous phase. */
  readonly blend: number;
}

/** A person of the video and its script. */
export interface PersonSpec {
  readonly id: number;
  /** 'actor' performs an annotated instance; 'walker' is a distractor crossing the scene. */
  readonly role: 'actor' | 'walker';
  /** Index of the annotated instance this actor performs (actors only). */
  readonly instance?: number;
  /** Body scale (1 = 1.72 m). */
  readonly scale: number;
  readonly appearance: Appearance;
  /** Consecutive phases: phase k+1 starts where and when phase k ends. */
  readonly phases: readonly Phase[];
}

/** Where a person is and how it stands at one instant. */
export interface PersonState {
  readonly X: number;
  readonly Z: number;
  readonly yaw: number;
  readonly lift: number;
  readonly pose: Pose;
  readonly skeleton: Skeleton;
  /** The motion of the phase in progress. */
  readonly motion: Motion['kind'];
}

/** Ground position, facing and sample of a phase at video time t (no blending). */
function phaseSample(p: Phase, t: number, scale: number): { X: number; Z: number; yaw: number; s: MotionSample } {
  const s = sampleMotion(p.motion, t - p.t0, p.t1 - p.t0, scale);
  const sin = Math.sin(p.yaw);
  const cos = Math.cos(p.yaw);
  // Forward is (sin yaw, cos yaw) on the ground; the figure's right is (cos yaw, −sin yaw).
  return {
    X: p.X + s.forward * sin + s.lateral * cos,
    Z: p.Z + s.forward * cos - s.lateral * sin,
    yaw: p.yaw + s.yaw,
    s,
  };
}

/**
 * Where a phase leaves the person: the anchor and facing for the next phase.
 *
 * @example
 * const end = phaseEnd(walkIn, 1); // the spot where the actor stops
 * @param p - the phase
 * @param scale - body scale
 * @returns ground point and facing at the phase's end
 */
export function phaseEnd(p: Phase, scale: number): { X: number; Z: number; yaw: number } {
  const e = phaseSample(p, p.t1, scale);
  return { X: e.X, Z: e.Z, yaw: e.yaw };
}

function lerpAngle(a: number, b: number, w: number): number {
  const d = Math.atan2(Math.sin(b - a), Math.cos(b - a));
  return a + d * w;
}

/**
 * The state of a person at video time t, or undefined when it is not in the scene.
 *
 * @example
 * const s = personStateAt(actor, 12.4);
 * if (s) drawFigure(img, cam, s.skeleton, actor.appearance);
 * @param person - the person's script
 * @param t - video time, s
 * @returns position, facing, pose and world-space skeleton
 */
export function personStateAt(person: PersonSpec, t: number): PersonState | undefined {
  const phases = person.phases;
  const first = phases[0];
  const last = phases[phases.length - 1];
  if (first === undefined || last === undefined || t < first.t0 || t > last.t1) return undefined;
  let i = 0;
  while (i < phases.length - 1 && t >= (phases[i]?.t1 ?? Infinity)) i++;
  const phase = phases[i] ?? last;
  const cur = phaseSample(phase, t, person.scale);
  let pose = cur.s.pose;
  let yaw = cur.yaw;
  let lift = cur.s.lift;
  const prev = phases[i - 1];
  const since = t - phase.t0;
  if (prev !== undefined && phase.blend > 0 && since < phase.blend) {
    const before = phaseSample(prev, prev.t1, person.scale);
    const u = since / phase.blend;
    const w = u * u * (3 - 2 * u);
    pose = lerpPose(before.s.pose, pose, w);
    yaw = lerpAngle(before.yaw, yaw, w);
    lift = before.s.lift + (lift - before.s.lift) * w;
  }
  const skeleton = forwardKinematics(pose, { X: cur.X, Z: cur.Z, yaw, scale: person.scale, lift });
  return { X: cur.X, Z: cur.Z, yaw, lift, pose, skeleton, motion: phase.motion.kind };
}
