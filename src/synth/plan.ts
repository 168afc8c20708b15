/**
 * Plans one synthetic video from a seed: its duration, the timeline of annotated action
 * instances separated by long irrelevant stretches, the actors' scripts, the distractors
 * (passers-by, vehicles, swaying trees), the scene, lighting, shake and noise.
 *
 * Why independent random streams: the timeline and the actors draw from their own
 * streams, derived from the seed, so turning a nuisance knob (more distractors, more
 * noise, more shake) changes the nuisances and leaves the annotated instances as they
 * were — a nuisance sweep compares like with like.
 */
import { phaseEnd } from './actors.ts';
import type { Appearance, Phase, PersonSpec } from './actors.ts';
import { calibrateCamera, groundAt, horizonRow, personHeightAt, project } from './camera.ts';
import type { CameraModel } from './camera.ts';
import { gaitFor } from './motions.ts';
import type { FightMove, LoiterStep, Motion } from './motions.ts';
import { resolveSynthOptions } from './options.ts';
import type { Range, ResolvedSynthOptions, SynthOptions } from './options.ts';
import { createRng, hashSeed } from './prng.ts';
import type { Rng } from './prng.ts';
import type { Rgb } from './raster.ts';
import { SYNTH_CLASSES } from './spec.ts';
import type {
  BuildingSpec,
  LightingSpec,
  PostSpec,
  SceneSpec,
  ShakeEpisode,
  SynthAction,
  SynthInstance,
  TreeSpec,
  VehicleSpec,
  VideoSpec,
  WindSpec,
} from './spec.ts';

/** Stream ids for {@link hashSeed}: one independent random stream per concern. */
const STREAM = {
  timeline: 1,
  scene: 2,
  lighting: 3,
  shake: 4,
  walkers: 5,
  vehicles: 6,
  wind: 7,
  actor: 1000,
} as const;

/** A ground point, metres. */
interface Ground {
  readonly X: number;
  readonly Z: number;
}

