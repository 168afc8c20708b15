/**
 * One running clipwise process: builds every part from a validated config, runs the data
 * path, and owns the lifecycle — start, drain on stop (SIGTERM), close everything.
 *
 * Stop order (graceful): sources complete → in-flight clips drain through the backbone →
 * trackers close open events (emitted with status `closed`) → sinks flush → offsets commit →
 * pool, HTTP server and producers close.
 *
 * @example
 * const app = await startApp(config, { logger });
 * process.once('SIGTERM', () => app.stop());
 * await app.done; // resolves when drained
 */
import { Registry } from 'prom-client';
import { EMPTY, Subject, filter, map, merge, mergeMap, takeUntil, tap, timer, type Observable } from 'rxjs';
import type { Config, SinkConfig, SourceConfig } from '../config/schema.ts';
import { ClipwiseError, ConfigError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import { startHttpServer, type HttpServer } from '../metrics/server.ts';
import { createWindowHead, loadManifest, resolveDetection, type WindowHead } from '../model/clipModel.ts';
import { initRuntime } from '../model/runtime.ts';
import type { ActionEvent, Frame, Window } from '../types.ts';
import type { RebalanceEvent } from './kafka/framesSource.ts';
import { createInferencePool, type InferencePool } from './inference/pool.ts';
import { analyse, createPipelineStats, type DegradeSettings, type PipelineProfile, type PipelineStats } from './pipeline.ts';
import { createSourceFor, type SourceHandle } from './sources/fromConfig.ts';
import { createSinkFor, type EventSink } from './sinks.ts';
import { createPullControl } from './pullControl.ts';
import { createWatermarkTracker } from './watermark.ts';

/** After a stop is asked for, how long sinks keep retrying writes a broker outage blocks. */
const STOP_RETRY_MS = 30_000;

export interface AppOptions {
  readonly logger: Logger;
  /** Where stdout sinks write (tests pass a buffer). */
  readonly stdout?: NodeJS.WritableStream;
  /** Override config.metrics.port (tests use 0 for a free port). */
  readonly metricsPort?: number;
  /** Stage timing taps (`clipwise bench`); see PipelineProfile. */
  readonly profile?: PipelineProfile;
  /** Override graceful degradation (default: on when every source is live); `false` = drop only. */
  readonly degrade?: false | DegradeSettings;
  /** Start source i of n after i·spread/n ms instead of all at once (default 0). */
  readonly sourceStartSpreadMs?: number;
}

export interface App {
  readonly metrics: Metrics;
  readonly http: HttpServer | undefined;
  readonly stats: PipelineStats;
  readonly backend: string;
  /** The inference pool's worker count and time totals (benchmarks). */
  readonly inference: Pick<InferencePool, 'workers' | 'profile'>;
  /** Resolves when the pipeline has drained and everything is closed; rejects on a fatal error. */
  readonly done: Promise<{ events: number }>;
  /** Ask for a graceful stop (idempotent). */
  stop(): void;
}

/** A source that delivers at its own pace (a camera), as opposed to one read as fast as it can be. */
function isLive(s: SourceConfig): boolean {
  return s.type === 'rtsp' || (s.type !== 'kafka' && s.realtime);
}

/** Build and start the pipeline described by `config`. */
export async function startApp(config: Config, opts: AppOptions): Promise<App> {
  const log = opts.logger;
  const manifest = await loadManifest(config.model.path);
  if (!manifest.heads[config.model.head]) {
    throw new ConfigError(`model.head: '${config.model.head}' is not in ${config.model.path} (it has ${Object.keys(manifest.heads).join(', ')})`, [
      { path: 'model.head', message: 'no such head in the model' },
    ]);
  }
  const runtime = await initRuntime({ backend: config.runtime.backend, logger: log });
  const registry = new Registry();
  const metrics = createMetrics({ registry, backend: runtime.backend });
  const stats = createPipelineStats();

  const cleanups: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn(`error while closing: ${(err as Error).message}`);
      }
    }
    cleanups.length = 0;
  };

  try {
    const head: WindowHead = await createWindowHead(config.model.path, config.model.head);
    cleanups.push(() => head.dispose());
    const pool: InferencePool = await createInferencePool({
      modelDir: config.model.path,
      backend: runtime.backend,
      workers: config.runtime.workers,
      logger: log,
    });
    cleanups.push(() => pool.close());

    const notReady = new Set<string>();
    const http = config.metrics.enabled
      ? await startHttpServer({
          registry,
          port: opts.metricsPort ?? config.metrics.port,
          host: config.metrics.host,
          ready: () => ({ ready: notReady.size === 0, reasons: [...notReady] }),
        })
      : undefined;
    if (http) {
      cleanups.push(() => http.close());
      log.info(`metrics on http://${config.metrics.host}:${http.port}/metrics`);
    }

    // Aborted some time after a stop was asked for: a Kafka sink stops retrying an event it
    // cannot write (broker away) and the process exits non-zero, its offsets left behind it.
    const giveUp = new AbortController();
    const sinks: EventSink[] = [];
    for (const s of config.sinks) {
      sinks.push(
        await createSinkFor(s as SinkConfig, { config, logger: log, metrics, stdout: opts.stdout ?? process.stdout, http, giveUp: giveUp.signal }),
      );
    }
    cleanups.push(async () => {
      for (const s of sinks) await s.close();
    });

    const stop$ = new Subject<void>();
    // Files and generated cameras read faster than real time wait for the pipeline (lossless);
    // live cameras are never paced.
    const pull = createPullControl();
    const sources: SourceHandle[] = [];
    for (const s of config.sources) {
      sources.push(
        await createSourceFor(s as SourceConfig, {
          config,
          manifest,
          logger: log,
          metrics,
          pull,
          setReady: (key, ok) => (ok ? notReady.delete(key) : notReady.add(key)),
        }),
      );
    }
    cleanups.push(async () => {
      for (const s of sources) await s.close?.();
    });

    // Kafka sources commit low watermarks so a replacement analyzer replays and re-emits the
    // same events (see watermark.ts): clips aligned to seq, no loop-padded windows.
    const kafkaSources = sources.filter((s) => s.kafka !== undefined);
    // Cameras whose partitions a rebalance took away: the watermark tracker and every stage of
    // the pipeline forget them (their new owner replays them from the committed watermark).
    const revoked$: Observable<readonly string[]> = merge(...kafkaSources.map((s) => s.kafka?.rebalances$ ?? EMPTY)).pipe(
      filter((r): r is Extract<RebalanceEvent, { type: 'revoked' }> => r.type === 'revoked'),
      map((r) => r.cameraIds),
    );
    const tracker = kafkaSources.length
      ? createWatermarkTracker({ stride: config.pipeline.clip.stride ?? manifest.clip.stride, windowClips: manifest.window.clips })
      : undefined;
    if (tracker) {
      const commit = async (): Promise<void> => {
        const marks = tracker.lowWatermarks();
        for (const s of kafkaSources) {
          const mine = marks.filter((m) => s.kafka?.assignment().some((a) => a.topic === m.topic && a.partition === m.partition));
          if (mine.length) await s.kafka?.commitLowWatermark(mine);
        }
      };
      // One commit at a time: a slow broker must not pile up overlapping commits.
      let committing: Promise<void> | undefined;
      const timer = setInterval(() => {
        if (committing) return;
        committing = commit()
          .catch((err: unknown) => log.warn(`offset commit failed (will retry): ${(err as Error).message}`))
          .finally(() => (committing = undefined));
      }, 1000);
      const revokedSub = revoked$.subscribe((cameraIds) => {
        metrics.camerasRevoked.inc(cameraIds.length);
        tracker.forget(cameraIds);
      });
      // Runs before the sources close (cleanups run in reverse): the final commit after the drain.
      cleanups.push(async () => {
        clearInterval(timer);
        revokedSub.unsubscribe();
        await committing;
        await commit();
      });
    }

    // Optionally spread the sources' start over a window (the bench: cameras out of phase, as real ones are).
    const spread = opts.sourceStartSpreadMs ?? 0;
    const frames$: Observable<Frame> = merge(
      ...sources.map((s, i) => {
        const started = spread > 0 && i > 0 ? timer((i * spread) / sources.length).pipe(mergeMap(() => s.frames$)) : s.frames$;
        return started.pipe(takeUntil(stop$));
      }),
    );
    const clipStride = config.pipeline.clip.stride ?? manifest.clip.stride;
    if (Math.abs(config.pipeline.fps - manifest.clip.fps) > 1e-9) {
      log.warn(`pipeline.fps ${config.pipeline.fps} differs from the fps the model was trained at (${manifest.clip.fps}): clips will span a different time than in training`);
    }
    let events = 0;
    const events$ = frames$.pipe(
      analyse({
        manifest,
        headKind: head.kind,
        infer: (clips) => pool.infer(clips),
        runHead: (windows) => head.run(windows),
        backend: runtime.backend,
        metrics,
        stats,
        pull,
        ...(kafkaSources.length ? { forget$: revoked$ } : {}),
        ...(opts.profile ? { profile: opts.profile } : {}),
        settings: {
          fps: config.pipeline.fps,
          // Live cameras cannot wait: lower their analysis rate before dropping clips.
          ...(opts.degrade !== undefined ? { degrade: opts.degrade } : config.sources.every(isLive) ? { degrade: {} } : {}),
          stride: clipStride,
          minClips: config.pipeline.window.minClips,
          hop: config.pipeline.window.hop,
          batchClips: config.pipeline.batch.maxClips,
          batchWindows: config.pipeline.batch.maxWindows,
          batchWaitMs: config.pipeline.batch.maxWaitMs,
          maxQueuedClips: config.pipeline.queue.maxClips,
          inferConcurrency: Math.max(1, pool.workers) * config.runtime.callsPerWorker,
          ...resolveDetection(config.detection, manifest.detection),
          holdWindows: config.detection.holdWindows,
          // With Kafka, open updates feed the watermark tracker and are filtered below.
          emitOpen: config.detection.emitOpen || tracker !== undefined,
          ...(tracker ? { align: 'sequence' as const, minClips: manifest.window.clips } : {}),
        },
        ...(tracker
          ? {
              hooks: {
                frame: (f: Frame) => tracker.frame(f),
                window: (w: Window) => tracker.window(w),
                event: (e: ActionEvent) => {
                  const suppressed = tracker.suppress(e);
                  // A closed event keeps holding the watermark until every sink has taken
                  // it (released below): committing past an event not yet written would
                  // lose it if the process died before the write.
                  if (e.status === 'open' || suppressed) tracker.event(e);
                  if (suppressed) return false;
                  return e.status === 'closed' || config.detection.emitOpen;
                },
              },
            }
          : {}),
      }),
      // Each sink is an operator that passes the event on once it has taken it (backpressure).
      (events$: Observable<ActionEvent>) =>
        sinks.reduce((acc, sink) => acc.pipe(opts.profile ? opts.profile.stage('sinks', sink.operator) : sink.operator), events$),
      tap((e: ActionEvent) => {
        events += 1;
        // Every sink has taken it: the event no longer holds the Kafka low watermark.
        if (tracker && e.status === 'closed') tracker.event(e);
      }),
    );

    let stopping = false;
    const done = new Promise<{ events: number }>((resolve, reject) => {
      const sub = events$.subscribe({
        error: (err: unknown) => {
          log.error(`pipeline failed: ${(err as Error).message}`);
          void closeAll().then(() => reject(err));
        },
        complete: () => {
          log.info(`pipeline drained: ${events} event(s)`);
          void closeAll().then(() => resolve({ events }));
        },
      });
      cleanups.push(() => sub.unsubscribe());
    });
    // Hot sources (Kafka) start only once the pipeline is subscribed, so no frame is missed.
    for (const s of sources) await s.start?.();
    log.info(
      `clipwise running: ${sources.length} source(s), model ${manifest.name}@${manifest.version} (${manifest.trained ? 'trained' : 'UNTRAINED'}), head ${head.kind}, backend ${runtime.backend}, ${pool.workers} worker(s)`,
    );
    return {
      metrics,
      http,
      stats,
      backend: runtime.backend,
      inference: { workers: pool.workers, profile: () => pool.profile() },
      done,
      stop() {
        if (stopping) return;
        stopping = true;
        log.info('stopping: draining in-flight clips and closing open events');
        setTimeout(() => giveUp.abort(), STOP_RETRY_MS).unref();
        stop$.next();
        stop$.complete();
      },
    };
  } catch (err) {
    await closeAll();
    throw err instanceof ClipwiseError ? err : new ClipwiseError(`cannot start: ${(err as Error).message}`, { cause: err });
  }
}
