/**
 * The fusion and gated window heads as one `tf.tidy` of tfjs ops over weights read once, for
 * serving: the same function as the layers model, without `LayersModel.predict`.
 *
 * Why: a head call serves one or a few windows, so its cost is per-op and per-call overhead,
 * not arithmetic (a GCF window is ~2.6 MFLOP). `predict` walks the layer graph, re-checks
 * inputs and makes three matMuls for the query, key and value projections; with the α = 0.5
 * backbone (~9 ms per clip) that put the head at 4.5% of model time against issue 6's ≤ 3%.
 * Here the three projections are one matMul against the concatenated kernels (the softmax
 * scale 1/√D folded into the query kernel), biases and activations ride fused matMuls,
 * dropout (an identity at inference) is skipped, and the gated pooling's `x + x·w` is one
 * multiply by `1 + w`. Same math, rounded in a slightly different order (the folded scale,
 * `1 + w`): results agree with `predict` to float32 rounding (tested).
 *
 * Applies to the heads that serve events — `gcf`, `attentionOnly`, `fusionOnly` — when built
 * by `createHead` (its layer names and classes); anything else gets `undefined` and callers
 * use `predictWindows`.
 *
 * @example
 * const fast = compileHead(head, 'gcf');
 * const { probs, weights } = fast ? fast.apply(x) : predictWindows(head, x); // caller disposes both
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { HeadKind, HeadPrediction } from './heads.ts';
import { ClipPooling } from './layers/ClipPooling.ts';
import { GatedClipAttention } from './layers/GatedClipAttention.ts';
import { InterClipFusion } from './layers/InterClipFusion.ts';

/** A compiled head: windows `[N, C, d]` → class probabilities `[N, K]` and clip weights `[N, C]`. */
export interface CompiledHead {
  /** The caller disposes both outputs; `x` must already be checked (see `validateWindows`). */
  apply(x: tf.Tensor3D): HeadPrediction;
  dispose(): void;
}

interface Fusion {
  /** [d_in, 3·D]: the query, key and value kernels side by side. */
  readonly qkv: tf.Tensor2D;
  readonly wz: tf.Tensor2D;
  readonly units: number;
  readonly normalization: InterClipFusion['normalization'];
}

/**
 * Compile a head made by `createHead` for inference.
 *
 * @param model the head (trained or loaded).
 * @param kind which head it is.
 * @returns the compiled pass, or `undefined` when this kind or layout is not covered.
 */
export function compileHead(model: tfl.LayersModel, kind: HeadKind): CompiledHead | undefined {
  if (kind !== 'gcf' && kind !== 'attentionOnly' && kind !== 'fusionOnly') return undefined;
  const layer = (name: string): tfl.layers.Layer | undefined => model.layers.find((l) => l.name === name);

  const fusionLayers: InterClipFusion[] = [];
  for (let l = 1; ; l++) {
    const f = layer(`fusion_${l}`);
    if (f === undefined) break;
    if (!(f instanceof InterClipFusion)) return undefined;
    fusionLayers.push(f);
  }
  if ((kind === 'attentionOnly') !== (fusionLayers.length === 0)) return undefined;
  const gate = layer('clip_attention');
  const pool = layer(kind === 'fusionOnly' ? 'pool' : 'gated_pool');
  const classifier = layer('classifier');
  if (!(pool instanceof ClipPooling) || pool.mode !== (kind === 'fusionOnly' ? 'mean' : 'gatedResidual')) return undefined;
  if (kind !== 'fusionOnly' && !(gate instanceof GatedClipAttention)) return undefined;
  if (classifier === undefined || classifier.getClassName() !== 'Dense' || classifier.getConfig()['activation'] !== 'softmax') return undefined;
  // Dense stores [kernel, bias] in that order; a head without a bias is not one createHead makes.
  const classifierWeights = classifier.getWeights();
  if (classifierWeights.length !== 2) return undefined;

  const built: tf.Tensor[] = [];
  const keep = <X extends tf.Tensor>(t: X): X => {
    built.push(t);
    return t;
  };
  // getWeights() hands out the layers' own variables: the pass keeps copies, so it does not
  // depend on the model staying alive (and disposing it cannot free the model's weights).
  const fusions: Fusion[] = fusionLayers.map((f) => {
    const [wq, wk, wv, wz] = f.getWeights() as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    // softmax(q·kᵀ/√D) = softmax((q/√D)·kᵀ): the scale goes into the query kernel once.
    const q = f.normalization === 'softmax' ? tf.mul(wq, 1 / Math.sqrt(f.units)) : wq;
    const qkv = keep(tf.concat([q, wk, wv], 1) as tf.Tensor2D);
    if (q !== wq) q.dispose();
    return { qkv, wz: keep(tf.clone(wz)), units: f.units, normalization: f.normalization };
  });
  const gateWeights =
    gate instanceof GatedClipAttention && kind !== 'fusionOnly'
      ? (gate.getWeights().map((w) => keep(tf.clone(w))) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D])
      : undefined;
  const [kernel, bias] = classifierWeights.map((w) => keep(tf.clone(w))) as [tf.Tensor2D, tf.Tensor1D];

  const fuse = (x: tf.Tensor3D, f: Fusion): tf.Tensor3D => {
    const [n, c, d] = x.shape;
    const D = f.units;
    const qkv = tf.reshape(tf.matMul(tf.reshape(x, [n * c, d]), f.qkv), [n, c, 3 * D]);
    const [q, k, v] = tf.split(qkv, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const scores = tf.matMul(q, k, false, true);
    const affinity = f.normalization === 'softmax' ? tf.softmax(scores, -1) : tf.mul(scores, 1 / c);
    return tf.reshape(tf.matMul(tf.reshape(tf.matMul(affinity, v), [n * c, D]), f.wz), [n, c, D]);
  };

  return {
    apply(x) {
      return tf.tidy(() => {
        let b = x;
        for (const f of fusions) b = fuse(b, f);
        let pooled: tf.Tensor2D;
        let weights: tf.Tensor2D;
        if (gateWeights) {
          const [w1, b1, w2, b2] = gateWeights;
          const h = tf.fused.matMul({ a: tf.mean(b, -1) as tf.Tensor2D, b: w1, bias: b1, activation: 'relu' });
          weights = tf.fused.matMul({ a: h, b: w2, bias: b2, activation: 'sigmoid' }) as tf.Tensor2D;
          // eqs. 5–7: mean over clips of x + x·w = x·(1 + w).
          pooled = tf.mean(tf.mul(b, tf.expandDims(tf.add(weights, 1), -1)), 1) as tf.Tensor2D;
        } else {
          const [n, c] = x.shape;
          pooled = tf.mean(b, 1) as tf.Tensor2D;
          weights = tf.fill([n, c], 1 / c);
        }
        const probs = tf.softmax(tf.fused.matMul({ a: pooled, b: kernel, bias })) as tf.Tensor2D;
        return { probs, weights };
      });
    },
    dispose() {
      tf.dispose(built);
    },
  };
}
