import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { CAMERA_RECONNECT_MAX_MS } from '../../src/config/schema.ts';
import { ConfigError } from '../../src/errors.ts';
import { DEFAULT_BACKOFF } from '../../src/retry.ts';
import { startClipwise } from '../support/clipwise.ts';

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

test('runtime.callsPerWorker defaults to 1 and is bounded to 1–4', () => {
  assert.equal(parseConfig({ sources: [{ type: 'synthetic', cameraId: 'a' }] }).runtime.callsPerWorker, 1);
  assert.equal(parseConfig({ sources: [{ type: 'synthetic', cameraId: 'a' }], runtime: { callsPerWorker: 2 } }).runtime.callsPerWorker, 2);
  for (const bad of [0, 5, 1.5, 'two']) {
    const issues = issuesOf(() => parseConfig({ sources: [{ type: 'synthetic', cameraId: 'a' }], runtime: { callsPerWorker: bad } }));
    assert.deepEqual(issues.map((i) => i.path), ['runtime.callsPerWorker'], String(bad));
  }
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

test('rtsp sources get the reconnect and watchdog defaults (retry.ts DEFAULT_BACKOFF capped at 10 s, 10 s stall)', () => {
  const cfg = parseConfig({ sources: [{ type: 'rtsp', cameraId: 'a', url: 'rtsp://h/x' }] });
  const src = cfg.sources[0];
  assert.ok(src?.type === 'rtsp');
  assert.equal(src.stallTimeoutMs, 10_000);
  assert.equal(src.startTimeoutMs, undefined, 'left to the decoder (max of stall timeout and 10 s)');
  const { maxAttempts, ...backoff } = src.reconnect;
  assert.deepEqual(backoff, { ...DEFAULT_BACKOFF, maxMs: CAMERA_RECONNECT_MAX_MS });
  assert.equal(CAMERA_RECONNECT_MAX_MS, 10_000);
  assert.equal(maxAttempts, undefined, 'reconnect forever');
});

test('rtsp reconnect settings are taken per source', () => {
  const cfg = parseConfig({
    sources: [
      { type: 'rtsp', cameraId: 'a', url: 'rtsp://h/a', stallTimeoutMs: 3000, startTimeoutMs: 20_000, reconnect: { initialMs: 100, maxMs: 5000, factor: 3, jitter: 0, maxAttempts: 7 } },
      { type: 'rtsp', cameraId: 'b', url: 'rtsp://h/b', reconnect: { maxMs: 2000 } },
    ],
  });
  const [a, b] = cfg.sources;
  assert.ok(a?.type === 'rtsp' && b?.type === 'rtsp');
  assert.deepEqual({ ...a.reconnect }, { initialMs: 100, maxMs: 5000, factor: 3, jitter: 0, maxAttempts: 7 });
  assert.equal(a.startTimeoutMs, 20_000);
  assert.deepEqual({ ...b.reconnect }, { ...DEFAULT_BACKOFF, maxMs: 2000 }, 'unset fields keep their defaults');
});

test('bad rtsp reconnect values name their field', () => {
  const bad: readonly [Record<string, unknown>, string][] = [
    [{ reconnect: { initialMs: -1 } }, 'sources[0].reconnect.initialMs'],
    [{ reconnect: { maxMs: 0 } }, 'sources[0].reconnect.maxMs'],
    [{ reconnect: { initialMs: 2000, maxMs: 1000 } }, 'sources[0].reconnect.maxMs'],
    [{ reconnect: { factor: 0.5 } }, 'sources[0].reconnect.factor'],
    [{ reconnect: { jitter: 1.5 } }, 'sources[0].reconnect.jitter'],
    [{ reconnect: { maxAttempts: 2.5 } }, 'sources[0].reconnect.maxAttempts'],
    [{ reconnect: { initalMs: 100 } }, 'sources[0].reconnect.initalMs'],
    [{ reconnect: 'fast' }, 'sources[0].reconnect'],
    [{ stallTimeoutMs: 0 }, 'sources[0].stallTimeoutMs'],
    [{ startTimeoutMs: 'soon' }, 'sources[0].startTimeoutMs'],
  ];
  for (const [fields, path] of bad) {
    const issues = issuesOf(() => parseConfig({ sources: [{ type: 'rtsp', cameraId: 'a', url: 'rtsp://h/x', ...fields }] }));
    // A value can break two rules (maxMs: 0 is not positive and below initialMs): one field named.
    assert.deepEqual([...new Set(issues.map((i) => i.path))], [path], JSON.stringify(fields));
  }
  // A cap below the first delay says which first delay it is measured against.
  const [issue] = issuesOf(() => parseConfig({ sources: [{ type: 'rtsp', cameraId: 'a', url: 'rtsp://h/x', reconnect: { maxMs: 100 } }] }));
  assert.match(issue?.message ?? '', /initialMs \(500\)/);
});

test('clipwise run with a bad reconnect value exits 2 naming the field and starts nothing', async () => {
  const child = startClipwise(['run'], { config: 'sources: [ { type: rtsp, cameraId: cam1, url: "rtsp://127.0.0.1:9/x", reconnect: { jitter: 3 } } ]' });
  const { code } = await child.exited;
  const err = child.stderr();
  assert.equal(code, 2, err);
  assert.match(err, /sources\[0\]\.reconnect\.jitter/);
  assert.doesNotMatch(err, /metrics on|clipwise running/, 'nothing was started');
});

test('a kafka source fails a crashed member over after 10 s by default; a session timeout under 3 heartbeats names the field', () => {
  const kafka = { brokers: ['127.0.0.1:9092'] };
  const cfg = parseConfig({ sources: [{ type: 'kafka' }], kafka });
  const src = cfg.sources[0];
  assert.equal(src?.type === 'kafka' ? src.sessionTimeoutMs : undefined, 10_000);
  const set = parseConfig({ sources: [{ type: 'kafka', sessionTimeoutMs: 45_000 }], kafka }).sources[0];
  assert.equal(set?.type === 'kafka' ? set.sessionTimeoutMs : undefined, 45_000);
  const issues = issuesOf(() => parseConfig({ sources: [{ type: 'kafka', sessionTimeoutMs: 5_000 }], kafka }));
  assert.ok(issues.some((i) => i.path === 'sources[0].sessionTimeoutMs'), JSON.stringify(issues));
});
