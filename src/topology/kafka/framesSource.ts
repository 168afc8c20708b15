/**
 * The Kafka frames source: a consumer-group member over the frames topic that decodes
 * frame messages and emits them as an RxJS stream, with the commit left to the topology.
 *
 * Why it is built this way:
 * - Consumption is decoupled from everything after it (kafkajs #1083: work inside the
 *   message handler starves heartbeats and gets the member evicted). The batch handler only
 *   moves raw messages into a bounded queue and returns; a separate loop decodes and emits.
 *   When the queue is full the topic is paused (heartbeats keep flowing) and resumed when
 *   it has drained to half.
 * - autoCommit is off. Every frame carries `source` (topic, partition, offset); the topology
 *   knows which frames open state still needs and calls {@link FramesSource.commitLowWatermark}
 *   with the oldest one per partition. After a crash or rebalance the new owner replays from
 *   there (at-least-once; event ids are deterministic, so duplicates are recognisable).
 * - Malformed messages go to the dead-letter sink with the reason; the stream goes on.
 * - Rebalances are reported on `rebalances$`: on `revoked`, the topology drops the state of
 *   the listed cameras; on `assigned`, those partitions replay from their committed offset.
 */
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { Observable, Subject } from 'rxjs';
import { z } from 'zod';
import { FrameRejectedError, KafkaOperationError, KafkaUnavailableError } from '../../errors.ts';
import type { Frame, FrameSource } from '../../types.ts';
import { decodeFrameMessage, DEFAULT_MAX_FRAME_BYTES, type DecodeFrameOptions } from '../frameCodec.ts';
import {
  assertTopicsExist,
  connectionFields,
  isRetriableKafkaError,
  kafkaClient,
  silentLogger,
  unavailableError,
  validateOptions,
  type AdapterLogger,
  type KafkaConnectionOptions,
} from './client.ts';
import type { DeadLetterRecord } from './deadLetterSink.ts';

/** A partition of the frames topic. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A change of this member's share of the frames topic. */
export type RebalanceEvent =
  | {
      readonly type: 'assigned';
      /** Partitions newly owned; their frames replay from the committed offset. */
      readonly partitions: readonly TopicPartition[];
    }
  | {
      readonly type: 'revoked';
      /** Partitions lost, with the cameras whose frames this member emitted from each. */
      readonly partitions: readonly (TopicPartition & { readonly cameraIds: readonly string[] })[];
      /** Union of the cameras above: drop their open state. */
      readonly cameraIds: readonly string[];
    };

/** Counters of the source, for metrics and tests. */
export interface FramesSourceStats {
  /** Messages taken off Kafka and waiting to be decoded. */
  readonly queued: number;
  readonly paused: boolean;
  /** Times the topic was paused because the queue was full. */
  readonly pauses: number;
  readonly emitted: number;
  readonly rejected: number;
  /** Messages skipped because this member had already emitted them (rejoin replay). */
  readonly skippedDuplicates: number;
}

