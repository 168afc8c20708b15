/**
 * The clipwise configuration: one YAML file, validated here before anything starts.
 *
 * Why zod strict objects: an unknown key is almost always a typo (`clasThreshold`), and a
 * typo silently ignored is a camera silently misconfigured. Every object rejects unknown keys.
 */
import { z } from 'zod';
import { DEFAULT_BACKOFF } from '../retry.ts';

const cameraId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'camera ids use letters, digits and . _ : - only');

const fileSource = z.strictObject({
  type: z.literal('file'),
  cameraId,
  path: z.string().min(1),
  loop: z.boolean().default(false),
  /** Pace frames at the video's own rate, like a live camera. */
  realtime: z.boolean().default(false),
});

/**
 * How a lost camera is reconnected: jittered exponential backoff (src/retry.ts), its
 * defaults those of {@link DEFAULT_BACKOFF} except the cap: {@link CAMERA_RECONNECT_MAX_MS}.
 */
/**
 * Longest wait between reconnect attempts to a camera, ms. Why 10 s and not the 30 s of other
 * clients: a camera back after a 20 s outage was watched again only 19.5–21.7 s later with a
 * 30 s cap (the next attempt came up to 16 s after its return); an RTSP attempt costs one
 * ffmpeg start, so trying every 10 s is cheap.
 */
export const CAMERA_RECONNECT_MAX_MS = 10_000;

const reconnectSchema = z
  .strictObject({
    /** Delay before the first retry after a healthy run, ms. */
    initialMs: z.number().int().nonnegative().default(DEFAULT_BACKOFF.initialMs),
    /** Cap of any delay, ms (jitter included). */
    maxMs: z.number().int().positive().default(CAMERA_RECONNECT_MAX_MS),
    /** Growth per failed attempt. */
    factor: z.number().min(1).max(100).default(DEFAULT_BACKOFF.factor),
    /** Relative spread in [0, 1], so cameras behind one switch do not reconnect in lockstep. */
    jitter: z.number().min(0).max(1).default(DEFAULT_BACKOFF.jitter),
    /** Consecutive failed reconnects before the source fails (and the process exits non-zero); omitted = forever. */
    maxAttempts: z.number().int().nonnegative().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.maxMs < r.initialMs) ctx.addIssue({ code: 'custom', path: ['maxMs'], message: `must be >= initialMs (${r.initialMs})` });
  });

const rtspSource = z.strictObject({
  type: z.literal('rtsp'),
  cameraId,
  url: z.string().regex(/^rtsps?:\/\//, 'must start with rtsp:// or rtsps://'),
  /** No frame for this long → the decoder is killed and the camera reconnected. */
  stallTimeoutMs: z.number().int().positive().default(10_000),
  /**
   * Allowance for the first frame of each connection (connect, probe, key frame); omitted =
   * the larger of stallTimeoutMs and 10 s, so a short stall timeout does not kill slow starters.
   */
  startTimeoutMs: z.number().int().positive().optional(),
  reconnect: reconnectSchema.prefault({}),
});

const syntheticSource = z.strictObject({
  type: z.literal('synthetic'),
  cameraId,
  seed: z.number().int().default(1),
  /** Seconds of video to generate; omit for an endless camera. */
  seconds: z.number().positive().optional(),
  realtime: z.boolean().default(false),
});

/** A demo camera: the benchmark renderer (actors performing actions) generated in-process. */
const sceneSource = z.strictObject({
  type: z.literal('scene'),
  cameraId,
  seed: z.number().int().default(7),
  seconds: z.number().positive().default(90),
  realtime: z.boolean().default(false),
});

const kafkaSource = z.strictObject({
  type: z.literal('kafka'),
  topic: z.string().min(1).optional(),
  groupId: z.string().min(1).optional(),
  /** A group with no committed offsets starts at the oldest frame (true) or at new frames only (false, live default). */
  fromBeginning: z.boolean().default(false),
  /**
   * How long the group waits for a silent member (a crashed analyzer) before its cameras move
   * to another, ms. 10 s: a SIGKILLed analyzer's cameras were picked up 29.7 s after the kill
   * with kafkajs' 30 s default. Heartbeats go every 3 s, so it must be at least 9 s.
   */
  sessionTimeoutMs: z.number().int().min(9_000).max(300_000).default(10_000),
});

export const sourceSchema = z.discriminatedUnion('type', [
  fileSource,
  rtspSource,
  syntheticSource,
  sceneSource,
  kafkaSource,
]);

export const sinkSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('stdout') }),
  z.strictObject({ type: z.literal('jsonl'), path: z.string().min(1) }),
  z.strictObject({ type: z.literal('kafka'), topic: z.string().min(1).optional() }),
  z.strictObject({ type: z.literal('sse') }),
]);

