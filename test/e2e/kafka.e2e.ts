/**
 * Real Kafka end to end: ingest (cameras → frames topic, 3 partitions, two cameras sharing
 * one) → `clipwise run` as a child process, an analyzer in a consumer group → actions topic →
 * read back by kcat, an outside client. Then delivery: an analyzer SIGKILLed mid-stream and a
 * replacement in the same group lose no event an uninterrupted run emits (duplicates carry
 * the same id), and emit nothing the uninterrupted run did not.
 *
 * The detection threshold is calibrated on the test model's own outputs for these frames
 * (test/support/calibrate.ts), and the same analysis run in this process predicts the exact
 * event set: the Kafka path must reproduce it.
 *
 * Why "done" is judged by the analyzer's frame count and not by the group's committed offset:
 * the committed offset is the low watermark, which stays at the start of any event still open
 * (by design: a replacement must replay it whole). At the end of a finite stream the last
 * events stay open until the analyzer stops, so the committed offset only reaches the end
 * after the graceful stop, which the tests then check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/logger.ts';
import { decodeFrameMessage } from '../../src/topology/frameCodec.ts';
import { startIngest } from '../../src/topology/ingest.ts';
import type { ActionEvent, Frame } from '../../src/types.ts';
import { calibrateClassThreshold, type Calibration } from '../support/calibrate.ts';
import { killAllClipwise, metricValue, sleep, startClipwise, waitFor, type ClipwiseProcess } from '../support/clipwise.ts';
import { consumeMessages, startKafka, type KafkaBroker } from '../support/kafka.ts';
import { makeTestModel } from '../support/model.ts';

const run = promisify(execFile);
const quiet = createLogger({ level: 'warn' });
const FRAMES = 'frames';
const DLQ = 'frames.dlq';
const CAMERAS = ['gate', 'lobby', 'yard'];
const SECONDS = 120;
const FPS = 5;
const TOTAL = CAMERAS.length * SECONDS * FPS;
const SIZE = 32;

let broker: KafkaBroker;
let model: string;
let calibration: Calibration;
/** Camera ids per frames partition. */
const camerasOf = new Map<number, Set<string>>();

before(async () => {
  broker = await startKafka();
  await broker.createTopics([
    { topic: FRAMES, partitions: 3 },
    { topic: DLQ, partitions: 1 },
    { topic: 'actions.ref', partitions: 1 },
    { topic: 'actions.crash', partitions: 1 },
  ]);
  model = await makeTestModel({ clips: 5, backboneSeed: 11 });
  const config = parseConfig({
    pipeline: { fps: FPS },
    sources: CAMERAS.map((c, i) => ({ type: 'synthetic', cameraId: c, seed: i + 1, seconds: SECONDS })),
    kafka: { brokers: broker.brokers, topics: { frames: FRAMES } },
    metrics: { enabled: false },
  });
  const ingest = await startIngest(config, { logger: quiet, size: SIZE });
  const { frames } = await ingest.done;
  assert.equal(frames, TOTAL);
  // The frames exactly as the analyzer will get them: read back from the broker and decoded.
  const messages = await consumeMessages(broker.brokers, FRAMES, TOTAL, 60_000);
  const decoded: Frame[] = [];
  for (const m of messages) {
    const f = await decodeFrameMessage(m.message, { width: SIZE, height: SIZE });
    decoded.push(f);
    const set = camerasOf.get(m.partition) ?? new Set<string>();
    camerasOf.set(m.partition, set.add(f.cameraId));
  }
  decoded.sort((a, b) => a.cameraId.localeCompare(b.cameraId) || a.seq - b.seq);
  calibration = await calibrateClassThreshold({ modelDir: model, frames: decoded });
  assert.ok(calibration.events.length >= 20, `calibration gives ${calibration.events.length} events; the delivery test needs tens`);
  console.log(
    `calibration: classThreshold ${calibration.classThreshold.toPrecision(6)} (margin ${calibration.margin.toExponential(2)}), ` +
      `${calibration.events.length} events in-process over ${calibration.windows} windows; partitions ${[...camerasOf].map(([p, c]) => `${p}:${[...c].join('+')}`).join(' ')}`,
  );
});

