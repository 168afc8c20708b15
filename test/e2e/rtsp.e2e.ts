/**
 * Real cameras end to end, on a real RTSP server (GStreamer's, fed by ffmpeg: test/support/rtsp.ts):
 * - vtest.avi (real pedestrian footage) as an RTSP camera → `clipwise ingest` → Kafka →
 *   `clipwise run` in a consumer group → actions topic → kcat;
 * - one `clipwise run` reading four cameras at once: vtest.avi over RTSP while the RTSP server
 *   is stopped for 20 s and started again (the loss is detected, ffmpeg reaped, the camera
 *   reconnects with backoff, the reconnects are counted, the gap is marked on the events);
 *   a camera that accepts the TCP connection and says nothing (detected within the stall
 *   timeout); the corrupt Megamind_bugy.avi as a file and as an RTSP feed (frames processed,
 *   corrupt frames counted, no crash).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { firstValueFrom, toArray } from 'rxjs';
import { createFfmpegSource } from '../../src/topology/sources/ffmpegSource.ts';
import type { ActionEvent } from '../../src/types.ts';
import { calibrateClassThreshold } from '../support/calibrate.ts';
import { killAllClipwise, metricValue, sleep, startClipwise, waitFor, type ClipwiseProcess } from '../support/clipwise.ts';
import { readEventsWithKcat } from '../support/e2e.ts';
import { startKafka, type KafkaBroker } from '../support/kafka.ts';
import { makeTestModel } from '../support/model.ts';
import { rtspServerUnavailableReason, startRtspServer, startSilentTcpServer, type RtspServerHarness, type SilentTcpServer } from '../support/rtsp.ts';

const DATA = '/usr/share/doc/opencv-doc/examples/data';
const VTEST = `${DATA}/vtest.avi`;
const MEGAMIND = `${DATA}/Megamind_bugy.avi`;
const skip = rtspServerUnavailableReason() ?? (!existsSync(VTEST) || !existsSync(MEGAMIND) ? 'opencv-doc not installed' : undefined);

let rtsp: RtspServerHarness;
let silent: SilentTcpServer;
let broker: KafkaBroker;
let model: string;
let vtestThreshold = 0;

before(async () => {
  if (skip) return;
  rtsp = await startRtspServer();
  await rtsp.publish(VTEST, '/campus');
  await rtsp.publish(MEGAMIND, '/megamind');
  silent = await startSilentTcpServer();
  broker = await startKafka();
  await broker.createTopics([{ topic: 'frames', partitions: 2 }, { topic: 'frames.dlq' }, { topic: 'actions' }]);
  model = await makeTestModel({ clips: 5, backboneSeed: 11 });
  // Threshold from the model's outputs on the same footage decoded from the file (the RTSP
  // copy is re-encoded, so close but not identical: the test asks for events, not exact ones).
  const file = createFfmpegSource({ cameraId: 'campus', path: VTEST, fps: 5, width: 32, height: 32, stallTimeoutMs: 30_000 });
  const frames = await firstValueFrom(file.frames$.pipe(toArray()));
  vtestThreshold = (await calibrateClassThreshold({ modelDir: model, frames, quantiles: [0.5, 0.6, 0.7] })).classThreshold;
});

after(async () => {
  await killAllClipwise();
  await rtsp?.stop();
  await silent?.stop();
  await broker?.stop();
});

function modelYaml(classThreshold: number): string[] {
  return [
    `model: { path: ${JSON.stringify(model)} }`,
    'runtime: { backend: wasm, workers: 0 }',
    'pipeline: { fps: 5 }',
    `detection: { classThreshold: ${classThreshold}, attentionThreshold: 0 }`,
  ];
}

/** The analyzer's direct children as `ps` sees them: pid, state, command. */
function childrenOf(pid: number): { pid: number; state: string; comm: string }[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length >= 3)
    .map(([p, state, comm]) => ({ pid: Number(p), state: state ?? '', comm: comm ?? '' }));
}

