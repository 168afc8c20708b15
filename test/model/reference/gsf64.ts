/**
 * Float64 plain-TypeScript reference of Gate-Shift-Fuse (gate-shift-fuse.txt eqs. 1–10, with the
 * authors' BN + ReLU before the gate), written from the equations with explicit loops and no
 * tfjs, so that the tfjs layer can be checked against something that shares none of its tricks
 * (block-diagonal conv2d, shifted sums, folded batch).
 *
 * Layout: x is row-major [N, T, H, W, C]; GSF works on channels 0..c−1, group 1 = 0..c/2−1,
 * group 2 = c/2..c−1; channels c..C−1 pass through.
 *
 * @example
 * const out = gsf64(x, { n: 1, t: 8, h: 4, w: 4, ch: 16 }, params);
 */

export interface Gsf64Dims {
  readonly n: number;
  readonly t: number;
  readonly h: number;
  readonly w: number;
  /** C, all channels of x. */
  readonly ch: number;
}

export interface Gsf64Params {
  /** c, gated channels (multiple of 4). */
  readonly c: number;
  /** [3 (dt), 3 (dh), 3 (dw), c/2 (input channel within the group), 2 (group)], row-major. */
  readonly gateKernel: ArrayLike<number>;
  readonly gateBias: ArrayLike<number>;
  /** [3 (dt), 3 (dc: along the channel axis of the pooled image), 2 (0 = y', 1 = r), 2 (group)]. */
  readonly fuseKernel: ArrayLike<number>;
  readonly fuseBias: ArrayLike<number>;
  readonly bnGamma: ArrayLike<number>;
  readonly bnBeta: ArrayLike<number>;
  readonly bnMean: ArrayLike<number>;
  readonly bnVar: ArrayLike<number>;
  readonly epsilon: number;
}

export interface Gsf64Options {
  /** Deliberately wrong variant: group 1 shifted towards the future, group 2 towards the past. */
  readonly swapShifts?: boolean;
}

function at(a: ArrayLike<number>, i: number): number {
  const v = a[i];
  if (v === undefined) throw new RangeError(`index ${i} outside array of length ${a.length}`);
  return v;
}

/**
 * GSF forward pass in float64.
 *
 * @param x input, row-major [N, T, H, W, C].
 * @returns output, same layout and shape.
 */
