/**
 * Float64 plain-TypeScript reference of the clip-window heads, written from the papers'
 * equations (GCF-Net eqs. 1–8 and 11–12, its two ablations of §4.3, atw-cnn eqs. 2–4, and
 * the C-Clip / D-Clips baselines of GCF-Net Fig. 1), loop by loop, with no tfjs.
 *
 * Why: the tfjs heads are checked against this on random weights; a mistake in a reshape,
 * transpose, axis or normalisation of the tfjs code shows up as a mismatch here.
 *
 * Conventions (the only things shared with the tfjs code): a weight matrix W is stored as
 * [in][out] and applied to a row vector as y_o = Σ_i x_i W[i][o] (+ b_o); a window is C rows
 * of features. `macs.count` counts the multiply-accumulates of the vector/matrix products
 * (projections, affinities, aggregation, the gate's MLP, ATW scores, classifiers); element-wise
 * work (pooling, gating, biases, activations, softmax) is not counted.
 */

/** Row-major matrix, [rows][columns]. */
export type Mat = readonly (readonly number[])[];
/** A vector. */
export type Vec = readonly number[];

/** Multiply-accumulate counter of the products below; reset it before a run. */
export const macs = { count: 0 };

/** Fully connected layer: kernel [in][out], optional bias [out]. */
export interface Linear64 {
  readonly w: Mat;
  readonly b?: Vec;
}

/** One inter-clip fusion layer: W_q, W_k, W_v [in][D] and W_z [D][D]. */
export interface Fusion64 {
  readonly wq: Mat;
  readonly wk: Mat;
  readonly wv: Mat;
  readonly wz: Mat;
}

/** Gate MLP across clips: W_1 [C][h], b_1 [h], W_2 [h][C], b_2 [C]. */
export interface Gate64 {
  readonly w1: Mat;
  readonly b1: Vec;
  readonly w2: Mat;
  readonly b2: Vec;
}

/** What a reference head returns for one window. */
export interface Out64 {
  readonly probs: number[];
  readonly weights: number[];
}

function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  macs.count += a.length;
  return s;
}

/** y = x W (+ b), x a row vector. */
function linear(x: Vec, w: Mat, b?: Vec): number[] {
  const out = (w[0] as Vec).length;
  const y = new Array<number>(out).fill(0);
  for (let i = 0; i < x.length; i++) {
    const row = w[i] as Vec;
    const xi = x[i] as number;
    for (let o = 0; o < out; o++) y[o] = (y[o] as number) + xi * (row[o] as number);
  }
  macs.count += x.length * out;
  if (b !== undefined) for (let o = 0; o < out; o++) y[o] = (y[o] as number) + (b[o] as number);
  return y;
}

function softmax(z: Vec): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

const mean = (v: Vec): number => v.reduce((a, x) => a + x, 0) / v.length;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const relu = (x: number): number => (x > 0 ? x : 0);

/**
 * Eq. 1 for every i: b_i = W_z Σ_j N_j((W_q v_i)·(W_k v_j)) W_v v_j.
 * `softmax`: N = softmax over j of the dot products divided by √D; `mean`: divide by C.
 */
export function fusion64(v: Mat, p: Fusion64, normalization: 'softmax' | 'mean'): number[][] {
  const c = v.length;
  const q = v.map((vi) => linear(vi, p.wq));
  const k = v.map((vj) => linear(vj, p.wk));
  const val = v.map((vj) => linear(vj, p.wv));
  const dim = (q[0] as Vec).length;
  return q.map((qi) => {
    const raw = k.map((kj) => dot(qi, kj));
    const a = normalization === 'softmax' ? softmax(raw.map((s) => s / Math.sqrt(dim))) : raw.map((s) => s / c);
    const mixed = new Array<number>(dim).fill(0);
    for (let j = 0; j < c; j++) {
      const vj = val[j] as Vec;
      const aij = a[j] as number;
      for (let t = 0; t < dim; t++) mixed[t] = (mixed[t] as number) + aij * (vj[t] as number);
    }
    macs.count += c * dim;
    return linear(mixed, p.wz);
  });
}

/** Eqs. 11–12: BA^n = BA(BA^{n−1}). */
export function stackedFusion64(v: Mat, layers: readonly Fusion64[], normalization: 'softmax' | 'mean'): number[][] {
  let b: number[][] = v.map((r) => [...r]);
  for (const layer of layers) b = fusion64(b, layer, normalization);
  return b;
}

