/**
 * What the Kafka adapters share: connection options (brokers, TLS, SASL, retry), building a
 * kafkajs client from them, bridging kafkajs' logs into the adapter logger, validating
 * options, and turning kafkajs errors into clipwise's typed ones.
 *
 * Why one module: the actions sink, the dead-letter sink and the frames source all accept
 * either a ready `Kafka` instance or the options to build one, and must validate, log and
 * fail the same way.
 */
import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type LogEntry, type RetryOptions, type SASLOptions } from 'kafkajs';
import { z } from 'zod';
import { ConfigError, KafkaOperationError, KafkaUnavailableError } from '../../errors.ts';

/** Structured logger the adapters write to (pino/console-shaped: message, then fields). */
export interface AdapterLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything: the default when none is passed. */
export const silentLogger: AdapterLogger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/** kafkajs log levels an adapter forwards, least to most verbose. */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/**
 * How to reach Kafka: either a ready `kafka` client (shared between adapters), or the
 * options to build one. SASL and TLS are passed to kafkajs as they are.
 */
export interface KafkaConnectionOptions {
  /** A ready client; when set, the other connection options are ignored. */
  readonly kafka?: Kafka;
  /** Bootstrap brokers, `host:port`. Required without `kafka`. */
  readonly brokers?: readonly string[];
  /** Client id the broker sees in its logs and quotas. Default `clipwise`. */
  readonly clientId?: string;
  /** TLS: `true` for system CAs, or node `tls` options (CA, client certificate). */
  readonly ssl?: boolean | ConnectionOptions;
  /** SASL (plain, scram-sha-256/512, aws, oauthbearer), as kafkajs takes it. */
  readonly sasl?: SASLOptions;
  /** TCP connect timeout per attempt, ms. Default 3000. */
  readonly connectionTimeoutMs?: number;
  /** Request timeout, ms. Default 30000. */
  readonly requestTimeoutMs?: number;
  /**
   * Client retry policy (kafkajs: initialRetryTime, maxRetryTime, retries, factor,
   * multiplier). It bounds how long connect and produce keep trying before a typed error.
   */
  readonly retry?: RetryOptions;
  /** Level of kafkajs' own logs forwarded to the logger. Default `warn`. */
  readonly kafkaLogLevel?: KafkaLogLevel;
}

/** Defaults of the client retry policy: about 15 s of attempts before giving up. */
export const DEFAULT_KAFKA_RETRY: Readonly<Required<Omit<RetryOptions, 'restartOnFailure'>>> = Object.freeze({
  initialRetryTime: 300,
  maxRetryTime: 5_000,
  retries: 6,
  factor: 0.2,
  multiplier: 2,
});

/** Zod schema of kafkajs `RetryOptions`. */
export const retrySchema = z
  .strictObject({
    initialRetryTime: z.number().int().positive().optional(),
    maxRetryTime: z.number().int().positive().optional(),
    retries: z.number().int().nonnegative().optional(),
    factor: z.number().min(0).max(1).optional(),
    multiplier: z.number().min(1).optional(),
    restartOnFailure: z.custom<(e: Error) => Promise<boolean>>((v) => typeof v === 'function').optional(),
  })
  .optional();

/** Zod fields of {@link KafkaConnectionOptions}; adapters extend them with their own. */
export const connectionFields = {
  kafka: z.custom<Kafka>((v) => v instanceof Kafka, 'must be a kafkajs Kafka instance').optional(),
  brokers: z
    .array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'brokers are host:port'))
    .min(1, 'at least one broker')
    .optional(),
  clientId: z.string().min(1).max(255).optional(),
  ssl: z.union([z.boolean(), z.record(z.string(), z.unknown())]).optional(),
  sasl: z
    .looseObject({ mechanism: z.string().min(1) })
    .optional(),
  connectionTimeoutMs: z.number().int().positive().optional(),
  requestTimeoutMs: z.number().int().positive().optional(),
  retry: retrySchema,
  kafkaLogLevel: z.enum(['nothing', 'error', 'warn', 'info', 'debug']).optional(),
  logger: z
    .custom<AdapterLogger>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        ['debug', 'info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      'must have debug/info/warn/error methods',
    )
    .optional(),
};

/**
 * Validates adapter options against a zod schema, or throws a `ConfigError` naming each field.
 *
 * @example
 * const opts = validateOptions('actions sink', schema, input);
 * @param what - the adapter, for the message
 * @param schema - the options schema
 * @param input - what the caller passed
 * @returns the parsed options
 */
