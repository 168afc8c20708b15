/**
 * Joint-angle programs: for each kind of movement, a pure function of time that gives
 * the figure's {@link Pose}, its displacement on the ground and its lift.
 *
 * Why programs and not clips of motion capture: they need no data files, every parameter
 * (tempo, amplitude, which arm, fall direction, punch times) is drawn from the seed, and a
 * frame can be rendered at any time in any order (random access for training).
 *
 * All parameters are plain JSON so a planned video can be saved and re-rendered.
 */
import { NEUTRAL_POSE, lerpPose } from './skeleton.ts';
import type { Pose } from './skeleton.ts';

/** One timed event inside a fight: who does what, relative to the fight's start (s). */
export interface FightMove {
  readonly t: number;
  readonly kind: 'punchL' | 'punchR' | 'kick' | 'shove';
}

/** One piece of a loiter: standing, a slow pace, or a turn on the spot. */
export interface LoiterStep {
  readonly kind: 'stand' | 'pace' | 'turn';
  /** Start and end, seconds from the loiter's start. */
  readonly t0: number;
  readonly t1: number;
  /** Facing at t0, relative to the loiter's initial facing (radians). */
  readonly yaw0: number;
  /** Turn amount over the step (turn steps only). */
  readonly dYaw: number;
  /** Position at t0 in the loiter's frame (m): forward, lateral. */
  readonly f0: number;
  readonly l0: number;
  /** Ground speed for pace steps (m/s). */
  readonly speed: number;
  /** Whether the person looks at a phone while standing. */
  readonly phone: boolean;
}

/** A movement and its parameters; `kind` selects the program. */
export type Motion =
  | { readonly kind: 'stand'; readonly sway: number; readonly phone: boolean }
  | {
      readonly kind: 'walk' | 'run';
      /** Ground speed, m/s. */
      readonly speed: number;
      /** Duration of one gait cycle (two steps), s. */
      readonly cycle: number;
      /** Hip swing amplitude, radians. */
      readonly amp: number;
      /** Gait phase at the start of the movement, cycles. */
      readonly phase0: number;
    }
  | {
      readonly kind: 'wave';
      readonly arms: 'L' | 'R' | 'both';
      /** Waves per second. */
      readonly freq: number;
      /** Mean shoulder abduction while waving (≈ 2.4: arm up and out). */
      readonly base: number;
      /** Abduction swing amplitude. */
      readonly swing: number;
      /** Seconds to raise and to lower the arm. */
      readonly raise: number;
    }
  | {
      readonly kind: 'jump';
      /** Start of each jump, s. */
      readonly starts: readonly number[];
      /** Crouch, push-off, flight and landing durations of one jump, s. */
      readonly crouch: number;
      readonly push: number;
      readonly flight: number;
      readonly land: number;
      /** Peak lift of the body, m. */
      readonly height: number;
    }
  | {
      readonly kind: 'fall';
      readonly dir: 'forward' | 'backward' | 'left' | 'right';
      /** Stumble before the fall, s. */
      readonly stumble: number;
      /** Duration of the drop to the ground, s. */
      readonly drop: number;
      /** Phase of the small movements made while lying. */
      readonly twitch: number;
    }
  | { readonly kind: 'getup'; readonly dir: 'forward' | 'backward' | 'left' | 'right' }
  | {
      readonly kind: 'fight';
      readonly moves: readonly FightMove[];
      /** The opponent's moves: each one lands on this figure shortly after. */
      readonly hits: readonly FightMove[];
      /** Stance shuffle frequency (Hz) and phase. */
      readonly shuffle: number;
      readonly phase0: number;
    }
  | { readonly kind: 'loiter'; readonly steps: readonly LoiterStep[] };