/** Options (and dependencies) of {@link createFramesSource}. */
export interface FramesSourceOptions extends KafkaConnectionOptions {
  /** The frames topic (key = camera id). */
  readonly topic: string;
  /** Consumer group: analyzers sharing it share the cameras. */
  readonly groupId: string;
  /** Analysis size and limits of the decoder. */
  readonly decode: DecodeFrameOptions;
  /** Where refused messages go; without one they are only logged and counted. */
  readonly deadLetter?: { write(record: DeadLetterRecord): Promise<void> };
  readonly logger?: AdapterLogger;
  /** Messages held between Kafka and the decoder before the topic is paused. Default 32. */
  readonly maxInFlight?: number;
  /** Frames decoded at the same time (emission order is kept). Default 2. */
  readonly decodeConcurrency?: number;
  /** Where a group with no committed offset starts: true = earliest, false = latest (live). Default false. */
  readonly fromBeginning?: boolean;
  /** Consumer session timeout, ms. Default 30000. */
  readonly sessionTimeoutMs?: number;
  /** Heartbeat interval, ms. Default 3000. */
  readonly heartbeatIntervalMs?: number;
  /** Longest a broker waits for data before answering a fetch, ms; also the resume latency after a pause. Default 100. */
  readonly maxWaitTimeMs?: number;
  /** Fetch size per partition, bytes. Default max(1 MiB, 2 × decode.maxBytes). */
  readonly fetchMaxBytesPerPartition?: number;
  /** Fetch size per request, bytes. Default max(10 MiB, 2 × per partition). */
  readonly fetchMaxBytes?: number;
  /** Called for every refused message (e.g. the dead-letters metric by reason). */
  readonly onRejected?: (error: FrameRejectedError, source: FrameSource) => void;
  /** Check at start that the topic exists. Default true. */
  readonly checkTopic?: boolean;
  /**
   * {@link FramesSource.connected} turns false when no broker has answered for this long, ms.
   * Default max(10000, 3 × heartbeatIntervalMs): a healthy member hears from the broker at
   * least at every heartbeat, even while paused.
   */
  readonly contactTimeoutMs?: number;
}

/** A running frames source. */
export interface FramesSource {
  /**
   * Decoded frames, per partition in offset order, each with `source` set and `gapBefore`
   * when its camera's `seq` does not follow the previous frame's (a refused frame, a
   * producer restart). Hot: subscribe before `start()`. Completes on `stop()`; errors with
   * `KafkaOperationError` if the consumer crashes for good.
   */
  readonly frames$: Observable<Frame>;
  /** Partition assignment changes (hot, like `frames$`). */
  readonly rebalances$: Observable<RebalanceEvent>;
  /**
   * Connects, joins the group and starts consuming; resolves once the first assignment is
   * in. Rejects with `KafkaUnavailableError` when no broker answers within the retry budget.
   */
  start(): Promise<void>;
  /**
   * Commits, per partition, the offset of the oldest frame still needed (or the next offset
   * to read when none is). Partitions no longer owned are skipped; an offset beyond what
   * this member has processed is lowered to it. Call it before `stop()`: after, it is a no-op.
   *
   * @param offsets - one entry per partition (topic, partition, offset)
   */
  commitLowWatermark(offsets: readonly FrameSource[]): Promise<void>;
  /** Per owned partition, the offset after the last message processed (emitted or dead-lettered). */
  positions(): FrameSource[];
  /** The partitions owned now. */
  assignment(): TopicPartition[];
  /**
   * True while the member is running and a broker answered one of its requests (fetch,
   * heartbeat, commit, join) within `contactTimeoutMs` and since its last crash: the
   * readiness of an analyzer. False before `start()` and after `stop()`.
   */
  connected(): boolean;
  stats(): FramesSourceStats;
  /** Leaves the group, disconnects, completes the streams. Idempotent. */
  stop(): Promise<void>;
}

interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to take into the queue: offsets below it were already taken. */
  next: number | undefined;
  /** Offset after the last message decoded and emitted or dead-lettered. */
  processed: number | undefined;
  committed: number | undefined;
  readonly cameras: Set<string>;
  /** Set when the partition is revoked: its queued messages are then dropped. */
  revoked: boolean;
}

interface Entry {
  readonly state: PartitionState;
  readonly offset: number;
  readonly message: KafkaMessage;
  result?: Promise<{ frame: Frame } | { error: FrameRejectedError }>;
}

const MIB = 1024 * 1024;

