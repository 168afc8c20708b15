/**
 * What the Kafka end-to-end suites share: a frames topic filled by the ingest role with
 * synthetic cameras, the frames read back and decoded as an analyzer sees them, a detection
 * threshold calibrated on them with the in-process event set it gives, analyzer configs, the
 * consumer group's offsets, and kcat as the outside reader of the actions topic.
 *
 * @example
 * const scene = await prepareFrames({ broker, model, cameras: ['gate', 'yard'], seconds: 60 });
 * const run = startClipwise(['run'], { config: analyzerYaml({ scene, group: 'g', actions: 'a' }) });
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/logger.ts';
import { decodeFrameMessage } from '../../src/topology/frameCodec.ts';
import { startIngest } from '../../src/topology/ingest.ts';
import type { ActionEvent, Frame } from '../../src/types.ts';
import { calibrateClassThreshold, type Calibration } from './calibrate.ts';
import { metricValue, waitFor, type ClipwiseProcess } from './clipwise.ts';
import { consumeMessages, type KafkaBroker } from './kafka.ts';

const execFileP = promisify(execFile);

/** A filled frames topic and what the analysis of it must give. */
export interface FramesScene {
  readonly broker: KafkaBroker;
  readonly model: string;
  readonly topic: string;
  readonly deadLetter: string;
  readonly cameras: readonly string[];
  readonly fps: number;
  readonly seconds: number;
  /** Frames in the topic. */
  readonly total: number;
  /** Camera ids per partition that holds frames. */
  readonly camerasOf: ReadonlyMap<number, ReadonlySet<string>>;
  /** Where each frame is: camera → seq → partition offset. */
  readonly offsetOf: ReadonlyMap<string, ReadonlyMap<number, number>>;
  readonly calibration: Calibration;
}

/** Options of {@link prepareFrames}. */
export interface PrepareFramesOptions {
  readonly broker: KafkaBroker;
  /** A test model with `clips: 5` and a `backboneSeed` (deterministic). */
  readonly model: string;
  readonly cameras: readonly string[];
  readonly seconds: number;
  readonly fps?: number;
  readonly partitions?: number;
  readonly topic?: string;
  readonly deadLetter?: string;
  /** Least number of events the calibrated threshold must give in-process. Default 20. */
  readonly minEvents?: number;
}

/**
 * Creates the frames and dead-letter topics, publishes `seconds` of each synthetic camera
 * through the ingest role (JPEG, 32×32), reads them back, decodes them and calibrates the
 * detection threshold on them.
 *
 * @param options - broker, model, cameras, duration
 * @returns the scene
 */
export async function prepareFrames(options: PrepareFramesOptions): Promise<FramesScene> {
  const { broker, cameras, seconds } = options;
  const fps = options.fps ?? 5;
  const topic = options.topic ?? 'frames';
  const deadLetter = options.deadLetter ?? `${topic}.dlq`;
  await broker.createTopics([
    { topic, partitions: options.partitions ?? 3 },
    { topic: deadLetter, partitions: 1 },
  ]);
  const config = parseConfig({
    pipeline: { fps },
    sources: cameras.map((c, i) => ({ type: 'synthetic', cameraId: c, seed: i + 1, seconds })),
    kafka: { brokers: broker.brokers, topics: { frames: topic } },
    metrics: { enabled: false },
  });
  const ingest = await startIngest(config, { logger: createLogger({ level: 'warn' }), size: 32 });
  const { frames: total } = await ingest.done;
  assert.equal(total, cameras.length * seconds * fps, 'ingest published every frame');
  const messages = await consumeMessages(broker.brokers, topic, total, 60_000);
  const decoded: Frame[] = [];
  const camerasOf = new Map<number, Set<string>>();
  const offsetOf = new Map<string, Map<number, number>>();
  for (const m of messages) {
    const f = await decodeFrameMessage(m.message, { width: 32, height: 32 });
    decoded.push(f);
    camerasOf.set(m.partition, (camerasOf.get(m.partition) ?? new Set<string>()).add(f.cameraId));
    offsetOf.set(f.cameraId, (offsetOf.get(f.cameraId) ?? new Map<number, number>()).set(f.seq, m.offset));
  }
  decoded.sort((a, b) => a.cameraId.localeCompare(b.cameraId) || a.seq - b.seq);
  const calibration = await calibrateClassThreshold({ modelDir: options.model, frames: decoded });
  const minEvents = options.minEvents ?? 20;
  assert.ok(calibration.events.length >= minEvents, `calibration gives ${calibration.events.length} events; the test needs ${minEvents}`);
  return { broker, model: options.model, topic, deadLetter, cameras, fps, seconds, total, camerasOf, offsetOf, calibration };
}

