/**
 * The dead-letter sink: frame messages the decoder refused go to a dead-letter topic with
 * the reason and where they came from, so the stream goes on and an operator can still
 * look at (or replay) what an edge device sent.
 */
import { Partitioners, type IHeaders, type Producer, type RetryOptions } from 'kafkajs';
import { z } from 'zod';
import { KafkaOperationError, SinkError } from '../../errors.ts';
import {
  DEFAULT_KAFKA_RETRY,
  assertTopicsExist,
  connectionFields,
  retrySchema,
  isRetriableKafkaError,
  kafkaClient,
  silentLogger,
  unavailableError,
  validateOptions,
  type AdapterLogger,
  type KafkaConnectionOptions,
} from './client.ts';

/** Header names of a dead-letter message. */
export const DEAD_LETTER_HEADER = {
  reason: 'reason',
  detail: 'detail',
  camera: 'camera',
  topic: 'original-topic',
  partition: 'original-partition',
  offset: 'original-offset',
  size: 'original-size',
  truncated: 'truncated',
  /** Prefix of the original message's headers, copied over (`original-header.ts`, …). */
  originalHeaderPrefix: 'original-header.',
} as const;

/** One refused message and why. */
export interface DeadLetterRecord {
  /** Reason code (a `FrameRejectReason` for frames). */
  readonly reason: string;
  /** Human-readable detail (the error message); cut to 512 characters. */
  readonly detail?: string;
  readonly cameraId?: string;
  /** Where the original message was. */
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: number | string };
  readonly key?: Buffer | string | null;
  /** The original bytes; dropped (with a `truncated` header) when over `maxValueBytes`. */
  readonly value: Buffer | null;
  /** The original headers; copied with a prefix when small. */
  readonly headers?: IHeaders;
}

/** Options (and dependencies) of {@link createDeadLetterSink}. */
export interface DeadLetterSinkOptions extends KafkaConnectionOptions {
  /** The dead-letter topic; it must exist. */
  readonly topic: string;
  readonly logger?: AdapterLogger;
  /** Largest original value copied into the dead letter, bytes. Default 1 MiB (the broker's default limit is ~1 MB). */
  readonly maxValueBytes?: number;
  /** Called when a dead letter could not be produced after retries. */
  readonly onProduceError?: (error: KafkaOperationError, record: DeadLetterRecord) => void;
  /** Producer retry policy; default: the client's. */
  readonly produceRetry?: RetryOptions;
  /** Check at connect that the topic exists. Default true. */
  readonly checkTopic?: boolean;
}

/** The dead-letter sink. */
export interface DeadLetterSink {
  /** Rejects with `KafkaUnavailableError` when no broker answers. */
  connect(): Promise<void>;
  /** Produces one dead letter; rejects with `KafkaOperationError` after retries. */
  write(record: DeadLetterRecord): Promise<void>;
  /** Resolves when every write issued so far has settled. */
  flush(): Promise<void>;
  /** Flushes, then disconnects. Idempotent. */
  disconnect(): Promise<void>;
}

/** Default {@link DeadLetterSinkOptions.maxValueBytes}. */
export const DEFAULT_DEAD_LETTER_MAX_VALUE_BYTES = 1024 * 1024;
const MAX_HEADER_VALUE = 256;
const MAX_KEY = 256;

const optionsSchema = z.strictObject({
  ...connectionFields,
  topic: z.string().min(1).max(249).regex(/^[A-Za-z0-9._-]+$/, 'Kafka topic names use letters, digits and . _ -'),
  maxValueBytes: z.number().int().nonnegative().optional(),
  onProduceError: z.custom<(e: KafkaOperationError, r: DeadLetterRecord) => void>((v) => typeof v === 'function').optional(),
  checkTopic: z.boolean().optional(),
  produceRetry: retrySchema,
});

/**
 * Creates the dead-letter sink.
 *
 * Why the value is dropped over a cap: messages are often refused *because* they are huge,
 * and copying them would make the dead-letter topic fail on the same limit; the headers
 * still say what it was (`original-size`, `truncated`).
 *
 * @example
 * const dlq = createDeadLetterSink({ brokers, topic: 'clipwise.frames.dlq', logger });
 * await dlq.connect();
 * await dlq.write({ reason: 'bad-jpeg', source: { topic, partition, offset }, key, value, headers });
 * @param options - connection, topic, size cap, logger; validated before anything connects
 * @returns the sink
 * @throws ConfigError when an option is invalid
 */
