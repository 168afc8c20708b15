import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Kafka, Partitioners, logLevel, type Message, type Producer } from 'kafkajs';
import { firstValueFrom, timeout, toArray, take, type Observable } from 'rxjs';
import sharp from 'sharp';
import { consumeMessages, startKafka, type KafkaBroker } from '../support/kafka.ts';
import { createFramesSource, type FramesSource, type FramesSourceOptions, type RebalanceEvent } from '../../src/topology/kafka/framesSource.ts';
import { createDeadLetterSink, type DeadLetterSink } from '../../src/topology/kafka/deadLetterSink.ts';
import { encodeFrameMessage } from '../../src/topology/frameCodec.ts';
import { ConfigError, KafkaUnavailableError } from '../../src/errors.ts';
import type { Frame } from '../../src/types.ts';

let kafka: KafkaBroker;
let producer: Producer;
let admin: ReturnType<Kafka['admin']>;
let dlq: DeadLetterSink;
const sources: FramesSource[] = [];
const FAST_RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 500 };

before(async () => {
  kafka = await startKafka();
  await kafka.createTopics([
    { topic: 'frames-mixed', partitions: 1 },
    { topic: 'frames-commit', partitions: 1 },
    { topic: 'frames-rebalance', partitions: 2 },
    { topic: 'frames-bounded', partitions: 1 },
    { topic: 'dlq', partitions: 1 },
  ]);
  const client = new Kafka({ brokers: kafka.brokers, clientId: 'test-edge', logLevel: logLevel.NOTHING });
  producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  admin = client.admin();
  await admin.connect();
  dlq = createDeadLetterSink({ brokers: kafka.brokers, topic: 'dlq' });
  await dlq.connect();
});

after(async () => {
  await Promise.allSettled(sources.map((s) => s.stop()));
  await dlq?.disconnect();
  await producer?.disconnect();
  await admin?.disconnect();
  await kafka?.stop();
});

/** A 32x24 frame: left half red when `red`, else blue; the seq is also painted into green. */
function frame(cameraId: string, seq: number, red = true): Frame {
  const width = 32;
  const height = 24;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const left = i % width < width / 2;
    data[i * 3] = left && red ? 230 : 10;
    data[i * 3 + 1] = (seq * 10) % 256;
    data[i * 3 + 2] = left && !red ? 230 : 10;
  }
  return { cameraId, seq, ptsMs: 1000 + seq * 200, width, height, data };
}

function newSource(overrides: Partial<FramesSourceOptions> & Pick<FramesSourceOptions, 'topic' | 'groupId'>): FramesSource {
  const source = createFramesSource({
    brokers: kafka.brokers,
    decode: { width: 16, height: 12, maxBytes: 64 * 1024, maxPixels: 4096 * 4096 },
    deadLetter: dlq,
    fromBeginning: true,
    heartbeatIntervalMs: 500,
    sessionTimeoutMs: 10_000,
    ...overrides,
  });
  sources.push(source);
  return source;
}

function collect<T>(stream: Observable<T>, count: number, ms = 30_000): Promise<T[]> {
  return firstValueFrom(stream.pipe(take(count), toArray(), timeout(ms)));
}

async function send(topic: string, messages: Message[]): Promise<number[]> {
  const offsets: number[] = [];
  // One message per request, so each offset is known exactly.
  for (const m of messages) {
    const [meta] = await producer.send({ topic, acks: -1, messages: [m] });
    offsets.push(Number(meta?.baseOffset));
  }
  return offsets;
}

