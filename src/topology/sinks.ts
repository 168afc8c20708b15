/**
 * Event sinks as operators: each takes an event, passes it on once it has taken it, so a
 * slow sink slows the pipeline instead of buffering without bound.
 *
 * | type   | where                                    |
 * |--------|------------------------------------------|
 * | stdout | one JSON event per line                  |
 * | jsonl  | a file, one JSON event per line (append) |
 * | sse    | `/events` on the metrics HTTP server     |
 * | kafka  | the actions topic (idempotent, acks=all, key = camera id, `schema` header) |
 */
import { createWriteStream } from 'node:fs';
import { concatMap, tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { Config, SinkConfig } from '../config/schema.ts';
import { ClipwiseError, ConfigError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { HttpServer } from '../metrics/server.ts';
import { writeJsonLines } from '../operators/index.ts';
import type { ActionEvent } from '../types.ts';
import { createBackoff, type BackoffOptions } from '../retry.ts';
import { createActionsSink } from './kafka/actionsSink.ts';

export interface EventSink {
  readonly name: string;
  readonly operator: MonoTypeOperatorFunction<ActionEvent>;
  /** Flush and release (idempotent). */
  close(): Promise<void>;
}

export interface SinkDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly stdout: NodeJS.WritableStream;
  readonly http: HttpServer | undefined;
  /**
   * Kafka sink: a write that failed for a retriable reason (broker away) is tried again with
   * backoff until it succeeds or this signal aborts; then the pipeline fails with the error.
   * Without a signal, the first failed write fails the pipeline.
   */
  readonly giveUp?: AbortSignal;
  /** Delays between those attempts (default: retry.ts defaults, up to 30 s). */
  readonly redeliveryBackoff?: BackoffOptions;
}

/** Build the sink a config entry describes (connecting it where it has a connection). */
export async function createSinkFor(cfg: SinkConfig, deps: SinkDeps): Promise<EventSink> {
  switch (cfg.type) {
    case 'stdout':
      return { name: 'stdout', operator: writeJsonLines(deps.stdout), close: async () => undefined };
    case 'jsonl': {
      const stream = createWriteStream(cfg.path, { flags: 'a' });
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', (err) => reject(new ConfigError(`sinks: cannot open ${cfg.path}: ${err.message}`, [{ path: 'sinks.path', message: err.message }], { cause: err })));
      });
      return {
        name: `jsonl:${cfg.path}`,
        operator: writeJsonLines(stream),
        close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
      };
    }
    case 'sse': {
      const http = deps.http;
      if (!http) throw new ConfigError('an sse sink needs metrics.enabled: true (it is served on the metrics HTTP server)', [{ path: 'metrics.enabled', message: 'must be true for sse' }]);
      return { name: 'sse', operator: tap((e: ActionEvent) => http.broadcast(e)), close: async () => undefined };
    }
    case 'kafka': {
      const k = deps.config.kafka;
      if (!k) throw new ConfigError('a kafka sink needs a kafka section', [{ path: 'kafka', message: 'required' }]);
      const sink = createActionsSink({
        brokers: k.brokers,
        clientId: `${k.clientId}-actions`,
        topic: cfg.topic ?? k.topics.actions,
        ssl: k.ssl,
        ...(k.sasl ? { sasl: k.sasl } : {}),
        logger: deps.logger,
        onProduceError: () => deps.metrics.produceErrors.inc(),
      });
      await sink.connect();
      const { giveUp, logger } = deps;
      // Why retry here, beyond the producer's own ~15 s of retries: a broker away for a
      // minute must not take the analyzer down. The event keeps the Kafka low watermark
      // behind it until it is written (app.ts), so waiting loses nothing; later events wait
      // behind it (concatMap) to keep each camera's order.
      const write = async (e: ActionEvent): Promise<void> => {
        const backoff = createBackoff(deps.redeliveryBackoff);
        for (;;) {
          try {
            await sink.write(e);
            return;
          } catch (err) {
            if (giveUp === undefined || giveUp.aborted || !(err instanceof ClipwiseError) || !err.retriable) throw err;
            const delay = backoff.next();
            logger.warn(`event ${e.id} not written to Kafka (attempt ${backoff.attempt}); trying again in ${delay} ms: ${err.message}`);
            await new Promise<void>((resolve) => {
              const timer = setTimeout(done, delay);
              function done(): void {
                clearTimeout(timer);
                giveUp?.removeEventListener('abort', done);
                resolve();
              }
              giveUp.addEventListener('abort', done, { once: true });
            });
          }
        }
      };
      return {
        name: 'kafka',
        operator: concatMap(async (e: ActionEvent) => {
          await write(e);
          return e;
        }),
        close: async () => {
          await sink.flush();
          await sink.disconnect();
        },
      };
    }
  }
}
