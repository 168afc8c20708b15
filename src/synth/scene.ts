/**
 * Drawing of the surveillance scene: the static background (sky, skyline, road, paving,
 * lawn, texture) rendered once per video, and the scene objects drawn every frame in depth
 * order (swaying trees, lamp posts, vehicles).
 *
 * Why textures in ground coordinates: paving joints and grain that shrink with distance
 * are what makes a flat image read as a scene seen from a pole, and they give a
 * recogniser the same clutter real cameras do. Thin lines are box-filtered by their pixel
 * footprint so distant paving fades instead of aliasing into moiré.
 */
import { groundAt, horizonRow, project } from './camera.ts';
import type { CameraModel } from './camera.ts';
import { hashSeed } from './prng.ts';
import { createRaster, fillCapsule, fillEllipse, fillPolygon, fillRect } from './raster.ts';
import type { Raster, Rgb } from './raster.ts';
import type { PostSpec, SceneSpec, TreeSpec, VehicleSpec, WindSpec } from './spec.ts';

/** Hash of a lattice point to [0, 1). */
function lattice(seed: number, ix: number, iy: number): number {
  return hashSeed(seed, ix, iy) / 4294967296;
}

/**
 * Smooth value noise in [0, 1): bilinear interpolation of hashed lattice values with a
 * smoothstep fade.
 *
 * @example
 * const stain = valueNoise(seed, X / 3, Z / 3); // blotches about 3 m across
 * @param seed - noise field seed
 * @param x - coordinate in lattice units
 * @param y - coordinate in lattice units
 * @returns noise value
 */
export function valueNoise(seed: number, x: number, y: number): number {
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  const fx = x - ix;
  const fy = y - iy;
  const u = fx * fx * (3 - 2 * fx);
  const v = fy * fy * (3 - 2 * fy);
  const a = lattice(seed, ix, iy);
  const b = lattice(seed, ix + 1, iy);
  const c = lattice(seed, ix, iy + 1);
  const d = lattice(seed, ix + 1, iy + 1);
  return a + (b - a) * u + (c - a) * v + (a - b - c + d) * u * v;
}

/** Fraction of a pixel of width `fp` centred at distance `d` from a line of width `w`. */
function lineCoverage(d: number, w: number, fp: number): number {
  const lo = Math.max(d - fp / 2, -w / 2);
  const hi = Math.min(d + fp / 2, w / 2);
  return hi > lo ? (hi - lo) / fp : 0;
}

/** Distance from v to the nearest multiple of `period`. */
function periodicDistance(v: number, period: number): number {
  const m = v / period;
  return Math.abs(m - Math.round(m)) * period;
}

function mix(a: Rgb, b: Rgb, w: number): Rgb {
  return [a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w, a[2] + (b[2] - a[2]) * w];
}

function scaleRgb(c: Rgb, k: number): Rgb {
  return [Math.min(255, c[0] * k), Math.min(255, c[1] * k), Math.min(255, c[2] * k)];
}

/** Ground colour at world point (X, Z) before haze, with pixel footprints fx, fz (m). */
function groundColor(s: SceneSpec, X: number, Z: number, fx: number, fz: number): Rgb {
  const seed = s.textureSeed;
  const blotch = valueNoise(seed, X / 2.7, Z / 2.7) * 0.6 + valueNoise(seed + 1, X / 0.7, Z / 0.7) * 0.4;
  const grain = lattice(seed + 2, Math.floor(X * 25), Math.floor(Z * 25)) - 0.5;
  // Grain finer than a pixel averages out: fade it with the footprint.
  const grainW = Math.min(1, 0.08 / Math.max(fx, fz));
  if (Z >= s.roadNear && Z <= s.roadFar) {
    const mid = (s.roadNear + s.roadFar) / 2;
    let c = scaleRgb(s.road, 0.85 + 0.3 * blotch + 0.12 * grain * grainW);
    const dash = ((X / 6) % 1 + 1) % 1 < 0.5 ? lineCoverage(Z - mid, 0.15, fz) : 0;
    if (dash > 0) c = mix(c, [205, 200, 170], dash * 0.85);
    const curb = Math.max(lineCoverage(Z - s.roadNear, 0.25, fz), lineCoverage(Z - s.roadFar, 0.25, fz));
    if (curb > 0) c = mix(c, [175, 175, 168], curb);
    return c;
  }
  if (Z > s.roadFar) {
    return scaleRgb(s.farGround, 0.85 + 0.3 * blotch + 0.1 * grain * grainW);
  }
  if (s.grassSide !== 0 && s.grassSide * X > s.grassX) {
    const g = valueNoise(seed + 3, X / 0.45, Z / 0.45);
    const c = scaleRgb(s.grass, 0.7 + 0.35 * blotch + 0.25 * g + 0.25 * grain * grainW);
    const edge = lineCoverage(s.grassSide * X - s.grassX, 0.2, fx);
    return edge > 0 ? mix(c, [150, 150, 140], edge) : c;
  }
  let c = scaleRgb(s.plaza, 0.88 + 0.22 * blotch + 0.12 * grain * grainW);
  // Each tile has its own slight shade; joints are darker lines box-filtered by footprint.
  const tx = Math.floor(X / s.tile);
  const tz = Math.floor(Z / s.tile);
  c = scaleRgb(c, 0.95 + 0.1 * lattice(seed + 4, tx, tz));
  const joint = Math.max(
    lineCoverage(periodicDistance(X, s.tile), 0.05, fx),
    lineCoverage(periodicDistance(Z, s.tile), 0.05, fz),
  );
  return joint > 0 ? mix(c, scaleRgb(s.plaza, 0.6), joint) : c;
}

