/**
 * A clipwise model on disk: one folder with `manifest.json` (classes, clip and window shape,
 * configs), `backbone/` and `heads/<kind>/` (tfjs model.json + weights.bin each).
 *
 * Why a manifest beside the tfjs files: the stream needs facts tfjs does not store — class
 * names, the analysis frame rate the model was trained at, which head is the default, the
 * thresholds the model card recommends — and a saved backbone must be matched to its heads.
 *
 * @example
 * const model = await loadClipwiseModel('models/default');
 * model.manifest.classes; // ['background', 'fall', ...]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { ModelLoadError } from '../errors.ts';
import { createBackbone, embedClips, foldBatchNorm, preprocessClips, resolveBackboneConfig, type BackboneConfig } from './backbone.ts';
import { compileInferenceBackbone } from './fastBackbone.ts';
import { compileHead } from './compiledHead.ts';
import { createHead, HEAD_KINDS, headWindowShape, predictCheckedWindows, validateWindowArrays, type HeadConfig, type HeadKind } from './heads.ts';
import { loadLayersModel, saveLayersModel } from './io.ts';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'clipwise-model';

const headKind = z.enum(['gcf', 'fusionOnly', 'attentionOnly', 'atw', 'dense', 'central']);

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  formatVersion: z.literal(1),
  name: z.string().min(1),
  version: z.string().min(1),
  classes: z.array(z.string().min(1)).min(2),
  /** Index of the no-action class, excluded from detection; null when every class is an action. */
  backgroundIndex: z.number().int().nonnegative().nullable(),
  clip: z.object({
    frames: z.number().int().positive(),
    size: z.number().int().positive(),
    /** Analysis frame rate the model was trained at. */
    fps: z.number().positive(),
    /** Frames between the starts of consecutive clips. */
    stride: z.number().int().positive(),
  }),
  window: z.object({ clips: z.number().int().positive() }),
  backbone: z.record(z.string(), z.unknown()),
  heads: z.record(z.string(), z.record(z.string(), z.unknown())),
  defaultHead: headKind,
  detection: z
    // minEventClips: written by clipwise train since session 9; manifests without it (1.6.0 and older) report every event (1).
    .object({ classThreshold: z.number(), attentionThreshold: z.number(), minEventClips: z.number().int().positive().optional() })
    .optional(),
  trained: z.boolean(),
  notes: z.string().optional(),
});

/** How detections become events: the thresholds and the shortest event reported, in clips. */
export interface DetectionSettings {
  readonly classThreshold: number;
  readonly attentionThreshold: number;
  readonly minEventClips: number;
}

/** Where no layer sets a detection field: the untrained defaults, every event reported. */
export const DETECTION_DEFAULTS: DetectionSettings = { classThreshold: 0.5, attentionThreshold: 0.5, minEventClips: 1 };

/**
 * The detection settings from layers in precedence order: the first layer that sets a field
 * wins, then {@link DETECTION_DEFAULTS}. `clipwise run` puts the operator's config before the
 * manifest (a site may retune); evaluation puts its flags, then the manifest (what was
 * calibrated), then the default config.
 *
 * @example
 * resolveDetection(config.detection, manifest.detection); // run
 * resolveDetection(flags, manifest.detection, defaults.detection); // eval
 */
export function resolveDetection(...layers: ReadonlyArray<Partial<Record<keyof DetectionSettings, number | undefined>> | undefined>): DetectionSettings {
  const pick = (key: keyof DetectionSettings): number => {
    for (const layer of layers) {
      const v = layer?.[key];
      if (v !== undefined) return v;
    }
    return DETECTION_DEFAULTS[key];
  };
  return { classThreshold: pick('classThreshold'), attentionThreshold: pick('attentionThreshold'), minEventClips: pick('minEventClips') };
}

/** What `manifest.json` holds. */
export type ModelManifest = z.output<typeof manifestSchema>;

/** A loaded model: manifest, backbone and the requested heads. Dispose when done. */
export interface ClipwiseModel {
  readonly manifest: ModelManifest;
  readonly backbone: tfl.LayersModel;
  readonly heads: ReadonlyMap<HeadKind, tfl.LayersModel>;
  dispose(): void;
}

/** Read and check a model folder's manifest. */
export async function loadManifest(dir: string): Promise<ModelManifest> {
  const path = join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ModelLoadError(
      `cannot read ${path}: ${(err as Error).message}. A model folder needs manifest.json, backbone/ and heads/ (see models/default/MODEL_CARD.md)`,
      dir,
      { cause: err },
    );
  }
  const res = manifestSchema.safeParse(raw);
  if (!res.success) {
    throw new ModelLoadError(`${path} is not a clipwise model manifest: ${z.prettifyError(res.error)}`, dir);
  }
  return res.data;
}

/** The backbone config stored in a manifest, typed. */
export function manifestBackboneConfig(m: ModelManifest): BackboneConfig {
  return m.backbone as BackboneConfig;
}

