/**
 * Garbage on the frames topic, through a real analyzer (`clipwise run`, child process):
 * a truncated JPEG, random bytes, a tiny JPEG whose header claims 30000x30000 pixels, a
 * 50 MB message (the test broker allows 64 MiB messages, so it reaches the analyzer), a
 * message missing a header, and one whose headers give other dimensions than its JPEG —
 * interleaved, under the same camera key, with 20 s of good frames.
 *
 * Each bad message must land on the dead-letter topic with its reason and original offset,
 * memory must stay bounded (nothing is decoded at its claimed size), and the good frames
 * must give exactly the events their in-process analysis gives.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { firstValueFrom, toArray } from 'rxjs';
import { Kafka, logLevel } from 'kafkajs';
import { decodeFrameMessage, encodeFrameMessage } from '../../src/topology/frameCodec.ts';
import { createSyntheticSource } from '../../src/topology/sources/syntheticSource.ts';
import type { Frame } from '../../src/types.ts';
import { calibrateClassThreshold, type Calibration } from '../support/calibrate.ts';
import { killAllClipwise, metricValue, sleep, startClipwise, waitFor } from '../support/clipwise.ts';
import { analyzerYaml, eventKey, readEventsWithKcat } from '../support/e2e.ts';
import { startKafka, type KafkaBroker } from '../support/kafka.ts';
import { makeTestModel } from '../support/model.ts';

const run = promisify(execFile);
const MIB = 1024 * 1024;
const CAMERA = 'good';

interface Bad {
  readonly name: string;
  /** Reasons the analyzer may give (a truncated JPEG fails in the decoder or its header). */
  readonly reasons: readonly string[];
  readonly message: { key: string; value: Buffer; headers: Record<string, string> };
  offset?: number;
}

let broker: KafkaBroker;
let model: string;
let calibration: Calibration;
const bad: Bad[] = [];
let goodFrames = 0;

/** A JPEG whose SOF0/SOF2 header is rewritten to claim another size (the pixels stay tiny). */
function claimSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length; ) {
    if (out[i] !== 0xff) break;
    const marker = out[i + 1] ?? 0;
    const length = out.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc3) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + length;
  }
  throw new Error('no SOF marker found');
}

before(async () => {
  broker = await startKafka({ serverProperties: { 'message.max.bytes': String(64 * MIB) } });
  await broker.createTopics([{ topic: 'frames' }, { topic: 'frames.dlq' }, { topic: 'actions' }]);
  model = await makeTestModel({ clips: 5, backboneSeed: 11 });
  const source = createSyntheticSource({ cameraId: CAMERA, fps: 5, width: 32, height: 32, seed: 3, frames: 100 });
  const frames = await firstValueFrom(source.frames$.pipe(toArray()));
  const good = await Promise.all(frames.map((f) => encodeFrameMessage(f, 'jpeg')));
  const sample = good[0];
  assert.ok(sample);
  const headers = (w: number, h: number): Record<string, string> => ({ ...sample.headers, width: String(w), height: String(h) });
  const withoutSeq = Object.fromEntries(Object.entries(sample.headers).filter(([k]) => k !== 'seq'));
  bad.push(
    { name: 'truncated JPEG', reasons: ['decode-failed', 'bad-jpeg'], message: { key: CAMERA, value: sample.value.subarray(0, Math.floor(sample.value.length / 2)), headers: headers(32, 32) } },
    { name: 'random bytes', reasons: ['bad-jpeg'], message: { key: CAMERA, value: randomBytes(4096), headers: headers(32, 32) } },
    { name: 'tiny JPEG claiming 30000x30000', reasons: ['too-many-pixels'], message: { key: CAMERA, value: claimSize(sample.value, 30000, 30000), headers: headers(30000, 30000) } },
    { name: '50 MB message', reasons: ['too-large'], message: { key: CAMERA, value: randomBytes(50 * MIB), headers: headers(32, 32) } },
    { name: 'missing seq header', reasons: ['missing-header'], message: { key: CAMERA, value: sample.value, headers: withoutSeq } },
    { name: 'wrong dimensions', reasons: ['dimension-mismatch'], message: { key: CAMERA, value: sample.value, headers: headers(64, 48) } },
  );
  // Good frames with a bad message after every 15th: same key, same partition, in between.
  const producer = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    let b = 0;
    for (const [i, m] of good.entries()) {
      await producer.send({ topic: 'frames', acks: -1, messages: [m] });
      goodFrames += 1;
      const next = bad[b];
      if (i % 15 === 14 && next) {
        const [meta] = await producer.send({ topic: 'frames', acks: -1, messages: [next.message] });
        next.offset = Number(meta?.baseOffset);
        b += 1;
      }
    }
  } finally {
    await producer.disconnect();
  }
  assert.equal(bad.filter((x) => x.offset !== undefined).length, bad.length, 'every bad message was produced');
  const decoded: Frame[] = [];
  for (const m of good) decoded.push(await decodeFrameMessage(m, { width: 32, height: 32 }));
  calibration = await calibrateClassThreshold({ modelDir: model, frames: decoded });
  assert.ok(calibration.events.length > 0, 'the good frames give events');
});

