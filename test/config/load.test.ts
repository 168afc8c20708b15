import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail('expected a ConfigError');
}

test('every shipped config file validates', async () => {
  const files = (await readdir('config')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('default.yaml'));
  for (const f of files) await loadConfig(join('config', f), {});
});

test('defaults are filled in', () => {
  const cfg = parseConfig({ sources: [{ type: 'synthetic', cameraId: 'a' }] });
  assert.equal(cfg.runtime.backend, 'auto');
  assert.equal(cfg.metrics.port, 9464);
  assert.deepEqual(cfg.sinks, [{ type: 'stdout' }]);
  assert.equal(cfg.detection.classThreshold, undefined, 'left to the model manifest');
});

test('a wrong type names the field', () => {
  const issues = issuesOf(() => parseConfig({ sources: [{ type: 'synthetic', cameraId: 'a' }], metrics: { port: 'x' } }));
  assert.deepEqual(issues.map((i) => i.path), ['metrics.port']);
});

test('an unknown key names the key with its path', () => {
  const issues = issuesOf(() =>
    parseConfig({ sources: [{ type: 'synthetic', cameraId: 'a' }], detection: { clasThreshold: 0.3 } }),
  );
  assert.deepEqual(issues.map((i) => i.path), ['detection.clasThreshold']);
});

test('a missing camera url names sources[i].url', () => {
  const issues = issuesOf(() => parseConfig({ sources: [{ type: 'synthetic', cameraId: 'a' }, { type: 'rtsp', cameraId: 'b' }] }));
  assert.deepEqual(issues.map((i) => i.path), ['sources[1].url']);
});

test('kafka sources need a kafka section; duplicate camera ids are refused', () => {
  const issues = issuesOf(() =>
    parseConfig({ sources: [{ type: 'kafka' }, { type: 'synthetic', cameraId: 'a' }, { type: 'synthetic', cameraId: 'a' }] }),
  );
  assert.deepEqual(issues.map((i) => i.path).sort(), ['kafka', 'sources[2].cameraId']);
});

test('env overrides fill secrets', () => {
  const cfg = parseConfig({ sources: [{ type: 'kafka' }] }, 'x', {
    CLIPWISE_KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9093',
    CLIPWISE_KAFKA_SASL_MECHANISM: 'plain',
    CLIPWISE_KAFKA_SASL_USERNAME: 'u',
    CLIPWISE_KAFKA_SASL_PASSWORD: 'p',
  });
  assert.deepEqual(cfg.kafka?.brokers, ['127.0.0.1:9092', '127.0.0.1:9093']);
  assert.equal(cfg.kafka?.sasl?.password, 'p');
});

test('bad YAML and missing files are ConfigErrors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cw-cfg-'));
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'sources: [\n  - type: file\n');
  await assert.rejects(loadConfig(bad, {}), (e: unknown) => e instanceof ConfigError && /not valid YAML/.test(e.message));
  await assert.rejects(loadConfig(join(dir, 'none.yaml'), {}), (e: unknown) => e instanceof ConfigError && /cannot read/.test(e.message));
});
