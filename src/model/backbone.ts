/**
 * The default clip backbone: a small per-frame 2D CNN (MobileNetV2-style inverted residuals)
 * with Gate-Shift-Fuse modules in its last blocks, mapping a clip `[T, H, W, 3]` to a
 * descriptor v ∈ R^d (global average over T, H, W).
 *
 * Why this shape: on tfjs-wasm only 2D convolutions, depthwise convolutions and matMul have
 * XNNPACK kernels (conv3d runs ~40× slower per FLOP), so temporal modelling comes from GSF
 * (cheap gate + shift) instead of 3D convolutions, and the network is kept small (default:
 * 237,808 parameters, 424 MFLOP per 8×112×112 clip, see `backboneComplexity`) so one wasm core
 * keeps up with several cameras and the trained model commits small. No temporal striding
 * anywhere (GCF-Net §3.1.1).
 *
 * Train `createBackbone()`; serve `await foldBatchNorm(trained)`: BatchNorm folded into the
 * convolutions, same outputs, about half the wasm time.
 *
 * Pixel scaling: the model takes RAW RGB values in [0, 255] as float32 and rescales inside
 * (x / 127.5 − 1, a `Rescaling` layer right after the frame fold), so callers never normalise;
 * {@link preprocessClip} turns a clip's RGB24 bytes into that tensor.
 *
 * @example
 * const model = await foldBatchNorm(createBackbone({ frames: 8, size: 112 }));
 * const x = preprocessClip(clip.data, clip.frames, clip.height, clip.width); // [1, 8, 112, 112, 3]
 * const v = embedClips(model, x); // [1, 256]
 * x.dispose();
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, ShapeError } from '../errors.ts';
import { FoldClipFrames } from './layers/FoldClipFrames.ts';
import { FusedBatchNormalization } from './layers/FusedBatchNormalization.ts';
import { GateShiftFuse, gsfChannels } from './layers/GateShiftFuse.ts';
import { MotionWeights } from './layers/MotionWeights.ts';
import { isSpatialPooling, SpatioTemporalAveragePool, type SpatialPooling } from './layers/SpatioTemporalAveragePool.ts';
import { TemporalDifference } from './layers/TemporalDifference.ts';

/** Options of {@link createBackbone}; every field has a default. */
export interface BackboneConfig {
  /** Frames per clip T. Default 8. */
  readonly frames?: number;
  /** Square input side in pixels (frames are H = W = size). Default 112. */
  readonly size?: number;
  /** Channel width multiplier α (MobileNet convention; channels rounded to multiples of 8). Default 1. */
  readonly widthMultiplier?: number;
  /** Descriptor dimension d (a final 1×1 convolution). Default 256. */
  readonly dim?: number;
  /** How many of the last inverted-residual blocks carry a GSF module. Default 2. */
  readonly gsfBlocks?: number;
  /**
   * GSF channel ratio (fraction of a block's expanded channels that GSF gates and shifts).
   * Default 0.25: the GSF paper's best value when GSF sits on the main branch (ResNet, Table 4).
   */
  readonly channelRatio?: number;
  /**
   * Feed the stem each frame's difference to the previous frame as 3 extra channels
   * (concat(x_t, x_t − x_{t−1}), zero for a clip's first frame; a {@link TemporalDifference}
   * layer). Default false, the 1.0.0 architecture. Why: the actors are a few pixels tall on a
   * static textured scene, so the difference image shows the stem where the motion is.
   */
  readonly temporalDifference?: boolean;
  /**
   * Pooling of the last feature map into the descriptor: `mean` over T·H·W (default, GCF-Net
   * §3.1.1, the 1.0.0 architecture) or `max`: each frame's spatial maximum, averaged over T.
   * Why `max`: an actor covers ~1% of a 112×112 frame, so a spatial mean dilutes its features
   * ~100× into the static scene's; the maximum passes them through whole. `motion`: the mean
   * weighted by where the input's frames change (see {@link MotionWeights}): still smooth, but
   * centred on what moves.
   */
  readonly spatialPooling?: SpatialPooling;
}

/** A {@link BackboneConfig} with every default filled in. */
export type ResolvedBackboneConfig = { readonly [K in keyof BackboneConfig]-?: NonNullable<BackboneConfig[K]> };