/** A one-line summary of a scene for the test log. */
export function describeScene(scene: FramesScene): string {
  const c = scene.calibration;
  return (
    `calibration: classThreshold ${c.classThreshold.toPrecision(6)} (margin ${c.margin.toExponential(2)}), ` +
    `${c.events.length} events in-process over ${c.windows} windows; ${scene.total} frames, partitions ` +
    [...scene.camerasOf].map(([p, cams]) => `${p}:${[...cams].join('+')}`).join(' ')
  );
}

/**
 * The YAML of an analyzer (`clipwise run`) over the scene's frames topic, writing to `actions`.
 * Batches of one clip and one window: per-clip arithmetic does not depend on what else is in
 * flight, so every run computes bit-identical results (and the calibration's events).
 *
 * @param o.extra - more YAML lines (top-level keys not set here)
 */
export function analyzerYaml(o: {
  /** A prepared scene, or the parts of one a suite with its own frames has. */
  scene: Pick<FramesScene, 'model' | 'fps' | 'calibration' | 'broker' | 'topic' | 'deadLetter'>;
  group: string;
  actions: string;
  sinks?: string;
  extra?: readonly string[];
}): string {
  const { scene } = o;
  return [
    `model: { path: ${JSON.stringify(scene.model)} }`,
    'runtime: { backend: wasm, workers: 0 }',
    `pipeline: { fps: ${scene.fps}, batch: { maxClips: 1, maxWindows: 1 } }`,
    `detection: { classThreshold: ${scene.calibration.classThreshold}, attentionThreshold: 0 }`,
    `sources: [ { type: kafka, fromBeginning: true } ]`,
    `sinks: ${o.sinks ?? '[ { type: kafka } ]'}`,
    `kafka: { brokers: ${JSON.stringify(scene.broker.brokers)}, groupId: ${o.group}, topics: { frames: ${scene.topic}, actions: ${o.actions}, deadLetter: ${scene.deadLetter} } }`,
    'metrics: { port: 0 }',
    ...(o.extra ?? []),
  ].join('\n');
}

