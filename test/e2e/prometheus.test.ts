/**
 * An outside producer and an outside monitor around a real analyzer:
 * kcat publishes JPEG frames with the documented headers → frames topic → `clipwise run`
 * (child process, consumer group) → actions topic → kcat; Prometheus (Debian's server)
 * scrapes the analyzer's `/metrics`, and PromQL over its HTTP API gives the frame and event
 * counts the test knows independently (what kcat sent, what kcat read back).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { firstValueFrom, toArray } from 'rxjs';
import { decodeFrameMessage, encodeFrameMessage } from '../../src/topology/frameCodec.ts';
import { createSyntheticSource } from '../../src/topology/sources/syntheticSource.ts';
import type { Frame } from '../../src/types.ts';
import { calibrateClassThreshold, type Calibration } from '../support/calibrate.ts';
import { killAllClipwise, metricValue, startClipwise } from '../support/clipwise.ts';
import { analyzerYaml, eventKey, readEventsWithKcat, waitForIdle } from '../support/e2e.ts';
import { startKafka, type KafkaBroker } from '../support/kafka.ts';
import { makeTestModel } from '../support/model.ts';
import { prometheusUnavailableReason, startPrometheus, type PrometheusHarness } from '../support/prometheus.ts';

const run = promisify(execFile);
const CAMERAS = ['lobby', 'yard'];
const FRAMES_PER_CAMERA = 100;

let broker: KafkaBroker;
let prom: PrometheusHarness | undefined;
let model: string;
let calibration: Calibration;

before(async () => {
  broker = await startKafka();
  await broker.createTopics([{ topic: 'frames', partitions: 2 }, { topic: 'frames.dlq' }, { topic: 'actions' }]);
  model = await makeTestModel({ clips: 5, backboneSeed: 11 });
  // Frames published the way any outside producer would: one kcat call per JPEG file, the
  // headers on the command line.
  const dir = await mkdtemp(join(tmpdir(), 'cw-kcat-'));
  const decoded: Frame[] = [];
  try {
    for (const [i, camera] of CAMERAS.entries()) {
      const src = createSyntheticSource({ cameraId: camera, fps: 5, width: 32, height: 32, seed: i + 5, frames: FRAMES_PER_CAMERA });
      for (const f of await firstValueFrom(src.frames$.pipe(toArray()))) {
        const m = await encodeFrameMessage(f, 'jpeg');
        decoded.push(await decodeFrameMessage(m, { width: 32, height: 32 }));
        const file = join(dir, `${camera}-${f.seq}.jpg`);
        await writeFile(file, m.value);
        const headers = Object.entries(m.headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
        await run('kcat', ['-P', '-b', broker.brokers[0] ?? '', '-t', 'frames', '-k', camera, ...headers, file]);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  calibration = await calibrateClassThreshold({ modelDir: model, frames: decoded });
  assert.ok(calibration.events.length > 0, 'the frames give events');
});

after(async () => {
  await killAllClipwise();
  await prom?.stop();
  await broker?.stop();
});

test('kcat frames → analyzer → kcat events; Prometheus counts the frames and events', { skip: prometheusUnavailableReason() }, async () => {
  const child = startClipwise(['run'], {
    config: analyzerYaml({ scene: { model, fps: 5, calibration, broker, topic: 'frames', deadLetter: 'frames.dlq' }, group: 'prom', actions: 'actions' }),
  });
  const port = await child.metricsPort();
  prom = await startPrometheus({ targets: [`127.0.0.1:${port}`] });
  const total = CAMERAS.length * FRAMES_PER_CAMERA;
  await waitForIdle([child], total, 3000, 120_000);
  // Every event emitted so far has been written (the sink is the last step of the pipeline).
  const written = await readEventsWithKcat(broker.brokers, 'actions');
  const own = await child.metrics();
  assert.equal(metricValue(own, 'clipwise_events_emitted_total', { status: 'closed' }), written.length);

  const frames = await prom.waitForValue('sum(clipwise_frames_in_total)', (v) => v === total, 30_000);
  const perCamera = await Promise.all(CAMERAS.map((c) => prom?.query(`clipwise_frames_in_total{job="clipwise",camera="${c}"}`)));
  const events = await prom.waitForValue('sum(clipwise_events_emitted_total{status="closed"})', (v) => v === written.length, 30_000);
  const up = await prom.query('up{job="clipwise"}');
  const health = await prom.targetHealth();
  assert.equal(frames, total);
  assert.deepEqual(perCamera, CAMERAS.map(() => FRAMES_PER_CAMERA));
  assert.equal(events, written.length);
  assert.equal(up, 1);
  assert.deepEqual(health, ['up']);
  assert.equal(await prom.query('sum(clipwise_dead_letters_total)') ?? 0, 0);

  assert.equal(await child.stop(), 0, child.stderr().slice(-3000));
  const all = (await readEventsWithKcat(broker.brokers, 'actions')).map((r) => r.event);
  assert.deepEqual(all.map(eventKey).sort(), calibration.events.map(eventKey).sort(), 'the analyzer emits what the same analysis gives in-process');
  console.log(
    `prometheus: sum(clipwise_frames_in_total) = ${frames} (kcat sent ${total}), per camera ${perCamera.join('/')}; ` +
      `sum(clipwise_events_emitted_total{status="closed"}) = ${events} (kcat read ${written.length} before the stop, ${all.length} after it)`,
  );
});
