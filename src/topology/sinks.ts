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
import { ConfigError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { HttpServer } from '../metrics/server.ts';
import { writeJsonLines } from '../operators/index.ts';
import type { ActionEvent } from '../types.ts';
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
      return {
        name: 'kafka',
        operator: concatMap(async (e: ActionEvent) => {
          await sink.write(e);
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
