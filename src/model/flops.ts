/**
 * Analytical parameter and FLOP counts for the default backbone and its GSF modules.
 *
 * Why: model cards, the README and benchmarks quote size and cost; counting from the layout
 * (instead of timing or introspecting tfjs) gives numbers that do not depend on the backend,
 * and a test checks the parameter count against `model.countParams()`.
 *
 * FLOP convention: one multiply-add = 2 FLOPs; counted are convolutions (standard, depthwise,
 * the GSF gate and fusion convolutions at their grouped/useful size). Not counted: biases,
 * BatchNorm (folds into the preceding conv at inference), activations, element-wise products,
 * pooling, the input rescale — the convention of the papers' FLOP tables.
 *
 * @example
 * const { params, mflopsPerClip } = backboneComplexity({ frames: 8, size: 112 });
 */
import { backboneLayout, type BackboneConfig } from './backbone.ts';

/** Size and cost of a model. */
export interface Complexity {
  /** All weights, as `model.countParams()` counts them (BN moving statistics included). */
  readonly params: number;
  /** Weights a gradient step changes (params minus BN moving mean/variance). */
  readonly trainableParams: number;
  /** Forward FLOPs for one clip, in millions (multiply-add = 2 FLOPs). */
  readonly mflopsPerClip: number;
}

/**
 * Parameters and FLOPs of one GSF module on c gated channels of a T×H×W clip.
 *
 * Params: gate 27·c + 2 biases, fusion 2·(2·3·3) + 2 biases, BN 4·c (2·c trainable). FLOPs:
 * gate 2·27·c per position (each of the 2 groups: 27·c/2 MACs), fusion 2·18·c per frame
 * (a 2→1 3×3 conv over each group's [c/2 × T] pooled image).
 *
 * @param c gated channels. @param frames T. @param height H. @param width W.
 * @returns params, trainable params and FLOPs per clip (not millions).
 * @example gsfComplexity(96, 8, 7, 7).params; // 27·96 + 40 + 4·96 = 3016
 */
export function gsfComplexity(
  c: number,
  frames: number,
  height: number,
  width: number,
): { params: number; trainableParams: number; flopsPerClip: number } {
  const params = 27 * c + 2 + 36 + 2 + 4 * c;
  const gate = 2 * 27 * c * frames * height * width;
  const fuse = 2 * 18 * c * frames;
  return { params, trainableParams: params - 2 * c, flopsPerClip: gate + fuse };
}

/**
 * Parameters and FLOPs per clip of the default backbone for a config.
 *
 * @param config partial backbone config (defaults as in `createBackbone`).
 * @returns {@link Complexity}; `params` equals `createBackbone(config).countParams()`.
 */
export function backboneComplexity(config: BackboneConfig = {}): Complexity {
  const layout = backboneLayout(config);
  const { frames: T, dim } = layout.config;
  let params = 0;
  let movingStats = 0;
  let flopsPerFrame = 0;
  let gsfFlopsPerClip = 0;
  const bn = (ch: number): void => {
    params += 4 * ch;
    movingStats += 2 * ch;
  };
  const conv = (k: number, cin: number, cout: number, outSize: number): void => {
    params += k * k * cin * cout;
    flopsPerFrame += 2 * k * k * cin * cout * outSize * outSize;
  };

  // 6 input channels with temporal-difference input (frame and its difference to the previous one).
  conv(3, layout.stemInChannels, layout.stemChannels, layout.stemSize);
  bn(layout.stemChannels);
  for (const b of layout.blocks) {
    if (b.expand) {
      conv(1, b.inChannels, b.expandedChannels, b.inSize);
      bn(b.expandedChannels);
    }
    // Depthwise 3×3, one filter per channel.
    params += 9 * b.expandedChannels;
    flopsPerFrame += 2 * 9 * b.expandedChannels * b.outSize * b.outSize;
    if (b.gsfChannels > 0) {
      const g = gsfComplexity(b.gsfChannels, T, b.outSize, b.outSize);
      params += g.params;
      movingStats += 2 * b.gsfChannels;
      gsfFlopsPerClip += g.flopsPerClip;
    }
    bn(b.expandedChannels);
    conv(1, b.expandedChannels, b.outChannels, b.outSize);
    bn(b.outChannels);
  }
  conv(1, layout.headInChannels, dim, layout.finalSize);
  bn(dim);
  return {
    params,
    trainableParams: params - movingStats,
    mflopsPerClip: (flopsPerFrame * T + gsfFlopsPerClip) / 1e6,
  };
}
