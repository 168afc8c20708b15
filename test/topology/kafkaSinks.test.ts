import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { consumeMessages, startKafka, type KafkaBroker } from '../support/kafka.ts';
import { createActionsSink } from '../../src/topology/kafka/actionsSink.ts';
import { createDeadLetterSink } from '../../src/topology/kafka/deadLetterSink.ts';
import { ConfigError, KafkaOperationError, KafkaUnavailableError, SinkError } from '../../src/errors.ts';
import { EVENT_SCHEMA_VERSION, type ActionEvent } from '../../src/types.ts';

let kafka: KafkaBroker;
const FAST_RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 500 };

before(async () => {
  kafka = await startKafka({ saslPlainUsers: { alice: 'alice-secret' } });
  await kafka.createTopics([
    { topic: 'actions', partitions: 3 },
    { topic: 'dlq', partitions: 1 },
  ]);
});

after(async () => {
  await kafka?.stop();
});

function event(cameraId: string, startClip: number, action = 'wave'): ActionEvent {
  const startMs = 1_700_000_000_000 + startClip * 1000;
  return {
    schema: EVENT_SCHEMA_VERSION,
    id: `${cameraId}-${action}-${startClip}`,
    cameraId,
    action,
    classIndex: 3,
    confidence: 0.875,
    start: new Date(startMs).toISOString(),
    end: new Date(startMs + 4000).toISOString(),
    startMs,
    endMs: startMs + 4000,
    startClip,
    endClip: startClip + 2,
    attention: [0.1, 0.9, 0.8],
    clips: [{ startMs, endMs: startMs + 2000 }],
    model: { name: 'gcf', version: '1', head: 'gcf' },
    emittedAt: new Date(startMs + 5000).toISOString(),
    status: 'closed',
    nearGap: false,
  };
}

