import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRaster, fillCapsule, fillCircle, fillPolygon, fillRect } from '../../src/synth/raster.ts';
import type { Raster } from '../../src/synth/raster.ts';

const red = [255, 0, 0] as const;

function px(r: Raster, x: number, y: number): number[] {
  const p = (y * r.width + x) * 3;
  return [r.data[p] ?? -1, r.data[p + 1] ?? -1, r.data[p + 2] ?? -1];
}

/** Total red "ink" (coverage-weighted pixel count). */
function ink(r: Raster): number {
  let s = 0;
  for (let p = 0; p < r.data.length; p += 3) s += (r.data[p] ?? 0) / 255;
  return s;
}

test('capsule: solid inside the radius, untouched beyond it, anti-aliased at the edge, area ≈ analytic', () => {
  const r = createRaster(64, 64);
  fillCapsule(r, 16, 32, 48, 32, 5, red);
  assert.deepEqual(px(r, 32, 32), [255, 0, 0]);
  assert.deepEqual(px(r, 32, 36), [255, 0, 0]);
  assert.deepEqual(px(r, 32, 40), [0, 0, 0]);
  assert.deepEqual(px(r, 5, 32), [0, 0, 0]);
  const area = 32 * 10 + Math.PI * 25;
  assert.ok(Math.abs(ink(r) - area) / area < 0.03, `ink ${ink(r)} vs ${area}`);
  let partial = 0;
  for (let p = 0; p < r.data.length; p += 3) if ((r.data[p] ?? 0) > 0 && (r.data[p] ?? 0) < 255) partial++;
  assert.ok(partial > 20, 'edge pixels are blended');
});

test('circle and rectangle areas; clipping at the raster border', () => {
  const r = createRaster(40, 40);
  fillCircle(r, 20, 20, 8, red);
  assert.ok(Math.abs(ink(r) - Math.PI * 64) / (Math.PI * 64) < 0.03);
  const q = createRaster(20, 20);
  fillRect(q, -5, -5, 10, 4, red);
  assert.equal(ink(q), 10 * 4);
  fillCapsule(q, -50, -50, 100, 100, 2, red);
  fillCircle(q, 1000, 1000, 5, red);
  assert.equal(q.data.length, 20 * 20 * 3);
});

test('polygon: triangle area matches, alpha blends', () => {
  const r = createRaster(100, 100);
  fillPolygon(r, [10, 10, 90, 10, 10, 90], red);
  assert.ok(Math.abs(ink(r) - 3200) / 3200 < 0.03, `ink ${ink(r)}`);
  const g = createRaster(4, 4, [100, 100, 100]);
  fillRect(g, 0, 0, 4, 4, [200, 0, 0], 0.5);
  assert.deepEqual(px(g, 1, 1), [150, 50, 50]);
});