test('RTSP camera → clipwise ingest → Kafka → analyzer → actions topic → kcat', { skip }, async () => {
  const kafka = `kafka: { brokers: ${JSON.stringify(broker.brokers)}, groupId: rtsp, topics: { frames: frames, actions: actions, deadLetter: frames.dlq } }`;
  const ingest = startClipwise(['ingest', '--size', '32'], {
    config: ['pipeline: { fps: 5 }', `sources: [ { type: rtsp, cameraId: campus, url: ${JSON.stringify(rtsp.url('/campus'))} } ]`, kafka, 'metrics: { port: 0 }'].join('\n'),
  });
  const analyzer = startClipwise(['run'], {
    config: [...modelYaml(vtestThreshold), 'sources: [ { type: kafka, fromBeginning: true } ]', 'sinks: [ { type: kafka } ]', kafka, 'metrics: { port: 0 }'].join('\n'),
  });
  // 40 s of live video.
  await waitFor('the ingest to publish 200 frames', async () => {
    if (!ingest.alive()) throw new Error(ingest.stderr());
    return metricValue(await ingest.metrics(), 'clipwise_frames_in_total') >= 200;
  }, 180_000, 500);
  assert.equal(await ingest.stop(), 0, ingest.stderr().slice(-3000));
  const published = Number(/ingest done: (\d+) frame/.exec(ingest.stderr())?.[1] ?? NaN);
  await waitFor('the analyzer to take every published frame', async () => metricValue(await analyzer.metrics(), 'clipwise_frames_in_total') >= published, 120_000, 500);
  const dead = metricValue(await analyzer.metrics(), 'clipwise_dead_letters_total');
  assert.equal(await analyzer.stop(), 0, analyzer.stderr().slice(-3000));
  const read = await readEventsWithKcat(broker.brokers, 'actions');
  assert.ok(read.length > 0, 'events arrive on the actions topic');
  for (const { event, headers, key } of read) {
    assert.match(headers, /schema=1/);
    assert.equal(key, 'campus');
    assert.equal(event.schema, 1);
    assert.equal(event.cameraId, 'campus');
    assert.equal(event.status, 'closed');
    assert.ok(['fall', 'run', 'wave'].includes(event.action));
    assert.ok(event.startMs < event.endMs);
    // Live pts are wall clock: the events happened during this test.
    assert.ok(Math.abs(event.startMs - Date.now()) < 10 * 60_000, `live time ${event.start}`);
    assert.equal(event.attention.length, event.clips.length);
  }
  assert.equal(dead, 0, 'every frame the ingest published decodes');
  console.log(`rtsp → ingest → kafka → analyzer: ${published} frames published and analysed, ${read.length} events read by kcat (classThreshold ${vtestThreshold.toPrecision(4)})`);
});