export function validateOptions<S extends z.ZodType>(what: string, schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(options)', message: i.message }));
  throw new ConfigError(`invalid ${what} options: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/**
 * Returns the caller's client, or builds one from the connection options.
 *
 * Why the log bridge maps kafkajs ERROR to `warn`: kafkajs logs every retried request
 * failure (coordinator loading, leader moving) as an error; the failures that matter reach
 * the caller as typed errors and are logged there.
 *
 * @example
 * const { kafka, brokers } = kafkaClient({ brokers: ['kafka:9092'], clientId: 'clipwise' }, logger);
 * @param options - connection options (already validated)
 * @param logger - where kafkajs' logs go
 * @returns the client and a printable broker list for error messages
 */
export function kafkaClient(options: KafkaConnectionOptions, logger: AdapterLogger): { kafka: Kafka; brokers: readonly string[] } {
  if (options.kafka) return { kafka: options.kafka, brokers: options.brokers ?? ['(caller-provided client)'] };
  const brokers = options.brokers;
  if (!brokers || brokers.length === 0) {
    throw new ConfigError('kafka: either a `kafka` client or `brokers` is needed', [{ path: 'brokers', message: 'required without kafka' }]);
  }
  const kafka = new Kafka({
    brokers: [...brokers],
    clientId: options.clientId ?? 'clipwise',
    ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
    ...(options.sasl === undefined ? {} : { sasl: options.sasl }),
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    retry: { ...DEFAULT_KAFKA_RETRY, ...options.retry },
    logLevel: KAFKAJS_LEVEL[options.kafkaLogLevel ?? 'warn'],
    logCreator: () => (entry: LogEntry) => forwardLog(logger, entry),
  });
  return { kafka, brokers };
}

const KAFKAJS_LEVEL: Record<KafkaLogLevel, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

function forwardLog(logger: AdapterLogger, entry: LogEntry): void {
  const { message, ...fields } = entry.log;
  const text = `kafkajs ${entry.namespace}: ${message}`;
  const all = { ...fields, kafkajsLevel: entry.label };
  if (entry.level <= logLevel.WARN) logger.warn(text, all);
  else if (entry.level === logLevel.INFO) logger.info(text, all);
  else logger.debug(text, all);
}

/**
 * True when the root cause of a kafkajs error is one that a later attempt may not hit
 * (connection lost, leader moved, timeout), looking through kafkajs' "retries exceeded" and
 * "non-retriable" wrappers at what it gave up on.
 *
 * @example
 * new KafkaOperationError('produce failed', 'produce', topic, { cause: err, retriable: isRetriableKafkaError(err) });
 * @param err - anything thrown by kafkajs
 * @returns whether retrying the whole operation later can help
 */
export function isRetriableKafkaError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const rec = e as { name?: unknown; retriable?: unknown; cause?: unknown; originalError?: unknown };
    // Both wrappers mean "kafkajs stopped retrying", not "retrying can never help": judge
    // by what they wrap.
    const wrapper = rec.name === 'KafkaJSNumberOfRetriesExceeded' || rec.name === 'KafkaJSNonRetriableError';
    if (wrapper && (rec.cause ?? rec.originalError) !== undefined && rec.cause !== e) {
      e = rec.cause ?? rec.originalError;
      continue;
    }
    return rec.retriable === true;
  }
  return false;
}

/**
 * Wraps a connect failure: retriable unless the broker refused our credentials.
 *
 * @example
 * await producer.connect().catch((err) => { throw unavailableError(err, brokers); });
 * @param err - what kafkajs threw from `connect()`
 * @param brokers - the bootstrap list, named in the message
 * @returns the typed error
 */
export function unavailableError(err: unknown, brokers: readonly string[]): KafkaUnavailableError {
  const auth = chain(err).some((e) => /SASL|Authentication|AUTHORIZATION|AUTHENTICATION/i.test(`${e.name ?? ''} ${e.type ?? ''}`));
  const reason = err instanceof Error ? err.message : String(err);
  return new KafkaUnavailableError(
    auth
      ? `Kafka refused authentication at ${brokers.join(',')}: ${reason}`
      : `no Kafka broker reachable at ${brokers.join(',')}: ${reason}`,
    brokers,
    { cause: err, retriable: !auth },
  );
}

function chain(err: unknown): { name?: string; type?: string }[] {
  const out: { name?: string; type?: string }[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const rec = e as { name?: unknown; type?: unknown; cause?: unknown };
    out.push({
      ...(typeof rec.name === 'string' ? { name: rec.name } : {}),
      ...(typeof rec.type === 'string' ? { type: rec.type } : {}),
    });
    if (rec.cause === e) break;
    e = rec.cause;
  }
  return out;
}

/**
 * Fails fast when a topic is missing, instead of at the first write hours later.
 *
 * Why listTopics and not topic metadata: kafkajs retries metadata of an unknown topic for
 * its whole retry budget; the topic list answers at once. With ACLs that hide topics from
 * listing, adapters take `checkTopic: false`.
 *
 * @example
 * await assertTopicsExist(kafka, ['clipwise.actions'], 'produce');
 * @param kafka - a client
 * @param topics - topics that must exist
 * @param operation - what the caller is about to do, for the error
 * @param brokers - bootstrap list, for the error when nothing answers
 */
export async function assertTopicsExist(
  kafka: Kafka,
  topics: readonly string[],
  operation: 'produce' | 'subscribe',
  brokers: readonly string[],
): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw unavailableError(err, brokers);
  }
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new KafkaOperationError(
        `Kafka topic '${missing.join("', '")}' does not exist (auto-creation is off: create it, or fix the topic name)`,
        operation,
        missing[0] ?? '',
        { retriable: false },
      );
    }
  } catch (err) {
    if (err instanceof KafkaOperationError) throw err;
    throw new KafkaOperationError(`could not list Kafka topics: ${(err as Error).message}`, operation, topics[0] ?? '', {
      cause: err,
      retriable: isRetriableKafkaError(err),
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
