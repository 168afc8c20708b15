/**
 * Clip-window heads: GCF-Net and the baselines it is measured against, behind one interface.
 *
 * Why: the stream runs whichever head the model card names, and the detector downstream must
 * not care which: every head maps a batch of windows [N, C, d] (C clip descriptors of size d)
 * to two outputs, in this order:
 *   0. class probabilities [N, K] (softmax; rows sum to 1);
 *   1. per-clip weights [N, C]: how the head weighed each clip of the window.
 *
 * | kind            | paper                         | clip weights (output 1)          |
 * |-----------------|-------------------------------|----------------------------------|
 * | `gcf`           | GCF-Net eqs. 1–8              | gate att ∈ (0,1), learned        |
 * | `fusionOnly`    | ablation: v' = Σ_i b_i / C    | 1/C                              |
 * | `attentionOnly` | ablation: gate on raw V       | gate att ∈ (0,1), learned        |
 * | `atw`           | atw-cnn eqs. 2–4              | softmax over clips, learned, Σ=1 |
 * | `dense`         | D-Clips: mean of clip preds   | 1/C                              |
 * | `central`       | C-Clip: central clip's pred   | one-hot at `centralIndex`        |
 *
 * Choices the papers leave open, made here:
 * - W_q, W_k, W_v, W_z (eq. 1) have no biases ("linear transform matrices"); W_1, W_2, W_3 and
 *   the baselines' classifiers have biases ("fully connected layers").
 * - Softmax normalisation divides the affinities by √D before the softmax (see
 *   {@link InterClipFusion}); `'mean'` divides by C.
 * - Stacked fusion layers (eqs. 11–12) chain BA(BA(…)) with no residual between them, as
 *   written; the first maps d → D, the next D → D.
 * - The attention-only ablation gates the raw descriptors and pools them exactly as GCF does
 *   (s_i = att_i v_i, R = V + S, v' = mean_i r_i); its classifier is d → K.
 * - ATW scores clip features (e_i = wᵀv_i) and pools features; with a linear classifier and
 *   weights summing to 1 this equals weighting the clips' logits (W Σ w_i v_i + c = Σ w_i (W v_i + c)).
 * - C-Clip classifies clip `centralIndex` (0-based), default ⌊C/2⌋: clip 5 of 10, the later
 *   of the two middle clips when C is even.
 * - Optional dropout acts on the pooled vector v' (on the clip features for `dense`/`central`).
 * - Every classifier layer is named `classifier`, so D-Clips weights load into C-Clip.
 *
 * @example
 * const head = createHead('gcf', { inputDim: 2048, numClasses: 600 });
 * const { probs, weights } = predictWindows(head, windows); // windows: [N, 10, 2048]
 * probs.dispose(); weights.dispose();
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, NonFiniteInputError, ShapeError } from '../errors.ts';
import { AttentionWeighting } from './layers/AttentionWeighting.ts';
import { ClipPooling } from './layers/ClipPooling.ts';
import { ClipSelect } from './layers/ClipSelect.ts';
import { FixedClipWeights } from './layers/FixedClipWeights.ts';
import { GatedClipAttention } from './layers/GatedClipAttention.ts';
import { InterClipFusion, type FusionNormalization } from './layers/InterClipFusion.ts';

/** The heads clipwise can build. */
export type HeadKind = 'gcf' | 'fusionOnly' | 'attentionOnly' | 'atw' | 'dense' | 'central';

/** Every head kind, in the order of GCF-Net Table 2 (weakest baseline first), then ATW. */
export const HEAD_KINDS: readonly HeadKind[] = ['central', 'dense', 'attentionOnly', 'fusionOnly', 'gcf', 'atw'];

/** True where output 1 is learned attention (worth reading for temporal bounds). */
export const HEAD_HAS_ATTENTION: Readonly<Record<HeadKind, boolean>> = {
  gcf: true,
  fusionOnly: false,
  attentionOnly: true,
  atw: true,
  dense: false,
  central: false,
};

/**
 * What output 1 holds: `gate` values are independent in (0,1), so a 0.5 threshold applies
 * (GCF §4.6); `softmax` weights sum to 1 over the window, so compare them with 1/C instead;
 * `uniform` and `oneHot` are constants.
 */
