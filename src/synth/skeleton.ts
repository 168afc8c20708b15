/**
 * The articulated figure: joint angles (a {@link Pose}) → 3D joint positions by forward
 * kinematics, standing on the ground.
 *
 * Why a skeleton: the benchmark's actions must differ by motion (how the arms, legs and
 * torso move over time), never by a colour or a size, so every person — actor or passer-by
 * — is the same kinematic chain driven by a different joint-angle program.
 *
 * Body frame: x to the figure's right, y up, z forward (the facing direction). Angles are
 * radians; flexion is positive in the anatomical sense (hip/shoulder flexion swing the
 * limb forward, knee flexion folds the shin backward, elbow flexion folds the forearm
 * forward).
 */

/** Joint angles of one figure at one instant (radians, 0 = standing at attention). */
export interface Pose {
  /** Whole-body tip about the pelvis: + forward (a forward fall ends near +π/2). */
  readonly bodyPitch: number;
  /** Whole-body tip sideways: + towards the figure's right. */
  readonly bodyRoll: number;
  /** Spine bend relative to the pelvis: + forward. */
  readonly torsoLean: number;
  /** Spine side bend: + towards the right. */
  readonly torsoSide: number;
  /** Upper-body rotation about the spine: + turns the chest towards the figure's right. */
  readonly torsoTwist: number;
  /** Head nod: + chin down. */
  readonly headPitch: number;
  /** Head turn: + towards the figure's right. */
  readonly headYaw: number;
  readonly hipFlexL: number;
  readonly hipFlexR: number;
  /** Hip abduction: + leg out sideways. */
  readonly hipAbdL: number;
  readonly hipAbdR: number;
  readonly kneeL: number;
  readonly kneeR: number;
  readonly shoulderFlexL: number;
  readonly shoulderFlexR: number;
  /** Shoulder abduction: + arm out sideways (π/2 horizontal, ≈ π overhead). */
  readonly shoulderAbdL: number;
  readonly shoulderAbdR: number;
  readonly elbowL: number;
  readonly elbowR: number;
}

/** The pose of a person standing straight with arms hanging. */
export const NEUTRAL_POSE: Pose = {
  bodyPitch: 0,
  bodyRoll: 0,
  torsoLean: 0,
  torsoSide: 0,
  torsoTwist: 0,
  headPitch: 0,
  headYaw: 0,
  hipFlexL: 0,
  hipFlexR: 0,
  hipAbdL: 0.04,
  hipAbdR: 0.04,
  kneeL: 0.03,
  kneeR: 0.03,
  shoulderFlexL: 0,
  shoulderFlexR: 0,
  shoulderAbdL: 0.1,
  shoulderAbdR: 0.1,
  elbowL: 0.15,
  elbowR: 0.15,
};

/** Names of the pose fields, for blending and validation. */
export const POSE_KEYS = Object.keys(NEUTRAL_POSE) as readonly (keyof Pose)[];

/**
 * Linear interpolation between two poses.
 *
 * @example
 * const mid = lerpPose(standing, crouched, 0.5);
 * @param a - pose at w = 0
 * @param b - pose at w = 1
 * @param w - weight of b
 * @returns the blended pose
 */
export function lerpPose(a: Pose, b: Pose, w: number): Pose {
  const out: Record<string, number> = {};
  for (const k of POSE_KEYS) out[k] = a[k] + (b[k] - a[k]) * w;
  return out as unknown as Pose;
}

/** Joint names, in the order of {@link Skeleton.joints}. */
export const JOINT_NAMES = [
  'pelvis',
  'neck',
  'head',
  'shoulderL',
  'shoulderR',
  'elbowL',
  'elbowR',
  'wristL',
  'wristR',
  'hipL',
  'hipR',
  'kneeL',
  'kneeR',
  'ankleL',
  'ankleR',
  'toeL',
  'toeR',
] as const;

/** One joint name. */
export type JointName = (typeof JOINT_NAMES)[number];

