/**
 * Draws an articulated figure: limbs as capsules, torso as a filled quad, head as a disc,
 * painted far-to-near by camera depth, with a soft ground shadow.
 *
 * Why depth-sorted capsules: with the figure seen from any side, the far arm must pass
 * behind the torso and the near one in front of it; sorting a dozen primitives by depth
 * does that without a z-buffer. The far-side limbs are shaded slightly darker, as they
 * would be, so left and right stay distinguishable at 100 pixels tall.
 */
import { project } from './camera.ts';
import type { CameraModel, Projected } from './camera.ts';
import type { Appearance } from './actors.ts';
import { fillCapsule, fillCircle, fillEllipse, fillPolygon } from './raster.ts';
import type { Raster, Rgb } from './raster.ts';
import { BODY } from './skeleton.ts';
import type { JointName, Skeleton, Vec3 } from './skeleton.ts';

type Prim =
  | { readonly kind: 'cap'; readonly a: Projected; readonly b: Projected; readonly r: number; readonly c: Rgb; readonly depth: number }
  | { readonly kind: 'poly'; readonly pts: readonly Projected[]; readonly c: Rgb; readonly depth: number }
  | { readonly kind: 'head'; readonly head: Projected; readonly hair: Projected; readonly r: number; readonly skin: Rgb; readonly hairColor: Rgb; readonly depth: number };

function shade(c: Rgb, k: number): Rgb {
  return [c[0] * k, c[1] * k, c[2] * k];
}

/**
 * Draws the ground shadow of a figure: a soft dark ellipse under its body, which stays on
 * the ground when the figure jumps.
 *
 * @example
 * drawFigureShadow(frame, cam, state.skeleton);
 * @param img - target raster
 * @param cam - camera
 * @param sk - the figure's skeleton (world space)
 */
export function drawFigureShadow(img: Raster, cam: CameraModel, sk: Skeleton): void {
  const j = sk.joints;
  const pts = [j.pelvis, j.neck, j.ankleL, j.ankleR, j.head];
  let minX = Infinity;
  let maxX = -Infinity;
  let minZ = Infinity;
  let maxZ = -Infinity;
  for (const p of pts) {
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
    minZ = Math.min(minZ, p.z);
    maxZ = Math.max(maxZ, p.z);
  }
  const pad = 0.25 * sk.scale;
  const cx = (minX + maxX) / 2;
  const cz = (minZ + maxZ) / 2;
  const c = project(cam, cx, 0, cz);
  if (c.depth <= 0.3) return;
  const left = project(cam, minX - pad, 0, cz);
  const right = project(cam, maxX + pad, 0, cz);
  const near = project(cam, cx, 0, minZ - pad);
  const far = project(cam, cx, 0, maxZ + pad);
  fillEllipse(img, c.x, c.y, Math.abs(right.x - left.x) / 2, Math.max(0.8, Math.abs(near.y - far.y) / 2), [0, 0, 0], 0.3);
}

/**
 * Draws a figure.
 *
 * @example
 * const s = personStateAt(person, t);
 * if (s) drawFigure(frame, cam, s.skeleton, s.yaw, person.appearance);
 * @param img - target raster
 * @param cam - camera
 * @param sk - world-space skeleton
 * @param yaw - facing (radians), to place the hair at the back of the head
 * @param look - clothing and skin colours
 */