/** A loopback port with nothing listening: connections are refused at once. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  await new Promise((res) => server.close(res));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

test('actions sink: a plain consumer reads each event as JSON, keyed by camera, with schema headers', async () => {
  const errors: KafkaOperationError[] = [];
  const sink = createActionsSink({
    brokers: kafka.brokers,
    topic: 'actions',
    clientId: 'test-actions',
    onProduceError: (e) => errors.push(e),
  });
  await sink.connect();
  const events = [event('gate', 0), event('lobby', 5), event('gate', 7, 'run'), event('gate', 9)];
  await Promise.all(events.map((e) => sink.write(e)));
  await sink.flush();
  await sink.disconnect();
  await sink.disconnect(); // idempotent

  const read = await consumeMessages(kafka.brokers, 'actions', events.length);
  assert.equal(read.length, events.length);
  for (const { message } of read) {
    const body = JSON.parse(message.value?.toString() ?? 'null') as ActionEvent;
    const sent = events.find((e) => e.id === body.id);
    assert.ok(sent, `unknown event ${body.id}`);
    assert.deepEqual(body, sent);
    assert.equal(message.key?.toString(), sent.cameraId);
    assert.equal(message.headers?.schema?.toString(), String(EVENT_SCHEMA_VERSION));
    assert.equal(message.headers?.['content-type']?.toString(), 'application/json');
    assert.equal(message.headers?.['event-id']?.toString(), sent.id);
  }
  // Key = camera: one camera's events share a partition, in the order they were written.
  const gate = read.filter((r) => r.message.key?.toString() === 'gate');
  assert.equal(new Set(gate.map((r) => r.partition)).size, 1);
  const gateIds = gate.sort((a, b) => a.offset - b.offset).map((r) => JSON.parse(r.message.value?.toString() ?? '{}').id);
  assert.deepEqual(gateIds, ['gate-wave-0', 'gate-run-7', 'gate-wave-9']);
  assert.equal(errors.length, 0);
});

test('actions sink: a missing topic is refused at connect, and a produce failure is typed and counted', async () => {
  const checked = createActionsSink({ brokers: kafka.brokers, topic: 'no-such-topic', retry: FAST_RETRY });
  await assert.rejects(checked.connect(), (err: unknown) => {
    assert.ok(err instanceof KafkaOperationError);
    assert.equal(err.topic, 'no-such-topic');
    assert.equal(err.retriable, false);
    assert.match(err.message, /does not exist/);
    return true;
  });

  const errors: KafkaOperationError[] = [];
  const unchecked = createActionsSink({
    brokers: kafka.brokers,
    topic: 'no-such-topic',
    checkTopic: false,
    retry: FAST_RETRY,
    onProduceError: (e) => errors.push(e),
  });
  await unchecked.connect();
  await assert.rejects(unchecked.write(event('gate', 1)), (err: unknown) => {
    assert.ok(err instanceof KafkaOperationError);
    assert.equal(err.operation, 'produce');
    assert.equal(err.topic, 'no-such-topic');
    assert.ok(err.cause, 'keeps the kafkajs error as cause');
    return true;
  });
  assert.equal(errors.length, 1);
  await unchecked.disconnect();
});

test('actions sink: options are validated before connecting, writes need a connection', async () => {
  assert.throws(
    () => createActionsSink({ brokers: ['no-port'], topic: 'bad topic!' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.issues.map((i) => i.path);
      assert.ok(paths.includes('topic') && paths.some((p) => p.startsWith('brokers')), paths.join(','));
      return true;
    },
  );
  assert.throws(() => createActionsSink({ topic: 'actions' }), ConfigError);
  // A misspelt option is an error, not silently ignored.
  const typo = { brokers: kafka.brokers, topic: 'actions', chekTopic: false } as unknown as Parameters<typeof createActionsSink>[0];
  assert.throws(() => createActionsSink(typo), (err: unknown) => err instanceof ConfigError && /chekTopic/.test(err.message));
  const sink = createActionsSink({ brokers: kafka.brokers, topic: 'actions' });
  await assert.rejects(sink.write(event('gate', 1)), SinkError);
  await sink.disconnect();
});

test('broker gone at start: sinks fail with a retriable KafkaUnavailableError, not a hang', { timeout: 30_000 }, async () => {
  const brokers = [`127.0.0.1:${await deadPort()}`];
  for (const sink of [
    createActionsSink({ brokers, topic: 'actions', retry: FAST_RETRY, connectionTimeoutMs: 500 }),
    createDeadLetterSink({ brokers, topic: 'dlq', retry: FAST_RETRY, connectionTimeoutMs: 500 }),
  ]) {
    await assert.rejects(sink.connect(), (err: unknown) => {
      assert.ok(err instanceof KafkaUnavailableError, String(err));
      assert.equal(err.retriable, true);
      assert.deepEqual(err.brokers, brokers);
      assert.match(err.message, new RegExp(brokers[0] ?? ''));
      return true;
    });
  }
});

test('SASL is passed through: right credentials write, wrong ones fail as a non-retriable auth error', async () => {
  const sink = createActionsSink({
    brokers: kafka.saslBrokers,
    topic: 'actions',
    sasl: { mechanism: 'plain', username: 'alice', password: 'alice-secret' },
    retry: FAST_RETRY,
  });
  await sink.connect();
  await sink.write(event('sasl-cam', 1));
  await sink.disconnect();

  const wrong = createDeadLetterSink({
    brokers: kafka.saslBrokers,
    topic: 'dlq',
    sasl: { mechanism: 'plain', username: 'alice', password: 'nope' },
    retry: FAST_RETRY,
  });
  await assert.rejects(wrong.connect(), (err: unknown) => {
    assert.ok(err instanceof KafkaUnavailableError, String(err));
    assert.equal(err.retriable, false);
    assert.match(err.message, /authentication/i);
    return true;
  });
  // Without SASL the SASL listener does not let a client in either.
  const plain = createActionsSink({ brokers: kafka.saslBrokers, topic: 'actions', retry: FAST_RETRY, connectionTimeoutMs: 500, requestTimeoutMs: 1000 });
  await assert.rejects(plain.connect(), KafkaUnavailableError);
});

test('dead-letter sink: reason, origin and original headers; values over the cap are dropped and flagged', async () => {
  const dlq = createDeadLetterSink({ brokers: kafka.brokers, topic: 'dlq', maxValueBytes: 1000 });
  await dlq.connect();
  const small = Buffer.from('tiny broken jpeg');
  const big = Buffer.alloc(5000, 7);
  await dlq.write({
    reason: 'bad-jpeg',
    detail: 'value is not a JPEG',
    cameraId: 'gate',
    source: { topic: 'frames', partition: 1, offset: 42 },
    key: 'gate',
    value: small,
    headers: { seq: Buffer.from('17'), encoding: 'jpeg', reason: 'spoofed' },
  });
  await dlq.write({ reason: 'too-large', source: { topic: 'frames', partition: 0, offset: 7 }, key: null, value: big });
  await dlq.disconnect();

  const read = (await consumeMessages(kafka.brokers, 'dlq', 2)).sort((a, b) => a.offset - b.offset);
  const [first, second] = read.map((r) => r.message);
  assert.ok(first && second);
  const h = (m: typeof first, name: string): string | undefined => m.headers?.[name]?.toString();
  assert.equal(h(first, 'reason'), 'bad-jpeg', 'our reason wins over an original header of the same name');
  assert.equal(h(first, 'detail'), 'value is not a JPEG');
  assert.equal(h(first, 'camera'), 'gate');
  assert.equal(h(first, 'original-topic'), 'frames');
  assert.equal(h(first, 'original-partition'), '1');
  assert.equal(h(first, 'original-offset'), '42');
  assert.equal(h(first, 'original-size'), String(small.length));
  assert.equal(h(first, 'original-header.seq'), '17');
  assert.equal(h(first, 'original-header.reason'), 'spoofed');
  assert.equal(h(first, 'truncated'), undefined);
  assert.equal(first.key?.toString(), 'gate');
  assert.deepEqual(first.value, small);

  assert.equal(h(second, 'reason'), 'too-large');
  assert.equal(h(second, 'truncated'), 'true');
  assert.equal(h(second, 'original-size'), '5000');
  assert.equal(second.value?.length ?? 0, 0);
  assert.equal(second.key, null);
});

// Last: it kills the file's broker (and brings it back).
test('broker killed mid-run: a write fails typed and retriable, and succeeds again after the restart', { timeout: 90_000 }, async () => {
  const errors: KafkaOperationError[] = [];
  const sink = createActionsSink({
    brokers: kafka.brokers,
    topic: 'actions',
    retry: FAST_RETRY,
    connectionTimeoutMs: 500,
    onProduceError: (e) => errors.push(e),
  });
  await sink.connect();
  await sink.write(event('yard', 1));
  await kafka.kill();
  await assert.rejects(sink.write(event('yard', 2)), (err: unknown) => {
    assert.ok(err instanceof KafkaOperationError, String(err));
    assert.equal(err.operation, 'produce');
    assert.equal(err.retriable, true, `a lost broker is worth retrying later: ${err.message}`);
    return true;
  });
  assert.equal(errors.length, 1);
  await kafka.restart();
  await sink.write(event('yard', 3));
  await sink.disconnect();
  const yard = (await consumeMessages(kafka.brokers, 'actions', 7))
    .filter((r) => r.message.key?.toString() === 'yard')
    .map((r) => (JSON.parse(r.message.value?.toString() ?? '{}') as ActionEvent).startClip);
  // 4 events of the first test, 1 over SASL, yard 1 and 3; yard 2 never reached the dead broker.
  assert.deepEqual(yard, [1, 3]);
});
