import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Registry } from 'prom-client';
import { createMetrics, METRIC } from '../../src/metrics/metrics.ts';
import { startHttpServer } from '../../src/metrics/server.ts';

test('/metrics, /healthz, /readyz and /events serve what the pipeline reports', async () => {
  const registry = new Registry();
  const m = createMetrics({ registry, backend: 'wasm', defaultMetrics: false });
  m.framesIn.inc({ camera: 'cam-1' }, 3);
  let ready = false;
  const http = await startHttpServer({ registry, port: 0, host: '127.0.0.1', ready: () => ({ ready, reasons: ready ? [] : ['kafka: disconnected'] }) });
  try {
    const base = `http://127.0.0.1:${http.port}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, new RegExp(`${METRIC.framesIn}\\{camera="cam-1"\\} 3`));
    assert.match(metrics, /clipwise_backend_info\{backend="wasm"\} 1/);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { ready: false, reasons: ['kafka: disconnected'] });
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    const received = await new Promise<string>((resolve, reject) => {
      const req = request(`${base}/events`, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          if (buf.includes('\n\n') && buf.includes('data:')) {
            req.destroy();
            resolve(buf);
          } else if (buf.startsWith(':')) {
            http.broadcast({ id: 'e1', action: 'fall' });
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.match(received, /data: \{"id":"e1","action":"fall"\}/);
  } finally {
    await http.close();
  }
});
