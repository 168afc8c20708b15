/**
 * Stage-2 training worker: trains window heads on its own wasm backend, one job at a time, on
 * the descriptors it was given once at start. See src/train/headPool.ts.
 */
import { parentPort } from 'node:worker_threads';
// Registers the heads' custom layer classes for deserialisation.
import '../model/clipModel.ts';
import { loadLayersModel, saveLayersModel } from '../model/io.ts';
import { initRuntime } from '../model/runtime.ts';
import { registerWasmTrainingKernels } from '../model/wasmTrainingKernels.ts';
import type { FromHeadWorker, ToHeadWorker } from './headProtocol.ts';
import { trainHead } from './trainHeads.ts';
import type { FeatureVideo, WindowRef } from './windows.ts';

const port = parentPort;
if (!port) throw new Error('head training must run in a worker thread');

let data: { videos: readonly FeatureVideo[]; windows: readonly WindowRef[] } | undefined;
// One message at a time, in order: a job never starts before the data it trains on arrived.
let queue: Promise<void> = Promise.resolve();

function send(msg: FromHeadWorker): void {
  port?.postMessage(msg);
}

port.on('message', (msg: ToHeadWorker) => {
  queue = queue.then(() => handle(msg)).catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    send({ type: 'error', ...('id' in msg ? { id: msg.id } : {}), message: e.message, name: e.name });
  });
});

async function handle(msg: ToHeadWorker): Promise<void> {
  switch (msg.type) {
    case 'init': {
      await initRuntime({ backend: 'wasm' });
      registerWasmTrainingKernels();
      data = { videos: msg.videos, windows: msg.windows };
      send({ type: 'ready' });
      return;
    }
    case 'train': {
      if (!data) throw new Error('head worker not initialised');
      const head = await loadLayersModel(msg.initDir);
      try {
        const result = await trainHead({ ...msg.options, head, videos: data.videos, windows: data.windows });
        await saveLayersModel(head, msg.outDir);
        send({ type: 'done', id: msg.id, result });
      } finally {
        head.dispose();
      }
      return;
    }
    case 'close':
      port?.close();
      return;
  }
}