after(async () => {
  await killAllClipwise();
  await broker?.stop();
});

function analyzerConfig(group: string, actions: string): string {
  return [
    `model: { path: ${JSON.stringify(model)} }`,
    'runtime: { backend: wasm, workers: 0 }',
    // Batches of one clip and one window: per-clip arithmetic does not depend on what else
    // is in flight, so two runs compute bit-identical results.
    `pipeline: { fps: ${FPS}, batch: { maxClips: 1, maxWindows: 1 } }`,
    `detection: { classThreshold: ${calibration.classThreshold}, attentionThreshold: 0 }`,
    'sources: [ { type: kafka, fromBeginning: true } ]',
    'sinks: [ { type: kafka } ]',
    `kafka: { brokers: ${JSON.stringify(broker.brokers)}, groupId: ${group}, topics: { frames: ${FRAMES}, actions: ${actions}, deadLetter: ${DLQ} } }`,
    'metrics: { port: 0 }',
  ].join('\n');
}

async function admin<T>(fn: (a: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const a = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect();
  }
}

/** Per partition with frames: end offset and the group's committed offset (-1 = none). */
async function groupOffsets(group: string): Promise<{ partition: number; end: number; committed: number }[]> {
  return admin(async (a) => {
    const ends = await a.fetchTopicOffsets(FRAMES);
    const [c] = await a.fetchOffsets({ groupId: group, topics: [FRAMES] });
    return ends
      .map((e) => ({
        partition: e.partition,
        end: Number(e.offset),
        committed: Number(c?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1),
      }))
      .filter((p) => p.end > 0);
  });
}

/**
 * After a graceful stop every event is closed, so the committed low watermark is the oldest
 * clip of each camera's last window: per camera on the partition at most C·S frames before
 * the end, plus up to S for the clip alignment.
 */
async function assertCommittedAtEnd(group: string): Promise<void> {
  const perCamera = 5 * 4 + 4;
  for (const p of await groupOffsets(group)) {
    const cams = camerasOf.get(p.partition)?.size ?? 0;
    assert.ok(p.committed >= 0, `partition ${p.partition}: nothing committed`);
    assert.ok(p.end - p.committed <= cams * perCamera, `partition ${p.partition} (${cams} cameras): committed ${p.committed} of ${p.end}`);
  }
}

/** Waits until the analyzer has taken `frames` frames in (it drains the rest on SIGTERM). */
async function waitForFrames(child: ClipwiseProcess, frames: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `${frames} frames in`,
    async () => {
      if (!child.alive()) throw new Error(`analyzer exited early:\n${child.stderr()}`);
      return metricValue(await child.metrics(), 'clipwise_frames_in_total') >= frames;
    },
    timeoutMs,
    500,
  ).catch(async (err: unknown) => {
    const m = child.alive() ? (await child.metrics()).split('\n').filter((l) => /^clipwise_(frames_in|clips_inferred|windows_evaluated|dead_letters)/.test(l)) : [];
    throw new Error(`${(err as Error).message}\n${child.stderr().slice(-4000)}\n${m.join('\n')}`);
  });
}

/** Read a topic with kcat, the outside subscriber. */
async function readWithKcat(topic: string): Promise<{ event: ActionEvent; headers: string }[]> {
  const { stdout } = await run('kcat', ['-b', broker.brokers[0] ?? '', '-t', topic, '-C', '-e', '-q', '-f', '%h\t%s\n'], { maxBuffer: 1 << 26 });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [headers = '', json = ''] = line.split('\t');
      return { headers, event: JSON.parse(json) as ActionEvent };
    });
}

const key = (e: ActionEvent): string => `${e.id}|${e.cameraId}|${e.action}|${e.startClip}|${e.endClip}`;

let reference: ActionEvent[] = [];

