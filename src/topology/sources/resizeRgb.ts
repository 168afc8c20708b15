/**
 * Area-average downscale of an RGB24 image (each output pixel = mean of the source pixels it
 * covers, fractional edges weighted). Why: the scene source renders at the benchmark's size and
 * must hand the analysis path 112×112 without ffmpeg, close to what ffmpeg's scaler gives.
 *
 * @example
 * const small = resizeRgb(frame, 320, 240, 112, 112);
 * @returns a new Uint8Array of dw·dh·3 bytes.
 */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, out = new Uint8Array(dw * dh * 3)): Uint8Array {
  if (src.length !== sw * sh * 3) throw new RangeError(`resizeRgb: source has ${src.length} bytes, expected ${sw}x${sh}x3`);
  const sx = sw / dw;
  const sy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const y0 = y * sy;
    const y1 = y0 + sy;
    for (let x = 0; x < dw; x++) {
      const x0 = x * sx;
      const x1 = x0 + sx;
      let r = 0;
      let g = 0;
      let b = 0;
      let wsum = 0;
      for (let yy = Math.floor(y0); yy < Math.min(sh, Math.ceil(y1)); yy++) {
        const wy = Math.min(y1, yy + 1) - Math.max(y0, yy);
        for (let xx = Math.floor(x0); xx < Math.min(sw, Math.ceil(x1)); xx++) {
          const w = wy * (Math.min(x1, xx + 1) - Math.max(x0, xx));
          const i = (yy * sw + xx) * 3;
          r += w * (src[i] ?? 0);
          g += w * (src[i + 1] ?? 0);
          b += w * (src[i + 2] ?? 0);
          wsum += w;
        }
      }
      const o = (y * dw + x) * 3;
      out[o] = Math.round(r / wsum);
      out[o + 1] = Math.round(g / wsum);
      out[o + 2] = Math.round(b / wsum);
    }
  }
  return out;
}