after(async () => {
  await killAllClipwise();
  await broker?.stop();
});

test('malformed frame messages go to the dead-letter topic with a reason; memory stays bounded; good frames are unaffected', async () => {
  const child = startClipwise(['run'], {
    config: analyzerYaml({ scene: { model, fps: 5, calibration, broker, topic: 'frames', deadLetter: 'frames.dlq' }, group: 'bad', actions: 'actions' }),
  });
  let peakRss = 0;
  const rss = async (): Promise<number> => {
    // prom-client's default metrics under the 'clipwise_process_' prefix.
    const v = metricValue(await child.metrics(), 'clipwise_process_process_resident_memory_bytes');
    peakRss = Math.max(peakRss, v);
    return v;
  };
  await child.metricsPort();
  const startRss = await rss();
  await waitFor(
    'every message handled',
    async () => {
      if (!child.alive()) throw new Error(child.stderr());
      const text = await child.metrics();
      await rss();
      return metricValue(text, 'clipwise_frames_in_total') >= goodFrames && metricValue(text, 'clipwise_dead_letters_total') >= bad.length;
    },
    180_000,
    200,
  );
  await sleep(1000);
  const text = await child.metrics();
  const byReason = Object.fromEntries(
    text.split('\n').filter((l) => l.startsWith('clipwise_dead_letters_total{')).map((l) => [/reason="([^"]+)"/.exec(l)?.[1] ?? '?', Number(l.split(' ').pop())]),
  );
  assert.equal(metricValue(text, 'clipwise_frames_in_total', { camera: CAMERA }), goodFrames);
  assert.equal(await child.stop(), 0, child.stderr().slice(-3000));

  // The dead letters, read by an outside client: reason and original offset of each.
  const { stdout } = await run('kcat', ['-b', broker.brokers[0] ?? '', '-t', 'frames.dlq', '-C', '-e', '-q', '-f', '%h\t%S\n'], { maxBuffer: 1 << 26 });
  const letters = stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [h = '', size = '0'] = line.split('\t');
      const headers = Object.fromEntries(h.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      return { headers, size: Number(size) };
    });
  assert.equal(letters.length, bad.length, 'one dead letter per bad message, none for a good one');
  for (const b of bad) {
    const letter = letters.find((l) => Number(l.headers['original-offset']) === b.offset);
    assert.ok(letter, `${b.name}: dead letter for offset ${b.offset}`);
    assert.ok(b.reasons.includes(letter.headers.reason ?? ''), `${b.name}: reason ${letter.headers.reason}, expected ${b.reasons.join(' or ')}`);
    assert.equal(letter.headers['original-topic'], 'frames');
    assert.equal(Number(letter.headers['original-size']), b.message.value.length);
  }
  const big = letters.find((l) => l.headers.reason === 'too-large');
  assert.equal(big?.headers.truncated, 'true', 'the 50 MB value is not copied into the dead letter');
  assert.ok((big?.size ?? Infinity) < MIB);

  // Memory: the 30000x30000 claim would be 2.7 GB of RGB if it were decoded.
  assert.ok(startRss > 0, 'the RSS metric is exported');
  assert.ok(peakRss < 700 * MIB, `peak RSS ${(peakRss / MIB).toFixed(0)} MiB`);

  const events = (await readEventsWithKcat(broker.brokers, 'actions')).map((r) => r.event);
  assert.deepEqual(events.map(eventKey).sort(), calibration.events.map(eventKey).sort(), 'the good frames give the events they give alone');
  assert.ok(events.every((e) => !e.nearGap), 'refused messages leave no gap in the camera');
  console.log(
    `bad frames: ${bad.length} dead letters by reason ${JSON.stringify(byReason)}; ${goodFrames} good frames in, ${events.length} events = in-process; ` +
      `RSS ${(startRss / MIB).toFixed(0)} MiB at start, peak ${(peakRss / MIB).toFixed(0)} MiB (sampled every 200 ms)`,
  );
});