/** A 3D point in metres. */
export interface Vec3 {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

/** World-space joints of one figure. */
export interface Skeleton {
  readonly joints: Readonly<Record<JointName, Vec3>>;
  /** Uniform body scale (1 = 1.72 m tall). */
  readonly scale: number;
}

/** Segment lengths in metres for a 1.72 m adult; a figure's `scale` multiplies them. */
export const BODY = {
  spine: 0.52,
  neckToHead: 0.14,
  headRadius: 0.105,
  shoulderHalf: 0.17,
  hipHalf: 0.1,
  upperArm: 0.3,
  foreArm: 0.27,
  thigh: 0.45,
  shin: 0.44,
  foot: 0.14,
  ankleHeight: 0.06,
} as const;

type Mat3 = readonly [number, number, number, number, number, number, number, number, number];

function mul(a: Mat3, b: Mat3): Mat3 {
  const [a0, a1, a2, a3, a4, a5, a6, a7, a8] = a;
  const [b0, b1, b2, b3, b4, b5, b6, b7, b8] = b;
  return [
    a0 * b0 + a1 * b3 + a2 * b6,
    a0 * b1 + a1 * b4 + a2 * b7,
    a0 * b2 + a1 * b5 + a2 * b8,
    a3 * b0 + a4 * b3 + a5 * b6,
    a3 * b1 + a4 * b4 + a5 * b7,
    a3 * b2 + a4 * b5 + a5 * b8,
    a6 * b0 + a7 * b3 + a8 * b6,
    a6 * b1 + a7 * b4 + a8 * b7,
    a6 * b2 + a7 * b5 + a8 * b8,
  ];
}

function rotX(t: number): Mat3 {
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [1, 0, 0, 0, c, -s, 0, s, c];
}

function rotY(t: number): Mat3 {
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [c, 0, s, 0, 1, 0, -s, 0, c];
}

function rotZ(t: number): Mat3 {
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [c, -s, 0, s, c, 0, 0, 0, 1];
}

function apply(m: Mat3, x: number, y: number, z: number): Vec3 {
  return {
    x: m[0] * x + m[1] * y + m[2] * z,
    y: m[3] * x + m[4] * y + m[5] * z,
    z: m[6] * x + m[7] * y + m[8] * z,
  };
}

function add(a: Vec3, b: Vec3): Vec3 {
  return { x: a.x + b.x, y: a.y + b.y, z: a.z + b.z };
}

/** Radius (m, before scaling) used for ground contact of each joint. */
const CONTACT_RADIUS: Readonly<Record<JointName, number>> = {
  pelvis: 0.1,
  neck: 0.08,
  head: BODY.headRadius,
  shoulderL: 0.06,
  shoulderR: 0.06,
  elbowL: 0.045,
  elbowR: 0.045,
  wristL: 0.035,
  wristR: 0.035,
  hipL: 0.08,
  hipR: 0.08,
  kneeL: 0.06,
  kneeR: 0.06,
  ankleL: BODY.ankleHeight,
  ankleR: BODY.ankleHeight,
  toeL: 0.025,
  toeR: 0.025,
};

/**
 * Forward kinematics: places the figure at ground point (X, Z) facing `yaw`, lifted so
 * its lowest body part touches the ground, then raised by `lift` metres (jumps).
 *
 * Why "lowest part touches the ground": walking, crouching and falling then need no
 * separate foot-contact solver — the stance foot, or the torso of a fallen person, ends up
 * on the ground by construction.
 *
 * @example
 * const sk = forwardKinematics(NEUTRAL_POSE, { X: 0, Z: 10, yaw: Math.PI / 2, scale: 1 });
 * // sk.joints.head.y ≈ 1.6
 * @param pose - joint angles
 * @param place - ground position (m), yaw (radians; 0 faces away from the camera, +π/2
 *   faces +X), body scale, and optional lift (m)
 * @returns world-space joints
 */
export function forwardKinematics(
  pose: Pose,
  place: { readonly X: number; readonly Z: number; readonly yaw: number; readonly scale: number; readonly lift?: number },
): Skeleton {
  const k = place.scale;
  const world = rotY(place.yaw);
  const pelvisR = mul(world, mul(rotX(pose.bodyPitch), rotZ(-pose.bodyRoll)));
  const chestR = mul(pelvisR, mul(mul(rotX(pose.torsoLean), rotZ(-pose.torsoSide)), rotY(pose.torsoTwist)));
  const origin: Vec3 = { x: 0, y: 0, z: 0 };
  const neck = apply(chestR, 0, BODY.spine * k, 0);
  const headR = mul(chestR, mul(rotY(pose.headYaw), rotX(pose.headPitch)));
  const head = add(neck, apply(headR, 0, BODY.neckToHead * k, 0.015 * k));

  const arm = (side: 1 | -1, flex: number, abd: number, elbow: number): [Vec3, Vec3, Vec3] => {
    const shoulder = add(neck, apply(chestR, side * BODY.shoulderHalf * k, -0.04 * k, 0));
    const upper = mul(chestR, mul(rotZ(side * abd), rotX(-flex)));
    const elbowP = add(shoulder, apply(upper, 0, -BODY.upperArm * k, 0));
    const fore = mul(upper, rotX(-elbow));
    const wrist = add(elbowP, apply(fore, 0, -BODY.foreArm * k, 0));
    return [shoulder, elbowP, wrist];
  };
  const leg = (side: 1 | -1, flex: number, abd: number, knee: number): [Vec3, Vec3, Vec3, Vec3] => {
    const hip = apply(pelvisR, side * BODY.hipHalf * k, 0, 0);
    const thighR = mul(pelvisR, mul(rotZ(side * abd), rotX(-flex)));
    const kneeP = add(hip, apply(thighR, 0, -BODY.thigh * k, 0));
    const shinR = mul(thighR, rotX(knee));
    const ankle = add(kneeP, apply(shinR, 0, -BODY.shin * k, 0));
    // The foot stays roughly at right angles to the shin (no ankle joint of its own).
    const toe = add(ankle, apply(shinR, 0, -0.03 * k, BODY.foot * k));
    return [hip, kneeP, ankle, toe];
  };

  const [shoulderL, elbowL, wristL] = arm(-1, pose.shoulderFlexL, pose.shoulderAbdL, pose.elbowL);
  const [shoulderR, elbowR, wristR] = arm(1, pose.shoulderFlexR, pose.shoulderAbdR, pose.elbowR);
  const [hipL, kneeL, ankleL, toeL] = leg(-1, pose.hipFlexL, pose.hipAbdL, pose.kneeL);
  const [hipR, kneeR, ankleR, toeR] = leg(1, pose.hipFlexR, pose.hipAbdR, pose.kneeR);
  const local: Record<JointName, Vec3> = {
    pelvis: origin,
    neck,
    head,
    shoulderL,
    shoulderR,
    elbowL,
    elbowR,
    wristL,
    wristR,
    hipL,
    hipR,
    kneeL,
    kneeR,
    ankleL,
    ankleR,
    toeL,
    toeR,
  };
  let minY = Infinity;
  for (const name of JOINT_NAMES) {
    const y = local[name].y - CONTACT_RADIUS[name] * k;
    if (y < minY) minY = y;
  }
  const shift: Vec3 = { x: place.X, y: -minY + (place.lift ?? 0), z: place.Z };
  const joints = {} as Record<JointName, Vec3>;
  for (const name of JOINT_NAMES) joints[name] = add(local[name], shift);
  return { joints, scale: k };
}
