/**
 * Real Kafka end to end: ingest (cameras → frames topic, 3 partitions, two cameras sharing
 * one) → `clipwise run` as a child process, an analyzer in a consumer group → actions topic →
 * read back by kcat, an outside client. Then delivery:
 * - an analyzer SIGKILLed mid-stream and a replacement in the same group lose no event an
 *   uninterrupted run emits (duplicates carry the same id) and emit nothing it did not;
 * - a second analyzer joining the group takes partitions over: no camera is analysed by both
 *   after the rebalance, and again no event is lost.
 *
 * The detection threshold is calibrated on the test model's own outputs for these frames
 * (test/support/calibrate.ts); the same analysis run in this process gives the exact event
 * set, which the uninterrupted Kafka run must reproduce and the faulted runs must cover.
 *
 * Why "done" is judged by the analyzer's frame count and not by the group's committed offset:
 * the committed offset is the low watermark, which stays at the start of any event still open
 * (by design: a replacement must replay it whole). At the end of a finite stream the last
 * events stay open until the analyzer stops, so the committed offset only reaches the end
 * after the graceful stop, which the tests then check.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { killAllClipwise, metricValue, sleep, startClipwise, waitFor } from '../support/clipwise.ts';
import {
  analyzerYaml,
  assertCommittedAtEnd,
  compareWithReference,
  describeScene,
  eventKey,
  groupOffsets,
  prepareFrames,
  readEventsWithKcat,
  waitForFrames,
  waitForIdle,
  withAdmin,
  type FramesScene,
} from '../support/e2e.ts';
import { startKafka, type KafkaBroker } from '../support/kafka.ts';
import { makeTestModel } from '../support/model.ts';

// Murmur2 puts gate and lobby on partition 0, atrium on 1, yard on 2 (checked below).
const CAMERAS = ['gate', 'lobby', 'atrium', 'yard'];
let broker: KafkaBroker;
let scene: FramesScene;

before(async () => {
  broker = await startKafka();
  await broker.createTopics(['actions.ref', 'actions.crash', 'actions.join'].map((topic) => ({ topic })));
  const model = await makeTestModel({ clips: 5, backboneSeed: 11 });
  scene = await prepareFrames({ broker, model, cameras: CAMERAS, seconds: 90 });
  console.log(describeScene(scene));
  assert.deepEqual(
    [...scene.camerasOf.values()].map((c) => c.size).sort(),
    [1, 1, 2],
    'every partition holds frames, one holds two cameras',
  );
});

after(async () => {
  await killAllClipwise();
  await broker?.stop();
});

test('ingest → frames topic → analyzer (consumer group) → actions topic → kcat: the in-process event set', async () => {
  const child = startClipwise(['run'], { config: analyzerYaml({ scene, group: 'ref', actions: 'actions.ref' }) });
  await waitForFrames(child, scene.total, 180_000);
  const windows = metricValue(await child.metrics(), 'clipwise_windows_evaluated_total');
  assert.equal(await child.stop(), 0, child.stderr());
  await assertCommittedAtEnd(scene, 'ref');
  const read = await readEventsWithKcat(broker.brokers, 'actions.ref');
  for (const { event, headers, key } of read) {
    assert.match(headers, /schema=1/);
    assert.match(headers, /content-type=application\/json/);
    assert.ok(headers.includes(`event-id=${event.id}`));
    assert.equal(key, event.cameraId);
    assert.equal(event.schema, 1);
    assert.match(event.id, /^[0-9a-f]{16}$/);
    assert.ok(CAMERAS.includes(event.cameraId));
    assert.equal(event.status, 'closed');
    assert.equal(event.nearGap, false);
    assert.ok(event.startMs < event.endMs && event.endMs <= scene.seconds * 1000 + 1000);
    assert.equal(event.attention.length, event.clips.length);
  }
  const reference = read.map((r) => r.event);
  assert.deepEqual(reference.map(eventKey).sort(), scene.calibration.events.map(eventKey).sort(), 'the Kafka analyzer emits the events the same analysis gives in-process');
  assert.equal(new Set(reference.map((e) => e.id)).size, reference.length, 'no duplicate in an uninterrupted run');
  console.log(`reference: ${reference.length} events; ${windows} windows evaluated before the stop`);
});

test('an analyzer killed mid-stream and its replacement lose no event (same ids)', async () => {
  const config = analyzerYaml({ scene, group: 'crash', actions: 'actions.crash' });
  const first = startClipwise(['run'], { config });
  // Kill it once it is well into the stream and has committed a watermark past the start.
  await waitForFrames(first, Math.round(scene.total * 0.4), 180_000);
  await waitFor('a committed watermark', async () => (await groupOffsets(scene, 'crash')).some((p) => p.committed > 0), 30_000, 200);
  const firstFrames = metricValue(await first.metrics(), 'clipwise_frames_in_total');
  first.kill('SIGKILL');
  await first.exited;
  const killedAt = Date.now();
  // A commit the analyzer sent just before it died may still be in the broker's queue.
  await sleep(500);
  const atKill = await groupOffsets(scene, 'crash');
  const replay = atKill.reduce((s, p) => s + p.end - Math.max(0, p.committed), 0);

  const second = startClipwise(['run'], { config });
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
  await assertCommittedAtEnd(scene, 'crash');
  assert.equal(secondFrames, replay, 'the replacement starts at the committed low watermarks');

  const got = (await readEventsWithKcat(broker.brokers, 'actions.crash')).map((r) => r.event);
  const { lost, extra, duplicates } = compareWithReference(scene.calibration.events, got);
  console.log(
    `analyzer crash: reference ${scene.calibration.events.length} events, after crash ${got.length} (${duplicates} duplicates by id), ` +
      `lost ${lost.length}, not in reference ${extra.length}; frames: first analyzer ${firstFrames}, replayed by the replacement ${replay} ` +
      `(${replay - (scene.total - firstFrames)} a second time); recovery (SIGKILL → replacement consuming) ${((resumedAt - killedAt) / 1000).toFixed(1)} s`,
  );
  assert.deepEqual(lost.map(eventKey), [], `events lost after the crash: ${lost.length}`);
  assert.deepEqual(extra.map(eventKey), [], 'a replay emits no event the uninterrupted run did not (cut-short events are suppressed)');
});

test('a second analyzer joining the group takes partitions over: no camera analysed twice, no event lost', async () => {
  const config = analyzerYaml({ scene, group: 'join', actions: 'actions.join' });
  const a = startClipwise(['run'], { config });
  await waitForFrames(a, Math.round(scene.total * 0.3), 180_000);
  const b = startClipwise(['run'], { config });
  const joinedAt = Date.now();
  await waitFor('the second analyzer to take frames', async () => metricValue(await b.metrics().catch(() => ''), 'clipwise_frames_in_total') > 0, 120_000, 200);
  const rebalanceS = (Date.now() - joinedAt) / 1000;
  // Who owns what now, as the broker sees it.
  const members = await withAdmin(broker.brokers, async (admin) => {
    const { groups } = await admin.describeGroups(['join']);
    return groups[0]?.members.length ?? 0;
  });
  const perCamera = async (): Promise<number[][]> =>
    Promise.all([a, b].map(async (c) => {
      const text = await c.metrics();
      return CAMERAS.map((camera) => metricValue(text, 'clipwise_frames_in_total', { camera }));
    }));
  // Frames already inside A's pipeline when its partitions were revoked still count there;
  // give them a moment before taking the baseline.
  await sleep(2000);
  const base = await perCamera();
  await waitForIdle([a, b], scene.total, 5000, 180_000);
  const end = await perCamera();
  // A camera the new analyzer analyses must get no frame in the first one after the rebalance.
  const grew = (i: number, cam: number): boolean => (end[i]?.[cam] ?? 0) > (base[i]?.[cam] ?? 0);
  const moved = CAMERAS.filter((_, cam) => (end[1]?.[cam] ?? 0) > 0);
  const twice = CAMERAS.filter((_, cam) => grew(0, cam) && (end[1]?.[cam] ?? 0) > 0);
  // The first analyzer dropped the moved cameras' state (not flushed at its stop: the new owner
  // replays and emits those events), and counted it.
  const aText = await a.metrics();
  const revoked = metricValue(aText, 'clipwise_cameras_revoked_total');
  const droppedState = metricValue(aText, 'clipwise_revoked_state_dropped_total');
  assert.equal(await a.stop(), 0, a.stderr());
  assert.equal(await b.stop(), 0, b.stderr());
  await assertCommittedAtEnd(scene, 'join');
  const got = (await readEventsWithKcat(broker.brokers, 'actions.join')).map((r) => r.event);
  const { lost, extra, duplicates } = compareWithReference(scene.calibration.events, got);
  console.log(
    `rebalance: ${members} members; cameras moved to the new analyzer: ${moved.join(', ') || 'none'}; analysed by both after the rebalance: ${twice.length}; ` +
      `new analyzer consuming after ${rebalanceS.toFixed(1)} s; events ${got.length} (${duplicates} duplicates by id), lost ${lost.length}, not in reference ${extra.length}; ` +
      `first analyzer: ${revoked} camera(s) revoked, ${droppedState} item(s) of their state dropped`,
  );
  assert.equal(members, 2);
  assert.ok(moved.length > 0, 'the new member got cameras');
  assert.ok(revoked >= moved.length, `the first analyzer counted ${revoked} revoked camera(s), ${moved.length} moved`);
  assert.ok(droppedState > 0, 'the revoked cameras had state in the first analyzer, dropped and counted');
  assert.deepEqual(twice, [], 'no camera analysed by both analyzers after the rebalance');
  assert.deepEqual(lost.map(eventKey), [], `events lost across the rebalance: ${lost.length}`);
  assert.deepEqual(extra.map(eventKey), []);
});