export type ClipWeightKind = 'gate' | 'softmax' | 'uniform' | 'oneHot';

/** The meaning of output 1 for each head. */
export const HEAD_CLIP_WEIGHTS: Readonly<Record<HeadKind, ClipWeightKind>> = {
  gcf: 'gate',
  fusionOnly: 'uniform',
  attentionOnly: 'gate',
  atw: 'softmax',
  dense: 'uniform',
  central: 'oneHot',
};

/** Head hyper-parameters. Sizes follow GCF-Net's notation. */
export interface HeadConfig {
  /** C, clips per window; default 10 (GCF-Net §3.3). */
  readonly clips?: number;
  /** d, size of one clip descriptor from the backbone. */
  readonly inputDim: number;
  /** D, size of the fused descriptors b_i, r_i and v'; default 128. */
  readonly fusionDim?: number;
  /** L, stacked inter-clip fusion layers (eqs. 11–12); default 1. */
  readonly fusionLayers?: number;
  /** N(v) of eq. 1; default `'softmax'`. */
  readonly normalization?: FusionNormalization;
  /** Hidden width of the gate's clip-axis MLP (C → hidden → C, eq. 3); default C. */
  readonly attentionHidden?: number;
  /** K, number of classes. */
  readonly numClasses: number;
  /** Dropout rate before the classifier, in [0, 1); default 0. */
  readonly dropout?: number;
  /** Clip the C-Clip baseline classifies (0-based); default ⌊C/2⌋. */
  readonly centralIndex?: number;
  /** Initialiser seed: the same seed builds the same weights. Random if absent. */
  readonly seed?: number;
}

/** {@link HeadConfig} with every default filled in. */
export interface ResolvedHeadConfig {
  readonly clips: number;
  readonly inputDim: number;
  readonly fusionDim: number;
  readonly fusionLayers: number;
  readonly normalization: FusionNormalization;
  readonly attentionHidden: number;
  readonly numClasses: number;
  readonly dropout: number;
  readonly centralIndex: number;
  readonly seed: number | null;
}

/**
 * Fill in defaults and check a head configuration.
 *
 * @param config the partial configuration.
 * @returns the configuration with every field set.
 * @throws ConfigError listing every bad field.
 */
