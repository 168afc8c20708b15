/**
 * The ingest role (DESIGN.md "Scale-out"): cameras → Kafka frames topic, partitioned by camera
 * id (key), one JPEG per analysis frame with `ts`, `seq`, `width`, `height`, `encoding` headers.
 *
 * Gaps travel as a skipped sequence number: after a reconnect or stall the next frame's seq is
 * one more than contiguous, so the analyzer's frames source sees the jump and starts a new
 * segment (clips never span the gap), without a protocol field of our own.
 *
 * @example
 * const ingest = await startIngest(config, { logger });
 * process.once('SIGTERM', () => ingest.stop()); await ingest.done;
 */
import { Partitioners, type Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { Subject, concatMap, merge, takeUntil, bufferTime, filter, from, type Observable } from 'rxjs';
import type { Config } from '../config/schema.ts';
import { ConfigError, KafkaOperationError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import { startHttpServer, type HttpServer } from '../metrics/server.ts';
import type { ModelManifest } from '../model/clipModel.ts';
import type { Frame } from '../types.ts';
import { encodeFrameMessage, type FrameEncoding } from './frameCodec.ts';
import { DEFAULT_KAFKA_RETRY, isRetriableKafkaError, kafkaClient } from './kafka/client.ts';
import { createSourceFor } from './sources/fromConfig.ts';

export interface IngestOptions {
  readonly logger: Logger;
  /** Frame size sent (the analyzers' model size); frames are scaled by ffmpeg at the camera. */
  readonly size: number;
  readonly encoding?: FrameEncoding;
  readonly metricsPort?: number;
}

export interface Ingest {
  readonly metrics: Metrics;
  readonly http: HttpServer | undefined;
  readonly done: Promise<{ frames: number }>;
  stop(): void;
}

/** Start publishing every configured camera to the frames topic. */
export async function startIngest(config: Config, opts: IngestOptions): Promise<Ingest> {
  const k = config.kafka;
  if (!k) throw new ConfigError('clipwise ingest needs a kafka section (brokers, topics.frames)', [{ path: 'kafka', message: 'required' }]);
  const bad = config.sources.findIndex((s) => s.type === 'kafka');
  if (bad >= 0) throw new ConfigError(`sources[${bad}]: ingest reads cameras, not the frames topic`, [{ path: `sources[${bad}].type`, message: 'kafka is not a camera' }]);
  const log = opts.logger;
  const registry = new Registry();
  const metrics = createMetrics({ registry, backend: 'none' });
  const { kafka } = kafkaClient({ brokers: k.brokers, clientId: `${k.clientId}-ingest`, ssl: k.ssl, ...(k.sasl ? { sasl: k.sasl } : {}) }, log);
  const producer: Producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: DEFAULT_KAFKA_RETRY,
  });
  let connected = false;
  producer.on(producer.events.CONNECT, () => (connected = true));
  producer.on(producer.events.DISCONNECT, () => (connected = false));
  // The HTTP server first: /healthz, /metrics and a false /readyz must answer while the
  // brokers are still being reached (an e2e run on a loaded machine waited > 60 s here).
  const http = config.metrics.enabled
    ? await startHttpServer({ registry, port: opts.metricsPort ?? config.metrics.port, host: config.metrics.host, ready: () => ({ ready: connected, reasons: connected ? [] : ['kafka: producer disconnected'] }) })
    : undefined;
  if (http) log.info(`metrics on http://${config.metrics.host}:${http.port}/metrics`);
  try {
    await producer.connect();
  } catch (err) {
    await http?.close();
    throw err;
  }

  // Sources need a manifest only for the frame size; ingest has no model, so make one up.
  const manifest = { clip: { size: opts.size } } as unknown as ModelManifest;
  const stop$ = new Subject<void>();
  const handles = await Promise.all(
    config.sources.map((s) => createSourceFor(s, { config, manifest, logger: log, metrics, setReady: () => undefined })),
  );
  const lastSeq = new Map<string, number>();
  const skipped = new Map<string, number>();
  const outSeq = (f: Frame): number => {
    let extra = skipped.get(f.cameraId) ?? 0;
    if (f.gapBefore && lastSeq.has(f.cameraId)) skipped.set(f.cameraId, (extra += 1));
    lastSeq.set(f.cameraId, f.seq);
    return f.seq + extra;
  };
  const topic = k.topics.frames;
  const encoding = opts.encoding ?? 'jpeg';
  let frames = 0;
  const frames$: Observable<Frame> = merge(...handles.map((h) => h.frames$.pipe(takeUntil(stop$))));
  const sent$ = frames$.pipe(
    concatMap(async (f) => {
      metrics.framesIn.inc({ camera: f.cameraId });
      return encodeFrameMessage({ ...f, seq: outSeq(f) }, encoding);
    }),
    // Batch frames of all cameras for ~50 ms per produce request.
    bufferTime(50, undefined, 64),
    filter((batch) => batch.length > 0),
    concatMap((batch) =>
      from(
        producer.send({ topic, acks: -1, messages: batch }).then(
          () => {
            frames += batch.length;
          },
          (err: unknown) => {
            metrics.produceErrors.inc();
            throw new KafkaOperationError(`could not produce ${batch.length} frame(s) to '${topic}': ${(err as Error).message}`, 'produce', topic, {
              cause: err,
              retriable: isRetriableKafkaError(err),
            });
          },
        ),
      ),
    ),
  );
  const done = new Promise<{ frames: number }>((resolve, reject) => {
    const close = async (): Promise<void> => {
      await producer.disconnect().catch(() => undefined);
      await http?.close();
    };
    sent$.subscribe({
      error: (err: unknown) => void close().then(() => reject(err)),
      complete: () => void close().then(() => resolve({ frames })),
    });
  });
  log.info(`ingest: ${handles.length} camera(s) → ${topic} (${encoding}, ${opts.size}x${opts.size} at ${config.pipeline.fps} fps)`);
  return {
    metrics,
    http,
    done,
    stop() {
      stop$.next();
      stop$.complete();
    },
  };
}