/** Defaults of {@link BackboneConfig}. */
export const DEFAULT_BACKBONE_CONFIG: ResolvedBackboneConfig = Object.freeze({
  frames: 8,
  size: 112,
  widthMultiplier: 1,
  dim: 256,
  gsfBlocks: 2,
  channelRatio: 0.25,
  temporalDifference: false,
  spatialPooling: 'mean',
});

/**
 * Inverted-residual stages at α = 1: expansion t, output channels c, repeats n, first stride s
 * (MobileNetV2's table, cut to 9 blocks and 96 channels so the model stays a few hundred K params).
 */
export const BACKBONE_STAGES: readonly { readonly t: number; readonly c: number; readonly n: number; readonly s: number }[] = [
  { t: 1, c: 16, n: 1, s: 1 },
  { t: 4, c: 24, n: 2, s: 2 },
  { t: 4, c: 32, n: 2, s: 2 },
  { t: 4, c: 64, n: 2, s: 2 },
  { t: 4, c: 96, n: 2, s: 1 },
];
/** Stem output channels at α = 1 (3×3 conv, stride 2). */
export const BACKBONE_STEM_CHANNELS = 16;

/** One inverted-residual block, as built. */
export interface InvertedResidualSpec {
  readonly index: number;
  readonly inChannels: number;
  /** Channels after the 1×1 expansion (= inChannels when t = 1: no expansion conv). */
  readonly expandedChannels: number;
  readonly outChannels: number;
  readonly expand: boolean;
  readonly stride: number;
  /** Spatial side of the block's input and output feature maps. */
  readonly inSize: number;
  readonly outSize: number;
  readonly residual: boolean;
  /** GSF channels c after the depthwise conv, 0 when the block has no GSF. */
  readonly gsfChannels: number;
}

/** The backbone's architecture, derived from a config: what {@link createBackbone} builds. */
export interface BackboneLayout {
  readonly config: ResolvedBackboneConfig;
  /** Input channels of the stem conv: 3 (RGB), or 6 with `temporalDifference` (RGB + its frame difference). */
  readonly stemInChannels: number;
  readonly stemChannels: number;
  /** Spatial side after the stem. */
  readonly stemSize: number;
  readonly blocks: readonly InvertedResidualSpec[];
  /** Input channels of the final 1×1 conv (to `config.dim`). */
  readonly headInChannels: number;
  /** Spatial side of the last feature map. */
  readonly finalSize: number;
}

/** MobileNet's channel rounding: nearest multiple of 8, at least 8, never more than 10% below. */
function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor(v / divisor + 0.5) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/**
 * Fill in defaults and validate a backbone config.
 *
 * @param config partial config.
 * @returns the full config; throws `ConfigError` naming each bad field.
 */
