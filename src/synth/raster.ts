/**
 * A tiny software rasteriser over RGB24 buffers: rectangles, anti-aliased capsules,
 * circles and ellipses, and scan-converted polygons.
 *
 * Why hand-written: the benchmark renders on machines without a native canvas, and the
 * figures only need a handful of primitives. Capsules (a segment swept by a disc) are the
 * limbs of the articulated figures; their coverage comes from the exact distance to the
 * segment, which gives anti-aliasing for the price of one clamp per pixel.
 */

/** An RGB colour, each channel 0..255. */
export type Rgb = readonly [number, number, number];

/** A writable RGB24 image, row-major, `data.length === width * height * 3`. */
export interface Raster {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/**
 * Allocates a raster filled with one colour.
 *
 * @example
 * const img = createRaster(320, 240, [90, 90, 90]);
 * @param width - pixels
 * @param height - pixels
 * @param fill - initial colour (black when omitted)
 * @returns the raster
 */
export function createRaster(width: number, height: number, fill: Rgb = [0, 0, 0]): Raster {
  const data = new Uint8Array(width * height * 3);
  if (fill[0] !== 0 || fill[1] !== 0 || fill[2] !== 0) {
    for (let i = 0; i < data.length; i += 3) {
      data[i] = fill[0];
      data[i + 1] = fill[1];
      data[i + 2] = fill[2];
    }
  }
  return { width, height, data };
}

/** Blends `color` into pixel `p` (index of its red byte) with weight `a` in [0, 1]. */
function blend(data: Uint8Array, p: number, color: Rgb, a: number): void {
  if (a >= 1) {
    data[p] = color[0];
    data[p + 1] = color[1];
    data[p + 2] = color[2];
    return;
  }
  const r = data[p] ?? 0;
  const g = data[p + 1] ?? 0;
  const b = data[p + 2] ?? 0;
  data[p] = r + (color[0] - r) * a + 0.5;
  data[p + 1] = g + (color[1] - g) * a + 0.5;
  data[p + 2] = b + (color[2] - b) * a + 0.5;
}

/**
 * Fills the pixels whose centres lie in [x0, x1) × [y0, y1).
 *
 * @example
 * fillRect(img, 10, 10, 50, 30, [200, 0, 0]);
 * @param r - target raster
 * @param x0 - left edge (pixels, fractional allowed)
 * @param y0 - top edge
 * @param x1 - right edge (exclusive)
 * @param y1 - bottom edge (exclusive)
 * @param color - fill colour
 * @param alpha - opacity in [0, 1]
 */
export function fillRect(r: Raster, x0: number, y0: number, x1: number, y1: number, color: Rgb, alpha = 1): void {
  const xa = Math.max(0, Math.ceil(x0 - 0.5));
  const xb = Math.min(r.width, Math.ceil(x1 - 0.5));
  const ya = Math.max(0, Math.ceil(y0 - 0.5));
  const yb = Math.min(r.height, Math.ceil(y1 - 0.5));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) blend(r.data, (y * r.width + x) * 3, color, alpha);
  }
}

/**
 * Fills a capsule: all points within `radius` of the segment (x0,y0)–(x1,y1), with
 * one pixel of anti-aliased edge. A zero-length segment is a disc.
 *
 * @example
 * fillCapsule(img, 100, 50, 110, 90, 3.5, [30, 40, 160]); // a thigh
 * @param r - target raster
 * @param x0 - segment start x (pixel coordinates, pixel centres at +0.5)
 * @param y0 - segment start y
 * @param x1 - segment end x
 * @param y1 - segment end y
 * @param radius - half thickness in pixels
 * @param color - fill colour
 * @param alpha - opacity in [0, 1]
 */
export function fillCapsule(
  r: Raster,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  radius: number,
  color: Rgb,
  alpha = 1,
): void {
  // Sub-pixel limbs would vanish: keep them at least a faint half-pixel line.
  const rad = Math.max(radius, 0.5);
  const pad = rad + 1;
  const xa = Math.max(0, Math.floor(Math.min(x0, x1) - pad));
  const xb = Math.min(r.width - 1, Math.ceil(Math.max(x0, x1) + pad));
  const ya = Math.max(0, Math.floor(Math.min(y0, y1) - pad));
  const yb = Math.min(r.height - 1, Math.ceil(Math.max(y0, y1) + pad));
  if (xa > xb || ya > yb) return;
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  const inv = len2 > 1e-12 ? 1 / len2 : 0;
  const data = r.data;
  for (let y = ya; y <= yb; y++) {
    const py = y + 0.5 - y0;
    let p = (y * r.width + xa) * 3;
    for (let x = xa; x <= xb; x++, p += 3) {
      const px = x + 0.5 - x0;
      let t = (px * dx + py * dy) * inv;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = px - t * dx;
      const ey = py - t * dy;
      const cov = rad + 0.5 - Math.sqrt(ex * ex + ey * ey);
      if (cov <= 0) continue;
      blend(data, p, color, cov >= 1 ? alpha : cov * alpha);
    }
  }
}