/** The head config stored in a manifest for one head kind. */
export function manifestHeadConfig(m: ModelManifest, kind: HeadKind): HeadConfig {
  const cfg = m.heads[kind];
  if (!cfg) throw new ModelLoadError(`the model has no '${kind}' head (it has: ${Object.keys(m.heads).join(', ')})`, '');
  return cfg as unknown as HeadConfig;
}

export interface NewModelOptions {
  readonly name?: string;
  readonly version?: string;
  readonly classes: readonly string[];
  readonly backgroundIndex?: number | null;
  readonly fps?: number;
  readonly stride?: number;
  readonly backbone?: BackboneConfig;
  readonly head?: Omit<HeadConfig, 'inputDim' | 'numClasses'>;
  readonly heads?: readonly HeadKind[];
  readonly defaultHead?: HeadKind;
  readonly seed?: number;
}

/**
 * Build a fresh (untrained) model: backbone plus every requested head, sharing one manifest.
 *
 * @returns the model in memory; save it with {@link saveClipwiseModel}.
 */
export function createClipwiseModel(opts: NewModelOptions): ClipwiseModel {
  const backboneCfg = resolveBackboneConfig(opts.backbone ?? {});
  const kinds = opts.heads ?? HEAD_KINDS;
  const headCfg = (kind: HeadKind): HeadConfig => ({
    ...(opts.head ?? {}),
    inputDim: backboneCfg.dim,
    numClasses: opts.classes.length,
    ...(opts.seed !== undefined ? { seed: opts.seed + HEAD_KINDS.indexOf(kind) + 1 } : {}),
  });
  const heads = new Map<HeadKind, tfl.LayersModel>();
  for (const k of kinds) heads.set(k, createHead(k, headCfg(k)));
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: 1,
    name: opts.name ?? 'clipwise-untrained',
    version: opts.version ?? '0.0.0',
    classes: [...opts.classes],
    backgroundIndex: opts.backgroundIndex === undefined ? 0 : opts.backgroundIndex,
    clip: { frames: backboneCfg.frames, size: backboneCfg.size, fps: opts.fps ?? 5, stride: opts.stride ?? backboneCfg.frames },
    window: { clips: opts.head?.clips ?? 10 },
    backbone: { ...backboneCfg },
    heads: Object.fromEntries(kinds.map((k) => [k, { ...headCfg(k) } as Record<string, unknown>])),
    defaultHead: opts.defaultHead ?? (kinds.includes('gcf') ? 'gcf' : (kinds[0] ?? 'gcf')),
    trained: false,
  };
  return bundle(manifest, createBackbone(backboneCfg), heads);
}

function bundle(manifest: ModelManifest, backbone: tfl.LayersModel, heads: ReadonlyMap<HeadKind, tfl.LayersModel>): ClipwiseModel {
  return {
    manifest,
    backbone,
    heads,
    dispose() {
      backbone.dispose();
      for (const h of heads.values()) h.dispose();
    },
  };
}

/** Write a model folder: manifest.json, backbone/, heads/<kind>/. */
export async function saveClipwiseModel(model: ClipwiseModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await saveLayersModel(model.backbone, join(dir, 'backbone'));
  for (const [kind, head] of model.heads) await saveLayersModel(head, join(dir, 'heads', kind));
  await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(model.manifest, null, 2) + '\n');
}

/**
 * Load a model folder.
 *
 * @param opts.heads which heads to load (default: the manifest's default head; 'all' for every saved head).
 */
export async function loadClipwiseModel(
  dir: string,
  opts: { heads?: readonly HeadKind[] | 'all' } = {},
): Promise<ClipwiseModel> {
  const manifest = await loadManifest(dir);
  const kinds = opts.heads === 'all' ? (Object.keys(manifest.heads) as HeadKind[]) : (opts.heads ?? [manifest.defaultHead]);
  const heads = new Map<HeadKind, tfl.LayersModel>();
  for (const k of kinds) heads.set(k, await loadHead(dir, manifest, k));
  return bundle(manifest, await loadLayersModel(join(dir, 'backbone')), heads);
}

/** Wall time of {@link ClipEmbedder.embed}'s steps, accumulated (ms): benchmarks split the backbone's time with it. */
export interface EmbedTiming {
  /** RGB24 bytes → the float32 input tensor. */
  preprocessMs: number;
  /** The backbone forward pass and reading its descriptors back. */
  backboneMs: number;
}

/** Turns clips into descriptors (the work of one inference worker). */
export interface ClipEmbedder {
  readonly dim: number;
  readonly manifest: ModelManifest;
  /** Descriptors of N clips, concatenated: length N·dim. `timing`, when given, accumulates where the time went. */
  embed(clips: readonly Uint8Array[], shape: { frames: number; height: number; width: number }, timing?: EmbedTiming): Promise<Float32Array>;
  dispose(): void;
}