const optionsSchema = z.strictObject({
  ...connectionFields,
  topic: z.string().min(1).max(249).regex(/^[A-Za-z0-9._-]+$/, 'Kafka topic names use letters, digits and . _ -'),
  groupId: z.string().min(1).max(255),
  decode: z.strictObject({
    width: z.number().int().positive().max(8192),
    height: z.number().int().positive().max(8192),
    maxBytes: z.number().int().positive().optional(),
    maxPixels: z.number().int().positive().optional(),
  }),
  deadLetter: z
    .custom<{ write(r: DeadLetterRecord): Promise<void> }>(
      (v) => typeof v === 'object' && v !== null && typeof (v as { write?: unknown }).write === 'function',
      'must have a write(record) method',
    )
    .optional(),
  maxInFlight: z.number().int().min(1).max(100_000).optional(),
  decodeConcurrency: z.number().int().min(1).max(64).optional(),
  fromBeginning: z.boolean().optional(),
  sessionTimeoutMs: z.number().int().positive().optional(),
  heartbeatIntervalMs: z.number().int().positive().optional(),
  maxWaitTimeMs: z.number().int().nonnegative().optional(),
  fetchMaxBytesPerPartition: z.number().int().positive().optional(),
  fetchMaxBytes: z.number().int().positive().optional(),
  onRejected: z.custom<(e: FrameRejectedError, s: FrameSource) => void>((v) => typeof v === 'function').optional(),
  checkTopic: z.boolean().optional(),
  contactTimeoutMs: z.number().int().positive().optional(),
});

/**
 * Creates a frames source (a consumer-group member); nothing connects until `start()`.
 *
 * @example
 * const source = createFramesSource({ brokers, topic: 'clipwise.frames', groupId: 'analyzers',
 *   decode: { width: 112, height: 112, maxBytes: 4 << 20 }, deadLetter, logger });
 * source.rebalances$.subscribe((e) => { if (e.type === 'revoked') dropState(e.cameraIds); });
 * source.frames$.pipe(...).subscribe();
 * await source.start();
 * // periodically: await source.commitLowWatermark(oldestNeededOffsets());
 * @param options - connection, topic, group, decoder limits, dead-letter sink, buffer sizes
 * @returns the source
 * @throws ConfigError when an option is invalid
 */
