/**
 * Turns one `sources[]` config entry into a stream of frames at the analysis rate and size.
 *
 * | type      | adapter                                                             |
 * |-----------|---------------------------------------------------------------------|
 * | file      | ffmpeg decoder (completes at end of file, or loops)                 |
 * | rtsp      | ffmpeg decoder with stall watchdog and reconnect backoff            |
 * | synthetic | moving shapes generated in JS (tests, load)                         |
 * | scene     | the action benchmark's renderer in JS (the no-dependency demo)      |
 * | kafka     | consumer group over the frames topic, bad messages to dead letters  |
 *
 * Offline entries (file, synthetic and scene without `realtime`) are paced by `deps.pull`
 * when one is given: they wait for the pipeline instead of having clips dropped. Live ones
 * (rtsp, `realtime`, kafka) never wait.
 */
import type { Observable } from 'rxjs';
import type { Config, RtspSourceConfig, SourceConfig } from '../../config/schema.ts';
import { ConfigError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { ModelManifest } from '../../model/clipModel.ts';
import type { Frame } from '../../types.ts';
import type { PullGate } from '../pullControl.ts';
import { createDeadLetterSink } from '../kafka/deadLetterSink.ts';
import { createFramesSource, type FramesSource } from '../kafka/framesSource.ts';
import { createFfmpegSource, type FfmpegSourceOptions } from './ffmpegSource.ts';
import { createSceneSource } from './sceneSource.ts';
import { createSyntheticSource } from './syntheticSource.ts';

export interface SourceDeps {
  readonly config: Config;
  readonly manifest: ModelManifest;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Report a readiness condition (e.g. `kafka:frames` false while the broker is away). */
  readonly setReady: (key: string, ok: boolean) => void;
  /** Lossless pull for the offline entries (see module doc); absent = every source pushes. */
  readonly pull?: PullGate;
}

export interface SourceHandle {
  readonly name: string;
  readonly frames$: Observable<Frame>;
  /** The Kafka frames source, for offset commits (undefined for other sources). */
  readonly kafka?: FramesSource;
  /** Start a hot source, after the pipeline has subscribed. */
  start?(): Promise<void>;
  close?(): Promise<void>;
}

/** Watchdog of a file decoder: a local file that yields nothing for this long is broken. */
const FILE_STALL_TIMEOUT_MS = 30_000;

/**
 * The watchdog and reconnect policy of an `rtsp` config entry, as decoder options.
 *
 * Why a function of its own: the policy is per camera and comes from the config only, so this
 * mapping is the one place a config field can fail to reach the decoder (tests check it).
 *
 * @example
 * createFfmpegSource({ cameraId, url, fps, width, height, ...rtspDecoderPolicy(cfg) });
 * @param cfg - a validated `rtsp` source (defaults filled in)
 * @returns stall and start timeouts, backoff and the reconnect limit for {@link createFfmpegSource}
 */
export function rtspDecoderPolicy(
  cfg: RtspSourceConfig,
): Pick<FfmpegSourceOptions, 'stallTimeoutMs' | 'startTimeoutMs' | 'backoff' | 'maxReconnects'> {
  const { initialMs, maxMs, factor, jitter, maxAttempts } = cfg.reconnect;
  return {
    stallTimeoutMs: cfg.stallTimeoutMs,
    ...(cfg.startTimeoutMs !== undefined ? { startTimeoutMs: cfg.startTimeoutMs } : {}),
    backoff: { initialMs, maxMs, factor, jitter },
    ...(maxAttempts !== undefined ? { maxReconnects: maxAttempts } : {}),
  };
}

/** Build the source a config entry describes. */
export async function createSourceFor(cfg: SourceConfig, deps: SourceDeps): Promise<SourceHandle> {
  const { config, manifest, logger, metrics } = deps;
  // Only what can wait is paced: a live camera keeps the drop/degrade path.
  const pull = cfg.type !== 'rtsp' && cfg.type !== 'kafka' && !cfg.realtime && deps.pull !== undefined ? { pull: deps.pull } : {};
  const size = manifest.clip.size;
  const fps = config.pipeline.fps;
  switch (cfg.type) {
    case 'file':
    case 'rtsp': {
      const src = createFfmpegSource({
        cameraId: cfg.cameraId,
        ...(cfg.type === 'file'
          ? { path: cfg.path, loop: cfg.loop, realtime: cfg.realtime, stallTimeoutMs: FILE_STALL_TIMEOUT_MS, ...pull }
          : { url: cfg.url, ...rtspDecoderPolicy(cfg) }),
        fps,
        width: size,
        height: size,
        logger,
        onReconnect: () => metrics.reconnects.inc({ camera: cfg.cameraId }),
        onCorruptFrame: (camera) => metrics.framesDropped.inc({ camera, reason: 'corrupt' }),
      });
      metrics.effectiveFps.set({ camera: cfg.cameraId }, fps);
      return { name: `${cfg.type}:${cfg.cameraId}`, frames$: src.frames$ };
    }
    case 'synthetic': {
      const src = createSyntheticSource({
        cameraId: cfg.cameraId,
        fps,
        width: size,
        height: size,
        seed: cfg.seed,
        ...(cfg.seconds !== undefined ? { frames: Math.round(cfg.seconds * fps) } : {}),
        realtime: cfg.realtime,
        ...pull,
      });
      metrics.effectiveFps.set({ camera: cfg.cameraId }, fps);
      return { name: `synthetic:${cfg.cameraId}`, frames$: src.frames$ };
    }
    case 'scene': {
      const src = createSceneSource({ cameraId: cfg.cameraId, seed: cfg.seed, seconds: cfg.seconds, fps, width: size, height: size, realtime: cfg.realtime, ...pull });
      logger.info(
        `scene camera ${cfg.cameraId}: ${cfg.seconds}s generated video (seed ${cfg.seed}); it shows ${src.instances
          .map((i) => `${i.class} ${i.start.toFixed(1)}-${i.end.toFixed(1)}s`)
          .join(', ') || 'no action'}`,
      );
      metrics.effectiveFps.set({ camera: cfg.cameraId }, fps);
      return { name: `scene:${cfg.cameraId}`, frames$: src.frames$ };
    }
    case 'kafka': {
      const k = config.kafka;
      if (!k) throw new ConfigError('a kafka source needs a kafka section', [{ path: 'kafka', message: 'required' }]);
      const conn = { brokers: k.brokers, ssl: k.ssl, ...(k.sasl ? { sasl: k.sasl } : {}) };
      const deadLetter = createDeadLetterSink({ ...conn, clientId: `${k.clientId}-dlq`, topic: k.topics.deadLetter, logger });
      await deadLetter.connect();
      const src = createFramesSource({
        ...conn,
        clientId: `${k.clientId}-frames`,
        topic: cfg.topic ?? k.topics.frames,
        groupId: cfg.groupId ?? k.groupId,
        fromBeginning: cfg.fromBeginning,
        sessionTimeoutMs: cfg.sessionTimeoutMs,
        decode: { width: size, height: size, maxBytes: k.maxFrameBytes },
        deadLetter,
        logger,
        onRejected: (err) => metrics.deadLetters.inc({ reason: err.reason }),
      });
      // Readiness follows broker contact (a broker away for a minute must show on /readyz);
      // not ready until the member has joined and heard from a broker.
      const topic = cfg.topic ?? k.topics.frames;
      const readyKey = `kafka: no broker contact for the '${topic}' consumer`;
      deps.setReady(readyKey, false);
      const readiness = setInterval(() => deps.setReady(readyKey, src.connected()), 500);
      readiness.unref();
      return {
        name: `kafka:${topic}`,
        frames$: src.frames$,
        kafka: src,
        start: async () => {
          await src.start();
          deps.setReady(readyKey, src.connected());
        },
        async close() {
          clearInterval(readiness);
          await src.stop();
          await deadLetter.disconnect();
        },
      };
    }
  }
}