/**
 * Load a model's backbone for inference: the default architecture compiled into the
 * channel-group pass (`compileInferenceBackbone`, ≈ 2.7× faster on wasm, same descriptors),
 * any other backbone as a layers model with BatchNorm folded into the convolutions.
 */
export async function createEmbedder(dir: string): Promise<ClipEmbedder> {
  const manifest = await loadManifest(dir);
  const loaded = await loadLayersModel(join(dir, 'backbone'));
  const compiled = compileInferenceBackbone(loaded, manifestBackboneConfig(manifest));
  const backbone = compiled ? undefined : await foldBatchNorm(loaded);
  loaded.dispose();
  const forward = (x: tf.Tensor): tf.Tensor2D => (compiled ? compiled.apply(x) : embedClips(backbone as tfl.LayersModel, x));
  const dim = resolveBackboneConfig(manifestBackboneConfig(manifest)).dim;
  // wasm copies a tensor's values into its heap when the tensor is made, so one float buffer
  // serves every call (see preprocessClips); other backends keep a reference and get fresh ones.
  let scratch: Float32Array | undefined;
  return {
    dim,
    manifest,
    async embed(clips, shape, timing) {
      const t0 = timing ? performance.now() : 0;
      const size = clips.length * shape.frames * shape.height * shape.width * 3;
      const reuse = tf.getBackend() === 'wasm';
      if (reuse && (scratch === undefined || scratch.length < size)) scratch = new Float32Array(size);
      const x = preprocessClips(clips, shape.frames, shape.height, shape.width, reuse ? scratch : undefined);
      const t1 = timing ? performance.now() : 0;
      try {
        const y = forward(x);
        try {
          return (await y.data()) as Float32Array;
        } finally {
          y.dispose();
          if (timing) {
            timing.preprocessMs += t1 - t0;
            timing.backboneMs += performance.now() - t1;
          }
        }
      } finally {
        x.dispose();
      }
    },
    dispose() {
      compiled?.dispose();
      backbone?.dispose();
    },
  };
}

/** The output of a head for one window, as plain arrays. */
export interface HeadResult {
  readonly probs: Float32Array;
  readonly weights: Float32Array;
}

/** A loaded head that runs batches of windows. */
export interface WindowHead {
  readonly kind: HeadKind;
  readonly manifest: ModelManifest;
  readonly clips: number;
  readonly dim: number;
  /** Run N windows, each a row-major [C, d] Float32Array. */
  run(windows: readonly Float32Array[]): Promise<HeadResult[]>;
  dispose(): void;
}

/**
 * Load one head of a model folder for the stream: compiled (`compileHead`) when its kind
 * allows, the layers model otherwise. Windows are checked in JavaScript before upload.
 */
export async function createWindowHead(dir: string, kind?: HeadKind): Promise<WindowHead> {
  const manifest = await loadManifest(dir);
  const k = kind ?? manifest.defaultHead;
  const model = await loadHead(dir, manifest, k);
  const clips = manifest.window.clips;
  const dim = resolveBackboneConfig(manifestBackboneConfig(manifest)).dim;
  const shape = headWindowShape(model);
  if (shape.clips !== clips || shape.inputDim !== dim) {
    model.dispose();
    throw new ModelLoadError(`the '${k}' head in ${dir} takes [${shape.clips}, ${shape.inputDim}] windows; the manifest says [${clips}, ${dim}]`, dir);
  }
  const compiled = compileHead(model, k);
  return {
    kind: k,
    manifest,
    clips,
    dim,
    async run(windows) {
      if (windows.length === 0) return [];
      validateWindowArrays(windows, shape);
      const flat = new Float32Array(windows.length * clips * dim);
      windows.forEach((w, i) => flat.set(w, i * clips * dim));
      const x = tf.tensor3d(flat, [windows.length, clips, dim]);
      try {
        const { probs, weights } = compiled ? compiled.apply(x) : predictCheckedWindows(model, x);
        try {
          const [p, a] = await Promise.all([probs.data(), weights.data()]);
          const K = probs.shape[1];
          return windows.map((_, i) => ({
            probs: (p as Float32Array).slice(i * K, (i + 1) * K),
            weights: (a as Float32Array).slice(i * clips, (i + 1) * clips),
          }));
        } finally {
          probs.dispose();
          weights.dispose();
        }
      } finally {
        x.dispose();
      }
    },
    dispose() {
      compiled?.dispose();
      model.dispose();
    },
  };
}

async function loadHead(dir: string, manifest: ModelManifest, kind: HeadKind): Promise<tfl.LayersModel> {
  if (!manifest.heads[kind]) {
    throw new ModelLoadError(`model in ${dir} has no '${kind}' head (it has: ${Object.keys(manifest.heads).join(', ')})`, dir);
  }
  return loadLayersModel(join(dir, 'heads', kind));
}