/**
 * Renders the static background of a video: sky, skyline, ground with road, paving and
 * lawn. Called once per video; every frame starts from a copy of it.
 *
 * @example
 * const bg = renderBackground(spec.camera, spec.scene);
 * @param cam - camera
 * @param s - scene layout
 * @returns an RGB24 raster of the camera's size
 */
export function renderBackground(cam: CameraModel, s: SceneSpec): Raster {
  const { width: W, height: H } = cam;
  const img = createRaster(W, H);
  const hr = horizonRow(cam);
  const data = img.data;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      const g = y + 0.5 > hr ? groundAt(cam, x + 0.5, y + 0.5) : undefined;
      let c: Rgb;
      if (g === undefined || g.Z > 400) {
        const u = Math.max(0, Math.min(1, (y + 0.5) / Math.max(1, hr)));
        const cloud = valueNoise(s.textureSeed + 9, x / 40, y / 12);
        c = mix(mix(s.skyTop, s.skyHorizon, u), [235, 235, 238], 0.25 * Math.max(0, cloud - 0.45));
      } else {
        const depth = project(cam, g.X, 0, g.Z).depth;
        const fx = depth / cam.focal;
        const below = groundAt(cam, x + 0.5, y + 1.5);
        const fz = below === undefined ? 1e3 : Math.max(1e-3, Math.abs(g.Z - below.Z));
        c = groundColor(s, g.X, g.Z, fx, fz);
        // Aerial perspective: distant ground fades towards the horizon's haze.
        c = mix(c, s.skyHorizon, 1 - Math.exp(-g.Z / 140));
      }
      data[p] = c[0];
      data[p + 1] = c[1];
      data[p + 2] = c[2];
    }
  }
  const buildings = [...s.buildings].sort((a, b) => b.Z - a.Z);
  for (const b of buildings) drawBuilding(img, cam, b, s.skyHorizon);
  return img;
}

function drawBuilding(img: Raster, cam: CameraModel, b: SceneSpec['buildings'][number], haze: Rgb): void {
  const base = project(cam, 0, 0, b.Z);
  const k = cam.focal / Math.max(1e-3, base.depth);
  const x0 = project(cam, b.x0, 0, b.Z).x;
  const x1 = project(cam, b.x1, 0, b.Z).x;
  const top = project(cam, 0, b.height, b.Z).y;
  const fog = 1 - Math.exp(-b.Z / 140);
  const wall = mix(b.color, haze, fog);
  fillRect(img, x0, top, x1, base.y, wall);
  fillRect(img, x0, top, x1, top + Math.max(1, 0.5 * k), mix(scaleRgb(b.color, 0.7), haze, fog));
  // Windows: one per floor and bay, lit or dark by a hash so the facade never repeats.
  const floors = Math.floor((b.height - 1.5) / b.floorHeight);
  const bays = Math.floor((b.x1 - b.x0 - 1) / b.windowSpacing);
  const winW = 0.45 * b.windowSpacing * k;
  const winH = 0.5 * b.floorHeight * k;
  if (winW < 0.6 || winH < 0.6) return;
  for (let f = 0; f < floors; f++) {
    const yTop = project(cam, 0, 1.5 + f * b.floorHeight + 0.7 * b.floorHeight, b.Z).y;
    for (let i = 0; i < bays; i++) {
      const xc = project(cam, b.x0 + 1 + (i + 0.5) * b.windowSpacing, 0, b.Z).x;
      const lit = lattice(b.seed, f, i) < b.litFraction;
      fillRect(img, xc - winW / 2, yTop, xc + winW / 2, yTop + winH, mix(lit ? b.lit : b.window, haze, fog));
    }
  }
}

/**
 * Wind strength at time t: a base level plus Gaussian gusts.
 *
 * @example
 * const w = windAt(spec.wind, 31.5);
 * @param w - wind spec
 * @param t - video time, s
 * @returns strength (≈ 0 calm, ≈ 1 windy)
 */
export function windAt(w: WindSpec, t: number): number {
  let s = w.base;
  for (const g of w.gusts) s += g.strength * Math.exp(-(((t - g.t) / g.width) ** 2));
  return s;
}

/**
 * Draws a tree whose crown sways with the wind.
 *
 * @example
 * drawTree(frame, cam, tree, t, windAt(spec.wind, t));
 * @param img - target raster
 * @param cam - camera
 * @param tr - the tree
 * @param t - video time, s
 * @param wind - wind strength at t
 */
