/**
 * The actions-topic sink: action events to Kafka, one JSON message per event.
 *
 * Delivery (DESIGN.md "Delivery"): idempotent producer, acks=all, key = camera id so one
 * camera's events stay in order on one partition, `schema` and `content-type` headers so
 * subscribers can check what they parse. A replay re-emits the same event ids, so
 * subscribers recognise duplicates.
 */
import { Partitioners, type Message, type Producer, type RetryOptions } from 'kafkajs';
import { z } from 'zod';
import { KafkaOperationError, SinkError } from '../../errors.ts';
import { EVENT_SCHEMA_VERSION, type ActionEvent } from '../../types.ts';
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

/** Header names written on every action event. */
export const ACTION_HEADER = {
  schema: 'schema',
  contentType: 'content-type',
  eventId: 'event-id',
} as const;

/** Options (and dependencies) of {@link createActionsSink}. */
export interface ActionsSinkOptions extends KafkaConnectionOptions {
  /** The actions topic; it must exist (auto-creation is off). */
  readonly topic: string;
  readonly logger?: AdapterLogger;
  /** Called once per event whose produce failed after retries (e.g. the produce-errors metric). */
  readonly onProduceError?: (error: KafkaOperationError, event: ActionEvent) => void;
  /** Producer retry policy; default: the client's. Bounds how long a write may take to fail. */
  readonly produceRetry?: RetryOptions;
  /** How long the broker may take to get all in-sync replicas to acknowledge, ms. Default 30000. */
  readonly ackTimeoutMs?: number;
  /** Check at connect that the topic exists. Default true; turn off where ACLs hide topic lists. */
  readonly checkTopic?: boolean;
  /** Most events sent in one produce request. Default 100. */
  readonly maxBatch?: number;
}

/** The actions sink: connect, write events, flush, disconnect. */
export interface ActionsSink {
  /** Connects the producer (and checks the topic). Rejects with `KafkaUnavailableError` when no broker answers. */
  connect(): Promise<void>;
  /**
   * Produces one event; resolves when the broker acknowledged it (acks=all). Rejects with a
   * `KafkaOperationError` (operation `produce`) once kafkajs' retries are spent.
   */
  write(event: ActionEvent): Promise<void>;
  /** Resolves when every write issued so far has settled (acknowledged or failed). */
  flush(): Promise<void>;
  /** Flushes, then disconnects. Idempotent. */
  disconnect(): Promise<void>;
}

const optionsSchema = z.strictObject({
  ...connectionFields,
  topic: z.string().min(1).max(249).regex(/^[A-Za-z0-9._-]+$/, 'Kafka topic names use letters, digits and . _ -'),
  onProduceError: z.custom<(e: KafkaOperationError, ev: ActionEvent) => void>((v) => typeof v === 'function').optional(),
  ackTimeoutMs: z.number().int().positive().optional(),
  checkTopic: z.boolean().optional(),
  produceRetry: retrySchema,
  maxBatch: z.number().int().positive().optional(),
});

/**
 * Creates the actions-topic sink.
 *
 * Why writes go through one queue: concurrent kafkajs `send` calls may reach the broker in
 * any order, and one camera's events must stay in the order they were written. Events
 * written while a request is in flight go together in the next one; each write's promise
 * still says whether that event is durable.
 *
 * @example
 * const sink = createActionsSink({ brokers: ['kafka:9092'], topic: 'clipwise.actions', logger,
 *   onProduceError: () => metrics.produceErrors.inc() });
 * await sink.connect();
 * await sink.write(event);
 * await sink.disconnect();
 * @param options - connection, topic, logger and hooks; validated before anything connects
 * @returns the sink
 * @throws ConfigError when an option is invalid
 */
export function createActionsSink(options: ActionsSinkOptions): ActionsSink {
  validateOptions('actions sink', optionsSchema, options);
  const logger = options.logger ?? silentLogger;
  const { topic } = options;
  const { kafka, brokers } = kafkaClient(options, logger);
  const producer: Producer = kafka.producer({
    // The Java client's murmur2 partitioner: a camera's key lands on the same partition
    // whichever client (ingest, edge device, this) writes it.
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    // One request in flight keeps one camera's events in order even across retries.
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // kafkajs retries an idempotent producer forever by default; a sink must fail in
    // bounded time so the topology can report it (kafkajs logs a warning about this).
    retry: { ...DEFAULT_KAFKA_RETRY, ...options.retry, ...options.produceRetry },
  });
  const maxBatch = options.maxBatch ?? 100;
  const queue: { event: ActionEvent; done: () => void; fail: (err: KafkaOperationError) => void }[] = [];
  const inFlight = new Set<Promise<void>>();
  let pumping: Promise<void> | undefined;
  let state: 'new' | 'connecting' | 'connected' | 'closed' = 'new';

  const toMessage = (event: ActionEvent): Message => ({
    key: event.cameraId,
    value: JSON.stringify(event),
    headers: {
      [ACTION_HEADER.schema]: String(EVENT_SCHEMA_VERSION),
      [ACTION_HEADER.contentType]: 'application/json',
      [ACTION_HEADER.eventId]: event.id,
    },
  });

  const sendBatch = async (batch: typeof queue): Promise<void> => {
    try {
      await producer.send({ topic, acks: -1, timeout: options.ackTimeoutMs ?? 30_000, messages: batch.map((b) => toMessage(b.event)) });
      for (const b of batch) b.done();
    } catch (err) {
      const retriable = isRetriableKafkaError(err);
      for (const { event, fail } of batch) {
        const error = new KafkaOperationError(
          `could not produce event ${event.id} (camera ${event.cameraId}) to '${topic}': ${(err as Error).message}`,
          'produce',
          topic,
          { cause: err, retriable },
        );
        logger.error(error.message, { topic, cameraId: event.cameraId, eventId: event.id, retriable });
        try {
          options.onProduceError?.(error, event);
        } catch (hookErr) {
          logger.warn('onProduceError hook threw', { error: String(hookErr) });
        }
        fail(error);
      }
    }
  };

  const pump = async (): Promise<void> => {
    while (queue.length > 0) await sendBatch(queue.splice(0, maxBatch));
    pumping = undefined;
  };

  return {
    async connect() {
      if (state !== 'new') throw new SinkError(`actions sink cannot connect: it is ${state}`, 'kafka-actions');
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
      logger.info('actions sink connected', { topic, brokers: brokers.join(',') });
    },
    write(event) {
      if (state !== 'connected') {
        return Promise.reject(new SinkError(`actions sink is ${state}, not connected`, 'kafka-actions'));
      }
      if (typeof event.cameraId !== 'string' || event.cameraId.length === 0) {
        return Promise.reject(new SinkError('action event without a camera id', 'kafka-actions'));
      }
      const p = new Promise<void>((done, fail) => queue.push({ event, done, fail }));
      inFlight.add(p);
      const untrack = (): void => {
        inFlight.delete(p);
      };
      p.then(untrack, untrack);
      pumping ??= pump();
      return p;
    },
    async flush() {
      await Promise.allSettled([...inFlight]);
    },
    async disconnect() {
      if (state === 'closed') return;
      const wasConnected = state === 'connected';
      state = 'closed';
      await Promise.allSettled([...inFlight]);
      if (wasConnected) await producer.disconnect();
      logger.info('actions sink disconnected', { topic });
    },
  };
}