test('ingest → frames topic → analyzer (consumer group) → actions topic → kcat: the in-process event set', async () => {
  const child = startClipwise(['run'], { config: analyzerConfig('ref', 'actions.ref') });
  await waitForFrames(child, TOTAL, 180_000);
  const windows = metricValue(await child.metrics(), 'clipwise_windows_evaluated_total');
  assert.equal(await child.stop(), 0, child.stderr());
  await assertCommittedAtEnd('ref');
  const read = await readWithKcat('actions.ref');
  for (const { event, headers } of read) {
    assert.match(headers, /schema=1/);
    assert.match(headers, /event-id=[0-9a-f]{16}/);
    assert.equal(event.schema, 1);
    assert.ok(CAMERAS.includes(event.cameraId));
    assert.equal(event.status, 'closed');
    assert.ok(event.startMs < event.endMs && event.endMs <= SECONDS * 1000 + 1000);
    assert.equal(event.attention.length, event.clips.length);
  }
  reference = read.map((r) => r.event);
  assert.deepEqual(reference.map(key).sort(), calibration.events.map(key).sort(), 'the Kafka analyzer emits the events the same analysis gives in-process');
  assert.equal(new Set(reference.map((e) => e.id)).size, reference.length, 'no duplicate in an uninterrupted run');
  console.log(`reference: ${reference.length} events; ${windows} windows evaluated before the stop`);
});

test('an analyzer killed mid-stream and its replacement lose no event (same ids)', async () => {
  assert.ok(reference.length > 0, 'needs the reference run');
  const first = startClipwise(['run'], { config: analyzerConfig('crash', 'actions.crash') });
  // Kill it once it is well into the stream and has committed a watermark past the start.
  await waitForFrames(first, Math.round(TOTAL * 0.4), 180_000);
  await waitFor('a committed watermark', async () => (await groupOffsets('crash')).some((p) => p.committed > 0), 30_000, 200);
  const firstFrames = metricValue(await first.metrics(), 'clipwise_frames_in_total');
  first.kill('SIGKILL');
  await first.exited;
  const killedAt = Date.now();
  // A commit the analyzer sent just before it died may still be in the broker's queue.
  await sleep(500);
  const atKill = await groupOffsets('crash');
  const replay = atKill.reduce((s, p) => s + p.end - Math.max(0, p.committed), 0);

  const second = startClipwise(['run'], { config: analyzerConfig('crash', 'actions.crash') });
  const resumedAt = await waitFor(
    'the replacement to take frames',
    async () => {
      if (!second.alive()) throw new Error(second.stderr());
      return metricValue(await second.metrics().catch(() => ''), 'clipwise_frames_in_total') > 0 && Date.now();
    },
    120_000,
    200,
  );
  // The replacement replays from the committed watermarks to the end, nothing more.
  await waitForFrames(second, replay, 180_000);
  await sleep(1000);
  const secondFrames = metricValue(await second.metrics(), 'clipwise_frames_in_total');
  assert.equal(await second.stop(), 0, second.stderr());
  await assertCommittedAtEnd('crash');
  assert.equal(secondFrames, replay, 'the replacement starts at the committed low watermarks');

  const got = (await readWithKcat('actions.crash')).map((r) => r.event);
  const gotKeys = new Set(got.map(key));
  const refKeys = new Set(reference.map(key));
  const lost = reference.filter((e) => !gotKeys.has(key(e)));
  const extra = got.filter((e) => !refKeys.has(key(e)));
  const ids = got.map((e) => e.id);
  const duplicates = ids.length - new Set(ids).size;
  console.log(
    `delivery: reference ${reference.length} events, after crash ${got.length} (${duplicates} duplicates by id), lost ${lost.length}, ` +
      `not in reference ${extra.length}; frames: first analyzer ${firstFrames}, replayed by the replacement ${replay} ` +
      `(${replay - (TOTAL - firstFrames)} again); recovery (SIGKILL → replacement consuming) ${((resumedAt - killedAt) / 1000).toFixed(1)} s`,
  );
  assert.deepEqual(lost.map(key), [], `events lost after the crash: ${lost.length} of ${reference.length}`);
  assert.deepEqual(extra.map(key), [], 'a replay emits no event the uninterrupted run did not (cut-short events are suppressed)');
});
