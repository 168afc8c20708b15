/**
 * Data-parallel training worker: one stage-1 model replica on its own wasm backend (wasm has no
 * threads in Node, so a second core needs a second thread). See src/train/replica.ts.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// Registers the backbone's and the heads' custom layer classes for deserialisation.
import '../model/clipModel.ts';
import { initRuntime } from '../model/runtime.ts';
import { registerWasmTrainingKernels } from '../model/wasmTrainingKernels.ts';
import { StageOneReplica } from './replica.ts';
import type { FromReplica, PendingUpdate, ToReplica } from './replicaProtocol.ts';
import { ScheduledAdam } from './schedule.ts';

const port = parentPort;
if (!port) throw new Error('training replica must run in a worker thread');

let replica: StageOneReplica | undefined;
// Messages are handled one at a time, in order: an update must land before the next gradients.
let queue: Promise<void> = Promise.resolve();

function send(msg: FromReplica, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(msg, transfer);
}

port.on('message', (msg: ToReplica) => {
  queue = queue.then(() => handle(msg)).catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    send({ type: 'error', ...('id' in msg ? { id: msg.id } : {}), message: e.message, name: e.name });
  });
});

function ready(): StageOneReplica {
  if (!replica) throw new Error('training replica not initialised');
  return replica;
}

function applyPending(r: StageOneReplica, apply: PendingUpdate | undefined): void {
  if (apply) r.apply(apply.grads, apply.learningRate);
}

async function handle(msg: ToReplica): Promise<void> {
  switch (msg.type) {
    case 'init': {
      await initRuntime({ backend: 'wasm' });
      registerWasmTrainingKernels();
      const model = await tfl.models.modelFromJSON({ modelTopology: msg.topology as tf.io.ModelJSON['modelTopology'] });
      const r = new StageOneReplica(model, new ScheduledAdam(msg.learningRate), msg.numClasses);
      r.setWeights(msg.weights);
      await r.setOptimizerState(msg.optimizer);
      replica = r;
      send({ type: 'ready', tensors: tf.memory().numTensors });
      return;
    }
    case 'step': {
      const r = ready();
      applyPending(r, msg.apply);
      const g = r.gradients(msg.x, msg.labels, msg.n);
      send({ type: 'grads', id: msg.id, ...g, tensors: tf.memory().numTensors }, g.grads.map((a) => a.buffer as ArrayBuffer));
      return;
    }
    case 'pull': {
      const r = ready();
      applyPending(r, msg.apply);
      const weights = r.weights();
      const optimizer = await r.optimizerState();
      send({ type: 'state', id: msg.id, weights, optimizer, tensors: tf.memory().numTensors }, [...weights, ...optimizer].map((a) => a.buffer as ArrayBuffer));
      return;
    }
    case 'apply': {
      applyPending(ready(), msg.apply);
      send({ type: 'applied', id: msg.id, tensors: tf.memory().numTensors });
      return;
    }
    case 'push': {
      ready().setWeights(msg.weights);
      send({ type: 'pushed', id: msg.id });
      return;
    }
    case 'close': {
      replica?.model.dispose();
      replica?.optimizer.dispose();
      replica = undefined;
      port?.close();
      return;
    }
  }
}