export function resolveBackboneConfig(config: BackboneConfig = {}): ResolvedBackboneConfig {
  const c: ResolvedBackboneConfig = { ...DEFAULT_BACKBONE_CONFIG, ...stripUndefined(config) };
  const issues: { path: string; message: string }[] = [];
  const totalBlocks = BACKBONE_STAGES.reduce((s, st) => s + st.n, 0);
  if (!Number.isInteger(c.frames) || c.frames < 1) issues.push({ path: 'frames', message: 'must be an integer ≥ 1' });
  if (!Number.isInteger(c.size) || c.size < 16) issues.push({ path: 'size', message: 'must be an integer ≥ 16' });
  if (!(c.widthMultiplier > 0 && c.widthMultiplier <= 4)) {
    issues.push({ path: 'widthMultiplier', message: 'must be in (0, 4]' });
  }
  if (!Number.isInteger(c.dim) || c.dim < 1) issues.push({ path: 'dim', message: 'must be an integer ≥ 1' });
  if (!Number.isInteger(c.gsfBlocks) || c.gsfBlocks < 0 || c.gsfBlocks > totalBlocks) {
    issues.push({ path: 'gsfBlocks', message: `must be an integer in [0, ${totalBlocks}]` });
  }
  if (!(c.channelRatio > 0 && c.channelRatio <= 1)) issues.push({ path: 'channelRatio', message: 'must be in (0, 1]' });
  if (typeof c.temporalDifference !== 'boolean') issues.push({ path: 'temporalDifference', message: 'must be true or false' });
  if (!isSpatialPooling(c.spatialPooling)) {
    issues.push({ path: 'spatialPooling', message: "must be 'mean', 'max' or 'motion'" });
  }
  if (issues.length > 0) {
    throw new ConfigError(
      `invalid backbone config: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return c;
}

function stripUndefined(config: BackboneConfig): BackboneConfig {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as BackboneConfig;
}

/**
 * The architecture {@link createBackbone} builds for a config (channels, strides, sizes, GSF
 * placement); {@link backboneComplexity} counts from it.
 *
 * @param config partial config (defaults filled in).
 * @returns the layout.
 */
export function backboneLayout(config: BackboneConfig = {}): BackboneLayout {
  const cfg = resolveBackboneConfig(config);
  const a = cfg.widthMultiplier;
  const stemChannels = makeDivisible(BACKBONE_STEM_CHANNELS * a);
  const stemSize = Math.ceil(cfg.size / 2);
  const totalBlocks = BACKBONE_STAGES.reduce((s, st) => s + st.n, 0);
  const blocks: InvertedResidualSpec[] = [];
  let inChannels = stemChannels;
  let size = stemSize;
  for (const stage of BACKBONE_STAGES) {
    const outChannels = makeDivisible(stage.c * a);
    for (let i = 0; i < stage.n; i++) {
      const index = blocks.length;
      const stride = i === 0 ? stage.s : 1;
      const expandedChannels = stage.t === 1 ? inChannels : inChannels * stage.t;
      const outSize = Math.ceil(size / stride);
      const hasGsf = index >= totalBlocks - cfg.gsfBlocks;
      blocks.push({
        index,
        inChannels,
        expandedChannels,
        outChannels,
        expand: stage.t !== 1,
        stride,
        inSize: size,
        outSize,
        residual: stride === 1 && inChannels === outChannels,
        gsfChannels: hasGsf ? gsfChannels(expandedChannels, cfg.channelRatio) : 0,
      });
      inChannels = outChannels;
      size = outSize;
    }
  }
  return { config: cfg, stemInChannels: cfg.temporalDifference ? 6 : 3, stemChannels, stemSize, blocks, headInChannels: inChannels, finalSize: size };
}

/**
 * Input pixels per cell of the last feature map along a side: the cell size of the
 * `spatialPooling: 'motion'` weights, so that they line up with the features.
 *
 * @param layout the backbone's layout.
 * @returns ⌈size / finalSize⌉; throws ConfigError when no whole cell size gives the feature map's side.
 */
export function motionCellSize(layout: BackboneLayout): number {
  const { size } = layout.config;
  const cell = Math.ceil(size / layout.finalSize);
  if (Math.ceil(size / cell) !== layout.finalSize) {
    const message = `motion pooling: no cell size maps ${size} px onto the ${layout.finalSize}×${layout.finalSize} feature map`;
    throw new ConfigError(message, [{ path: 'size', message }]);
  }
  return cell;
}

function convBnRelu6(
  x: tfl.SymbolicTensor,
  name: string,
  conv: tfl.layers.Layer,
  activation: boolean,
): tfl.SymbolicTensor {
  let y = conv.apply(x) as tfl.SymbolicTensor;
  y = batchNorm(`${name}_bn`).apply(y) as tfl.SymbolicTensor;
  if (activation) y = relu6(`${name}_relu6`).apply(y) as tfl.SymbolicTensor;
  return y;
}

/** BatchNorm (momentum 0.99, ε 1e-3) whose training step is fused on wasm; saved as a plain BatchNormalization. */
function batchNorm(name: string): tfl.layers.Layer {
  return new FusedBatchNormalization({ name, momentum: 0.99, epsilon: 1e-3 });
}

/**
 * ReLU6 as `ReLU({maxValue: 6})`: one ClipByValue kernel. The `'relu6'` activation string runs
 * relu then a broadcast `minimum`, whose wasm kernel took a quarter of the forward time.
 */
function relu6(name: string): tfl.layers.Layer {
  return tfl.layers.reLU({ maxValue: 6, name });
}

function pointwise(filters: number, name: string): tfl.layers.Layer {
  return tfl.layers.conv2d({
    filters,
    kernelSize: 1,
    padding: 'same',
    useBias: false,
    kernelInitializer: 'heNormal',
    name,
  });
}

/**
 * Build the default backbone: input `[N, T, size, size, 3]` float32 RAW RGB in [0, 255],
 * output the clip descriptors `[N, dim]`.
 *
 * Layers: fold frames into the batch → rescale to [−1, 1] → [with `temporalDifference`: append
 * the frame differences as 3 more channels] → stem 3×3/2 conv → 9 inverted
 * residual blocks (1×1 expand, 3×3 depthwise, [GSF in the last `gsfBlocks`], BN, ReLU6, 1×1
 * linear projection, residual where shapes match) → 1×1 conv to `dim` + BN + ReLU6 → average
 * over T, H, W. GSF sits right after the depthwise (spatial) convolution and before its BN, as
 * the GSF authors place it after the spatial conv of a block.
 *
 * @param config partial {@link BackboneConfig}; defaults: 8 frames, 112 px, α = 1, d = 256,
 *   2 GSF blocks, channel ratio 0.25.
 * @returns an uncompiled `tf.LayersModel` named `clipwise_backbone`.
 * @example
 * const model = createBackbone({ frames: 8 });
 * model.outputs[0].shape; // [null, 256]
 */
export function createBackbone(config: BackboneConfig = {}): tfl.LayersModel {
  const layout = backboneLayout(config);
  const cfg = layout.config;
  const input = tfl.input({ shape: [cfg.frames, cfg.size, cfg.size, 3], name: 'clip', dtype: 'float32' });
  let x = new FoldClipFrames({ name: 'bb_fold' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.rescaling({ scale: 1 / 127.5, offset: -1, name: 'bb_rescale' }).apply(x) as tfl.SymbolicTensor;
  const motion = cfg.spatialPooling === 'motion' ? (new MotionWeights({ numFrames: cfg.frames, cellSize: motionCellSize(layout), name: 'bb_motion' }).apply(x) as tfl.SymbolicTensor) : undefined;
  if (cfg.temporalDifference) x = new TemporalDifference({ numFrames: cfg.frames, name: 'bb_tdiff' }).apply(x) as tfl.SymbolicTensor;
  x = convBnRelu6(
    x,
    'bb_stem',
    tfl.layers.conv2d({
      filters: layout.stemChannels,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: 'heNormal',
      name: 'bb_stem_conv',
    }),
    true,
  );
  for (const b of layout.blocks) {
    const p = `bb_b${b.index}`;
    const blockInput = x;
    if (b.expand) x = convBnRelu6(x, `${p}_expand`, pointwise(b.expandedChannels, `${p}_expand_conv`), true);
    x = tfl.layers
      .depthwiseConv2d({
        kernelSize: 3,
        strides: b.stride,
        padding: 'same',
        useBias: false,
        // He init for a depthwise kernel: tfjs takes fan-in = 3·3·channels for [3, 3, C, 1],
        // which starts the net with activations shrinking ~√C per block; scale it back.
        depthwiseInitializer: tfl.initializers.varianceScaling({
          scale: 2 * b.expandedChannels,
          mode: 'fanIn',
          distribution: 'normal',
        }),
        name: `${p}_dw_conv`,
      })
      .apply(x) as tfl.SymbolicTensor;
    if (b.gsfChannels > 0) {
      x = new GateShiftFuse({ numFrames: cfg.frames, channelRatio: cfg.channelRatio, name: `${p}_gsf` }).apply(
        x,
      ) as tfl.SymbolicTensor;
    }
    x = batchNorm(`${p}_dw_bn`).apply(x) as tfl.SymbolicTensor;
    x = relu6(`${p}_dw_relu6`).apply(x) as tfl.SymbolicTensor;
    x = convBnRelu6(x, `${p}_project`, pointwise(b.outChannels, `${p}_project_conv`), false);
    if (b.residual) x = tfl.layers.add({ name: `${p}_add` }).apply([blockInput, x]) as tfl.SymbolicTensor;
  }
  x = convBnRelu6(x, 'bb_head', pointwise(cfg.dim, 'bb_head_conv'), true);
  const v = new SpatioTemporalAveragePool({ numFrames: cfg.frames, spatial: cfg.spatialPooling, name: 'bb_pool' }).apply(motion ? [x, motion] : x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: v, name: 'clipwise_backbone' });
}

/**
 * Turn clips' RGB24 bytes (`Clip.data`, row-major `[T, H, W, 3]`) into the backbone's input
 * tensor: float32 `[N, T, H, W, 3]` with RAW values 0–255 (the model rescales inside).
 *
 * @param clips one `Uint8Array` per clip, each of length T·H·W·3.
 * @param frames T. @param height H. @param width W.
 * @param scratch reused as the float buffer when large enough. Only for backends that copy
 *   the values when a tensor is made (wasm does; cpu keeps a reference): a fresh 1.2 MB array
 *   per clip was the inference workers' main source of garbage, and with it of major GCs.
 * @returns a new tensor the caller disposes.
 * @example
 * const x = preprocessClips([a.data, b.data], 8, 112, 112); // [2, 8, 112, 112, 3]
 */
export function preprocessClips(
  clips: readonly Uint8Array[],
  frames: number,
  height: number,
  width: number,
  scratch?: Float32Array,
): tf.Tensor5D {
  const len = frames * height * width * 3;
  if (clips.length === 0) throw new ShapeError('preprocessClips: no clips', { expected: [null, frames, height, width, 3] });
  const buf = scratch && scratch.length >= clips.length * len ? scratch.subarray(0, clips.length * len) : new Float32Array(clips.length * len);
  clips.forEach((data, i) => {
    if (data.length !== len) {
      throw new ShapeError(
        `clip ${i} has ${data.length} bytes, expected T·H·W·3 = ${frames}·${height}·${width}·3 = ${len}`,
        { expected: [frames, height, width, 3], actual: [data.length] },
      );
    }
    buf.set(data, i * len);
  });
  return tf.tensor5d(buf, [clips.length, frames, height, width, 3], 'float32');
}

/**
 * One clip's RGB24 bytes → float32 `[1, T, H, W, 3]`, raw 0–255 (see {@link preprocessClips}).
 *
 * @param data RGB24 `[T, H, W, 3]` row-major, length T·H·W·3.
 * @returns a new tensor the caller disposes.
 */
export function preprocessClip(data: Uint8Array, frames: number, height: number, width: number): tf.Tensor5D {
  return preprocessClips([data], frames, height, width);
}

/**
 * Run the backbone on a batch of clips after checking their shape, so a wrong clip size is a
 * clear `ShapeError` instead of a tfjs message deep inside `predict`.
 *
 * @param model a backbone from {@link createBackbone} (or any model with one 5-D input).
 * @param clips float32 `[N, T, H, W, 3]`, raw 0–255.
 * @returns descriptors `[N, d]`; the caller disposes them.
 */
export function embedClips(model: tfl.LayersModel, clips: tf.Tensor): tf.Tensor2D {
  const expected = model.inputs[0]?.shape ?? [];
  const ok =
    clips.rank === expected.length &&
    clips.shape.every((d, i) => expected[i] === null || expected[i] === undefined || expected[i] === d);
  if (!ok) {
    throw new ShapeError(
      `backbone input must be clips [N, ${expected.slice(1).join(', ')}] (raw RGB 0–255), got [${clips.shape.join(', ')}]`,
      { expected, actual: clips.shape },
    );
  }
  // apply (not predict): predict slices the batch into a copy first, a slow 5-D slice on wasm.
  return tf.tidy(() => model.apply(clips, { training: false }) as tf.Tensor2D);
}

/** The Keras-style JSON of one layer inside a functional model's topology. */
interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, unknown>][][];
}
interface ModelJson {
  class_name: string;
  config: { name: string; layers: LayerJson[]; input_layers: unknown; output_layers: [string, number, number][] };
}

const FOLDABLE_CONVS = new Set(['Conv2D', 'DepthwiseConv2D']);

/**
 * Inference copy of a functional model with every BatchNormalization that directly follows a
 * Conv2D / DepthwiseConv2D folded into that convolution's kernel and bias:
 * s = γ/√(σ²+ε), W' = W·s (per output channel), b' = (b − μ)·s + β.
 *
 * Why: on tfjs-wasm the BN kernel is a separate, memory-bound pass over every feature map;
 * folded, the convolution's fused bias does the same work for free (measured on the default
 * backbone: ≈ 40% of the forward time). The copy is for inference only (BN statistics are baked
 * in; training it would not update them). BNs after anything else (e.g. after a GSF module, which
 * is not linear) stay as they are. Works on any functional tfjs model, e.g. a loaded backbone.
 *
 * @param model trained model (not modified).
 * @returns a new model, same inputs/outputs and layer names minus the folded BN layers; the
 *   caller disposes both.
 * @example
 * const fast = await foldBatchNorm(createBackbone());
 */
export async function foldBatchNorm(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const topology = JSON.parse(model.toJSON(null, true) as string) as ModelJson;
  const layers = topology.config.layers;
  const byName = new Map(layers.map((l) => [l.name, l]));
  const inbound = (l: LayerJson): string[] => l.inbound_nodes.flatMap((node) => node.map((ref) => ref[0]));
  const consumers = new Map<string, string[]>();
  for (const l of layers) for (const src of inbound(l)) consumers.set(src, [...(consumers.get(src) ?? []), l.name]);
  const outputs = new Set(topology.config.output_layers.map((o) => o[0]));

  const folded = new Map<string, string>(); // conv name → BN name
  const rename = new Map<string, string>(); // BN name → conv name
  for (const bn of layers) {
    if (bn.class_name !== 'BatchNormalization' || bn.inbound_nodes.length !== 1) continue;
    const axis = bn.config['axis'];
    if (axis !== -1 && axis !== 3) continue;
    const src = inbound(bn);
    const conv = src.length === 1 ? byName.get(src[0] as string) : undefined;
    if (conv === undefined || !FOLDABLE_CONVS.has(conv.class_name) || conv.inbound_nodes.length !== 1) continue;
    if (conv.config['data_format'] !== 'channels_last' || conv.config['activation'] !== 'linear') continue;
    if ((consumers.get(conv.name) ?? []).length !== 1 || outputs.has(conv.name)) continue;
    folded.set(conv.name, bn.name);
    rename.set(bn.name, conv.name);
    conv.config['use_bias'] = true;
    conv.config['bias_initializer'] = { class_name: 'Zeros', config: {} };
  }
  topology.config.layers = layers.filter((l) => !rename.has(l.name));
  for (const l of topology.config.layers) {
    for (const node of l.inbound_nodes) for (const ref of node) ref[0] = rename.get(ref[0]) ?? ref[0];
  }
  for (const o of topology.config.output_layers) o[0] = rename.get(o[0]) ?? o[0];

  const out = await tfl.models.modelFromJSON({ modelTopology: topology as unknown as tf.serialization.ConfigDict });
  for (const layer of out.layers) {
    const old = model.getLayer(layer.name);
    const bnName = folded.get(layer.name);
    if (bnName === undefined) {
      if (layer.weights.length > 0) layer.setWeights(old.getWeights());
      continue;
    }
    const weights = tf.tidy(() => {
      const bn = model.getLayer(bnName);
      const bnCfg = bn.getConfig();
      const get = (suffix: string): tf.Tensor | undefined => {
        const i = bn.weights.findIndex((w) => w.originalName.endsWith(`/${suffix}`));
        return i < 0 ? undefined : bn.getWeights()[i];
      };
      const mean = get('moving_mean') as tf.Tensor1D;
      const variance = get('moving_variance') as tf.Tensor1D;
      const gamma = get('gamma') ?? tf.onesLike(mean);
      const beta = get('beta') ?? tf.zerosLike(mean);
      const s = tf.div(gamma, tf.sqrt(tf.add(variance, bnCfg['epsilon'] as number)));
      const [kernel, bias] = old.getWeights() as [tf.Tensor4D, tf.Tensor1D | undefined];
      // Conv2D kernels are [kh, kw, in, out]: scale the last axis. Depthwise ones are
      // [kh, kw, in, multiplier] with output channel in·multiplier + m: scale the last two.
      const [kh, kw, a, b] = kernel.shape;
      const outAxes = layer.getClassName() === 'DepthwiseConv2D' ? a * b : b;
      const scaled = tf.reshape(tf.mul(tf.reshape(kernel, [-1, outAxes]), tf.reshape(s, [1, outAxes])), [kh, kw, a, b]);
      const newBias = tf.add(tf.mul(tf.sub(bias ?? tf.zerosLike(mean), mean), s), beta);
      return [scaled, newBias];
    });
    layer.setWeights(weights);
    tf.dispose(weights);
  }
  return out;
}
