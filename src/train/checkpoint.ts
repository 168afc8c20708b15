/**
 * Training checkpoints: a model's weights, its optimizer's state and a small JSON record of
 * where training stood, written atomically so `clipwise train --resume` can continue exactly
 * where an interrupted run stopped.
 *
 * Layout of one checkpoint folder: `model/` (tfjs model.json + weights.bin), `optimizer.json`
 * + `optimizer.bin` (the optimizer's slot variables, in the order tfjs returns them), and
 * `state.json` (written last: a folder without it is incomplete and ignored).
 *
 * @example
 * await saveCheckpoint(dir, { model, optimizer, state: { epoch: 3 } });
 * const cp = await loadCheckpoint(dir); // undefined when there is none
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ModelLoadError } from '../errors.ts';

/** A named tensor as tfjs optimizers save and restore their slots (not re-exported by tfjs-core). */
export type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];
import { loadLayersModel, saveLayersModel } from '../model/io.ts';

const STATE_FILE = 'state.json';

/** What a checkpoint holds. */
export interface CheckpointData<S> {
  readonly model: tfl.LayersModel;
  readonly optimizer?: tf.Optimizer;
  readonly state: S;
}

interface OptimizerIndex {
  readonly weights: { readonly name: string; readonly shape: number[]; readonly dtype: 'float32' }[];
}

/**
 * Write a checkpoint folder (replacing an older one at the same path only once the new one is
 * complete).
 *
 * @param dir checkpoint folder.
 * @param data model, optimizer and JSON-serialisable state.
 */
export async function saveCheckpoint<S>(dir: string, data: CheckpointData<S>): Promise<void> {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await saveLayersModel(data.model, join(tmp, 'model'));
  if (data.optimizer) {
    const named = await data.optimizer.getWeights();
    const index: OptimizerIndex = { weights: [] };
    const parts: Float32Array[] = [];
    for (const w of named) {
      index.weights.push({ name: w.name, shape: [...w.tensor.shape], dtype: 'float32' });
      parts.push((await w.tensor.data()) as Float32Array);
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const all = new Float32Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    await writeFile(join(tmp, 'optimizer.bin'), new Uint8Array(all.buffer));
    await writeFile(join(tmp, 'optimizer.json'), JSON.stringify(index));
  }
  await writeFile(join(tmp, STATE_FILE), JSON.stringify(data.state, null, 2));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/** A loaded checkpoint; the caller owns (disposes) the model and the optimizer tensors. */
export interface LoadedCheckpoint<S> {
  readonly model: tfl.LayersModel;
  /** Optimizer slot values to pass to `optimizer.setWeights`, or undefined when none were saved. */
  readonly optimizerWeights: NamedTensor[] | undefined;
  readonly state: S;
}

/**
 * Read a checkpoint folder.
 *
 * @param dir checkpoint folder.
 * @returns the checkpoint, or undefined when the folder has no complete checkpoint.
 * @throws ModelLoadError when the folder is complete but its files are unreadable.
 */
export async function loadCheckpoint<S>(dir: string): Promise<LoadedCheckpoint<S> | undefined> {
  let state: S;
  try {
    state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as S;
  } catch {
    return undefined;
  }
  const model = await loadLayersModel(join(dir, 'model'));
  let optimizerWeights: NamedTensor[] | undefined;
  try {
    const index = JSON.parse(await readFile(join(dir, 'optimizer.json'), 'utf8')) as OptimizerIndex;
    const bin = await readFile(join(dir, 'optimizer.bin'));
    const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
    let off = 0;
    optimizerWeights = index.weights.map((w) => {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const tensor = tf.tensor(all.subarray(off, off + n), w.shape, 'float32');
      off += n;
      return { name: w.name, tensor };
    });
    if (off !== all.length) {
      tf.dispose(optimizerWeights.map((w) => w.tensor));
      throw new ModelLoadError(`optimizer state in ${dir} does not match its index`, dir);
    }
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    optimizerWeights = undefined;
  }
  return { model, optimizerWeights, state };
}