/** Runs `fn` with a connected kafkajs admin client. */
export async function withAdmin<T>(brokers: readonly string[], fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Per partition holding frames: end offset and the group's committed offset (-1 = none). */
export async function groupOffsets(scene: FramesScene, group: string): Promise<{ partition: number; end: number; committed: number }[]> {
  return withAdmin(scene.broker.brokers, async (a) => {
    const ends = await a.fetchTopicOffsets(scene.topic);
    const [c] = await a.fetchOffsets({ groupId: group, topics: [scene.topic] });
    return ends
      .map((e) => ({
        partition: e.partition,
        end: Number(e.offset),
        committed: Number(c?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1),
      }))
      .filter((p) => p.end > 0);
  });
}

/**
 * After a graceful stop every event is closed, so the low watermark of a camera is C−1 clips
 * before the oldest clip of its last window (an event the next window opened could start
 * there), and a partition commits the smallest of its cameras' (T = S = 4 frames per clip and
 * stride, C = 5 clips per window, as the test model).
 *
 * @returns partition → the offset the final commit must be
 */
export function expectedFinalCommits(scene: FramesScene): Map<number, number> {
  const T = 4;
  const S = 4;
  const C = 5;
  const out = new Map<number, number>();
  for (const [partition, cams] of scene.camerasOf) {
    let low = Infinity;
    for (const camera of cams) {
      const seqs = scene.offsetOf.get(camera) ?? new Map<number, number>();
      const lastStart = Math.floor((seqs.size - T) / S) * S;
      low = Math.min(low, seqs.get(Math.max(0, lastStart - 2 * (C - 1) * S)) ?? NaN);
    }
    out.set(partition, low);
  }
  return out;
}

/** Asserts the group's committed offsets are {@link expectedFinalCommits} (after a graceful stop). */
export async function assertCommittedAtEnd(scene: FramesScene, group: string): Promise<void> {
  const expected = expectedFinalCommits(scene);
  const got = new Map((await groupOffsets(scene, group)).map((p) => [p.partition, p.committed]));
  assert.deepEqual(got, expected, `group ${group}: committed offsets per partition after the final commit`);
}

/** Waits until an analyzer has taken at least `frames` frames in. */
export async function waitForFrames(child: ClipwiseProcess, frames: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `${frames} frames in`,
    async () => {
      if (!child.alive()) throw new Error(`analyzer exited early (${(await child.exited).code}):\n${child.stderr().slice(-4000)}`);
      return metricValue(await child.metrics(), 'clipwise_frames_in_total') >= frames;
    },
    timeoutMs,
    500,
  ).catch(async (err: unknown) => {
    const m = child.alive() ? (await child.metrics()).split('\n').filter((l) => /^clipwise_(frames_in|clips_inferred|windows_evaluated|dead_letters)/.test(l)) : [];
    throw new Error(`${(err as Error).message}\n${child.stderr().slice(-4000)}\n${m.join('\n')}`, { cause: err });
  });
}

/**
 * Waits until none of the analyzers has taken a frame in for `quietMs` (they have consumed
 * everything they own), and together at least `atLeast`.
 */
export async function waitForIdle(children: readonly ClipwiseProcess[], atLeast: number, quietMs: number, timeoutMs: number): Promise<number> {
  let last = -1;
  let since = Date.now();
  return waitFor(
    'the analyzers to go idle',
    async () => {
      let sum = 0;
      for (const c of children) {
        if (!c.alive()) throw new Error(`analyzer exited early:\n${c.stderr().slice(-4000)}`);
        sum += metricValue(await c.metrics(), 'clipwise_frames_in_total');
      }
      if (sum !== last) {
        last = sum;
        since = Date.now();
        return false;
      }
      return sum >= atLeast && Date.now() - since >= quietMs && sum;
    },
    timeoutMs,
    500,
  );
}

/** A message of a topic as kcat prints it: headers and the JSON value. */
export interface KcatRecord {
  readonly headers: string;
  readonly key: string;
  readonly event: ActionEvent;
}

/**
 * Reads a whole topic with kcat (the outside subscriber) and parses each value as an event.
 *
 * @param brokers - bootstrap list
 * @param topic - the actions topic
 * @returns the records in partition/offset order
 */
export async function readEventsWithKcat(brokers: readonly string[], topic: string): Promise<KcatRecord[]> {
  const { stdout } = await execFileP('kcat', ['-b', brokers[0] ?? '', '-t', topic, '-C', '-e', '-q', '-f', '%k\t%h\t%s\n'], { maxBuffer: 1 << 26 });
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [key = '', headers = '', json = ''] = line.split('\t');
      return { key, headers, event: JSON.parse(json) as ActionEvent };
    });
}

/** What identifies an event across runs: id, camera, class and clip bounds. */
export const eventKey = (e: ActionEvent): string => `${e.id}|${e.cameraId}|${e.action}|${e.startClip}|${e.endClip}`;

/** Compares events read after a fault with the reference set. */
export function compareWithReference(reference: readonly ActionEvent[], got: readonly ActionEvent[]): { lost: ActionEvent[]; extra: ActionEvent[]; duplicates: number } {
  const gotKeys = new Set(got.map(eventKey));
  const refKeys = new Set(reference.map(eventKey));
  const ids = got.map((e) => e.id);
  return {
    lost: reference.filter((e) => !gotKeys.has(eventKey(e))),
    extra: got.filter((e) => !refKeys.has(eventKey(e))),
    duplicates: ids.length - new Set(ids).size,
  };
}