/** Image-row bands of the scene layout (pixels) and the camera. */
interface Layout {
  readonly cam: CameraModel;
  /** Rows where actors perform (feet rows). */
  readonly actionRows: Range;
  /** Rows where passers-by walk on the near side of the road. */
  readonly plazaRows: Range;
  readonly roadNear: number;
  readonly roadFar: number;
  /** Depth of the nearest facade. */
  readonly buildingZ: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function rangeOf(rng: Rng, r: Range): number {
  return rng.range(r[0], r[1]);
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

function hsv(h: number, s: number, v: number): Rgb {
  const f = (n: number): number => {
    const k = (n + h * 6) % 6;
    return Math.round(255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

function jitter(rng: Rng, c: Rgb, amount: number): Rgb {
  return [
    clamp(Math.round(c[0] + rng.normal(0, amount)), 0, 255),
    clamp(Math.round(c[1] + rng.normal(0, amount)), 0, 255),
    clamp(Math.round(c[2] + rng.normal(0, amount)), 0, 255),
  ];
}

/**
 * Draws clothing and skin colours. Deliberately the same distribution for actors and
 * passers-by, whatever the action, so colour never identifies a class.
 */
function drawAppearance(rng: Rng): Appearance {
  const shirt = rng.chance(0.35)
    ? jitter(rng, rng.pick<Rgb>([[235, 235, 230], [30, 30, 34], [120, 120, 125], [70, 72, 80]]), 8)
    : hsv(rng.next(), rng.range(0.25, 0.8), rng.range(0.3, 0.9));
  const pants = jitter(
    rng,
    rng.pick<Rgb>([[50, 68, 110], [32, 32, 38], [92, 92, 98], [150, 135, 100], [88, 70, 52], [40, 45, 70]]),
    10,
  );
  const tone = rng.next();
  const skin: Rgb = [Math.round(235 - 145 * tone), Math.round(195 - 135 * tone), Math.round(165 - 120 * tone)];
  const hair = jitter(rng, rng.pick<Rgb>([[25, 20, 18], [70, 45, 30], [170, 140, 90], [150, 150, 150], [40, 30, 25]]), 6);
  const shoes = rng.chance(0.25) ? jitter(rng, [225, 225, 225], 8) : jitter(rng, [35, 32, 30], 8);
  return { shirt, pants, skin, hair, shoes, longSleeves: rng.chance(0.5) };
}

/** Camera, static scene and layout bands. */
function planScene(rng: Rng, o: ResolvedSynthOptions): { scene: SceneSpec; layout: Layout } {
  const W = o.width;
  const H = o.height;
  const cam = calibrateCamera({
    width: W,
    height: H,
    focal: rng.range(0.8, 1.4) * W,
    horizonFrac: rng.range(0.12, 0.3),
    refRowFrac: 0.75,
    personFrac: rangeOf(rng, o.figureScale),
  });
  const hr = horizonRow(cam);
  const zAt = (row: number): number => groundAt(cam, W / 2, row)?.Z ?? 1000;
  const roadFarRow = hr + rng.range(0.04, 0.07) * H;
  const roadNearRow = Math.min(0.46 * H, roadFarRow + rng.range(0.05, 0.09) * H);
  const roadNear = zAt(roadNearRow);
  const roadFar = Math.max(roadNear + 4, zAt(roadFarRow));
  const buildingZ = roadFar + rng.range(3, 8);
  // Facades span the whole view at their depth (plus margin for the farther ones).
  const halfWidth = ((W / 2) * (buildingZ + 20)) / cam.focal + 5;
  const buildings: BuildingSpec[] = [];
  for (let x = -halfWidth; x < halfWidth; ) {
    const w = rng.range(8, 26);
    const base = rng.pick<Rgb>([[150, 145, 140], [175, 165, 150], [140, 95, 80], [110, 115, 125], [200, 195, 185], [95, 100, 105]]);
    buildings.push({
      x0: x,
      x1: x + w,
      Z: buildingZ + (rng.chance(0.5) ? 0 : rng.range(2, 15)),
      height: rng.range(6, 36),
      color: jitter(rng, base, 10),
      window: jitter(rng, [55, 65, 80], 8),
      lit: jitter(rng, [215, 200, 150], 10),
      litFraction: rng.range(0, 0.35),
      floorHeight: rng.range(2.9, 3.6),
      windowSpacing: rng.range(2.2, 3.6),
      seed: rng.uint32(),
    });
    x += w + (rng.chance(0.3) ? rng.range(1, 6) : 0);
  }
  const actionRows: Range = [Math.max(0.52 * H, roadNearRow + 0.08 * H), 0.95 * H];
  const plazaRows: Range = [roadNearRow + 0.03 * H, 0.99 * H];
  const midZ = zAt((actionRows[0] + actionRows[1]) / 2);
  const halfView = ((W / 2) * midZ) / cam.focal;
  const trees: TreeSpec[] = [];
  const nTrees = Math.round(o.distractors * rng.range(1, 3.2));
  for (let i = 0; i < nTrees; i++) {
    const Z = rng.range(Math.max(2, roadNear - 3), roadNear - 0.6);
    const half = ((W / 2) * Z) / cam.focal;
    const blobs = Array.from({ length: rng.int(4, 7) }, () => ({
      dx: rng.range(-0.6, 0.6),
      dy: rng.range(-0.45, 0.45),
      r: rng.range(0.45, 0.75),
      shade: rng.range(0.8, 1.15),
    }));
    trees.push({
      X: rng.range(-half, half),
      Z,
      height: rng.range(4, 8),
      crown: jitter(rng, rng.pick<Rgb>([[60, 105, 50], [80, 120, 55], [50, 90, 60]]), 10),
      trunk: jitter(rng, [85, 65, 50], 8),
      phase: rng.range(0, 2 * Math.PI),
      blobs,
    });
  }
  const posts: PostSpec[] = [];
  const nPosts = rng.int(0, 3);
  const postZ = roadNear - 0.4;
  const postHalf = ((W / 2) * postZ) / cam.focal;
  for (let i = 0; i < nPosts; i++) {
    posts.push({
      X: rng.range(-postHalf, postHalf),
      Z: postZ,
      height: rng.range(4, 5.5),
      color: jitter(rng, [60, 62, 66], 6),
      side: rng.chance(0.5) ? 1 : -1,
    });
  }
  const overcast = rng.chance(0.4);
  const scene: SceneSpec = {
    skyTop: overcast ? jitter(rng, [175, 180, 188], 8) : jitter(rng, [105, 150, 210], 10),
    skyHorizon: overcast ? jitter(rng, [205, 207, 210], 6) : jitter(rng, [190, 205, 222], 6),
    roadNear,
    roadFar,
    road: jitter(rng, [80, 80, 84], 8),
    plaza: jitter(rng, rng.pick<Rgb>([[168, 162, 150], [150, 150, 150], [180, 170, 150], [135, 128, 120]]), 8),
    farGround: jitter(rng, [140, 138, 132], 8),
    grass: jitter(rng, [70, 120, 55], 8),
    grassSide: rng.pick([-1, 0, 1] as const),
    grassX: halfView * rng.range(0.45, 0.75),
    tile: rng.range(0.6, 2),
    textureSeed: rng.uint32(),
    buildings,
    trees,
    posts,
  };
  return { scene, layout: { cam, actionRows, plazaRows, roadNear, roadFar, buildingZ } };
}

/** Ground point under pixel (x, row); rows are kept below the horizon by the layout. */
function groundOf(cam: CameraModel, x: number, row: number): Ground {
  const g = groundAt(cam, x, row);
  if (g === undefined) throw new RangeError(`row ${row} is above the horizon`);
  return g;
}

/** Whether a standing figure at ground point g is entirely out of the frame. */
function offscreen(cam: CameraModel, g: Ground): boolean {
  const feet = project(cam, g.X, 0, g.Z);
  if (feet.depth < 0.5) return true;
  const head = project(cam, g.X, 1.8, g.Z);
  const half = 0.6 * (feet.y - head.y) + 2;
  return feet.x < -half || feet.x > cam.width + half || head.y > cam.height || g.Z > 150;
}

/** Whether a standing figure at g stands inside the given feet rows and a column margin. */
function inBand(cam: CameraModel, g: Ground, rows: Range, colMargin: number): boolean {
  const p = project(cam, g.X, 0, g.Z);
  return p.depth > 0.5 && p.y >= rows[0] && p.y <= rows[1] && p.x >= colMargin && p.x <= cam.width - colMargin;
}

/** Walks from g along `yaw` (or against it when dir = −1) until the figure is out of view. */
function exitAlong(cam: CameraModel, g: Ground, yaw: number, dir: 1 | -1): Ground {
  const sx = Math.sin(yaw) * dir;
  const sz = Math.cos(yaw) * dir;
  let p = g;
  for (let i = 0; i < 2000 && !offscreen(cam, p); i++) p = { X: p.X + 0.1 * sx, Z: p.Z + 0.1 * sz };
  return p;
}

/** An off-screen point beside the frame on `side` (−1 left, +1 right) at feet row `row`. */
function edgePoint(cam: CameraModel, side: -1 | 1, row: number): Ground {
  const r = clamp(row, horizonRow(cam) + 2, cam.height * 0.99);
  const margin = 0.45 * personHeightAt(cam, r) + 3;
  return groundOf(cam, side < 0 ? -margin : cam.width + margin, r);
}

function yawFrom(a: Ground, b: Ground): number {
  return Math.atan2(b.X - a.X, b.Z - a.Z);
}

function dist(a: Ground, b: Ground): number {
  return Math.hypot(b.X - a.X, b.Z - a.Z);
}

function walkMotion(rng: Rng, speed: number, scale: number): Motion {
  const g = gaitFor(speed, scale, false);
  return { kind: 'walk', speed, cycle: g.cycle, amp: g.amp, phase0: rng.next() };
}

/** A walk phase from a to b ending at t1 (or starting at t0 when `from` is 'start'). */
function walkPhase(rng: Rng, a: Ground, b: Ground, time: number, anchor: 'end' | 'start', speed: number, scale: number, blend: number): Phase {
  const d = dist(a, b);
  const dur = Math.max(0.1, d / speed);
  const t0 = anchor === 'end' ? time - dur : time;
  return { t0, t1: t0 + dur, X: a.X, Z: a.Z, yaw: yawFrom(a, b), motion: walkMotion(rng, d / dur, scale), blend };
}

function stand(rng: Rng, at: Ground, yaw: number, t0: number, t1: number, blend: number): Phase {
  return { t0, t1, X: at.X, Z: at.Z, yaw, motion: { kind: 'stand', sway: rng.range(0, 6), phone: false }, blend };
}

/** The part of an actor's plan fixed before the timeline: duration and a builder. */
interface ActorDraft {
  readonly duration: number;
  readonly spots: readonly Ground[];
  build(start: number, instance: number, firstId: number): PersonSpec[];
}

interface ActorContext {
  readonly rng: Rng;
  readonly layout: Layout;
  readonly o: ResolvedSynthOptions;
  /** Spots of earlier instances: new ones keep away from them. */
  readonly avoid: readonly Ground[];
}

function pickSpot(ctx: ActorContext, margin: number): Ground {
  const { rng, layout } = ctx;
  const cam = layout.cam;
  let best: Ground = groundOf(cam, cam.width / 2, (layout.actionRows[0] + layout.actionRows[1]) / 2);
  let bestClear = -1;
  for (let i = 0; i < 30; i++) {
    const g = groundOf(cam, rng.range(margin, cam.width - margin), rangeOf(rng, layout.actionRows));
    const clear = Math.min(Infinity, ...ctx.avoid.map((a) => dist(a, g)));
    if (clear > 2.5) return g;
    if (clear > bestClear) {
      best = g;
      bestClear = clear;
    }
  }
  return best;
}

/** Walk in from an edge, stand, act, stand, walk out: the shape of most actor scripts. */
function enterActLeave(
  ctx: ActorContext,
  scale: number,
  tempo: number,
  spot: Ground,
  facing: number,
  start: number,
  duration: number,
  action: Motion,
  instance: number,
  id: number,
  entrySide?: -1 | 1,
): PersonSpec {
  const { rng, layout } = ctx;
  const cam = layout.cam;
  const walkSpeed = rng.range(1.1, 1.5) * tempo;
  const row = project(cam, spot.X, 0, spot.Z).y;
  const coin: -1 | 1 = rng.chance(0.5) ? -1 : 1;
  const inSide = entrySide ?? coin;
  const entry = edgePoint(cam, inSide, row + rng.normal(0, 0.08 * cam.height));
  const preStand = rng.range(0.4, 1.4);
  const walkIn = walkPhase(rng, entry, spot, start - preStand, 'end', walkSpeed, scale, 0);
  const phases: Phase[] = [walkIn, stand(rng, spot, facing, walkIn.t1, start, 0.6)];
  const act: Phase = { t0: start, t1: start + duration, X: spot.X, Z: spot.Z, yaw: facing, motion: action, blend: 0.3 };
  phases.push(act);
  const after = phaseEnd(act, scale);
  const postStand = rng.range(0.3, 1.2);
  phases.push(stand(rng, after, after.yaw, act.t1, act.t1 + postStand, 0.35));
  const outSide: -1 | 1 = rng.chance(0.6) ? (-inSide as -1 | 1) : inSide;
  const exit = edgePoint(cam, outSide, row + rng.normal(0, 0.08 * cam.height));
  phases.push(walkPhase(rng, after, exit, act.t1 + postStand, 'start', walkSpeed, scale, 0.5));
  return { id, role: 'actor', instance, scale, appearance: drawAppearance(rng), phases };
}

function draftSimple(ctx: ActorContext, cls: 'wave' | 'jump' | 'loiter', duration: number): ActorDraft {
  const { rng, o } = ctx;
  const scale = rng.range(0.9, 1.08);
  const tempo = rangeOf(rng, o.speed);
  const spot = pickSpot(ctx, 0.18 * o.width);
  const facing = rng.range(-Math.PI, Math.PI);
  let motion: Motion;
  if (cls === 'wave') {
    motion = {
      kind: 'wave',
      arms: rng.pick(['L', 'R', 'L', 'R', 'both'] as const),
      freq: rng.range(1.2, 2.2) * tempo,
      base: rng.range(2.2, 2.6),
      swing: rng.range(0.25, 0.45),
      raise: rng.range(0.3, 0.5) / tempo,
    };
  } else if (cls === 'jump') {
    const height = rng.range(0.2, 0.45) * scale;
    const crouch = rng.range(0.25, 0.4) / tempo;
    const push = 0.12 / tempo;
    const flight = 2 * Math.sqrt((2 * height) / 9.81);
    const land = rng.range(0.3, 0.45) / tempo;
    const J = crouch + push + flight + land;
    const count = Math.max(1, Math.round(duration / (J + 0.35)));
    const pause = Math.max(0, (duration - count * J) / count);
    const starts = Array.from({ length: count }, (_, k) => round3(pause / 2 + k * (J + pause)));
    motion = { kind: 'jump', starts, crouch, push, flight, land, height };
  } else {
    const steps: LoiterStep[] = [];
    let t = 0;
    let yaw = 0;
    let f = 0;
    let l = 0;
    let k = 0;
    while (t < duration - 1e-6) {
      const kind: LoiterStep['kind'] = k === 0 ? 'stand' : (['turn', 'pace', 'stand'] as const)[(k - 1) % 3] ?? 'stand';
      const len = kind === 'stand' ? rng.range(0.8, 2.5) : kind === 'turn' ? rng.range(0.6, 1.0) : rng.range(1.0, 2.5);
      const t1 = Math.min(duration, t + len);
      const dYaw = kind === 'turn' ? (rng.chance(0.5) ? 1 : -1) * rng.range(2.2, 3.4) : 0;
      const speed = kind === 'pace' ? rng.range(0.35, 0.6) * tempo : 0;
      steps.push({ kind, t0: t, t1, yaw0: yaw, dYaw, f0: f, l0: l, speed, phone: kind === 'stand' && rng.chance(0.3) });
      if (kind === 'turn') yaw += dYaw;
      if (kind === 'pace') {
        f += speed * (t1 - t) * Math.cos(yaw);
        l += speed * (t1 - t) * Math.sin(yaw);
      }
      t = t1;
      k++;
    }
    motion = { kind: 'loiter', steps };
  }
  return {
    duration,
    spots: [spot],
    build: (start, instance, firstId) => [enterActLeave(ctx, scale, tempo, spot, facing, start, duration, motion, instance, firstId)],
  };
}

function draftFall(ctx: ActorContext, duration: number): ActorDraft {
  const { rng, o, layout } = ctx;
  const cam = layout.cam;
  const scale = rng.range(0.9, 1.08);
  const tempo = rangeOf(rng, o.speed);
  const spot = pickSpot(ctx, 0.25 * o.width);
  const dir = rng.pick(['forward', 'forward', 'forward', 'backward', 'left', 'right'] as const);
  const stumble = rng.range(0.25, 0.6) / tempo;
  const drop = rng.range(0.45, 0.8) / Math.sqrt(tempo);
  const motion: Motion = { kind: 'fall', dir, stumble, drop, twitch: rng.range(0, 6) };
  // The person walks into the fall from an edge, so the heading is the walk's direction.
  const spotPx = project(cam, spot.X, 0, spot.Z);
  const row = spotPx.y;
  // Enter from the nearer side, so the fall (along the walk) lands towards the middle.
  const inSide: -1 | 1 = spotPx.x < cam.width / 2 ? -1 : 1;
  const entry = edgePoint(cam, inSide, row + rng.normal(0, 0.06 * cam.height));
  const walkSpeed = rng.range(1.0, 1.4) * tempo;
  const getup = rng.range(1.6, 2.8) / tempo;
  const postStand = rng.range(0.4, 1.2);
  const appearance = drawAppearance(rng);
  const exitSide: -1 | 1 = rng.chance(0.5) ? -1 : 1;
  const exitRowJitter = rng.normal(0, 0.06 * cam.height);
  const walkRng = createRng(rng.uint32());
  return {
    duration,
    spots: [spot],
    build: (start, instance, firstId) => {
      const walkIn = walkPhase(walkRng, entry, spot, start, 'end', walkSpeed, scale, 0);
      const fall: Phase = { t0: start, t1: start + duration, X: spot.X, Z: spot.Z, yaw: walkIn.yaw, motion, blend: 0.25 };
      const up: Phase = { t0: fall.t1, t1: fall.t1 + getup, X: spot.X, Z: spot.Z, yaw: walkIn.yaw, motion: { kind: 'getup', dir }, blend: 0.3 };
      const risen = phaseEnd(up, scale);
      const wait = stand(walkRng, risen, risen.yaw, up.t1, up.t1 + postStand, 0.3);
      const exit = edgePoint(cam, exitSide, row + exitRowJitter);
      const walkOut = walkPhase(walkRng, risen, exit, wait.t1, 'start', walkSpeed, scale, 0.5);
      return [{ id: firstId, role: 'actor', instance, scale, appearance, phases: [walkIn, fall, up, wait, walkOut] }];
    },
  };
}

function draftRun(ctx: ActorContext, wanted: number): ActorDraft {
  const { rng, o, layout } = ctx;
  const cam = layout.cam;
  const scale = rng.range(0.9, 1.08);
  const tempo = rangeOf(rng, o.speed);
  const [dMin] = o.instanceSeconds;
  const margin = 0.06 * o.width;
  let speed = rng.range(2.8, 4.2) * tempo;
  let duration = wanted;
  let from: Ground | undefined;
  let yaw = 0;
  // The whole run must be in view: try paths, then shorten, then slow down.
  for (let attempt = 0; attempt < 40 && from === undefined; attempt++) {
    for (let i = 0; i < 60; i++) {
      const a = groundOf(cam, rng.range(margin, o.width - margin), rangeOf(rng, layout.actionRows));
      const y = rng.range(-Math.PI, Math.PI);
      const L = speed * duration;
      const b = { X: a.X + L * Math.sin(y), Z: a.Z + L * Math.cos(y) };
      if (inBand(cam, b, [layout.plazaRows[0], layout.actionRows[1]], margin)) {
        from = a;
        yaw = y;
        break;
      }
    }
    if (from === undefined) {
      if (duration > dMin + 1e-9) duration = Math.max(dMin, duration * 0.85);
      else speed = Math.max(2.2 * tempo, speed * 0.9);
    }
  }
  const start: Ground = from ?? groundOf(cam, o.width / 2, layout.actionRows[1]);
  const g = gaitFor(speed, scale, true);
  const motion: Motion = { kind: 'run', speed, cycle: g.cycle, amp: g.amp, phase0: rng.next() };
  const walkSpeed = rng.range(1.1, 1.5) * tempo;
  const entry = exitAlong(cam, start, yaw, -1);
  const appearance = drawAppearance(rng);
  const walkRng = createRng(rng.uint32());
  const dur = round3(duration);
  return {
    duration: dur,
    spots: [start],
    build: (t, instance, firstId) => {
      const walkIn = walkPhase(walkRng, entry, start, t, 'end', walkSpeed, scale, 0);
      const run: Phase = { t0: t, t1: t + dur, X: start.X, Z: start.Z, yaw, motion, blend: 0.4 };
      const end = phaseEnd(run, scale);
      const exit = exitAlong(cam, end, yaw, 1);
      const walkOut = walkPhase(walkRng, end, exit, run.t1, 'start', walkSpeed, scale, 0.6);
      return [{ id: firstId, role: 'actor', instance, scale, appearance, phases: [walkIn, run, walkOut] }];
    },
  };
}

function draftFight(ctx: ActorContext, duration: number): ActorDraft {
  const { rng, o, layout } = ctx;
  const cam = layout.cam;
  const tempo = rangeOf(rng, o.speed);
  const centre = pickSpot(ctx, 0.25 * o.width);
  // Mostly across the view: fighters lined up along the line of sight hide each other.
  const axis = (rng.chance(0.5) ? 1 : -1) * Math.PI / 2 + rng.normal(0, 0.45);
  const sep = rng.range(0.85, 1.05);
  const a: Ground = { X: centre.X - (sep / 2) * Math.sin(axis), Z: centre.Z - (sep / 2) * Math.cos(axis) };
  const b: Ground = { X: centre.X + (sep / 2) * Math.sin(axis), Z: centre.Z + (sep / 2) * Math.cos(axis) };
  const movesOf = (): FightMove[] => {
    const moves: FightMove[] = [];
    for (let t = rng.range(0.1, 0.6) / tempo; t < duration - 0.45; t += rng.range(0.35, 0.95) / tempo) {
      const u = rng.next();
      moves.push({ t: round3(t), kind: u < 0.36 ? 'punchL' : u < 0.72 ? 'punchR' : u < 0.86 ? 'kick' : 'shove' });
    }
    return moves;
  };
  const movesA = movesOf();
  const movesB = movesOf();
  const fighter = (moves: FightMove[], hits: FightMove[]): Motion => ({
    kind: 'fight',
    moves,
    hits,
    shuffle: rng.range(0.5, 1.2) * tempo,
    phase0: rng.range(0, 2 * Math.PI),
  });
  const motionA = fighter(movesA, movesB);
  const motionB = fighter(movesB, movesA);
  const scaleA = rng.range(0.9, 1.08);
  const scaleB = rng.range(0.9, 1.08);
  const walkRng = createRng(rng.uint32());
  const ax = project(cam, a.X, 0, a.Z).x;
  const bx = project(cam, b.X, 0, b.Z).x;
  const sideA: -1 | 1 = ax <= bx ? -1 : 1;
  return {
    duration,
    spots: [a, b],
    build: (start, instance, firstId) => [
      enterActLeave({ ...ctx, rng: walkRng }, scaleA, tempo, a, yawFrom(a, b), start, duration, motionA, instance, firstId, sideA),
      enterActLeave({ ...ctx, rng: walkRng }, scaleB, tempo, b, yawFrom(b, a), start, duration, motionB, instance, firstId + 1, (-sideA) as -1 | 1),
    ],
  };
}

/**
 * Splits `total` milliseconds into n integer parts within [lo, hi] (ms), as evenly random
 * as the bounds allow. Integer milliseconds make the annotated times exact: the gaps a
 * reader computes from start/end values are the gaps planned here.
 */
function splitWithinMs(rng: Rng, total: number, n: number, lo: number, hi: number): number[] {
  const w = Array.from({ length: n }, () => rng.exponential(1));
  const sw = w.reduce((s, x) => s + x, 0);
  const free = Math.max(0, total - n * lo);
  const parts = w.map((x) => lo + (free * x) / sw);
  // Water-fill: parts above hi give their excess to the others, while any has room.
  for (let iter = 0; iter < n; iter++) {
    let excess = 0;
    let room = 0;
    for (const p of parts) {
      if (p > hi) excess += p - hi;
      else room += hi - p;
    }
    if (excess <= 1e-9 || room <= 1e-9) break;
    const k = Math.min(1, excess / room);
    for (let i = 0; i < n; i++) {
      const p = parts[i] ?? lo;
      parts[i] = p > hi ? hi : p + (hi - p) * k;
    }
  }
  const ints = parts.map((p) => Math.floor(p));
  // Hand out the milliseconds lost to flooring to parts with room (the last ones first
  // only when none has room, e.g. bounds that cannot all hold).
  let rest = total - ints.reduce((s, x) => s + x, 0);
  for (let i = 0; rest > 0 && i < n; i++) {
    const add = Math.min(rest, Math.max(0, hi - (ints[i] ?? hi)));
    ints[i] = (ints[i] ?? 0) + add;
    rest -= add;
  }
  if (rest > 0) ints[n - 1] = (ints[n - 1] ?? 0) + rest;
  return ints;
}

/** The number of instances and their classes and rough durations. */
function planTimeline(
  rng: Rng,
  o: ResolvedSynthOptions,
  D: number,
): { count: number; classes: SynthAction[]; durations: number[] } {
  const [dMin, dMax] = o.instanceSeconds;
  const [gMin, gMax] = o.gapSeconds;
  if (o.maxInstances === 0 || rng.chance(o.emptyFraction)) return { count: 0, classes: [], durations: [] };
  const feasible: number[] = [];
  for (let n = Math.max(1, o.minInstances); n <= o.maxInstances; n++) {
    if (n * dMin + (n + 1) * gMin <= D + 1e-9 && n * dMax + (n + 1) * gMax >= D - 1e-9) feasible.push(n);
  }
  if (feasible.length === 0) {
    // Bounds that cannot all hold: keep as many instances as fit with minimal gaps.
    const n = Math.max(Math.min(o.minInstances, 1), Math.floor((D - gMin) / (dMin + gMin)));
    if (n <= 0) return { count: 0, classes: [], durations: [] };
    feasible.push(Math.min(o.maxInstances, n));
  }
  const count = rng.pick(feasible);
  const classes = Array.from({ length: count }, () => rng.pick(o.classes));
  let durations = Array.from({ length: count }, () => rng.range(dMin, dMax));
  const sum = (): number => durations.reduce((s, d) => s + d, 0);
  const maxTotal = D - (count + 1) * gMin;
  const minTotal = D - (count + 1) * gMax;
  // Squeeze or stretch the durations (within their bounds) so the gaps can fit theirs.
  if (sum() > maxTotal) {
    const k = Math.max(0, (maxTotal - count * dMin) / Math.max(1e-9, sum() - count * dMin));
    durations = durations.map((d) => dMin + (d - dMin) * k);
  } else if (sum() < minTotal) {
    const k = Math.min(1, (minTotal - sum()) / Math.max(1e-9, count * dMax - sum()));
    durations = durations.map((d) => d + (dMax - d) * k);
  }
  // Whole milliseconds, rounded down so the squeezed total still leaves the gaps their room.
  return { count, classes, durations: durations.map((d) => Math.floor(d * 1000) / 1000) };
}

function planWalkers(rng: Rng, o: ResolvedSynthOptions, layout: Layout, D: number, firstId: number): PersonSpec[] {
  const cam = layout.cam;
  const people: PersonSpec[] = [];
  let id = firstId;
  const spawn = (rate: number, rowOf: () => number, far: boolean): void => {
    if (rate <= 0) return;
    for (let t = -20 + rng.exponential(rate); t < D; t += rng.exponential(rate)) {
      const scale = rng.range(0.88, 1.08);
      const tempo = rangeOf(rng, o.speed);
      const speed = rng.range(1.0, 1.6) * tempo;
      const side: -1 | 1 = rng.chance(0.5) ? -1 : 1;
      const r0 = rowOf();
      const r1 = far ? r0 : clamp(r0 + rng.normal(0, 0.05 * cam.height), layout.plazaRows[0], layout.plazaRows[1]);
      const a = edgePoint(cam, side, r0);
      const b = edgePoint(cam, (-side) as -1 | 1, r1);
      const pair = !far && rng.chance(0.2);
      const makeOne = (offset: number): void => {
        const yaw = yawFrom(a, b);
        const shift = { X: offset * Math.cos(yaw), Z: -offset * Math.sin(yaw) };
        const from = { X: a.X + shift.X, Z: a.Z + shift.Z };
        const to = { X: b.X + shift.X, Z: b.Z + shift.Z };
        const w = walkPhase(rng, from, to, t, 'start', speed, scale, 0);
        if (w.t1 < 0) return;
        people.push({ id: id++, role: 'walker', scale, appearance: drawAppearance(rng), phases: [w] });
      };
      makeOne(0);
      if (pair) makeOne(rng.chance(0.5) ? 0.6 : -0.6);
    }
  };
  const perMinute = o.distractors / 60;
  spawn(4 * perMinute, () => rangeOf(rng, layout.plazaRows), false);
  const farRows: Range = [
    project(cam, 0, 0, layout.buildingZ - 0.5).y,
    project(cam, 0, 0, layout.roadFar + 0.5).y,
  ];
  if (farRows[1] - farRows[0] > 0.5) spawn(2 * perMinute, () => rangeOf(rng, farRows), true);
  return people;
}

function planVehicles(rng: Rng, o: ResolvedSynthOptions, layout: Layout, D: number): VehicleSpec[] {
  const cam = layout.cam;
  const rate = (2.5 * o.distractors) / 60;
  const vehicles: VehicleSpec[] = [];
  if (rate <= 0) return vehicles;
  const lanes = [
    { Z: layout.roadNear + 0.28 * (layout.roadFar - layout.roadNear), dir: 1 },
    { Z: layout.roadNear + 0.72 * (layout.roadFar - layout.roadNear), dir: -1 },
  ];
  const last: (VehicleSpec | undefined)[] = [undefined, undefined];
  for (let t = -10 + rng.exponential(rate); t < D; t += rng.exponential(rate)) {
    const laneIndex = rng.chance(0.5) ? 0 : 1;
    const lane = lanes[laneIndex] ?? { Z: layout.roadNear + 1, dir: 1 };
    const kind = rng.chance(0.75) ? 'car' : 'van';
    const length = kind === 'car' ? rng.range(4, 4.8) : rng.range(5, 6);
    const half = ((cam.width / 2) * project(cam, 0, 0, lane.Z).depth) / cam.focal + length;
    let speed = rng.range(5, 12);
    const prev = last[laneIndex];
    // No overtaking through each other: a follower that would catch up keeps the leader's speed.
    if (prev !== undefined && t < prev.t1 && speed > Math.abs(prev.speed)) speed = Math.abs(prev.speed);
    if (prev !== undefined && t < prev.t0 + (length + 3) / speed) continue;
    const v: VehicleSpec = {
      t0: t,
      t1: t + (2 * half) / speed,
      X0: -lane.dir * half,
      speed: lane.dir * speed,
      Z: lane.Z,
      length,
      height: kind === 'car' ? rng.range(1.4, 1.55) : rng.range(2.0, 2.4),
      kind,
      color: rng.chance(0.4)
        ? jitter(rng, rng.pick<Rgb>([[230, 230, 230], [25, 25, 28], [140, 140, 145]]), 6)
        : hsv(rng.next(), rng.range(0.4, 0.85), rng.range(0.35, 0.85)),
    };
    last[laneIndex] = v;
    if (v.t1 >= 0) vehicles.push(v);
  }
  return vehicles;
}

function planLighting(rng: Rng, D: number): LightingSpec {
  const clouds: { t: number; width: number; depth: number }[] = [];
  for (let t = rng.exponential(1 / 40) - 10; t < D + 10; t += rng.exponential(1 / 40)) {
    clouds.push({ t, width: rng.range(2, 8), depth: rng.range(0.06, 0.22) });
  }
  return {
    base: rng.range(0.85, 1.1),
    tint: [rng.range(0.96, 1.04), 1, rng.range(0.96, 1.04)],
    waves: [
      { amp: rng.range(0.02, 0.06), period: rng.range(20, 90), phase: rng.range(0, 2 * Math.PI) },
      { amp: rng.range(0.01, 0.03), period: rng.range(5, 15), phase: rng.range(0, 2 * Math.PI) },
    ],
    clouds,
  };
}

function planShake(rng: Rng, o: ResolvedSynthOptions, D: number): ShakeEpisode[] {
  if (!rng.chance(o.shake)) return [];
  const n = rng.int(1, 3);
  return Array.from({ length: n }, () => {
    const len = rng.range(1, 4);
    const t0 = rng.range(0, Math.max(0, D - len));
    return {
      t0,
      t1: t0 + len,
      amp: rng.range(1, 4) * (o.width / 320),
      fx: rng.range(3, 8),
      fy: rng.range(3, 8),
      phase: rng.range(0, 2 * Math.PI),
    };
  });
}

function planWind(rng: Rng, D: number): WindSpec {
  const gusts: { t: number; width: number; strength: number }[] = [];
  for (let t = rng.exponential(1 / 20) - 5; t < D + 5; t += rng.exponential(1 / 20)) {
    gusts.push({ t, width: rng.range(1, 4), strength: rng.range(0.3, 1) });
  }
  return { base: rng.range(0.15, 0.6), gusts };
}

/**
 * Plans one video: timeline, actors, distractors, scene and camera, without rendering.
 *
 * Instances are [2, 8] s (by default), non-overlapping, separated by stretches of
 * 10–40 s where only distractors move; with probability `emptyFraction` a video has no
 * instance at all. Actors walk in before their instance and leave after it, so the
 * moments around an action are people walking, not an empty scene.
 *
 * @example
 * const spec = planVideo(hashSeed(1, 0), { minSeconds: 60, maxSeconds: 120 });
 * console.log(spec.instances); // [{ class: 'wave', classIndex: 4, start: 23.1, end: 28.4 }, …]
 * @param seed - the video's seed (a set uses hashSeed(setSeed, videoIndex))
 * @param options - generator options; `out` and the encoder settings are ignored
 * @returns the video plan (plain JSON)
 * @throws ConfigError when options are invalid
 */
export function planVideo(seed: number, options: Partial<SynthOptions> = {}): VideoSpec {
  const o = resolveSynthOptions({ out: '', ...options });
  const s = seed >>> 0;
  const tl = createRng(hashSeed(s, STREAM.timeline));
  const D0 = tl.range(o.minSeconds, o.maxSeconds);
  let frameCount = Math.max(1, Math.round(D0 * o.fps));
  let D = frameCount / o.fps;
  const { scene, layout } = planScene(createRng(hashSeed(s, STREAM.scene)), o);
  const timeline = planTimeline(tl, o, D);

  const drafts: ActorDraft[] = [];
  const avoid: Ground[] = [];
  for (let i = 0; i < timeline.count; i++) {
    const cls = timeline.classes[i] ?? 'wave';
    const duration = timeline.durations[i] ?? o.instanceSeconds[0];
    const ctx: ActorContext = { rng: createRng(hashSeed(s, STREAM.actor + i)), layout, o, avoid: [...avoid] };
    const draft =
      cls === 'run'
        ? draftRun(ctx, duration)
        : cls === 'fall'
          ? draftFall(ctx, duration)
          : cls === 'fight'
            ? draftFight(ctx, duration)
            : draftSimple(ctx, cls, duration);
    drafts.push(draft);
    avoid.length = 0;
    avoid.push(...draft.spots);
  }
  const busyMs = drafts.reduce((a, d) => a + Math.round(d.duration * 1000), 0);
  const [gMin, gMax] = o.gapSeconds;
  if (drafts.length > 0 && D * 1000 - busyMs > (drafts.length + 1) * gMax * 1000) {
    // A run that had to be shortened to stay in view can leave too much idle time: trim
    // the video rather than stretch a gap past its bound (never below minSeconds).
    frameCount = Math.max(1, Math.floor(Math.max(o.minSeconds, busyMs / 1000 + (drafts.length + 1) * gMax) * o.fps));
    D = frameCount / o.fps;
  }
  const gaps = splitWithinMs(
    tl,
    Math.floor(D * 1000 + 1e-6) - busyMs,
    drafts.length + 1,
    Math.ceil(gMin * 1000),
    Math.floor(gMax * 1000),
  );

  const instances: SynthInstance[] = [];
  const people: PersonSpec[] = [];
  let tMs = 0;
  for (let i = 0; i < drafts.length; i++) {
    const draft = drafts[i];
    if (draft === undefined) continue;
    tMs += gaps[i] ?? 0;
    const start = tMs / 1000;
    tMs += Math.round(draft.duration * 1000);
    const end = tMs / 1000;
    const cls = timeline.classes[i] ?? 'wave';
    instances.push({ class: cls, classIndex: SYNTH_CLASSES.indexOf(cls), start, end });
    people.push(...draft.build(start, i, people.length));
  }
  const walkers = planWalkers(createRng(hashSeed(s, STREAM.walkers)), o, layout, D, people.length);
  return {
    version: 1,
    seed: s,
    width: o.width,
    height: o.height,
    fps: o.fps,
    frameCount,
    durationSeconds: D,
    instances,
    camera: layout.cam,
    scene,
    people: [...people, ...walkers],
    vehicles: planVehicles(createRng(hashSeed(s, STREAM.vehicles)), o, layout, D),
    lighting: planLighting(createRng(hashSeed(s, STREAM.lighting)), D),
    wind: planWind(createRng(hashSeed(s, STREAM.wind)), D),
    shake: planShake(createRng(hashSeed(s, STREAM.shake)), o, D),
    noise: o.noise,
  };
}