export function resolveHeadConfig(config: HeadConfig): ResolvedHeadConfig {
  const clips = config.clips ?? 10;
  const resolved: ResolvedHeadConfig = {
    clips,
    inputDim: config.inputDim,
    fusionDim: config.fusionDim ?? 128,
    fusionLayers: config.fusionLayers ?? 1,
    normalization: config.normalization ?? 'softmax',
    attentionHidden: config.attentionHidden ?? clips,
    numClasses: config.numClasses,
    dropout: config.dropout ?? 0,
    centralIndex: config.centralIndex ?? Math.floor(clips / 2),
    seed: config.seed ?? null,
  };
  const issues: { path: string; message: string }[] = [];
  const positiveInt = (path: keyof ResolvedHeadConfig, value: number): void => {
    if (!Number.isInteger(value) || value < 1) issues.push({ path, message: `must be a positive integer, got ${value}` });
  };
  positiveInt('clips', resolved.clips);
  positiveInt('inputDim', resolved.inputDim);
  positiveInt('fusionDim', resolved.fusionDim);
  positiveInt('fusionLayers', resolved.fusionLayers);
  positiveInt('attentionHidden', resolved.attentionHidden);
  positiveInt('numClasses', resolved.numClasses);
  if (resolved.normalization !== 'softmax' && resolved.normalization !== 'mean') {
    issues.push({ path: 'normalization', message: `must be 'softmax' or 'mean', got '${String(resolved.normalization)}'` });
  }
  if (!(resolved.dropout >= 0 && resolved.dropout < 1)) {
    issues.push({ path: 'dropout', message: `must be in [0, 1), got ${resolved.dropout}` });
  }
  if (!Number.isInteger(resolved.centralIndex) || resolved.centralIndex < 0 || resolved.centralIndex >= clips) {
    issues.push({ path: 'centralIndex', message: `must be an integer in [0, ${clips}), got ${resolved.centralIndex}` });
  }
  if (resolved.seed !== null && !Number.isInteger(resolved.seed)) {
    issues.push({ path: 'seed', message: `must be an integer, got ${resolved.seed}` });
  }
  if (issues.length > 0) {
    throw new ConfigError(`invalid head config: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues);
  }
  return resolved;
}

/**
 * Build a head as a `tf.LayersModel` with input [N, C, d] and outputs [probs [N, K], clip
 * weights [N, C]].
 *
 * Why a LayersModel: it saves and loads with tfjs's own format (custom layers are registered
 * by importing this module), and trains with any tfjs optimizer.
 *
 * @example
 * const head = createHead('atw', { inputDim: 256, numClasses: 5, seed: 1 });
 * const [probs, weights] = head.predict(tf.randomNormal([2, 10, 256])) as tf.Tensor[];
 * @param kind which head (see the table in this module's header).
 * @param config sizes; see {@link HeadConfig}.
 * @returns an uncompiled model named `head_<kind>`; its layer names are stable (`fusion_1`…,
 *   `clip_attention`, `atw_weights`, `classifier`…) so weights can be addressed by name.
 * @throws ConfigError when the configuration is invalid.
 */
export function createHead(kind: HeadKind, config: HeadConfig): tfl.LayersModel {
  const cfg = resolveHeadConfig(config);
  const seed = (k: number): number | null => (cfg.seed === null ? null : cfg.seed + 100 * k);
  const seedInit = (k: number): ReturnType<typeof tfl.initializers.glorotUniform> => {
    const s = seed(k);
    return tfl.initializers.glorotUniform(s === null ? {} : { seed: s });
  };
  const input = tfl.input({ shape: [cfg.clips, cfg.inputDim], name: 'windows', dtype: 'float32' });
  const classifier = (): tfl.layers.Layer =>
    tfl.layers.dense({ units: cfg.numClasses, activation: 'softmax', kernelInitializer: seedInit(90), name: 'classifier' });
  const dropout = (x: tfl.SymbolicTensor): tfl.SymbolicTensor =>
    cfg.dropout > 0 ? sym(tfl.layers.dropout({ rate: cfg.dropout, name: 'dropout' }).apply(x)) : x;
  const uniform = (): tfl.SymbolicTensor =>
    sym(new FixedClipWeights({ clipWeights: Array.from({ length: cfg.clips }, () => 1 / cfg.clips), name: 'clip_weights' }).apply(input));
  const fuse = (): tfl.SymbolicTensor => {
    let b = input;
    for (let l = 1; l <= cfg.fusionLayers; l++) {
      b = sym(new InterClipFusion({ units: cfg.fusionDim, normalization: cfg.normalization, seed: seed(l), name: `fusion_${l}` }).apply(b));
    }
    return b;
  };
  const gate = (x: tfl.SymbolicTensor): tfl.SymbolicTensor =>
    sym(new GatedClipAttention({ hidden: cfg.attentionHidden, seed: seed(50), name: 'clip_attention' }).apply(x));

  let probs: tfl.SymbolicTensor;
  let weights: tfl.SymbolicTensor;
  switch (kind) {
    case 'gcf':
    case 'attentionOnly': {
      const b = kind === 'gcf' ? fuse() : input;
      weights = gate(b);
      const pooled = sym(new ClipPooling({ mode: 'gatedResidual', name: 'gated_pool' }).apply([b, weights]));
      probs = sym(classifier().apply(dropout(pooled)));
      break;
    }
    case 'fusionOnly': {
      const pooled = sym(new ClipPooling({ mode: 'mean', name: 'pool' }).apply(fuse()));
      probs = sym(classifier().apply(dropout(pooled)));
      weights = uniform();
      break;
    }
    case 'atw': {
      weights = sym(new AttentionWeighting({ seed: seed(60), name: 'atw_weights' }).apply(input));
      const pooled = sym(new ClipPooling({ mode: 'weighted', name: 'weighted_pool' }).apply([input, weights]));
      probs = sym(classifier().apply(dropout(pooled)));
      break;
    }
    case 'dense': {
      // The classifier maps each clip to its own prediction; D-Clips averages probabilities.
      const clipProbs = sym(classifier().apply(dropout(input)));
      probs = sym(new ClipPooling({ mode: 'mean', name: 'pool' }).apply(clipProbs));
      weights = uniform();
      break;
    }
    case 'central': {
      const central = sym(new ClipSelect({ index: cfg.centralIndex, name: 'central_clip' }).apply(input));
      probs = sym(classifier().apply(dropout(central)));
      const oneHot = Array.from({ length: cfg.clips }, (_, i) => (i === cfg.centralIndex ? 1 : 0));
      weights = sym(new FixedClipWeights({ clipWeights: oneHot, name: 'clip_weights' }).apply(input));
      break;
    }
    default: {
      const never: never = kind;
      throw new ConfigError(`unknown head kind '${String(never)}'`, [{ path: 'kind', message: 'unknown head kind' }]);
    }
  }
  return tfl.model({ inputs: input, outputs: [probs, weights], name: `head_${kind}` });
}

/** The window geometry a head model was built for. */
export interface WindowShape {
  /** C. */
  readonly clips: number;
  /** d. */
  readonly inputDim: number;
}

/**
 * Read C and d from a head model's input.
 *
 * @param model a model from {@link createHead} (or loaded from one).
 * @returns its window shape.
 * @throws ShapeError when the model's input is not [batch, C, d] with fixed C and d.
 */
export function headWindowShape(model: tfl.LayersModel): WindowShape {
  const shape = model.inputs[0]?.shape;
  const clips = shape?.[1];
  const inputDim = shape?.[2];
  if (shape === undefined || shape.length !== 3 || clips == null || inputDim == null) {
    throw new ShapeError(`a head model takes [batch, clips, features] windows; this one takes [${shape?.join(', ') ?? ''}]`);
  }
  return { clips, inputDim };
}

/**
 * Check a batch of windows before it reaches a head: rank 3, [N ≥ 1, C, d], every value finite.
 *
 * Why: a wrong C or d would otherwise surface as an opaque tfjs matMul error deep in the model,
 * and one NaN clip silently poisons the whole window's prediction (softmax over NaN is NaN).
 * The finiteness test reads back one number per window (x·0 summed is 0 unless some x is NaN
 * or ±∞), so it costs one small synchronous download.
 *
 * @example
 * validateWindows(x, { clips: 10, inputDim: 2048 }); // throws ShapeError / NonFiniteInputError
 * @param x windows [N, C, d].
 * @param expected C and d (a {@link HeadConfig} or {@link WindowShape} fits).
 * @throws ShapeError on a wrong rank, C or d, or an empty batch.
 * @throws NonFiniteInputError naming the windows that hold NaN or ±Infinity.
 */
export function validateWindows(x: tf.Tensor, expected: WindowShape): void {
  const want = [null, expected.clips, expected.inputDim];
  if (x.rank !== 3) {
    throw new ShapeError(
      `windows must be rank 3 [batch, clips=${expected.clips}, features=${expected.inputDim}], got rank ${x.rank} [${x.shape.join(', ')}]`,
      { expected: want, actual: x.shape },
    );
  }
  const [n, c, d] = x.shape as [number, number, number];
  if (c !== expected.clips) {
    throw new ShapeError(`windows must hold ${expected.clips} clips, got ${c} (shape [${x.shape.join(', ')}])`, {
      expected: want,
      actual: x.shape,
    });
  }
  if (d !== expected.inputDim) {
    throw new ShapeError(`clip features must have ${expected.inputDim} values, got ${d} (shape [${x.shape.join(', ')}])`, {
      expected: want,
      actual: x.shape,
    });
  }
  if (n < 1) throw new ShapeError('empty batch of windows', { expected: want, actual: x.shape });
  const probe = tf.tidy(() => tf.sum(tf.mul(tf.cast(x, 'float32'), tf.scalar(0)), [1, 2]));
  const perWindow = probe.dataSync();
  probe.dispose();
  const bad: number[] = [];
  perWindow.forEach((value, i) => {
    if (!Number.isFinite(value)) bad.push(i);
  });
  throwIfNonFinite(bad, n);
}

/**
 * {@link validateWindows} for windows still in JavaScript, each a row-major `[C, d]`
 * Float32Array: the same errors, checked before anything is uploaded.
 *
 * Why: the serving path has the values in hand, and a loop over C·d floats costs microseconds
 * where the tensor check costs an extra kernel and a synchronous download per call.
 *
 * @example
 * validateWindowArrays([w0, w1], { clips: 10, inputDim: 256 });
 * @param windows the batch.
 * @param expected C and d.
 * @throws ShapeError on an empty batch or a window whose length is not C·d.
 * @throws NonFiniteInputError naming the windows that hold NaN or ±Infinity.
 */
export function validateWindowArrays(windows: readonly Float32Array[], expected: WindowShape): void {
  const len = expected.clips * expected.inputDim;
  const want = [null, expected.clips, expected.inputDim];
  if (windows.length < 1) throw new ShapeError('empty batch of windows', { expected: want, actual: [0] });
  const bad: number[] = [];
  windows.forEach((w, i) => {
    if (w.length !== len) {
      throw new ShapeError(
        `window ${i} has ${w.length} values, expected clips × features = ${expected.clips} × ${expected.inputDim} = ${len}`,
        { expected: want, actual: [w.length] },
      );
    }
    // x − x is 0 for every finite x and NaN for NaN and ±Infinity: one branch per value.
    let probe = 0;
    for (let j = 0; j < len; j++) probe += (w[j] as number) - (w[j] as number);
    if (probe !== 0) bad.push(i);
  });
  throwIfNonFinite(bad, windows.length);
}

function throwIfNonFinite(bad: readonly number[], n: number): void {
  if (bad.length === 0) return;
  const shown = bad.slice(0, 10).join(', ') + (bad.length > 10 ? ', …' : '');
  throw new NonFiniteInputError(`windows hold NaN or Infinity: batch index ${shown} (${bad.length} of ${n})`);
}

/** The two outputs of a head, as tensors the caller must dispose. */
export interface HeadPrediction {
  /** [N, K] class probabilities. */
  readonly probs: tf.Tensor2D;
  /** [N, C] per-clip weights (see {@link HEAD_CLIP_WEIGHTS}). */
  readonly weights: tf.Tensor2D;
}

/**
 * Validate a batch of windows against a head's input and run it in inference mode.
 *
 * @example
 * const { probs, weights } = predictWindows(head, x);
 * const p = await probs.array(); probs.dispose(); weights.dispose();
 * @param model a head from {@link createHead} or loaded from one.
 * @param x windows [N, C, d]; non-float32 input is cast.
 * @returns probabilities and clip weights; the caller owns and disposes them.
 * @throws ShapeError, NonFiniteInputError as {@link validateWindows}.
 */
export function predictWindows(model: tfl.LayersModel, x: tf.Tensor): HeadPrediction {
  validateWindows(x, headWindowShape(model));
  return predictCheckedWindows(model, x);
}

/**
 * {@link predictWindows} for windows already checked (see {@link validateWindowArrays}).
 *
 * @param model a head.
 * @param x windows [N, C, d] whose shape and values were validated.
 * @returns probabilities and clip weights; the caller owns and disposes them.
 */
export function predictCheckedWindows(model: tfl.LayersModel, x: tf.Tensor): HeadPrediction {
  const out = tf.tidy(() => {
    const input = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    const result = model.predict(input);
    return Array.isArray(result) ? result : [result];
  });
  const [probs, weights] = out;
  if (out.length !== 2 || probs === undefined || weights === undefined) {
    tf.dispose(out);
    throw new ShapeError(`a head model has 2 outputs (probs, clip weights); this one has ${out.length}`);
  }
  return { probs: probs as tf.Tensor2D, weights: weights as tf.Tensor2D };
}

// Layer.apply returns a union (one or many symbolic tensors); every layer here has one output.
function sym(out: tfl.SymbolicTensor | tfl.SymbolicTensor[] | tf.Tensor | tf.Tensor[]): tfl.SymbolicTensor {
  if (out instanceof tfl.SymbolicTensor) return out;
  throw new ShapeError('expected one symbolic tensor from a head layer');
}
