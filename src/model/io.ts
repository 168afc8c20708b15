/**
 * Filesystem save/load for tfjs models: `model.json` + `weights.bin` in a folder, the same
 * layout `tfjs-node`'s `file://` handler writes, so a model saved here loads there and back.
 *
 * Why our own handler: `tfjs-node` (which brings `file://`) is an optional package that
 * cannot install on machines without network access to libtensorflow; wasm and cpu need this.
 *
 * @example
 * await saveLayersModel(model, 'models/default/heads/gcf');
 * const again = await loadLayersModel('models/default/heads/gcf');
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelLoadError } from '../errors.ts';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

function joinWeights(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/**
 * A tfjs IOHandler over a directory.
 *
 * @param dir folder holding model.json and weights.bin (created on save).
 * @returns an IOHandler for `model.save()` and `tfl.loadLayersModel()`.
 */
export function fileIO(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new ModelLoadError('binary model topologies are not supported', dir);
      }
      await mkdir(dir, { recursive: true });
      const weights = joinWeights(artifacts.weightData);
      const manifest: tf.io.WeightsManifestConfig = [
        { paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] },
      ];
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        weightsManifest: manifest,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // Write to temp names then rename, so a crash mid-save never leaves a half model.
      await writeFile(join(dir, `${WEIGHTS_BIN}.tmp`), weights);
      await writeFile(join(dir, `${MODEL_JSON}.tmp`), JSON.stringify(json));
      await rename(join(dir, `${WEIGHTS_BIN}.tmp`), join(dir, WEIGHTS_BIN));
      await rename(join(dir, `${MODEL_JSON}.tmp`), join(dir, MODEL_JSON));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(join(dir, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        throw new ModelLoadError(`cannot read ${join(dir, MODEL_JSON)}: ${(err as Error).message}`, dir, {
          cause: err,
        });
      }
      if (typeof json !== 'object' || json === null || !('modelTopology' in json)) {
        throw new ModelLoadError(`${join(dir, MODEL_JSON)} is not a tfjs model.json (no modelTopology)`, dir);
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: Uint8Array[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            try {
              buffers.push(await readFile(join(dir, p)));
            } catch (err) {
              throw new ModelLoadError(`cannot read weights ${join(dir, p)}`, dir, { cause: err });
            }
          }
        }
        const total = buffers.reduce((n, b) => n + b.byteLength, 0);
        const all = new Uint8Array(total);
        let off = 0;
        for (const b of buffers) {
          all.set(b, off);
          off += b.byteLength;
        }
        const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPer(s.dtype), 0);
        if (expected !== total) {
          throw new ModelLoadError(
            `weights in ${dir} hold ${total} bytes but model.json describes ${expected}: the files do not belong together`,
            dir,
          );
        }
        return [specs, all.buffer];
      });
    },
  };
}

function bytesPer(dtype: string): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'bool' || dtype === 'uint8' ? 1 : 4;
}

/** Save a LayersModel to a folder (model.json + weights.bin). */
export async function saveLayersModel(model: tfl.LayersModel, dir: string): Promise<void> {
  await model.save(fileIO(dir));
}

/**
 * Load a LayersModel from a folder. Custom layer classes must be registered first
 * (importing their modules registers them).
 */
export async function loadLayersModel(dir: string): Promise<tfl.LayersModel> {
  try {
    return await tfl.loadLayersModel(fileIO(dir));
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(`cannot load model from ${dir}: ${(err as Error).message}`, dir, { cause: err });
  }
}
