import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { lastValueFrom } from 'rxjs';
import { parseConfig } from '../../../src/config/load.ts';
import type { RtspSourceConfig } from '../../../src/config/schema.ts';
import { SourceError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/logger.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import type { ModelManifest } from '../../../src/model/clipModel.ts';
import { createSourceFor, rtspDecoderPolicy } from '../../../src/topology/sources/fromConfig.ts';

const manifest = { clip: { size: 16 } } as unknown as ModelManifest;

function rtspEntry(fields: Record<string, unknown>): RtspSourceConfig {
  const cfg = parseConfig({ sources: [{ type: 'rtsp', cameraId: 'cam', url: 'rtsp://127.0.0.1:9/x', ...fields }] });
  const src = cfg.sources[0];
  assert.ok(src?.type === 'rtsp');
  return src;
}

/** A TCP port nothing listens on (bound, then released), so a connect is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

test('rtspDecoderPolicy hands every configured field to the decoder', () => {
  const policy = rtspDecoderPolicy(
    rtspEntry({ stallTimeoutMs: 2500, startTimeoutMs: 15_000, reconnect: { initialMs: 50, maxMs: 800, factor: 1.5, jitter: 0.1, maxAttempts: 4 } }),
  );
  assert.deepEqual(policy, { stallTimeoutMs: 2500, startTimeoutMs: 15_000, backoff: { initialMs: 50, maxMs: 800, factor: 1.5, jitter: 0.1 }, maxReconnects: 4 });
});

test('rtspDecoderPolicy with nothing configured: 10 s stall, 0.5 s doubling to a 10 s cap, forever', () => {
  const policy = rtspDecoderPolicy(rtspEntry({}));
  assert.deepEqual(policy, { stallTimeoutMs: 10_000, backoff: { initialMs: 500, maxMs: 10_000, factor: 2, jitter: 0.2 } });
  assert.equal('maxReconnects' in policy, false, 'no limit: reconnect forever');
  assert.equal('startTimeoutMs' in policy, false, 'the decoder picks its first-frame allowance');
});

test('a configured rtsp source reconnects with the configured policy and gives up after maxAttempts', { timeout: 60_000 }, async () => {
  const port = await closedPort();
  const config = parseConfig({
    sources: [{ type: 'rtsp', cameraId: 'gone', url: `rtsp://127.0.0.1:${port}/x`, reconnect: { initialMs: 10, maxMs: 20, jitter: 0, maxAttempts: 2 } }],
  });
  const entry = config.sources[0];
  assert.ok(entry?.type === 'rtsp');
  const registry = new Registry();
  const metrics = createMetrics({ registry, backend: 'none', defaultMetrics: false });
  const source = await createSourceFor(entry, { config, manifest, logger: createLogger({ level: 'silent' }), metrics, setReady: () => undefined });
  await assert.rejects(lastValueFrom(source.frames$), (err: unknown) => err instanceof SourceError && /unreachable after 2 reconnects/.test(err.message));
  const reconnects = (await metrics.reconnects.get()).values.filter((v) => v.labels.camera === 'gone').reduce((s, v) => s + v.value, 0);
  assert.equal(reconnects, 2, 'each scheduled reconnect counted');
});