async function waitFor(condition: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function committed(groupId: string, topic: string): Promise<Map<number, number>> {
  const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((res?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

test('good JPEG and raw frames pass; each kind of garbage lands in the dead-letter topic with its reason', { timeout: 90_000 }, async () => {
  const topic = 'frames-mixed';
  const jpeg = async (cam: string, seq: number): Promise<Message> => encodeFrameMessage(frame(cam, seq), 'jpeg');
  const good = await jpeg('cam-a', 0);
  const goodValue = good.value as Buffer;
  const bomb = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } }).jpeg().toBuffer());
  for (let i = 2; i + 9 < bomb.length; i += 2 + bomb.readUInt16BE(i + 2)) {
    if (bomb[i + 1] === 0xc0) {
      bomb.writeUInt16BE(30000, i + 5);
      bomb.writeUInt16BE(30000, i + 7);
      break;
    }
  }
  // Cut halfway through the entropy-coded data: the headers (SOF) are intact, the pixels are not.
  const sos = goodValue.indexOf(Buffer.from([0xff, 0xda]));
  const truncatedScan = goodValue.subarray(0, sos + ((goodValue.length - sos) >> 1));
  const headersOf = (m: Message): Record<string, string> => m.headers as Record<string, string>;
  const random = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) % 256));
  const { encoding: _dropped, ...noEncoding } = headersOf(good);
  const raw = await encodeFrameMessage(frame('cam-b', 0, false), 'rgb24');

  const plan: { message: Message; reason?: string }[] = [
    { message: good },
    { message: await jpeg('cam-a', 1) },
    { message: { ...good, value: truncatedScan, headers: { ...headersOf(good), seq: '2' } }, reason: 'decode-failed' },
    { message: { key: 'cam-a', value: random, headers: { ...headersOf(good), seq: '3' } }, reason: 'bad-jpeg' },
    { message: { key: 'cam-a', value: bomb, headers: { ...headersOf(good), seq: '4', width: '8', height: '8' } }, reason: 'too-many-pixels' },
    { message: { key: 'cam-a', value: Buffer.alloc(100 * 1024, 1), headers: { ...headersOf(good), seq: '5' } }, reason: 'too-large' },
    { message: { key: 'cam-a', value: goodValue, headers: noEncoding }, reason: 'missing-header' },
    { message: { ...raw, headers: { ...headersOf(raw), width: '33' } }, reason: 'bad-size' },
    { message: { ...good, headers: { ...headersOf(good), seq: '6', width: '64' } }, reason: 'dimension-mismatch' },
    { message: await jpeg('cam-a', 7) },
    { message: raw },
    { message: await encodeFrameMessage(frame('cam-b', 1, false), 'rgb24') },
  ];
  const offsets = await send(topic, plan.map((p) => p.message));

  const rejected: string[] = [];
  const source = newSource({ topic, groupId: 'g-mixed', onRejected: (e) => rejected.push(e.reason) });
  const goodCount = plan.filter((p) => !p.reason).length;
  const framesP = collect(source.frames$, goodCount);
  await source.start();
  const frames = await framesP;

  assert.deepEqual(
    frames.map((f) => [f.cameraId, f.seq]),
    [['cam-a', 0], ['cam-a', 1], ['cam-a', 7], ['cam-b', 0], ['cam-b', 1]],
  );
  for (const f of frames) {
    assert.equal(f.width, 16);
    assert.equal(f.height, 12);
    assert.equal(f.data.length, 16 * 12 * 3);
    assert.equal(f.source?.topic, topic);
    assert.equal(f.source?.partition, 0);
  }
  const goodOffsets = plan.map((p, i) => (p.reason ? -1 : offsets[i])).filter((o) => o !== -1);
  assert.deepEqual(frames.map((f) => f.source?.offset), goodOffsets);
  // Pixels came through: cam-a frames are red on the left, cam-b blue.
  const [a0, b0] = [frames[0], frames[3]];
  assert.ok(a0 && b0);
  assert.ok((a0.data[0] ?? 0) > 180 && (a0.data[2] ?? 255) < 60);
  assert.ok((b0.data[2] ?? 0) > 180 && (b0.data[0] ?? 255) < 60);
  // cam-a's seq jumps 1 → 7 over the refused frames: the stream marks the gap.
  assert.deepEqual(frames.map((f) => f.gapBefore === true), [false, false, true, false, false]);

  const expected = plan.flatMap((p, i) => (p.reason ? [{ reason: p.reason, offset: offsets[i] }] : []));
  const letters = await consumeMessages(kafka.brokers, 'dlq', expected.length);
  const got = letters
    .map(({ message }) => ({
      reason: message.headers?.reason?.toString(),
      offset: Number(message.headers?.['original-offset']?.toString()),
      topic: message.headers?.['original-topic']?.toString(),
    }))
    .sort((x, y) => x.offset - y.offset);
  assert.deepEqual(got.map(({ reason, offset }) => ({ reason, offset })), expected);
  assert.ok(got.every((g) => g.topic === topic));
  assert.deepEqual(rejected, expected.map((e) => e.reason));
  assert.equal(source.stats().rejected, expected.length);
  await source.stop();
});

