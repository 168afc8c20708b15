/**
 * Inference worker body: one tensor backend per worker thread (wasm has no threads in Node,
 * so parallelism is one worker per core). Receives clips, answers clip descriptors.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { createEmbedder, type ClipEmbedder } from '../../model/clipModel.ts';
import { initRuntime } from '../../model/runtime.ts';
import { threadCpuMs } from '../../metrics/threadCpu.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('inference worker must run in a worker thread');

let embedder: ClipEmbedder | undefined;

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(msg, transfer);
}

port.on('message', (msg: ToWorker) => {
  void handle(msg).catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    send({ type: 'error', ...(msg.type === 'infer' ? { id: msg.id } : {}), message: e.message, name: e.name });
  });
});

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'init': {
      const rt = await initRuntime({ backend: msg.backend });
      embedder = await createEmbedder(msg.modelDir);
      const cpu = threadCpuMs();
      send({ type: 'ready', backend: rt.backend, dim: embedder.dim, tensors: tf.memory().numTensors, ...(cpu !== undefined ? { threadCpuMs: cpu } : {}) });
      return;
    }
    case 'infer': {
      if (!embedder) throw new Error('worker not initialised');
      const t0 = performance.now();
      const cpu0 = threadCpuMs();
      const timing = { preprocessMs: 0, backboneMs: 0 };
      const features = await embedder.embed(msg.clips, { frames: msg.frames, height: msg.height, width: msg.width }, timing);
      const cpu1 = threadCpuMs();
      send(
        {
          type: 'result',
          id: msg.id,
          features,
          dim: embedder.dim,
          ms: performance.now() - t0,
          timing: { ...timing, cpuMs: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined, ...(cpu1 !== undefined ? { threadCpuMs: cpu1 } : {}), tensors: tf.memory().numTensors },
        },
        [features.buffer as ArrayBuffer],
      );
      return;
    }
    case 'close': {
      embedder?.dispose();
      embedder = undefined;
      port?.close();
      return;
    }
  }
}