export function drawTree(img: Raster, cam: CameraModel, tr: TreeSpec, t: number, wind: number): void {
  const foot = project(cam, tr.X, 0, tr.Z);
  if (foot.depth <= 0.5) return;
  const k = cam.focal / foot.depth;
  const crownR = 0.3 * tr.height;
  const crownY = 0.66 * tr.height;
  const sway = wind * (Math.sin(2 * Math.PI * 0.31 * t + tr.phase) + 0.4 * Math.sin(2 * Math.PI * 0.83 * t + 2 * tr.phase));
  const top = project(cam, tr.X + sway * 0.04 * tr.height, crownY, tr.Z);
  fillEllipse(img, foot.x, foot.y, 0.9 * crownR * k, 0.25 * crownR * k, [0, 0, 0], 0.18);
  fillCapsule(img, foot.x, foot.y, top.x, top.y, 0.09 * tr.height * 0.25 * k + 0.5, tr.trunk);
  for (let i = 0; i < tr.blobs.length; i++) {
    const b = tr.blobs[i];
    if (b === undefined) continue;
    // Each blob flutters a little on its own, so the crown deforms rather than slides.
    const flutter = wind * 0.05 * Math.sin(2 * Math.PI * 1.7 * t + i * 1.3 + tr.phase);
    const c = project(cam, tr.X + (b.dx + flutter) * crownR + sway * 0.06 * tr.height, crownY + b.dy * crownR, tr.Z);
    const r = b.r * crownR * k;
    fillEllipse(img, c.x, c.y, r, r * 0.9, scaleRgb(tr.crown, b.shade));
  }
}

/**
 * Draws a lamp post.
 *
 * @example
 * drawPost(frame, cam, post);
 * @param img - target raster
 * @param cam - camera
 * @param p - the post
 */
export function drawPost(img: Raster, cam: CameraModel, p: PostSpec): void {
  const foot = project(cam, p.X, 0, p.Z);
  if (foot.depth <= 0.5) return;
  const k = cam.focal / foot.depth;
  const top = project(cam, p.X, p.height, p.Z);
  const arm = project(cam, p.X + p.side * 0.7, p.height, p.Z);
  fillCapsule(img, foot.x, foot.y, top.x, top.y, 0.06 * k, p.color);
  fillCapsule(img, top.x, top.y, arm.x, arm.y, 0.035 * k, p.color);
  fillEllipse(img, arm.x, arm.y + 0.08 * k, 0.22 * k, 0.09 * k, [225, 222, 200]);
}

/**
 * Draws a vehicle seen side-on (it drives along X, across the image): body, cabin with
 * windows, wheels and a soft shadow.
 *
 * @example
 * if (t >= v.t0 && t <= v.t1) drawVehicle(frame, cam, v, t);
 * @param img - target raster
 * @param cam - camera
 * @param v - the vehicle
 * @param t - video time, s
 */
export function drawVehicle(img: Raster, cam: CameraModel, v: VehicleSpec, t: number): void {
  const X = v.X0 + v.speed * (t - v.t0);
  const dir = v.speed >= 0 ? 1 : -1;
  const half = v.length / 2;
  const P = (dx: number, y: number): [number, number] => {
    const p = project(cam, X + dir * dx, y, v.Z);
    return [p.x, p.y];
  };
  const c = project(cam, X, 0, v.Z);
  if (c.depth <= 1) return;
  const k = cam.focal / c.depth;
  fillEllipse(img, c.x, c.y, (half + 0.3) * k, 0.35 * k, [0, 0, 0], 0.3);
  const bodyTop = v.kind === 'van' ? v.height : v.height * 0.6;
  const [rx0, ry0] = P(-half, 0.28);
  const [rx1, ry1] = P(half, bodyTop);
  fillRect(img, Math.min(rx0, rx1), ry1, Math.max(rx0, rx1), ry0, v.color);
  if (v.kind === 'car') {
    const cabin = [P(-half * 0.55, bodyTop), P(half * 0.45, bodyTop), P(half * 0.15, v.height), P(-half * 0.4, v.height)];
    fillPolygon(img, cabin.flat(), scaleRgb(v.color, 0.92));
    const glass = [P(-half * 0.47, bodyTop + 0.05), P(half * 0.37, bodyTop + 0.05), P(half * 0.12, v.height - 0.07), P(-half * 0.35, v.height - 0.07)];
    fillPolygon(img, glass.flat(), [45, 55, 65]);
  } else {
    const [gx0, gy0] = P(half * 0.62, v.height * 0.55);
    const [gx1, gy1] = P(half * 0.95, v.height * 0.92);
    fillRect(img, Math.min(gx0, gx1), gy1, Math.max(gx0, gx1), gy0, [45, 55, 65]);
  }
  const [lx, ly] = P(half - 0.05, bodyTop * 0.75);
  fillEllipse(img, lx, ly, 0.12 * k, 0.08 * k, [235, 230, 190]);
  for (const wx of [-half * 0.65, half * 0.65]) {
    const [x, y] = P(wx, 0.32);
    fillEllipse(img, x, y, 0.32 * k, 0.32 * k, [25, 25, 28]);
    fillEllipse(img, x, y, 0.14 * k, 0.14 * k, [140, 140, 145]);
  }
}