test('commit the low watermark; a new member of the group resumes from it', { timeout: 90_000 }, async () => {
  const topic = 'frames-commit';
  const messages = await Promise.all(Array.from({ length: 10 }, (_, i) => encodeFrameMessage(frame('cam-c', i), 'rgb24')));
  const offsets = await send(topic, messages);

  const first = newSource({ topic, groupId: 'g-commit' });
  const all = collect(first.frames$, 10);
  await first.start();
  const frames = await all;
  assert.deepEqual(frames.map((f) => f.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(first.positions(), [{ topic, partition: 0, offset: (offsets[9] ?? 0) + 1 }]);

  // The topology still needs frames from seq 6 on (an open window): commit seq 6's offset.
  const needed = frames[6]?.source;
  assert.ok(needed);
  await first.commitLowWatermark([needed]);
  assert.equal((await committed('g-commit', topic)).get(0), offsets[6]);
  // An offset past what was processed is lowered to it, never committed blindly.
  await first.commitLowWatermark([{ topic, partition: 0, offset: 1_000_000 }]);
  assert.equal((await committed('g-commit', topic)).get(0), (offsets[9] ?? 0) + 1);
  await first.commitLowWatermark([needed]);
  await first.stop();

  const second = newSource({ topic, groupId: 'g-commit' });
  const resumed = collect(second.frames$, 4);
  await second.start();
  const again = await resumed;
  assert.deepEqual(again.map((f) => f.seq), [6, 7, 8, 9]);
  assert.deepEqual(again.map((f) => f.source?.offset), offsets.slice(6));
  assert.equal(again[0]?.gapBefore, undefined, 'a fresh member has no previous seq to compare with');
  await second.stop();
});

test('rebalance: the first member is told which cameras it lost; the new owner replays from the commit', { timeout: 120_000 }, async () => {
  const topic = 'frames-rebalance';
  const produce = async (from: number, to: number): Promise<void> => {
    const msgs: Message[] = [];
    for (let seq = from; seq < to; seq++) {
      for (const [partition, cam] of [[0, 'cam-p0'], [1, 'cam-p1']] as const) {
        msgs.push({ ...(await encodeFrameMessage(frame(cam, seq), 'rgb24')), partition });
      }
    }
    await send(topic, msgs);
  };
  await produce(0, 6);

  const events1: RebalanceEvent[] = [];
  const first = newSource({ topic, groupId: 'g-rebalance' });
  first.rebalances$.subscribe((e) => events1.push(e));
  const got1: Frame[] = [];
  first.frames$.subscribe((f) => got1.push(f));
  const initial = collect(first.frames$, 12);
  await first.start();
  await initial;
  assert.deepEqual(events1, [{ type: 'assigned', partitions: [{ topic, partition: 0 }, { topic, partition: 1 }] }]);
  // Both cameras still have open state from seq 3 on.
  const low = [0, 1].map((partition) => {
    const f = got1.find((x) => x.source?.partition === partition && x.seq === 3)?.source;
    assert.ok(f);
    return f;
  });
  await first.commitLowWatermark(low);

  const second = newSource({ topic, groupId: 'g-rebalance' });
  const events2: RebalanceEvent[] = [];
  second.rebalances$.subscribe((e) => events2.push(e));
  const revokedP = firstValueFrom(first.rebalances$.pipe(timeout(60_000)));
  const replayed = collect(second.frames$, 3, 60_000);
  await second.start();
  const revoked = await revokedP;

  assert.equal(revoked.type, 'revoked');
  if (revoked.type !== 'revoked') return;
  assert.equal(revoked.partitions.length, 1);
  const moved = revoked.partitions[0];
  assert.ok(moved);
  const movedCam = moved.partition === 0 ? 'cam-p0' : 'cam-p1';
  assert.deepEqual(moved.cameraIds, [movedCam]);
  assert.deepEqual(revoked.cameraIds, [movedCam]);
  assert.deepEqual(first.assignment(), [{ topic, partition: 1 - moved.partition }]);
  assert.deepEqual(events2, [{ type: 'assigned', partitions: [{ topic, partition: moved.partition }] }]);

  // The new owner starts at the committed low watermark: seq 3 of the moved camera.
  const replay = await replayed;
  assert.deepEqual(replay.map((f) => [f.cameraId, f.seq]), [[movedCam, 3], [movedCam, 4], [movedCam, 5]]);

  // New frames after the move: each member gets only its own camera, nothing twice.
  const before1 = got1.length;
  const more2 = collect(second.frames$, 3);
  await produce(6, 9);
  const keptCam = movedCam === 'cam-p0' ? 'cam-p1' : 'cam-p0';
  const after2 = await more2;
  assert.deepEqual(after2.map((f) => [f.cameraId, f.seq]), [[movedCam, 6], [movedCam, 7], [movedCam, 8]]);
  await waitFor(() => got1.length >= before1 + 3);
  const later1 = got1.slice(before1);
  assert.deepEqual(later1.map((f) => [f.cameraId, f.seq]), [[keptCam, 6], [keptCam, 7], [keptCam, 8]]);
  const offsets1 = got1.map((f) => `${f.source?.partition}@${f.source?.offset}`);
  assert.equal(new Set(offsets1).size, offsets1.length, 'the member that kept a partition emits none of it twice');
  await second.stop();
  await first.stop();
});

test('a full queue pauses the topic and resumes it; every frame arrives once, in order', { timeout: 90_000 }, async () => {
  const topic = 'frames-bounded';
  const messages = await Promise.all(Array.from({ length: 30 }, (_, i) => encodeFrameMessage(frame('cam-d', i), 'jpeg')));
  await send(topic, messages);
  const source = newSource({ topic, groupId: 'g-bounded', maxInFlight: 2, decodeConcurrency: 1 });
  const all = collect(source.frames$, 30);
  await source.start();
  const frames = await all;
  assert.deepEqual(frames.map((f) => f.seq), Array.from({ length: 30 }, (_, i) => i));
  const stats = source.stats();
  assert.ok(stats.pauses > 0, `expected the topic to be paused at least once, stats ${JSON.stringify(stats)}`);
  assert.equal(stats.paused, false);
  assert.equal(stats.emitted, 30);
  await source.stop();
});

test('broker gone at start: a retriable KafkaUnavailableError, not a hang', { timeout: 30_000 }, async () => {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  await new Promise((res) => server.close(res));
  assert.ok(addr && typeof addr !== 'string');
  const source = createFramesSource({
    brokers: [`127.0.0.1:${addr.port}`],
    topic: 'frames',
    groupId: 'g',
    decode: { width: 16, height: 16 },
    retry: FAST_RETRY,
    connectionTimeoutMs: 500,
  });
  let completed = false;
  source.frames$.subscribe({ complete: () => (completed = true) });
  await assert.rejects(source.start(), (err: unknown) => {
    assert.ok(err instanceof KafkaUnavailableError, String(err));
    assert.equal(err.retriable, true);
    return true;
  });
  await source.stop();
  assert.equal(completed, true);
});

test('frames source options are validated before anything connects', () => {
  assert.throws(
    () =>
      createFramesSource({
        brokers: ['localhost:9092'],
        topic: 'frames',
        groupId: '',
        decode: { width: 0, height: 16 },
        maxInFlight: 0,
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.issues.map((i) => i.path).sort();
      assert.deepEqual(paths, ['decode.width', 'groupId', 'maxInFlight']);
      return true;
    },
  );
});