export function createFramesSource(options: FramesSourceOptions): FramesSource {
  validateOptions('frames source', optionsSchema, options);
  const logger = options.logger ?? silentLogger;
  const { topic, groupId, decode } = options;
  const maxInFlight = options.maxInFlight ?? 32;
  const resumeAt = Math.floor(maxInFlight / 2);
  const decodeConcurrency = options.decodeConcurrency ?? 2;
  const perPartition = options.fetchMaxBytesPerPartition ?? Math.max(MIB, 2 * (decode.maxBytes ?? DEFAULT_MAX_FRAME_BYTES));
  const { kafka, brokers } = kafkaClient(options, logger);
  const consumer: Consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
    maxBytesPerPartition: perPartition,
    maxBytes: options.fetchMaxBytes ?? Math.max(10 * MIB, 2 * perPartition),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  });

  const frames = new Subject<Frame>();
  const rebalances = new Subject<RebalanceEvent>();
  const owned = new Map<string, PartitionState>();
  const lastSeq = new Map<string, number>();
  const queue: Entry[] = [];
  let lifecycle: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  let paused = false;
  let draining = false;
  const counts = { pauses: 0, emitted: 0, rejected: 0, skippedDuplicates: 0 };

  const keyOf = (t: string, p: number): string => `${t}\u0000${p}`;
  // Read through a function: TypeScript narrows the variable across awaits, where it may change.
  const isStopped = (): boolean => lifecycle === 'stopped';

  const newState = (t: string, partition: number): PartitionState => ({
    topic: t,
    partition,
    next: undefined,
    processed: undefined,
    committed: undefined,
    cameras: new Set(),
    revoked: false,
  });

  const onAssignment = (assignment: Record<string, number[]>): void => {
    const now = new Set((assignment[topic] ?? []).map((p) => keyOf(topic, p)));
    const revoked: (TopicPartition & { cameraIds: string[] })[] = [];
    for (const [key, state] of owned) {
      if (now.has(key)) continue;
      state.revoked = true;
      owned.delete(key);
      const cameraIds = [...state.cameras];
      for (const camera of cameraIds) lastSeq.delete(camera);
      revoked.push({ topic: state.topic, partition: state.partition, cameraIds });
    }
    const assigned: TopicPartition[] = [];
    for (const partition of assignment[topic] ?? []) {
      const key = keyOf(topic, partition);
      if (owned.has(key)) continue;
      owned.set(key, newState(topic, partition));
      assigned.push({ topic, partition });
    }
    // Drop what the revoked partitions still have queued; decodes already running finish
    // and are discarded by the drain loop.
    for (let i = queue.length - 1; i >= 0; i--) {
      const entry = queue[i];
      if (entry && entry.state.revoked && entry.result === undefined) queue.splice(i, 1);
    }
    if (revoked.length > 0) {
      const cameraIds = [...new Set(revoked.flatMap((r) => r.cameraIds))];
      logger.info('frames partitions revoked', { topic, partitions: revoked.map((r) => r.partition), cameraIds });
      rebalances.next({ type: 'revoked', partitions: revoked, cameraIds });
    }
    if (assigned.length > 0) {
      logger.info('frames partitions assigned', { topic, partitions: assigned.map((a) => a.partition) });
      rebalances.next({ type: 'assigned', partitions: assigned });
    }
    if (paused) applyPause(true);
    maybeResume();
    kickDrain();
  };

  // kafkajs throws from pause/resume while its consumer restarts after a crash, and a
  // restart starts unpaused: so pausing is (re)applied on every full queue and on every
  // join, and a failure to do either only waits for the next chance.
  const applyPause = (pause: boolean): void => {
    try {
      if (pause) consumer.pause([{ topic }]);
      else consumer.resume([{ topic }]);
    } catch (err) {
      logger.debug(`frames topic ${pause ? 'pause' : 'resume'} deferred`, { topic, error: String(err) });
    }
  };

  const pauseTopic = (): void => {
    if (!paused) {
      paused = true;
      counts.pauses += 1;
      logger.debug('frames topic paused: decode queue full', { topic, queued: queue.length });
    }
    applyPause(true);
  };

  const maybeResume = (): void => {
    if (!paused || queue.length > resumeAt || lifecycle !== 'running') return;
    paused = false;
    applyPause(false);
    logger.debug('frames topic resumed', { topic, queued: queue.length });
  };

  const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const key = keyOf(batch.topic, batch.partition);
    let state = owned.get(key);
    if (!state) {
      // kafkajs emits the assignment before fetching, so this is only a safety net.
      state = newState(batch.topic, batch.partition);
      owned.set(key, state);
      rebalances.next({ type: 'assigned', partitions: [{ topic: batch.topic, partition: batch.partition }] });
    }
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || lifecycle !== 'running') break;
      const offset = Number(message.offset);
      if (state.next !== undefined && offset < state.next) {
        // After a rejoin kafkajs refetches kept partitions from the committed offset;
        // these were already emitted by this member.
        counts.skippedDuplicates += 1;
        resolveOffset(message.offset);
        continue;
      }
      if (queue.length >= maxInFlight) {
        // Unresolved messages are fetched again after the resume.
        pauseTopic();
        break;
      }
      queue.push({ state, offset, message });
      state.next = offset + 1;
      resolveOffset(message.offset);
    }
    kickDrain();
    await heartbeat();
  };

  const decodeEntry = (entry: Entry): Promise<{ frame: Frame } | { error: FrameRejectedError }> =>
    decodeFrameMessage(entry.message, decode).then(
      (frame) => ({ frame }),
      (err: unknown) => ({
        error:
          err instanceof FrameRejectedError
            ? err
            : new FrameRejectedError(`frame decoding failed: ${String(err)}`, 'decode-failed', undefined, { cause: err }),
      }),
    );

  const drain = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    try {
      while (queue.length > 0 && lifecycle !== 'stopped') {
        // Keep up to decodeConcurrency decodes running ahead of the head; skip revoked ones.
        for (let i = 0, started = 0; i < queue.length && started < decodeConcurrency; i++) {
          const entry = queue[i];
          if (!entry || entry.state.revoked) continue;
          entry.result ??= decodeEntry(entry);
          started += 1;
        }
        const head = queue[0];
        if (!head) break;
        const outcome = head.state.revoked ? undefined : await head.result;
        // A revoke may have spliced the queue while we waited: remove the head by identity.
        const at = queue.indexOf(head);
        if (at >= 0) queue.splice(at, 1);
        if (outcome === undefined || head.state.revoked || isStopped()) {
          maybeResume();
          continue;
        }
        const source: FrameSource = { topic: head.state.topic, partition: head.state.partition, offset: head.offset };
        if ('frame' in outcome) {
          const decoded = outcome.frame;
          const previous = lastSeq.get(decoded.cameraId);
          lastSeq.set(decoded.cameraId, decoded.seq);
          const gap = previous !== undefined && decoded.seq !== previous + 1;
          head.state.cameras.add(decoded.cameraId);
          head.state.processed = head.offset + 1;
          counts.emitted += 1;
          frames.next({ ...decoded, ...(gap || decoded.gapBefore ? { gapBefore: true } : {}), source });
        } else {
          await reject(head, outcome.error, source);
          head.state.processed = head.offset + 1;
        }
        maybeResume();
      }
    } finally {
      draining = false;
    }
  };

  const kickDrain = (): void => {
    drain().catch((err: unknown) => {
      // drain() handles every expected failure itself; this is a last resort so a bug
      // surfaces on the stream instead of as an unhandled rejection.
      logger.error('frames drain loop failed', { topic, error: String(err) });
      frames.error(new KafkaOperationError(`frames source failed: ${String(err)}`, 'consume', topic, { cause: err }));
    });
  };

  const reject = async (entry: Entry, error: FrameRejectedError, source: FrameSource): Promise<void> => {
    counts.rejected += 1;
    logger.warn('frame message refused', { ...source, reason: error.reason, cameraId: error.cameraId, detail: error.message });
    try {
      options.onRejected?.(error, source);
    } catch (hookErr) {
      logger.warn('onRejected hook threw', { error: String(hookErr) });
    }
    if (!options.deadLetter) return;
    try {
      await options.deadLetter.write({
        reason: error.reason,
        detail: error.message,
        ...(error.cameraId === undefined ? {} : { cameraId: error.cameraId }),
        source,
        key: entry.message.key,
        value: entry.message.value,
        ...(entry.message.headers === undefined ? {} : { headers: entry.message.headers }),
      });
    } catch (err) {
      // The stream goes on: a frame that cannot even be dead-lettered is logged and
      // counted (the sink's onProduceError), not allowed to stall every camera.
      logger.error('dead letter could not be written', { ...source, reason: error.reason, error: String(err) });
    }
  };

  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    onAssignment(event.payload.memberAssignment);
  });
  // Broker contact, for readiness: every answered request counts (kafkajs emits REQUEST only
  // for responses); a crash counts against it until the next answer.
  const contactTimeoutMs = options.contactTimeoutMs ?? Math.max(10_000, 3 * (options.heartbeatIntervalMs ?? 3_000));
  let lastContact = 0;
  let crashedAt = 0;
  consumer.on(consumer.events.REQUEST, () => {
    lastContact = Date.now();
  });
  let fatalCrash: Error | undefined;
  consumer.on(consumer.events.CRASH, (event) => {
    crashedAt = Date.now();
    const { error, restart } = event.payload;
    logger.error('frames consumer crashed', { topic, groupId, restart, error: error.message });
    if (!restart) fatalCrash = error;
    if (!restart && lifecycle === 'running') {
      frames.error(
        new KafkaOperationError(`frames consumer stopped: ${error.message}`, 'consume', topic, {
          cause: error,
          retriable: isRetriableKafkaError(error),
        }),
      );
    }
  });

  return {
    frames$: frames.asObservable(),
    rebalances$: rebalances.asObservable(),
    async start() {
      if (lifecycle !== 'new') throw new KafkaOperationError(`frames source cannot start: it is ${lifecycle}`, 'consume', topic);
      lifecycle = 'starting';
      try {
        await consumer.connect();
      } catch (err) {
        lifecycle = 'new';
        throw unavailableError(err, brokers);
      }
      try {
        if (options.checkTopic !== false) await assertTopicsExist(kafka, [topic], 'subscribe', brokers);
        await consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning ?? false });
      } catch (err) {
        await consumer.disconnect().catch(() => undefined);
        lifecycle = 'new';
        if (err instanceof KafkaOperationError || err instanceof KafkaUnavailableError) throw err;
        throw new KafkaOperationError(`could not subscribe to '${topic}': ${(err as Error).message}`, 'subscribe', topic, {
          cause: err,
          retriable: isRetriableKafkaError(err),
        });
      }
      lifecycle = 'running';
      try {
        await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });
        // kafkajs reports a failed first join as a crash event, not as a rejection of run().
        if (fatalCrash) throw fatalCrash;
      } catch (err) {
        lifecycle = 'new';
        await consumer.disconnect().catch(() => undefined);
        throw new KafkaOperationError(`could not join group '${groupId}' on '${topic}': ${(err as Error).message}`, 'consume', topic, {
          cause: err,
          retriable: isRetriableKafkaError(err),
        });
      }
      logger.info('frames source started', { topic, groupId });
    },
    async commitLowWatermark(offsets) {
      const commits: { topic: string; partition: number; offset: string }[] = [];
      const states: [PartitionState, number][] = [];
      for (const o of offsets) {
        if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
          throw new KafkaOperationError(`invalid offset ${o.offset} for ${o.topic}/${o.partition}`, 'commit', o.topic);
        }
        const state = owned.get(keyOf(o.topic, o.partition));
        if (!state || state.processed === undefined) continue;
        let offset = o.offset;
        if (offset > state.processed) {
          logger.warn('low watermark beyond what was processed; lowered', { ...o, processed: state.processed });
          offset = state.processed;
        }
        if (state.committed === offset) continue;
        commits.push({ topic: o.topic, partition: o.partition, offset: String(offset) });
        states.push([state, offset]);
      }
      if (commits.length === 0 || lifecycle !== 'running') return;
      try {
        await consumer.commitOffsets(commits);
      } catch (err) {
        throw new KafkaOperationError(`could not commit offsets of '${topic}': ${(err as Error).message}`, 'commit', topic, {
          cause: err,
          retriable: isRetriableKafkaError(err),
        });
      }
      for (const [state, offset] of states) state.committed = offset;
      logger.debug('frames offsets committed', { topic, offsets: commits.map((c) => `${c.partition}@${c.offset}`) });
    },
    positions() {
      return [...owned.values()]
        .filter((s) => s.processed !== undefined)
        .map((s) => ({ topic: s.topic, partition: s.partition, offset: s.processed ?? 0 }));
    },
    assignment() {
      return [...owned.values()].map((s) => ({ topic: s.topic, partition: s.partition }));
    },
    stats() {
      return { queued: queue.length, paused, ...counts };
    },
    connected() {
      return lifecycle === 'running' && lastContact > crashedAt && Date.now() - lastContact < contactTimeoutMs;
    },
    async stop() {
      if (lifecycle === 'stopped') return;
      const wasStarted = lifecycle !== 'new';
      lifecycle = 'stopped';
      queue.length = 0;
      try {
        if (wasStarted) await consumer.disconnect();
      } finally {
        frames.complete();
        rebalances.complete();
        logger.info('frames source stopped', { topic, groupId });
      }
    },
  };
}