/** Eqs. 2–3: g_i = mean(b_i); att = σ(W_2 ReLU(W_1 g + b_1) + b_2). */
export function gate64(b: Mat, p: Gate64): number[] {
  const g = b.map(mean);
  const h = linear(g, p.w1, p.b1).map(relu);
  return linear(h, p.w2, p.b2).map(sigmoid);
}

/** Eqs. 4–7: s_i = att_i b_i, r_i = b_i + s_i, v' = Σ_i r_i / C. */
function gatedResidualPool(b: Mat, att: Vec): number[] {
  const c = b.length;
  const dim = (b[0] as Vec).length;
  const v = new Array<number>(dim).fill(0);
  for (let i = 0; i < c; i++) {
    const bi = b[i] as Vec;
    const ai = att[i] as number;
    for (let t = 0; t < dim; t++) {
      const s = ai * (bi[t] as number);
      const r = (bi[t] as number) + s;
      v[t] = (v[t] as number) + r / c;
    }
  }
  return v;
}

/** Full GCF-Net: fusion, gate, gated residual pooling, y = softmax(W_3 v' + b_3). */
export function gcf64(
  v: Mat,
  p: { fusion: readonly Fusion64[]; gate: Gate64; classifier: Linear64; normalization: 'softmax' | 'mean' },
): Out64 {
  const b = stackedFusion64(v, p.fusion, p.normalization);
  const att = gate64(b, p.gate);
  const vPrime = gatedResidualPool(b, att);
  return { probs: softmax(linear(vPrime, p.classifier.w, p.classifier.b)), weights: att };
}

/** Ablation "inter-clip fusion only": v' = Σ_i b_i / C; weights 1/C. */
export function fusionOnly64(
  v: Mat,
  p: { fusion: readonly Fusion64[]; classifier: Linear64; normalization: 'softmax' | 'mean' },
): Out64 {
  const b = stackedFusion64(v, p.fusion, p.normalization);
  const dim = (b[0] as Vec).length;
  const vPrime = Array.from({ length: dim }, (_, t) => mean(b.map((bi) => bi[t] as number)));
  return { probs: softmax(linear(vPrime, p.classifier.w, p.classifier.b)), weights: v.map(() => 1 / v.length) };
}

/** Ablation "clip-wise attention only": g from raw v, s_i = att_i v_i, R = V + S, v' = mean r_i. */
export function attentionOnly64(v: Mat, p: { gate: Gate64; classifier: Linear64 }): Out64 {
  const att = gate64(v, p.gate);
  const vPrime = gatedResidualPool(v, att);
  return { probs: softmax(linear(vPrime, p.classifier.w, p.classifier.b)), weights: att };
}

/** ATW: e_i = wᵀ a_i, w_i = softmax_i(e), A = Σ_i w_i a_i, y = softmax(W A + b). */
export function atw64(v: Mat, p: { w: Vec; classifier: Linear64 }): Out64 {
  const e = v.map((ai) => dot(p.w, ai));
  const w = softmax(e);
  const dim = (v[0] as Vec).length;
  const a = Array.from({ length: dim }, (_, t) => v.reduce((s, ai, i) => s + (w[i] as number) * (ai[t] as number), 0));
  return { probs: softmax(linear(a, p.classifier.w, p.classifier.b)), weights: w };
}

/** D-Clips: the clip classifier on every clip, predictions (probabilities) averaged. */
export function dense64(v: Mat, p: { classifier: Linear64 }): Out64 {
  const perClip = v.map((vi) => softmax(linear(vi, p.classifier.w, p.classifier.b)));
  const k = (perClip[0] as Vec).length;
  return {
    probs: Array.from({ length: k }, (_, j) => mean(perClip.map((pc) => pc[j] as number))),
    weights: v.map(() => 1 / v.length),
  };
}

/** C-Clip: the clip classifier on clip `index` only. */
export function central64(v: Mat, p: { classifier: Linear64; index: number }): Out64 {
  const vc = v[p.index];
  if (vc === undefined) throw new RangeError(`central clip ${p.index} outside ${v.length} clips`);
  return {
    probs: softmax(linear(vc, p.classifier.w, p.classifier.b)),
    weights: v.map((_, i) => (i === p.index ? 1 : 0)),
  };
}

/**
 * Seeded pseudo-random source for tests (mulberry32 + Box–Muller), so weights and inputs are
 * the same on every run and machine.
 */
export function seededRandom(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    const u = Math.max(uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}