export function createDeadLetterSink(options: DeadLetterSinkOptions): DeadLetterSink {
  validateOptions('dead-letter sink', optionsSchema, options);
  const logger = options.logger ?? silentLogger;
  const { topic } = options;
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_DEAD_LETTER_MAX_VALUE_BYTES;
  const { kafka, brokers } = kafkaClient(options, logger);
  const producer: Producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: { ...DEFAULT_KAFKA_RETRY, ...options.retry, ...options.produceRetry },
  });
  const pending = new Set<Promise<unknown>>();
  let state: 'new' | 'connecting' | 'connected' | 'closed' = 'new';

  const send = async (record: DeadLetterRecord): Promise<void> => {
    const size = record.value?.length ?? 0;
    const truncated = size > maxValueBytes;
    const headers: IHeaders = {};
    // Original headers first, so ours can never be shadowed by a hostile producer's.
    for (const [name, value] of Object.entries(record.headers ?? {})) {
      if (value === undefined || name.length > 64) continue;
      const text = Array.isArray(value) ? value.map(String).join(',') : value.toString();
      headers[DEAD_LETTER_HEADER.originalHeaderPrefix + name] = text.slice(0, MAX_HEADER_VALUE);
    }
    headers[DEAD_LETTER_HEADER.reason] = record.reason;
    if (record.detail) headers[DEAD_LETTER_HEADER.detail] = record.detail.slice(0, 512);
    if (record.cameraId) headers[DEAD_LETTER_HEADER.camera] = record.cameraId;
    headers[DEAD_LETTER_HEADER.topic] = record.source.topic;
    headers[DEAD_LETTER_HEADER.partition] = String(record.source.partition);
    headers[DEAD_LETTER_HEADER.offset] = String(record.source.offset);
    headers[DEAD_LETTER_HEADER.size] = String(size);
    if (truncated) headers[DEAD_LETTER_HEADER.truncated] = 'true';
    const key = record.key == null || record.key.length > MAX_KEY ? null : record.key;
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: [{ key, value: truncated ? Buffer.alloc(0) : record.value, headers }],
      });
    } catch (err) {
      const error = new KafkaOperationError(
        `could not produce dead letter (${record.reason}, ${record.source.topic}/${record.source.partition}@${record.source.offset}) to '${topic}': ${(err as Error).message}`,
        'produce',
        topic,
        { cause: err, retriable: isRetriableKafkaError(err) },
      );
      logger.error(error.message, { topic, reason: record.reason, retriable: error.retriable });
      try {
        options.onProduceError?.(error, record);
      } catch (hookErr) {
        logger.warn('onProduceError hook threw', { error: String(hookErr) });
      }
      throw error;
    }
  };

  return {
    async connect() {
      if (state !== 'new') throw new SinkError(`dead-letter sink cannot connect: it is ${state}`, 'kafka-dead-letter');
      state = 'connecting';
      try {
        await producer.connect();
      } catch (err) {
        state = 'new';
        throw unavailableError(err, brokers);
      }
      if (options.checkTopic !== false) {
        try {
          await assertTopicsExist(kafka, [topic], 'produce', brokers);
        } catch (err) {
          await producer.disconnect().catch(() => undefined);
          state = 'new';
          throw err;
        }
      }
      state = 'connected';
      logger.info('dead-letter sink connected', { topic });
    },
    write(record) {
      if (state !== 'connected') {
        return Promise.reject(new SinkError(`dead-letter sink is ${state}, not connected`, 'kafka-dead-letter'));
      }
      const p = send(record);
      pending.add(p);
      const untrack = (): void => {
        pending.delete(p);
      };
      p.then(untrack, untrack);
      return p;
    },
    async flush() {
      await Promise.allSettled([...pending]);
    },
    async disconnect() {
      if (state === 'closed') return;
      const wasConnected = state === 'connected';
      state = 'closed';
      await Promise.allSettled([...pending]);
      if (wasConnected) await producer.disconnect();
    },
  };
}