/** What a motion program says about one instant. */
export interface MotionSample {
  readonly pose: Pose;
  /** Displacement from the movement's anchor in its own frame (m): forward, lateral (+ right). */
  readonly forward: number;
  readonly lateral: number;
  /** Facing change relative to the movement's initial facing, radians. */
  readonly yaw: number;
  /** Height of the lowest body point above the ground, m (jumps, running flight). */
  readonly lift: number;
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Smooth 0→1 ramp between e0 and e1. */
function smooth(e0: number, e1: number, x: number): number {
  const u = clamp01((x - e0) / (e1 - e0));
  return u * u * (3 - 2 * u);
}

/** 0 outside [a, b], a smooth bump peaking at 1 in the middle. */
function bump(a: number, b: number, x: number): number {
  if (x <= a || x >= b) return 0;
  const u = (x - a) / (b - a);
  return Math.sin(Math.PI * u) ** 2;
}

function pose(over: Partial<Record<keyof Pose, number>>): Pose {
  return { ...NEUTRAL_POSE, ...over };
}

/**
 * Gait cycle shared by walking, running and pacing.
 *
 * @example
 * const p = gaitPose(0.25, 0.4, false); // a quarter cycle into a normal walk
 * @param phase - gait phase in cycles (any real; only the fraction matters)
 * @param amp - hip swing amplitude, radians
 * @param running - running style: high knees, bent elbows, forward lean
 * @returns the pose
 */
export function gaitPose(phase: number, amp: number, running: boolean): Pose {
  const th = 2 * Math.PI * phase;
  const thR = th;
  const thL = th + Math.PI;
  const kneeAmp = running ? 1.75 : 1.05;
  // Knee folds during late stance and swing (hip moving forward), peaking early in swing.
  const knee = (t: number): number => 0.06 + kneeAmp * Math.max(0, Math.cos(t + 0.55)) ** 1.6;
  const armAmp = running ? 1.05 * amp : 0.7 * amp;
  const shL = armAmp * Math.sin(thR);
  const shR = armAmp * Math.sin(thL);
  return pose({
    torsoLean: running ? 0.2 : 0.04,
    headPitch: running ? -0.1 : 0.02,
    torsoTwist: (running ? 0.12 : 0.06) * Math.sin(thR),
    hipFlexL: amp * Math.sin(thL) + (running ? 0.15 : 0.03),
    hipFlexR: amp * Math.sin(thR) + (running ? 0.15 : 0.03),
    kneeL: knee(thL),
    kneeR: knee(thR),
    shoulderFlexL: shL,
    shoulderFlexR: shR,
    shoulderAbdL: running ? 0.2 : 0.1,
    shoulderAbdR: running ? 0.2 : 0.1,
    elbowL: running ? 1.45 + 0.2 * Math.sin(thR) : 0.2 + 0.3 * Math.max(0, shL),
    elbowR: running ? 1.45 + 0.2 * Math.sin(thL) : 0.2 + 0.3 * Math.max(0, shR),
  });
}

/**
 * Gait parameters that make stride length agree with ground speed for a body of `scale`.
 *
 * Why: feet that slide or moonwalk are a give-away a model could latch onto; cadence and
 * hip swing follow speed here the way they do in people (longer, quicker strides when
 * faster).
 *
 * @example
 * const g = gaitFor(1.3, 1, false); // { cycle ≈ 1.05 s, amp ≈ 0.39 rad }
 * @param speed - ground speed, m/s
 * @param scale - body scale (1 = 1.72 m)
 * @param running - running gait
 * @returns gait cycle duration (s) and hip amplitude (rad)
 */
export function gaitFor(speed: number, scale: number, running: boolean): { cycle: number; amp: number } {
  const v = Math.max(0.05, speed);
  const cycle = running ? 0.72 * (3.2 / v) ** 0.25 : 1.08 * (1.3 / v) ** 0.35;
  // Two steps per cycle; a step spans about 2·leg·sin(amp) (plus flight when running).
  const leg = 0.95 * scale;
  const stepLen = (v * cycle) / 2;
  const reach = running ? stepLen * 0.62 : stepLen;
  const amp = Math.asin(Math.min(0.95, reach / (2 * leg)));
  return { cycle, amp };
}

function standSample(m: { sway: number; phone: boolean }, t: number): MotionSample {
  const s = m.sway;
  return {
    pose: pose({
      bodyRoll: 0.015 * Math.sin((2 * Math.PI * t) / 3.7 + s),
      headYaw: 0.35 * Math.sin((2 * Math.PI * t) / 7.3 + 2 * s),
      headPitch: m.phone ? 0.45 : 0.02 * Math.sin(t + s),
      shoulderFlexL: m.phone ? 0.5 : 0,
      shoulderFlexR: m.phone ? 0.55 : 0,
      elbowL: m.phone ? 1.5 : 0.15,
      elbowR: m.phone ? 1.6 : 0.15,
    }),
    forward: 0,
    lateral: 0,
    yaw: 0,
    lift: 0,
  };
}

function waveSample(m: Extract<Motion, { kind: 'wave' }>, t: number, dur: number): MotionSample {
  const up = smooth(0, m.raise, t) * (1 - smooth(dur - m.raise, dur, t));
  const osc = Math.sin(2 * Math.PI * m.freq * t);
  const abd = 0.1 + up * (m.base + m.swing * osc - 0.1);
  const elbow = 0.15 + up * (0.25 + 0.25 * Math.sin(2 * Math.PI * m.freq * t - 0.8));
  const flex = up * 0.25;
  const left = m.arms !== 'R';
  const right = m.arms !== 'L';
  return {
    pose: pose({
      shoulderAbdL: left ? abd : 0.1,
      shoulderAbdR: right ? abd : 0.1,
      shoulderFlexL: left ? flex : 0,
      shoulderFlexR: right ? flex : 0,
      elbowL: left ? elbow : 0.15,
      elbowR: right ? elbow : 0.15,
      headPitch: -0.08 * up,
    }),
    forward: 0,
    lateral: 0,
    yaw: 0,
    lift: 0,
  };
}

function jumpSample(m: Extract<Motion, { kind: 'jump' }>, t: number): MotionSample {
  const total = m.crouch + m.push + m.flight + m.land;
  let u = -1;
  for (const s of m.starts) {
    if (t >= s && t < s + total) u = t - s;
  }
  if (u < 0) return standSample({ sway: 0, phone: false }, t);
  const c1 = m.crouch;
  const c2 = c1 + m.push;
  const c3 = c2 + m.flight;
  let crouch: number;
  let arms: number;
  let lift = 0;
  let tuck = 0;
  if (u < c1) {
    crouch = smooth(0, c1, u);
    arms = -0.75 * crouch;
  } else if (u < c2) {
    const e = smooth(c1, c2, u);
    crouch = 1 - e;
    arms = -0.75 + 3.1 * e;
  } else if (u < c3) {
    const f = (u - c2) / m.flight;
    crouch = 0;
    lift = m.height * 4 * f * (1 - f);
    tuck = Math.sin(Math.PI * f);
    arms = 2.35 - 0.9 * f;
  } else {
    // Landing absorbs the impact with a quick crouch, then stands up.
    const l = (u - c3) / m.land;
    crouch = 0.7 * Math.sin(Math.PI * Math.min(1, l * 1.3)) * (l < 0.77 ? 1 : (1 - l) / 0.23);
    arms = 1.45 * (1 - smooth(0, 1, l));
  }
  return {
    pose: pose({
      torsoLean: 0.45 * crouch + 0.05 * tuck,
      headPitch: -0.2 * crouch,
      hipFlexL: 1.0 * crouch + 0.45 * tuck,
      hipFlexR: 1.0 * crouch + 0.45 * tuck,
      kneeL: 0.03 + 1.45 * crouch + 0.7 * tuck,
      kneeR: 0.03 + 1.45 * crouch + 0.7 * tuck,
      shoulderFlexL: arms,
      shoulderFlexR: arms,
      elbowL: 0.25,
      elbowR: 0.25,
    }),
    forward: 0,
    lateral: 0,
    yaw: 0,
    lift,
  };
}

/** Pose of a person lying after a fall in direction `dir`, with small movements. */
function lyingPose(dir: Extract<Motion, { kind: 'fall' }>['dir'], t: number, twitch: number): Pose {
  const w = 0.5 + 0.5 * Math.sin(0.9 * t + twitch);
  switch (dir) {
    case 'forward':
      return pose({
        // Prone: the body's "forward" points into the ground, so the arms spread sideways
        // (abduction lies in the ground plane) instead of pushing the body up.
        bodyPitch: 1.5,
        headPitch: -0.6,
        shoulderAbdL: 1.35,
        shoulderAbdR: 0.9 + 0.4 * w,
        shoulderFlexL: 0.15,
        shoulderFlexR: 0.1,
        elbowL: 0.35,
        elbowR: 0.25,
        kneeL: 0.2 + 0.6 * w,
        kneeR: 0.15,
      });
    case 'backward':
      return pose({
        bodyPitch: -1.5,
        headPitch: 0.35,
        shoulderAbdL: 0.9,
        shoulderAbdR: 0.6 + 0.4 * w,
        elbowL: 0.6,
        elbowR: 0.4,
        hipFlexL: 0.5 * w,
        kneeL: 0.9 * w,
        kneeR: 0.1,
      });
    case 'left':
    case 'right': {
      const s = dir === 'right' ? 1 : -1;
      return pose({
        bodyRoll: 1.48 * s,
        torsoSide: -0.1 * s,
        hipFlexL: 0.5,
        hipFlexR: 0.3 + 0.2 * w,
        kneeL: 0.9,
        kneeR: 0.6,
        shoulderFlexL: 0.8,
        shoulderFlexR: 0.9,
        elbowL: 1.3,
        elbowR: 1.0 + 0.3 * w,
      });
    }
  }
}

/** How far the pelvis travels in the fall's direction when tipping by `angle`. */
function fallTravel(angle: number): number {
  return 0.85 * Math.sin(Math.abs(angle));
}

function fallSample(m: Extract<Motion, { kind: 'fall' }>, t: number, scale: number): MotionSample {
  const lying = lyingPose(m.dir, t, m.twitch);
  const sideways = m.dir === 'left' || m.dir === 'right';
  const sign = m.dir === 'backward' || m.dir === 'left' ? -1 : 1;
  let p: Pose;
  let tip: number;
  let forward = 0;
  if (t < m.stumble) {
    // Stumble: arms fly out, a jerky half-step forward, torso pitching.
    const u = t / m.stumble;
    const jolt = Math.sin(Math.PI * u);
    p = pose({
      torsoLean: 0.25 * jolt * (sign > 0 || sideways ? 1 : -1),
      headPitch: -0.3 * jolt,
      shoulderAbdL: 0.1 + 1.1 * jolt,
      shoulderAbdR: 0.1 + 1.0 * jolt,
      shoulderFlexL: 0.6 * jolt,
      shoulderFlexR: 0.4 * jolt,
      elbowL: 0.4,
      elbowR: 0.5,
      hipFlexR: 0.45 * jolt,
      kneeR: 0.4 * jolt,
      kneeL: 0.2 * jolt,
    });
    tip = 0;
    forward = 0.25 * u;
  } else if (t < m.stumble + m.drop) {
    // Gravity: the tip angle grows with the square of time.
    const u = (t - m.stumble) / m.drop;
    const g = u * u;
    const target = lerpPose(NEUTRAL_POSE, lying, g);
    p = {
      ...target,
      kneeL: target.kneeL + 0.5 * Math.sin(Math.PI * u),
      kneeR: target.kneeR + 0.4 * Math.sin(Math.PI * u),
    };
    tip = g * 1.5;
    forward = 0.25;
  } else {
    p = lying;
    tip = 1.5;
    forward = 0.25;
  }
  const travel = fallTravel(tip) * scale;
  return {
    pose: p,
    forward: sideways ? forward : forward + sign * travel,
    lateral: sideways ? sign * travel : 0,
    yaw: 0,
    lift: 0,
  };
}

function getupSample(m: Extract<Motion, { kind: 'getup' }>, t: number, dur: number, scale: number): MotionSample {
  const u = clamp01(t / dur);
  const lying = lyingPose(m.dir, 0, 0);
  const kneel = pose({ bodyPitch: 0.35, torsoLean: 0.2, hipFlexL: 0.4, hipFlexR: 1.3, kneeL: 2.0, kneeR: 1.9, shoulderFlexL: 0.6, shoulderFlexR: 0.6, elbowL: 0.3, elbowR: 0.3 });
  const crouch = pose({ torsoLean: 0.5, hipFlexL: 1.2, hipFlexR: 1.0, kneeL: 1.5, kneeR: 1.3, shoulderFlexL: 0.3, shoulderFlexR: 0.4, elbowL: 0.4, elbowR: 0.4 });
  let p: Pose;
  if (u < 0.45) p = lerpPose(lying, kneel, smooth(0, 0.45, u));
  else if (u < 0.75) p = lerpPose(kneel, crouch, smooth(0.45, 0.75, u));
  else p = lerpPose(crouch, NEUTRAL_POSE, smooth(0.75, 1, u));
  // The pelvis stays where the fall left it; ground contact handles the rest.
  const sideways = m.dir === 'left' || m.dir === 'right';
  const sign = m.dir === 'backward' || m.dir === 'left' ? -1 : 1;
  const travel = fallTravel(1.5) * scale;
  return {
    pose: p,
    forward: 0.25 + (sideways ? 0 : sign * travel),
    lateral: sideways ? sign * travel : 0,
    yaw: 0,
    lift: 0,
  };
}

function fightSample(m: Extract<Motion, { kind: 'fight' }>, t: number): MotionSample {
  let flexL = 1.0;
  let flexR = 0.95;
  let elbowL = 1.95;
  let elbowR = 2.0;
  let twist = 0;
  let lean = 0.22;
  let headPitch = 0.15;
  let hipR = 0.3;
  let kneeR = 0.35;
  let forward = 0.1 * Math.sin(2 * Math.PI * m.shuffle * t + m.phase0);
  for (const mv of m.moves) {
    const a = bump(mv.t - 0.05, mv.t + 0.3, t);
    if (a === 0) continue;
    if (mv.kind === 'punchL') {
      flexL += 0.55 * a;
      elbowL -= 1.8 * a;
      twist -= 0.35 * a;
    } else if (mv.kind === 'punchR') {
      flexR += 0.6 * a;
      elbowR -= 1.85 * a;
      twist += 0.35 * a;
    } else if (mv.kind === 'kick') {
      hipR += 1.1 * a;
      kneeR = kneeR * (1 - a) + 0.25 * a;
      lean -= 0.3 * a;
    } else {
      flexL += 0.5 * a;
      flexR += 0.5 * a;
      elbowL -= 1.6 * a;
      elbowR -= 1.6 * a;
      forward += 0.15 * a;
    }
  }
  for (const hit of m.hits) {
    // The blow lands ~0.15 s after the opponent starts it: the head snaps back, a step back.
    const a = bump(hit.t + 0.1, hit.t + 0.6, t);
    if (a === 0) continue;
    const strength = hit.kind === 'shove' ? 1.6 : 1;
    lean -= 0.35 * a * strength;
    headPitch -= 0.35 * a;
    forward -= 0.15 * a * strength;
  }
  const stance = 0.25;
  return {
    pose: pose({
      torsoLean: lean,
      torsoTwist: twist,
      headPitch,
      hipFlexL: stance - 0.1,
      hipFlexR: hipR,
      kneeL: 0.35,
      kneeR,
      hipAbdL: 0.12,
      hipAbdR: 0.12,
      shoulderFlexL: flexL,
      shoulderFlexR: flexR,
      shoulderAbdL: 0.3,
      shoulderAbdR: 0.3,
      elbowL: Math.max(0.05, elbowL),
      elbowR: Math.max(0.05, elbowR),
    }),
    forward,
    lateral: 0,
    yaw: 0,
    lift: 0,
  };
}

function loiterSample(m: Extract<Motion, { kind: 'loiter' }>, t: number, scale: number): MotionSample {
  let step = m.steps[0];
  for (const s of m.steps) if (t >= s.t0) step = s;
  if (step === undefined) return standSample({ sway: 0, phone: false }, t);
  const dt = Math.max(0, Math.min(t, step.t1) - step.t0);
  if (step.kind === 'stand') {
    const s = standSample({ sway: step.t0, phone: step.phone }, t);
    return { ...s, forward: step.f0, lateral: step.l0, yaw: step.yaw0 };
  }
  if (step.kind === 'turn') {
    const u = smooth(0, 1, dt / Math.max(1e-3, step.t1 - step.t0));
    // Small shuffling steps while turning on the spot.
    const g = gaitPose(dt / 0.9, 0.12, false);
    return { pose: g, forward: step.f0, lateral: step.l0, yaw: step.yaw0 + step.dYaw * u, lift: 0 };
  }
  const gait = gaitFor(step.speed, scale, false);
  const dist = step.speed * dt;
  return {
    pose: gaitPose(dt / gait.cycle, gait.amp, false),
    forward: step.f0 + dist * Math.cos(step.yaw0),
    lateral: step.l0 + dist * Math.sin(step.yaw0),
    yaw: step.yaw0,
    lift: 0,
  };
}

/**
 * Evaluates a motion program.
 *
 * @example
 * const s = sampleMotion({ kind: 'walk', speed: 1.3, cycle: 1.05, amp: 0.39, phase0: 0 }, 2, 10, 1);
 * // s.forward === 2.6
 * @param m - the motion and its parameters
 * @param t - seconds since the motion started (clamped to [0, duration])
 * @param duration - the motion's duration, s
 * @param scale - body scale of the figure (displacements that come from limb lengths use it)
 * @returns pose, ground displacement, facing change and lift
 */
export function sampleMotion(m: Motion, t: number, duration: number, scale: number): MotionSample {
  const tt = Math.max(0, Math.min(duration, t));
  switch (m.kind) {
    case 'stand':
      return standSample(m, tt);
    case 'walk':
    case 'run': {
      const running = m.kind === 'run';
      const phase = m.phase0 + tt / m.cycle;
      const lift = running ? 0.05 * scale * Math.max(0, Math.sin(4 * Math.PI * phase - 0.6)) : 0;
      return { pose: gaitPose(phase, m.amp, running), forward: m.speed * tt, lateral: 0, yaw: 0, lift };
    }
    case 'wave':
      return waveSample(m, tt, duration);
    case 'jump':
      return jumpSample(m, tt);
    case 'fall':
      return fallSample(m, tt, scale);
    case 'getup':
      return getupSample(m, tt, duration, scale);
    case 'fight':
      return fightSample(m, tt);
    case 'loiter':
      return loiterSample(m, tt, scale);
  }
}