test('one analyzer, four cameras: RTSP server down 20 s, a silent camera, Megamind_bugy.avi as file and RTSP feed', { skip }, async () => {
  const STALL_MS = 4000;
  const child: ClipwiseProcess = startClipwise(['run'], {
    config: [
      // Threshold 0: every class is detected in every window, so events are open whenever
      // the RTSP server goes away and the gap must close them.
      ...modelYaml(0),
      'sources:',
      `  - { type: rtsp, cameraId: campus, url: ${JSON.stringify(rtsp.url('/campus'))}, stallTimeoutMs: ${STALL_MS} }`,
      `  - { type: rtsp, cameraId: megamind-rtsp, url: ${JSON.stringify(rtsp.url('/megamind'))}, stallTimeoutMs: ${STALL_MS} }`,
      `  - { type: file, cameraId: megamind-file, path: ${JSON.stringify(MEGAMIND)}, realtime: true, loop: true }`,
      // Default stall timeout (10 s): the silent camera must be given up on within it.
      `  - { type: rtsp, cameraId: silent, url: ${JSON.stringify(silent.url('/cam'))} }`,
      'sinks: [ { type: stdout } ]',
      'metrics: { port: 0 }',
    ].join('\n'),
  });
  const metrics = async (): Promise<string> => {
    if (!child.alive()) throw new Error(`analyzer exited:\n${child.stderr().slice(-4000)}`);
    return child.metrics();
  };
  const m = (text: string, name: string, camera: string): number => metricValue(text, name, { camera });

  // The silent camera: from its first accepted connection to the first reconnect counted.
  await waitFor('a connection to the silent camera', () => silent.connections() > 0, 60_000, 50);
  const silentFrom = Date.now();
  await waitFor('the silent camera to be given up on', async () => m(await metrics(), 'clipwise_source_reconnects_total', 'silent') >= 1, 30_000, 100);
  const silentDetectS = (Date.now() - silentFrom) / 1000;

  await waitFor('campus frames', async () => m(await metrics(), 'clipwise_frames_in_total', 'campus') >= 50, 120_000, 250);
  const before = await metrics();
  const reconnectsBefore = m(before, 'clipwise_source_reconnects_total', 'campus');
  const downAt = Date.now();
  await rtsp.down();
  // While the server is away: the camera's decoder exits or is killed and is reaped (no
  // zombie, never two decoders for one camera), and the attempts are counted.
  // A child that has exited is a zombie until Node's event loop reaps it on its next turn,
  // so one sample can catch a decoder (the looping Megamind file's exits every few seconds)
  // in between. What must never happen is a zombie that stays: count a pid that is still a
  // zombie LINGER_MS after it was first seen as one.
  const LINGER_MS = 2000;
  const zombieSince = new Map<number, number>();
  let zombies = 0;
  let briefZombies = 0;
  let maxFfmpeg = 0;
  const framesAtDown = m(await metrics(), 'clipwise_frames_in_total', 'campus');
  const watch = async (): Promise<void> => {
    while (Date.now() - downAt < 20_000) {
      const kids = childrenOf(child.pid);
      const now = Date.now();
      const zombieNow = new Set(kids.filter((k) => k.state.startsWith('Z')).map((k) => k.pid));
      for (const pid of zombieNow) if (!zombieSince.has(pid)) zombieSince.set(pid, now);
      for (const [pid, since] of zombieSince) {
        if (!zombieNow.has(pid)) {
          zombieSince.delete(pid);
          briefZombies += 1;
        } else if (now - since >= LINGER_MS) zombies = Math.max(zombies, 1);
      }
      maxFfmpeg = Math.max(maxFfmpeg, kids.filter((k) => k.comm === 'ffmpeg').length);
      await sleep(250);
    }
  };
  await watch();
  const duringOutage = await metrics();
  const reconnectsDuring = m(duringOutage, 'clipwise_source_reconnects_total', 'campus') - reconnectsBefore;
  await rtsp.up();
  const upAt = Date.now();
  const framesAtUp = m(await metrics(), 'clipwise_frames_in_total', 'campus');
  const resumedAt = await waitFor('campus frames after the restart', async () => m(await metrics(), 'clipwise_frames_in_total', 'campus') >= framesAtUp + 25 && Date.now(), 120_000, 250);
  const end = await metrics();
  // Same rule at the end: a zombie seen now must be gone within LINGER_MS.
  const zombiesNow = (): number[] => childrenOf(child.pid).filter((k) => k.state.startsWith('Z')).map((k) => k.pid);
  const firstSeen = zombiesNow();
  await sleep(LINGER_MS);
  const stillThere = zombiesNow();
  const zombiesAtEnd = firstSeen.filter((pid) => stillThere.includes(pid)).length;
  assert.equal(await child.stop(), 0, child.stderr().slice(-4000));
  assert.deepEqual(childrenOf(child.pid), [], 'no child process left');

  const events = child.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ActionEvent);
  const campus = events.filter((e) => e.cameraId === 'campus');
  const spanning = campus.filter((e) => e.startMs < downAt && e.endMs > upAt);
  const nearGap = campus.filter((e) => e.nearGap);
  const stallLogged = /source stalled; killing decoder[^\n]*"cameraId":"campus"/.test(child.stderr());
  const corruptFile = metricValue(end, 'clipwise_frames_dropped_total', { camera: 'megamind-file', reason: 'corrupt' });
  const corruptRtsp = metricValue(end, 'clipwise_frames_dropped_total', { camera: 'megamind-rtsp', reason: 'corrupt' });
  const megamindFile = m(end, 'clipwise_frames_in_total', 'megamind-file');
  const megamindRtsp = m(end, 'clipwise_frames_in_total', 'megamind-rtsp');
  console.log(
    `rtsp server down 20 s: campus ${framesAtDown} frames at the stop, +${framesAtUp - framesAtDown} while down; ${reconnectsDuring} reconnect attempts counted while down ` +
      `(${m(end, 'clipwise_source_reconnects_total', 'campus') - reconnectsBefore} in all); loss seen as ${stallLogged ? 'a stall' : 'a decoder exit'}; ` +
      `frames again ${((resumedAt - upAt) / 1000).toFixed(1)} s after the server came back; most ffmpeg children at once ${maxFfmpeg}, zombies lingering ${zombies}/${zombiesAtEnd} (reaped within ${LINGER_MS} ms: ${briefZombies}); ` +
      `campus events ${campus.length}, nearGap ${nearGap.length}, spanning the outage ${spanning.length}. ` +
      `silent camera given up on ${silentDetectS.toFixed(1)} s after it accepted the connection (stall timeout 10 s). ` +
      `Megamind_bugy.avi: file ${megamindFile} frames, ${corruptFile} corrupt counted; RTSP feed ${megamindRtsp} frames, ${corruptRtsp} corrupt counted`,
  );
  assert.equal(framesAtUp - framesAtDown <= 10, true, 'frames stop while the server is down');
  assert.ok(reconnectsDuring >= 1, 'the loss is counted as a reconnect');
  assert.equal(zombies, 0, `no zombie ffmpeg left for ${LINGER_MS} ms`);
  assert.equal(zombiesAtEnd, 0);
  assert.ok(maxFfmpeg <= 4, `never two decoders for one camera (${maxFfmpeg} ffmpeg for 4 cameras)`);
  assert.deepEqual(spanning, [], 'no event spans the outage');
  assert.ok(nearGap.length >= 1, 'events at the gap say so');
  assert.ok(campus.filter((e) => e.endMs <= upAt).every((e) => e.nearGap), 'the events the outage cut are marked nearGap');
  assert.ok(silentDetectS <= 10 + 3, `silent camera detected in ${silentDetectS} s (stall timeout 10 s + kill grace)`);
  assert.equal(m(end, 'clipwise_frames_in_total', 'silent'), 0);
  assert.ok(megamindFile > 0, 'decodable Megamind frames are analysed');
  assert.ok(corruptFile > 0, 'Megamind corrupt frames are counted');
  assert.ok(megamindRtsp > 0, 'the Megamind RTSP feed is analysed');
});