const kafkaSchema = z.strictObject({
  brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'brokers are host:port')).min(1),
  clientId: z.string().default('clipwise'),
  groupId: z.string().default('clipwise-analyzers'),
  topics: z
    .strictObject({
      frames: z.string().default('clipwise.frames'),
      actions: z.string().default('clipwise.actions'),
      deadLetter: z.string().default('clipwise.frames.dlq'),
    })
    .prefault({}),
  ssl: z.boolean().default(false),
  sasl: z
    .strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional(),
  maxFrameBytes: z.number().int().positive().default(4 * 1024 * 1024),
});

export const configSchema = z
  .strictObject({
    runtime: z
      .strictObject({
        backend: z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
        /** Inference workers; 'auto' = one per core (one per GPU with a native GPU backend). */
        workers: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
        /**
         * Inference calls in flight per worker: with 2, a worker starts its next batch while the
         * main thread is still taking the last one's descriptors; 1 leaves it idle meanwhile.
         */
        callsPerWorker: z.number().int().min(1).max(4).default(1),
      })
      .prefault({}),
    model: z
      .strictObject({
        /** Folder with manifest.json, backbone/ and heads/. */
        path: z.string().default('models/default'),
        head: z.enum(['gcf', 'fusionOnly', 'attentionOnly', 'atw', 'dense', 'central']).default('gcf'),
      })
      .prefault({}),
    pipeline: z
      .strictObject({
        /** Analysis frame rate: frames per second sampled from each camera. */
        fps: z.number().positive().max(60).default(5),
        clip: z
          .strictObject({
            stride: z.number().int().positive().optional(),
          })
          .prefault({}),
        window: z
          .strictObject({
            minClips: z.number().int().positive().default(3),
            hop: z.number().int().positive().default(1),
          })
          .prefault({}),
        batch: z
          .strictObject({
            maxClips: z.number().int().positive().default(8),
            /** Most windows per head call (batched across cameras). */
            maxWindows: z.number().int().positive().default(16),
            maxWaitMs: z.number().int().nonnegative().default(50),
          })
          .prefault({}),
        queue: z.strictObject({ maxClips: z.number().int().positive().default(64) }).prefault({}),
      })
      .prefault({}),
    detection: z
      .strictObject({
        /** Omitted: the model manifest's calibrated value (else 0.5). */
        classThreshold: z.number().min(0).max(1).optional(),
        /** Omitted: the model manifest's calibrated value (else 0.5). */
        attentionThreshold: z.number().min(0).max(1).optional(),
        holdWindows: z.number().int().positive().default(2),
        /** Fewest clips an event must span to be reported. Omitted: the model manifest's calibrated value (else 1). */
        minEventClips: z.number().int().positive().optional(),
        emitOpen: z.boolean().default(false),
      })
      .prefault({}),
    sources: z.array(sourceSchema).min(1, 'at least one source is needed'),
    sinks: z.array(sinkSchema).min(1, 'at least one sink is needed').default([{ type: 'stdout' }]),
    kafka: kafkaSchema.optional(),
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true),
        port: z.number().int().min(0).max(65535).default(9464),
        host: z.string().default('127.0.0.1'),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const needsKafka =
      cfg.sources.some((s) => s.type === 'kafka') || cfg.sinks.some((s) => s.type === 'kafka');
    if (needsKafka && !cfg.kafka) {
      ctx.addIssue({ code: 'custom', path: ['kafka'], message: 'a kafka source or sink needs a `kafka` section with brokers' });
    }
    const seen = new Set<string>();
    cfg.sources.forEach((s, i) => {
      if (!('cameraId' in s)) return;
      if (seen.has(s.cameraId)) {
        ctx.addIssue({ code: 'custom', path: ['sources', i, 'cameraId'], message: `duplicate camera id '${s.cameraId}'` });
      }
      seen.add(s.cameraId);
    });
  });

/** A validated configuration with every default filled in. */
export type Config = z.output<typeof configSchema>;
export type SourceConfig = z.output<typeof sourceSchema>;
export type SinkConfig = z.output<typeof sinkSchema>;
export type RtspSourceConfig = z.output<typeof rtspSource>;
