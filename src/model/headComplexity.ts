/**
 * Analytic parameter count and compute cost of a clip-window head.
 *
 * Why: GCF-Net's selling point is a tiny overhead over the backbone (Table 3: 0.86 M
 * parameters, 15 MFLOPs); this lets a model card and the benchmarks state the cost of any
 * configuration without building it, and a test checks the count against tfjs's own.
 *
 * Counting rule: `mflops` = 2 FLOPs × the multiply-accumulates of the matrix and vector
 * products for one window (projections W_q/W_k/W_v/W_z, the C×C affinities and their
 * aggregation, the gate's MLP, ATW's scores, the classifiers), in millions. Element-wise work
 * (pooling, gating, biases, activations, softmax) is left out: it is O(C·(d + D) + K), under
 * 1% of the total for the paper's sizes.
 *
 * @example
 * headComplexity('gcf', GCF_TABLE3_CONFIG); // { params: 852452, mflops: 15.74… }
 */
import { resolveHeadConfig, type HeadConfig, type HeadKind, type ResolvedHeadConfig } from './heads.ts';

/**
 * The configuration closest to GCF-Net Table 3 (0.86 M parameters, 15 MFLOPs without the
 * backbone): 3D-ResNeXt-101 features (d = 2048), C = 10, Kinetics-600 (K = 600), one fusion
 * layer. The paper does not state D for that table; with d → D projections the parameter
 * count fixes D ≈ 125, and D = 124 gives 0.852 M parameters and 15.7 MFLOPs (D = 128: 0.880 M,
 * 16.3 MFLOPs; D = 256, the smallest of its Fig. 3a, would be 1.79 M). The paper's MFLOPs only
 * fit 2 FLOPs per multiply-accumulate: counted as MACs, 15 M would need ~1.5 M projection weights.
 */
export const GCF_TABLE3_CONFIG: HeadConfig = {
  inputDim: 2048,
  clips: 10,
  numClasses: 600,
  fusionDim: 124,
  fusionLayers: 1,
  attentionHidden: 10,
};

/** Size and cost of one head. */
export interface HeadComplexity {
  /** Trainable parameters (equals `model.countParams()` of {@link createHead}'s model). */
  readonly params: number;
  /** Millions of FLOPs per window, 2 per multiply-accumulate (see the module note). */
  readonly mflops: number;
}

interface Cost {
  params: number;
  macs: number;
}

function fusionCost(cfg: ResolvedHeadConfig): Cost {
  const { clips: c, fusionDim: d } = cfg;
  let params = 0;
  let macs = 0;
  for (let l = 0; l < cfg.fusionLayers; l++) {
    const inDim = l === 0 ? cfg.inputDim : d;
    params += 3 * inDim * d + d * d;
    // q, k, v projections; C×C dot products of size D; Σ_j a_ij v_j; W_z.
    macs += 3 * c * inDim * d + c * c * d + c * c * d + c * d * d;
  }
  return { params, macs };
}

function gateCost(cfg: ResolvedHeadConfig): Cost {
  const { clips: c, attentionHidden: h } = cfg;
  return { params: c * h + h + h * c + c, macs: c * h + h * c };
}

function classifierCost(cfg: ResolvedHeadConfig, inDim: number, times = 1): Cost {
  return { params: inDim * cfg.numClasses + cfg.numClasses, macs: times * inDim * cfg.numClasses };
}

function sum(...costs: Cost[]): Cost {
  return costs.reduce((a, b) => ({ params: a.params + b.params, macs: a.macs + b.macs }), { params: 0, macs: 0 });
}

/**
 * Parameters and MFLOPs of a head, computed from its configuration.
 *
 * @param kind which head.
 * @param config the same configuration {@link createHead} takes (defaults filled the same way).
 * @returns trainable parameter count and MFLOPs per window.
 * @throws ConfigError when the configuration is invalid.
 */
export function headComplexity(kind: HeadKind, config: HeadConfig): HeadComplexity {
  const cfg = resolveHeadConfig(config);
  let cost: Cost;
  switch (kind) {
    case 'gcf':
      cost = sum(fusionCost(cfg), gateCost(cfg), classifierCost(cfg, cfg.fusionDim));
      break;
    case 'fusionOnly':
      cost = sum(fusionCost(cfg), classifierCost(cfg, cfg.fusionDim));
      break;
    case 'attentionOnly':
      cost = sum(gateCost(cfg), classifierCost(cfg, cfg.inputDim));
      break;
    case 'atw':
      cost = sum({ params: cfg.inputDim, macs: cfg.clips * cfg.inputDim }, classifierCost(cfg, cfg.inputDim));
      break;
    case 'dense':
      cost = classifierCost(cfg, cfg.inputDim, cfg.clips);
      break;
    case 'central':
      cost = classifierCost(cfg, cfg.inputDim);
      break;
  }
  return { params: cost.params, mflops: (2 * cost.macs) / 1e6 };
}
