/**
 * The Prometheus metrics of the pipeline (DESIGN.md "Metrics"). One `Registry` is created at
 * start-up and passed in; names are constants here so dashboards and tests share them.
 *
 * @example
 * const registry = new Registry();
 * const m = createMetrics({ registry, backend: 'wasm' });
 * m.framesIn.inc({ camera: 'gate' });
 */
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';

export const METRIC = {
  framesIn: 'clipwise_frames_in_total',
  framesDropped: 'clipwise_frames_dropped_total',
  clipsDropped: 'clipwise_clips_dropped_total',
  clipsInferred: 'clipwise_clips_inferred_total',
  batchSize: 'clipwise_inference_batch_size',
  inferenceSeconds: 'clipwise_inference_seconds',
  headSeconds: 'clipwise_head_seconds',
  windowsEvaluated: 'clipwise_windows_evaluated_total',
  eventsEmitted: 'clipwise_events_emitted_total',
  latencySeconds: 'clipwise_frame_to_event_latency_seconds',
  queueDepth: 'clipwise_queue_depth',
  reconnects: 'clipwise_source_reconnects_total',
  deadLetters: 'clipwise_dead_letters_total',
  produceErrors: 'clipwise_kafka_produce_errors_total',
  backendInfo: 'clipwise_backend_info',
  effectiveFps: 'clipwise_camera_effective_fps',
  camerasRevoked: 'clipwise_cameras_revoked_total',
  revokedStateDropped: 'clipwise_revoked_state_dropped_total',
} as const;

export interface Metrics {
  readonly registry: Registry;
  readonly framesIn: Counter<'camera'>;
  readonly framesDropped: Counter<'camera' | 'reason'>;
  readonly clipsDropped: Counter<'camera' | 'reason'>;
  readonly clipsInferred: Counter<'camera'>;
  readonly batchSize: Histogram<never>;
  readonly inferenceSeconds: Histogram<'backend'>;
  readonly headSeconds: Histogram<'backend' | 'head'>;
  readonly windowsEvaluated: Counter<'camera'>;
  readonly eventsEmitted: Counter<'action' | 'status'>;
  readonly latencySeconds: Histogram<never>;
  readonly queueDepth: Gauge<'queue'>;
  readonly reconnects: Counter<'camera'>;
  readonly deadLetters: Counter<'reason'>;
  readonly produceErrors: Counter<never>;
  readonly effectiveFps: Gauge<'camera'>;
  readonly camerasRevoked: Counter<never>;
  readonly revokedStateDropped: Counter<'stage'>;
}

export interface MetricsDeps {
  readonly registry: Registry;
  readonly backend: string;
  /** Also export the process's default metrics (CPU, memory, event loop). */
  readonly defaultMetrics?: boolean;
}

/** Create and register every clipwise metric on the given registry. */
export function createMetrics({ registry, backend, defaultMetrics = true }: MetricsDeps): Metrics {
  const registers = [registry];
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'clipwise_process_' });
  const backendInfo = new Gauge({
    name: METRIC.backendInfo,
    help: 'The tensor backend running inference (value is always 1).',
    labelNames: ['backend'],
    registers,
  });
  backendInfo.set({ backend }, 1);
  return {
    registry,
    framesIn: new Counter({ name: METRIC.framesIn, help: 'Frames received from sources.', labelNames: ['camera'], registers }),
    framesDropped: new Counter({
      name: METRIC.framesDropped,
      help: 'Frames dropped before analysis, by reason (out_of_order, duplicate, corrupt, rejected).',
      labelNames: ['camera', 'reason'],
      registers,
    }),
    clipsDropped: new Counter({
      name: METRIC.clipsDropped,
      help: 'Clips dropped because inference fell behind (backpressure).',
      labelNames: ['camera', 'reason'],
      registers,
    }),
    clipsInferred: new Counter({ name: METRIC.clipsInferred, help: 'Clips turned into features.', labelNames: ['camera'], registers }),
    batchSize: new Histogram({
      name: METRIC.batchSize,
      help: 'Clips per backbone batch.',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    }),
    inferenceSeconds: new Histogram({
      name: METRIC.inferenceSeconds,
      help: 'Backbone time per batch.',
      labelNames: ['backend'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    headSeconds: new Histogram({
      name: METRIC.headSeconds,
      help: 'Fusion head time per batch of windows.',
      labelNames: ['backend', 'head'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    }),
    windowsEvaluated: new Counter({ name: METRIC.windowsEvaluated, help: 'Windows run through the head.', labelNames: ['camera'], registers }),
    eventsEmitted: new Counter({ name: METRIC.eventsEmitted, help: 'Action events emitted.', labelNames: ['action', 'status'], registers }),
    latencySeconds: new Histogram({
      name: METRIC.latencySeconds,
      help: 'From the last frame of the clip that completed a detection to the event leaving the pipeline (wall clock).',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    queueDepth: new Gauge({ name: METRIC.queueDepth, help: 'Items waiting in a bounded queue.', labelNames: ['queue'], registers }),
    reconnects: new Counter({ name: METRIC.reconnects, help: 'Source reconnects (stall, error, end of stream).', labelNames: ['camera'], registers }),
    deadLetters: new Counter({ name: METRIC.deadLetters, help: 'Frame messages sent to the dead-letter topic.', labelNames: ['reason'], registers }),
    produceErrors: new Counter({ name: METRIC.produceErrors, help: 'Kafka produce errors after retries.', registers }),
    effectiveFps: new Gauge({
      name: METRIC.effectiveFps,
      help: 'Analysis frame rate each camera gets now (lowered under load).',
      labelNames: ['camera'],
      registers,
    }),
    camerasRevoked: new Counter({
      name: METRIC.camerasRevoked,
      help: 'Cameras this analyzer stopped owning in a Kafka rebalance (their state dropped; the new owner replays them).',
      registers,
    }),
    revokedStateDropped: new Counter({
      name: METRIC.revokedStateDropped,
      help: 'Items of revoked cameras dropped without emitting, by stage (frames, clips, features, windows, events).',
      labelNames: ['stage'],
      registers,
    }),
  };
}