/**
 * Fills an anti-aliased disc.
 *
 * @example
 * fillCircle(img, 160, 40, 6, [220, 180, 150]); // a head
 * @param r - target raster
 * @param cx - centre x
 * @param cy - centre y
 * @param radius - pixels
 * @param color - fill colour
 * @param alpha - opacity in [0, 1]
 */
export function fillCircle(r: Raster, cx: number, cy: number, radius: number, color: Rgb, alpha = 1): void {
  fillCapsule(r, cx, cy, cx, cy, radius, color, alpha);
}

/**
 * Fills an axis-aligned anti-aliased ellipse (soft ground shadows, tree crowns).
 *
 * @example
 * fillEllipse(img, 120, 200, 12, 3, [0, 0, 0], 0.35); // a shadow under a figure
 * @param r - target raster
 * @param cx - centre x
 * @param cy - centre y
 * @param rx - horizontal semi-axis, pixels
 * @param ry - vertical semi-axis, pixels
 * @param color - fill colour
 * @param alpha - opacity in [0, 1]
 */
export function fillEllipse(
  r: Raster,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  color: Rgb,
  alpha = 1,
): void {
  const ax = Math.max(rx, 0.5);
  const ay = Math.max(ry, 0.5);
  const xa = Math.max(0, Math.floor(cx - ax - 1));
  const xb = Math.min(r.width - 1, Math.ceil(cx + ax + 1));
  const ya = Math.max(0, Math.floor(cy - ay - 1));
  const yb = Math.min(r.height - 1, Math.ceil(cy + ay + 1));
  const minAxis = Math.min(ax, ay);
  for (let y = ya; y <= yb; y++) {
    const ny = (y + 0.5 - cy) / ay;
    let p = (y * r.width + xa) * 3;
    for (let x = xa; x <= xb; x++, p += 3) {
      const nx = (x + 0.5 - cx) / ax;
      // Distance to the edge approximated in units of the smaller semi-axis.
      const cov = (1 - Math.sqrt(nx * nx + ny * ny)) * minAxis + 0.5;
      if (cov <= 0) continue;
      blend(r.data, p, color, cov >= 1 ? alpha : cov * alpha);
    }
  }
}

/**
 * Fills a simple or self-intersecting polygon (even–odd rule) by scan conversion at
 * pixel centres; edges are not anti-aliased (outline them with capsules when it shows).
 *
 * @example
 * fillPolygon(img, [10, 10, 60, 12, 40, 50], [0, 120, 0]);
 * @param r - target raster
 * @param pts - flat vertex list x0, y0, x1, y1, …
 * @param color - fill colour
 * @param alpha - opacity in [0, 1]
 */
export function fillPolygon(r: Raster, pts: readonly number[], color: Rgb, alpha = 1): void {
  const n = Math.floor(pts.length / 2);
  if (n < 3) return;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const y = pts[2 * i + 1] ?? 0;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const ya = Math.max(0, Math.ceil(minY - 0.5));
  const yb = Math.min(r.height - 1, Math.floor(maxY - 0.5));
  const xs: number[] = [];
  for (let y = ya; y <= yb; y++) {
    const sy = y + 0.5;
    xs.length = 0;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      const xi = pts[2 * i] ?? 0;
      const yi = pts[2 * i + 1] ?? 0;
      const xj = pts[2 * j] ?? 0;
      const yj = pts[2 * j + 1] ?? 0;
      // Half-open rule: each crossing counted once even at shared vertices.
      if ((yi <= sy && yj > sy) || (yj <= sy && yi > sy)) {
        xs.push(xi + ((sy - yi) / (yj - yi)) * (xj - xi));
      }
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const xa = Math.max(0, Math.ceil((xs[k] ?? 0) - 0.5));
      const xb = Math.min(r.width - 1, Math.ceil((xs[k + 1] ?? 0) - 0.5) - 1);
      let p = (y * r.width + xa) * 3;
      for (let x = xa; x <= xb; x++, p += 3) blend(r.data, p, color, alpha);
    }
  }
}
