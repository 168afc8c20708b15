/**
 * `clipwise ingest` with no broker reachable: its HTTP server answers at once (/readyz false,
 * naming Kafka) instead of staying dark while the producer retries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startClipwise } from '../support/clipwise.ts';

test('clipwise ingest serves /readyz = 503 (kafka named) while no broker answers', async () => {
  const child = startClipwise(['ingest', '--size', '32'], {
    // Port 9 (discard) is closed on loopback: every connection attempt is refused.
    config: ['sources: [ { type: synthetic, cameraId: cam1 } ]', 'kafka: { brokers: ["127.0.0.1:9"] }', 'metrics: { port: 0 }'].join('\n'),
  });
  try {
    await child.metricsPort(60_000);
    const ready = await child.readyz();
    assert.equal(ready.status, 503);
    assert.equal(ready.body.ready, false);
    assert.ok(ready.body.reasons.some((r) => /kafka/.test(r)), JSON.stringify(ready.body));
  } finally {
    child.kill('SIGKILL');
    await child.exited;
  }
});