export function drawFigure(img: Raster, cam: CameraModel, sk: Skeleton, yaw: number, look: Appearance): void {
  const j = sk.joints;
  const k = sk.scale;
  const P = (name: JointName): Projected => project(cam, j[name].x, j[name].y, j[name].z);
  const pr = {} as Record<JointName, Projected>;
  for (const name of Object.keys(j) as JointName[]) pr[name] = P(name);
  if (pr.pelvis.depth <= 0.3) return;
  const px = (m: number, d: number): number => (cam.focal * m * k) / Math.max(0.3, d);
  const prims: Prim[] = [];
  const cap = (a: JointName, b: JointName, r: number, c: Rgb): void => {
    const pa = pr[a];
    const pb = pr[b];
    const depth = (pa.depth + pb.depth) / 2;
    prims.push({ kind: 'cap', a: pa, b: pb, r: px(r, depth), c, depth });
  };
  const torsoDepth = (pr.neck.depth + pr.pelvis.depth) / 2;
  for (const side of ['L', 'R'] as const) {
    const far = pr[`shoulder${side}`].depth > torsoDepth;
    const f = far ? 0.8 : 1;
    cap(`hip${side}`, `knee${side}`, 0.075, shade(look.pants, f));
    cap(`knee${side}`, `ankle${side}`, 0.056, shade(look.pants, f));
    cap(`ankle${side}`, `toe${side}`, 0.04, shade(look.shoes, f));
    cap(`shoulder${side}`, `elbow${side}`, 0.052, shade(look.shirt, f));
    cap(`elbow${side}`, `wrist${side}`, 0.042, shade(look.longSleeves ? look.shirt : look.skin, f));
    const w = pr[`wrist${side}`];
    prims.push({ kind: 'cap', a: w, b: w, r: px(0.045, w.depth), c: shade(look.skin, f), depth: w.depth - 0.01 });
  }
  // Torso after the limbs of equal depth: a quad shoulders–hips, rounded by capsules.
  prims.push({ kind: 'poly', pts: [pr.shoulderL, pr.shoulderR, pr.hipR, pr.hipL], c: look.shirt, depth: torsoDepth });
  prims.push({ kind: 'cap', a: pr.neck, b: pr.pelvis, r: px(0.1, torsoDepth), c: look.shirt, depth: torsoDepth - 0.001 });
  prims.push({ kind: 'cap', a: pr.shoulderL, b: pr.shoulderR, r: px(0.06, torsoDepth), c: look.shirt, depth: torsoDepth - 0.002 });
  prims.push({ kind: 'cap', a: pr.shoulderL, b: pr.hipL, r: px(0.055, torsoDepth), c: look.shirt, depth: torsoDepth - 0.002 });
  prims.push({ kind: 'cap', a: pr.shoulderR, b: pr.hipR, r: px(0.055, torsoDepth), c: look.shirt, depth: torsoDepth - 0.002 });
  prims.push({ kind: 'cap', a: pr.hipL, b: pr.hipR, r: px(0.09, torsoDepth), c: look.pants, depth: torsoDepth - 0.003 });
  // Hair sits up and towards the back of the head.
  const up: Vec3 = { x: j.head.x - j.neck.x, y: j.head.y - j.neck.y, z: j.head.z - j.neck.z };
  const ul = Math.hypot(up.x, up.y, up.z) || 1;
  const back = { x: -Math.sin(yaw), z: -Math.cos(yaw) };
  const hairW = {
    x: j.head.x + (0.03 * k * up.x) / ul + 0.03 * k * back.x,
    y: j.head.y + (0.03 * k * up.y) / ul,
    z: j.head.z + (0.03 * k * up.z) / ul + 0.03 * k * back.z,
  };
  const hair = project(cam, hairW.x, hairW.y, hairW.z);
  prims.push({ kind: 'cap', a: pr.neck, b: pr.head, r: px(0.045, pr.head.depth), c: look.skin, depth: pr.head.depth + 0.002 });
  prims.push({ kind: 'head', head: pr.head, hair, r: px(BODY.headRadius, pr.head.depth), skin: look.skin, hairColor: look.hair, depth: pr.head.depth });
  prims.sort((a, b) => b.depth - a.depth);
  for (const p of prims) {
    if (p.kind === 'cap') fillCapsule(img, p.a.x, p.a.y, p.b.x, p.b.y, p.r, p.c);
    else if (p.kind === 'poly') fillPolygon(img, p.pts.flatMap((q) => [q.x, q.y]), p.c);
    else if (p.hair.depth < p.head.depth) {
      // Seen from behind: the hair covers most of the head.
      fillCircle(img, p.head.x, p.head.y, p.r, p.skin);
      fillCircle(img, p.hair.x, p.hair.y, p.r * 0.97, p.hairColor);
    } else {
      fillCircle(img, p.hair.x, p.hair.y, p.r * 0.97, p.hairColor);
      fillCircle(img, p.head.x, p.head.y + p.r * 0.12, p.r * 0.9, p.skin);
    }
  }
}