export function gsf64(x: ArrayLike<number>, d: Gsf64Dims, p: Gsf64Params, opts: Gsf64Options = {}): Float64Array {
  const { n: N, t: T, h: H, w: W, ch: C } = d;
  const c = p.c;
  const half = c / 2;
  const idx = (n: number, t: number, h: number, w: number, k: number): number =>
    (((n * T + t) * H + h) * W + w) * C + k;

  // a = ReLU(BN(x)) on the first c channels (inference-mode BN with the given statistics).
  const a = new Float64Array(N * T * H * W * c);
  const aIdx = (n: number, t: number, h: number, w: number, k: number): number =>
    (((n * T + t) * H + h) * W + w) * c + k;
  for (let n = 0; n < N; n++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++)
          for (let k = 0; k < c; k++) {
            const v =
              (at(p.bnGamma, k) * (at(x, idx(n, t, h, w, k)) - at(p.bnMean, k))) / Math.sqrt(at(p.bnVar, k) + p.epsilon) +
              at(p.bnBeta, k);
            a[aIdx(n, t, h, w, k)] = Math.max(0, v);
          }

  // Gate planes G_g = tanh(W_g * a_g + b_g): 3D cross-correlation, zero padding in t, h, w.
  const gate = new Float64Array(N * T * H * W * 2);
  const gIdx = (n: number, t: number, h: number, w: number, g: number): number => (((n * T + t) * H + h) * W + w) * 2 + g;
  const kIdx = (dt: number, dh: number, dw: number, ci: number, g: number): number =>
    (((dt * 3 + dh) * 3 + dw) * half + ci) * 2 + g;
  for (let n = 0; n < N; n++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++)
          for (let g = 0; g < 2; g++) {
            let s = at(p.gateBias, g);
            for (let dt = -1; dt <= 1; dt++) {
              const tt = t + dt;
              if (tt < 0 || tt >= T) continue;
              for (let dh = -1; dh <= 1; dh++) {
                const hh = h + dh;
                if (hh < 0 || hh >= H) continue;
                for (let dw = -1; dw <= 1; dw++) {
                  const ww = w + dw;
                  if (ww < 0 || ww >= W) continue;
                  for (let ci = 0; ci < half; ci++) {
                    s += at(p.gateKernel, kIdx(dt + 1, dh + 1, dw + 1, ci, g)) * at(a, aIdx(n, tt, hh, ww, g * half + ci));
                  }
                }
              }
            }
            gate[gIdx(n, t, h, w, g)] = Math.tanh(s);
          }

  const out = new Float64Array(N * T * H * W * C);
  // Untouched channels.
  for (let n = 0; n < N; n++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++)
          for (let k = c; k < C; k++) out[idx(n, t, h, w, k)] = at(x, idx(n, t, h, w, k));

  for (let g = 0; g < 2; g++) {
    // Group 1 (g = 0) looks one frame ahead (shift towards the past), group 2 one frame back.
    const towardsPast = (g === 0) !== (opts.swapShifts === true);
    const srcT = (t: number): number => (towardsPast ? t + 1 : t - 1);
    const y = (n: number, t: number, h: number, w: number, ci: number): number =>
      at(gate, gIdx(n, t, h, w, g)) * at(x, idx(n, t, h, w, g * half + ci));
    const yShift = (n: number, t: number, h: number, w: number, ci: number): number => {
      const s = srcT(t);
      return s < 0 || s >= T ? 0 : y(n, s, h, w, ci);
    };
    const r = (n: number, t: number, h: number, w: number, ci: number): number =>
      at(x, idx(n, t, h, w, g * half + ci)) - y(n, t, h, w, ci);

    for (let n = 0; n < N; n++) {
      // Spatially pooled y' and r: [c/2, T] images.
      const py = new Float64Array(half * T);
      const pr = new Float64Array(half * T);
      for (let ci = 0; ci < half; ci++)
        for (let t = 0; t < T; t++) {
          let sy = 0;
          let sr = 0;
          for (let h = 0; h < H; h++)
            for (let w = 0; w < W; w++) {
              sy += yShift(n, t, h, w, ci);
              sr += r(n, t, h, w, ci);
            }
          py[ci * T + t] = sy / (H * W);
          pr[ci * T + t] = sr / (H * W);
        }
      // Fusion weights F[ci, t] = σ(W_f * [py; pr] + b), 3×3 over (channel, time), zero padding.
      for (let ci = 0; ci < half; ci++)
        for (let t = 0; t < T; t++) {
          let s = at(p.fuseBias, g);
          for (let dt = -1; dt <= 1; dt++)
            for (let dc = -1; dc <= 1; dc++) {
              const tt = t + dt;
              const cc = ci + dc;
              if (tt < 0 || tt >= T || cc < 0 || cc >= half) continue;
              const base = ((dt + 1) * 3 + (dc + 1)) * 2;
              s += at(p.fuseKernel, (base + 0) * 2 + g) * at(py, cc * T + tt);
              s += at(p.fuseKernel, (base + 1) * 2 + g) * at(pr, cc * T + tt);
            }
          const f = 1 / (1 + Math.exp(-s));
          for (let h = 0; h < H; h++)
            for (let w = 0; w < W; w++) {
              out[idx(n, t, h, w, g * half + ci)] = f * yShift(n, t, h, w, ci) + (1 - f) * r(n, t, h, w, ci);
            }
        }
    }
  }
  return out;
}
