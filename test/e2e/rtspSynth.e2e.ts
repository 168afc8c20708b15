/**
 * Issue 5, path 1 with ground truth: a synthetic action video (`clipwise synth`, seed 7, 60 s)
 * as an RTSP camera → `clipwise ingest` → Kafka frames topic → `clipwise run` in a consumer
 * group with the shipped model (a copy of models/default, the thresholds of its manifest) →
 * actions topic → kcat. Events must parse against the documented schema v1, map from wall-clock
 * time back to the video's media time, and be the events the file path gives for the same
 * video; their match with the ground truth is measured with the eval's own matching code.
 *
 * How wall-clock time maps to media time: live pts are `first frame's arrival + seq × 200 ms`
 * (ffmpegSource), so one number is needed, the media time of the first frame the ingest got.
 * It is measured, not guessed from when the publisher started: every frame on the Kafka topic
 * is looked up, bit for bit, in the file's own decode at its native 10 fps; frame 0 is source
 * frame k, and frame j is source frame k + 2j or, when the relay's arrival-time RTP stamps
 * jitter, the frame next to it. Event bounds map to media time exactly on that nominal grid,
 * the frames themselves lie within one source frame (100 ms) of it; the test prints how far
 * the publisher-start estimate would have been off, and how many frames were off the grid.
 *
 * Why the camera stream is lossless H.264 (`publish(..., { lossless: true })`): with it the
 * RTSP decode gives exactly the pixels of the file decode, and the ingest's JPEG is reproduced
 * here with the same encoder, so every frame on the topic is checked bit for bit against the
 * file (lost, reordered, shifted or altered frames fail), and the analyzer's events must
 * equal, field by field, those of the eval's path (`runAnalysis`: `analyse` over file frames)
 * given the same source frames on the same clip grid. With x264's default quality, the file
 * and its re-encoded copy on the same clip grid already differ: the shipped model's event
 * bounds move by up to 3 clips and events near the threshold come and go (measured on this
 * video and on seed 7 with default nuisances, 14 grid phases each). That is the model's
 * sensitivity (issue 4), and it would hide a transport fault in the noise.
 *
 * Ground truth, with the eval's matching (class and tIoU): at least half of the instances in the
 * covered stretch must be matched at tIoU 0.3 by the live events. Why that bar: the join sets the
 * clip grid's phase (16 source frames = one clip stride), and clipwise-default 1.7.0 on this
 * video, through the file path at each of the 16 phases with the ingest's JPEG round trip,
 * matched 2–4 of the 4 instances at tIoU 0.3 (2 at phases 10 and 12: a loiter read as wave or
 * missed) and 2–3 at 0.5 (`npx tsx bench/clipPhaseStudy.ts --set DIR --jpeg`, DIR made with
 * this test's synth arguments). 1.6.0 had matched 3–4 at 0.3 without the JPEG step, and CI runs
 * joined at phase 6 matched 3 or 2 (a loiter read as two jumps). The bar fails when events are
 * lost, carry the wrong class, or are mapped to the wrong media time by more than a fraction of
 * an action; with this model it has no margin left in the worst phases. The exact figures are
 * printed.
 *
 * What is not asserted: agreement with `clipwise eval`'s own run of the whole file, whose clips start at media 0 while
 * the live clips start wherever the camera was joined (a shift under one clip): on this model
 * such a shift alone moves event bounds by up to 4 clips and flips events near the threshold,
 * so that comparison measures the model's robustness to the clip phase, not the transport. It
 * is printed beside the live figures.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, toArray, type Observable } from 'rxjs';
import { evaluationSettings, inferWith, runAnalysis, type AnalysisRun } from '../../src/eval/analysisRun.ts';
import { meanAveragePrecision, type DetectedEvent, type GroundTruth } from '../../src/eval/detectionMetrics.ts';
import { createEmbedder, createWindowHead, loadManifest, type ModelManifest } from '../../src/model/clipModel.ts';
import { initRuntime } from '../../src/model/runtime.ts';
import { decodeFrameMessage, encodeFrameMessage } from '../../src/topology/frameCodec.ts';
import { createFfmpegSource } from '../../src/topology/sources/ffmpegSource.ts';
import { loadDataset, type DatasetVideo } from '../../src/train/dataset.ts';
import { fileSourceOptions } from '../../src/train/decode.ts';
import type { AnalysisSettings } from '../../src/topology/pipeline.ts';
import type { ActionEvent, Frame } from '../../src/types.ts';
import { killAllClipwise, metricValue, startClipwise, waitFor } from '../support/clipwise.ts';
import { readEventsWithKcat, waitForFrames } from '../support/e2e.ts';
import { ACTION_HEADERS_V1, parseActionEventV1, type ActionEventV1 } from '../support/eventSchema.ts';
import { consumeMessages, startKafka, type KafkaBroker } from '../support/kafka.ts';
import { rtspServerUnavailableReason, startRtspServer, type RtspServerHarness } from '../support/rtsp.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CAMERA = 'synth';
/** Native rate of the synthetic video; a multiple of the model's rate, so live frames are source frames. */
const SOURCE_FPS = 10;
/**
 * One 60-s video from a seed no training or test set uses (they use 1 and 2), at least three
 * actions, and the synth's clearest settings (large figures, few passers-by, no shake) so a
 * weak model still fires: the test is about the transport, not the model's quality.
 */
const SYNTH_ARGS = [
  '--videos', '1', '--seed', '7', '--min-seconds', '60', '--max-seconds', '60', '--fps', String(SOURCE_FPS),
  '--empty-fraction', '0', '--instances', '3,4', '--gap-seconds', '6,12',
  '--figure-scale', '0.4,0.45', '--distractors', '0.5', '--shake', '0',
];

const kcatMissing = spawnSync('kcat', ['-V']).error !== undefined ? 'kcat not installed' : undefined;
const skip = rtspServerUnavailableReason() ?? kcatMissing;

let dir: string;
let modelDir: string;
let video: DatasetVideo;
let rtsp: RtspServerHarness;
let broker: KafkaBroker;

before(async () => {
  if (skip) return;
  const t0 = Date.now();
  dir = mkdtempSync(join(tmpdir(), 'cw-rtsp-synth-'));
  // A copy: the analyzer and the in-process references must use one model even if
  // models/default is replaced while the test runs.
  modelDir = join(dir, 'model');
  cpSync(join(ROOT, 'models/default'), modelDir, { recursive: true, filter: (src) => !src.includes(`${join('default', 'checkpoints')}`) });
  const synth = startClipwise(['synth', '--out', join(dir, 'set'), ...SYNTH_ARGS]);
  const { code } = await synth.exited;
  assert.equal(code, 0, `clipwise synth failed:\n${synth.stderr()}`);
  const set = await loadDataset(join(dir, 'set'));
  video = set.videos[0] as DatasetVideo;
  const annotations = JSON.parse(readFileSync(join(dir, 'set', 'annotations.json'), 'utf8')) as { fps: number };
  assert.equal(annotations.fps, SOURCE_FPS);
  rtsp = await startRtspServer();
  broker = await startKafka();
  await broker.createTopics([{ topic: 'frames' }, { topic: 'frames.dlq' }, { topic: 'actions' }]);
  console.log(`rtsp synth setup (synth video, RTSP server, Kafka): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

after(async () => {
  await killAllClipwise();
  await rtsp?.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The model in this process, as `clipwise eval` loads it: backbone embedder and default head. */
interface LocalModel {
  readonly manifest: ModelManifest;
  analyse(frames$: Observable<Frame>, settings: AnalysisSettings): Promise<AnalysisRun>;
  dispose(): void;
}

async function loadLocalModel(path: string): Promise<LocalModel> {
  await initRuntime({ backend: 'wasm' });
  const manifest = await loadManifest(path);
  const embedder = await createEmbedder(path);
  const head = await createWindowHead(path);
  const infer = inferWith(embedder);
  return {
    manifest,
    analyse: (frames$, settings) => runAnalysis({ frames$, manifest, headKind: head.kind, infer, runHead: (w) => head.run(w), settings, backend: 'wasm' }),
    dispose: () => {
      embedder.dispose();
      head.dispose();
    },
  };
}

/** Mean absolute difference of two frames over every 5th byte (enough to tell frames apart). */
function frameDistance(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.length; i += 5) {
    sum += Math.abs((a[i] as number) - (b[i] as number));
    n += 1;
  }
  return sum / n;
}

/** A frame as the analyzer gets it from the topic: through the ingest's JPEG encoder and the analyzer's decoder. */
async function asIngested(frame: Frame): Promise<Frame> {
  return decodeFrameMessage(await encodeFrameMessage(frame, 'jpeg'), { width: frame.width, height: frame.height });
}

/**
 * Which source frame a live frame is: the first of `candidates` whose ingested copy equals the
 * live frame bit for bit (lossless camera stream, same JPEG encoder), or undefined.
 */
async function identify(live: Frame, source: readonly Frame[], candidates: readonly number[]): Promise<number | undefined> {
  for (const i of candidates) {
    const src = source[i];
    if (src === undefined) continue;
    const copy = await asIngested({ ...live, data: src.data });
    if (Buffer.compare(copy.data, live.data) === 0) return i;
  }
  return undefined;
}

/**
 * Identifies every live frame in the file's native-rate decode. Frame 0 is searched among the
 * source frames closest in pixels; frame j among those within one analysis frame of
 * k + step·j (k = frame 0's index). Why a window and not exactly k + step·j: the relay
 * re-timestamps the RTP stream on arrival, so the decoder's `fps` filter sometimes takes the
 * next source frame (arrival jitter), as it would with a real camera's network.
 *
 * @returns k (rebased on the grid most frames sit on) and, per live frame, its source index
 *   (undefined: no source frame near its place is it)
 */
async function identifyLiveFrames(live: readonly Frame[], source: readonly Frame[], step: number): Promise<{ k: number; index: (number | undefined)[] }> {
  const first = live[0] as Frame;
  const nearest = source
    .map((f, i) => ({ i, d: frameDistance(first.data, f.data) }))
    .sort((x, y) => x.d - y.d)
    .slice(0, 30)
    .map((c) => c.i);
  const k = await identify(first, source, nearest);
  assert.ok(k !== undefined, 'the first live frame is no frame of the video (the camera stream is not lossless?)');
  const index: (number | undefined)[] = [];
  for (const [j, frame] of live.entries()) {
    const nominal = k + step * j;
    const window = [0, ...Array.from({ length: step }, (_, d) => [d + 1, -(d + 1)]).flat()].map((d) => nominal + d);
    index.push(await identify(frame, source, window));
  }
  // The grid most frames sit on: frame 0 itself may be one of the jittered ones.
  const counts = new Map<number, number>();
  index.forEach((i, j) => i !== undefined && counts.set(i - (k + step * j), (counts.get(i - (k + step * j)) ?? 0) + 1));
  const shift = [...counts].sort((a, b) => b[1] - a[1] || Math.abs(a[0]) - Math.abs(b[0]))[0]?.[0] ?? 0;
  return { k: k + shift, index };
}

/** kcat's `%h` (`k=v,k=v`) as a map. */
function headerMap(text: string): Map<string, string> {
  return new Map(
    text
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
  );
}

const mAP = (events: readonly DetectedEvent[], truth: readonly GroundTruth[], t: number): number => meanAveragePrecision(events, truth, t).mAP;
const matched = (events: readonly DetectedEvent[], truth: readonly GroundTruth[], t: number): number =>
  meanAveragePrecision(events, truth, t).perClass.reduce((s, c) => s + c.truePositives, 0);
const describe = (events: readonly DetectedEvent[], classes: readonly string[]): string =>
  events.map((e) => `${classes[e.classIndex]} ${e.start.toFixed(1)}–${e.end.toFixed(1)}`).join(', ') || 'none';

test('synthetic video with ground truth: RTSP → ingest → Kafka → analyzer → kcat, events as the file path gives them', { skip, timeout: 600_000 }, async () => {
  const local = await loadLocalModel(modelDir);
  try {
    const { manifest } = local;
    const size = manifest.clip.size;
    const fps = manifest.clip.fps;
    const step = SOURCE_FPS / fps;
    assert.ok(Number.isInteger(step), `the model's ${fps} fps must divide the video's ${SOURCE_FPS} fps`);
    const kafka = `kafka: { brokers: ${JSON.stringify(broker.brokers)}, groupId: rtsp-synth, topics: { frames: frames, actions: actions, deadLetter: frames.dlq } }`;

    // The camera: the file once through, at its native rate, joined mid-stream by the ingest.
    const publishedAt = Date.now();
    const publisher = await rtsp.publish(video.path, '/synth', { loop: false, lossless: true });
    const ingest = startClipwise(['ingest', '--size', String(size)], {
      config: [`pipeline: { fps: ${fps} }`, `sources: [ { type: rtsp, cameraId: ${CAMERA}, url: ${JSON.stringify(rtsp.url('/synth'))} } ]`, kafka, 'metrics: { port: 0 }'].join('\n'),
    });
    // Batches of one clip and one window: the arithmetic then matches the in-process reference bit for bit.
    const analyzer = startClipwise(['run'], {
      config: [
        `model: { path: ${JSON.stringify(modelDir)} }`,
        'runtime: { backend: wasm, workers: 0 }',
        `pipeline: { fps: ${fps}, batch: { maxClips: 1, maxWindows: 1 } }`,
        'sources: [ { type: kafka, fromBeginning: true } ]',
        'sinks: [ { type: kafka } ]',
        kafka,
        'metrics: { port: 0 }',
      ].join('\n'),
    });

    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        publisher.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('the publisher did not reach the end of the video')), (video.durationSeconds + 90) * 1000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    // The stream has ended: wait until the ingest has taken its last frame, then stop it.
    let last = -1;
    let since = Date.now();
    await waitFor(
      'the ingest to take its last frame',
      async () => {
        if (!ingest.alive()) throw new Error(`ingest exited:\n${ingest.stderr().slice(-3000)}`);
        const n = metricValue(await ingest.metrics(), 'clipwise_frames_in_total');
        if (n !== last) [last, since] = [n, Date.now()];
        return n > 0 && Date.now() - since >= 3000;
      },
      60_000,
      250,
    );
    assert.equal(await ingest.stop(), 0, ingest.stderr().slice(-3000));
    const published = Number(/ingest done: (\d+) frame/.exec(ingest.stderr())?.[1] ?? NaN);
    assert.ok(published > 0, `ingest published ${published} frames`);

    // What travelled: every frame on the topic, in order, decoded as the analyzer decodes it.
    const messages = await consumeMessages(broker.brokers, 'frames', published, 60_000);
    assert.equal(messages.length, published, 'the frames topic holds what the ingest published');
    const live = await Promise.all(messages.sort((a, b) => a.offset - b.offset).map((m) => decodeFrameMessage(m.message, { width: size, height: size })));
    assert.deepEqual(live.map((f) => f.seq), live.map((_, j) => j), 'seq 0, 1, 2, … in topic order (nothing lost or reordered in the ingest)');
    const pts0 = (live[0] as Frame).ptsMs;
    // When the ingest sent the first and the last frame (producer timestamps), against their pts.
    const sentLag = (i: number): number => Number(messages[i]?.message.timestamp) - (live[i] as Frame).ptsMs;
    // Live pts: increasing, at most one frame period apart (less while ffmpeg catches up after
    // its start-up delay), and never after the frame was sent (they used to run ~2 s ahead).
    assert.ok(live.every((f) => f.cameraId === CAMERA), 'one camera');
    assert.ok(live.every((f, j) => j === 0 || (f.ptsMs > (live[j - 1] as Frame).ptsMs && f.ptsMs - (live[j - 1] as Frame).ptsMs <= 1000 / fps + 1e-9)), 'live pts increase by at most one frame period');
    // (20 ms: frames of a burst arriving in one millisecond are stamped 1 ms apart.)
    const ahead = live.map((_, i) => -sentLag(i)).filter((d) => d > 20);
    assert.deepEqual(ahead, [], 'no frame is stamped after the ingest sent it');

    // Where the camera was joined (live frame j is source frame k + step·j), and which source frame every live frame is.
    const source = await lastValueFrom(createFfmpegSource(fileSourceOptions(video.path, CAMERA, { fps: SOURCE_FPS, size })).frames$.pipe(toArray()));
    const { k, index } = await identifyLiveFrames(live, source, step);
    // Live time → media time through the frames themselves (pts are not linear in seq after a
    // catch-up, so no single offset maps them): a clip starts at its first frame's pts. An event
    // ends where its last clip ends, its last frame's pts plus the clip's own mean frame step,
    // which the relay's jitter moves off 1000/fps: map ends through that frame's sequence
    // number (the file path, on nominal pts, ends the same clip one nominal period after it).
    const mediaOfPts = new Map(live.map((f, j) => [f.ptsMs, ((k + step * j) * 1000) / SOURCE_FPS]));
    const mediaOfSeq = new Map(live.map((f, j) => [f.seq, ((k + step * j) * 1000) / SOURCE_FPS]));
    const mediaMsOf = (liveMs: number): number => mediaOfPts.get(liveMs) ?? Number.NaN;
    const clipFrames = manifest.clip.frames;
    const mediaEndOf = (e: { readonly endClip: number }): number => (mediaOfSeq.get(e.endClip + clipFrames - 1) ?? Number.NaN) + 1000 / fps;
    const unknown = index.flatMap((i, j) => (i === undefined ? [j] : []));
    const backwards = index.flatMap((i, j) => (j > 0 && i !== undefined && (index[j - 1] ?? -1) > i ? [j] : []));
    const repeated = index.filter((i, j) => j > 0 && i !== undefined && index[j - 1] === i).length;
    const deviation = index.map((i, j) => (i === undefined ? 0 : i - (k + step * j)));
    const offGrid = deviation.filter((d) => d !== 0).length;
    const maxDeviation = Math.max(...deviation.map(Math.abs));
    // The file path's input: the same source frames, cut and picked as the camera delivered
    // them, through the same JPEG, on the live seq numbers with nominal media pts.
    const reference = await Promise.all(
      live.map((f, j) =>
        asIngested({ ...f, ptsMs: ((k + step * j) * 1000) / SOURCE_FPS, data: (source[index[j] ?? k + step * j] as Frame).data }),
      ),
    );

    // The file path on the live clip grid (the analyzer's settings), and `clipwise eval`'s own run of the whole file.
    const C = manifest.window.clips;
    const aligned = await local.analyse(from(reference), { ...evaluationSettings(manifest), align: 'sequence', minClips: C, batchClips: 1, batchWindows: 1 });
    assert.equal(aligned.droppedWindows + aligned.droppedClips + aligned.droppedFrames, 0, 'the reference analysis sees every window');
    const evalRun = await local.analyse(createFfmpegSource(fileSourceOptions(video.path, 'eval', { fps, size })).frames$, evaluationSettings(manifest));

    // The analyzer has every frame and has evaluated every window before it is stopped (a stop closes open events).
    await waitForFrames(analyzer, published, 180_000);
    await waitFor('the analyzer to evaluate every window', async () => metricValue(await analyzer.metrics(), 'clipwise_windows_evaluated_total') >= aligned.windows.length, 180_000, 500);
    const m = await analyzer.metrics();
    assert.equal(await analyzer.stop(), 0, analyzer.stderr().slice(-3000));

    // Events as an outside subscriber reads them, against the documented schema.
    const read = await readEventsWithKcat(broker.brokers, 'actions');
    const events: ActionEventV1[] = read.map((r) => {
      const event = parseActionEventV1(r.event);
      const headers = headerMap(r.headers);
      assert.equal(r.key, CAMERA, 'key = camera id');
      assert.equal(headers.get('schema'), ACTION_HEADERS_V1.schema);
      assert.equal(headers.get('content-type'), ACTION_HEADERS_V1.contentType);
      assert.equal(headers.get('event-id'), event.id);
      assert.equal(event.cameraId, CAMERA);
      assert.equal(event.action, manifest.classes[event.classIndex]);
      assert.notEqual(event.classIndex, manifest.backgroundIndex);
      assert.deepEqual(event.model, { name: manifest.name, version: manifest.version, head: manifest.defaultHead });
      assert.equal(event.status, 'closed');
      return event;
    });

    // Ground truth of the stretch the camera covered, and every path's events in media seconds.
    const coveredFrom = k / SOURCE_FPS;
    const coveredTo = (k + step * (live.length - 1)) / SOURCE_FPS + 1 / fps;
    const truth: GroundTruth[] = video.instances
      .filter((g) => g.start >= coveredFrom && g.end <= coveredTo)
      .map((g) => ({ video: 'v', classIndex: g.classIndex, start: g.start, end: g.end }));
    const asDetected = (e: ActionEvent | ActionEventV1, bounds: (e: ActionEvent | ActionEventV1) => [number, number]): DetectedEvent => {
      const [start, end] = bounds(e);
      return { video: 'v', classIndex: e.classIndex, start: start / 1000, end: end / 1000, confidence: e.confidence };
    };
    const liveBounds = (e: ActionEvent | ActionEventV1): [number, number] => [mediaMsOf(e.startMs), mediaEndOf(e)];
    const ownBounds = (e: ActionEvent | ActionEventV1): [number, number] => [e.startMs, e.endMs];
    const liveDet = events.map((e) => asDetected(e, liveBounds)).sort((a, b) => a.start - b.start || a.classIndex - b.classIndex);
    const alignedEvents = aligned.events.map((t) => t.event);
    const alignedDet = alignedEvents.map((e) => asDetected(e, ownBounds)).sort((a, b) => a.start - b.start || a.classIndex - b.classIndex);
    const evalDet = evalRun.events.map((t) => asDetected(t.event, ownBounds));
    const evalCovered = evalDet.filter((e) => e.end > coveredFrom && e.start < coveredTo);

    console.log(
      `rtsp synth: ${video.durationSeconds.toFixed(0)} s video (seed 7), ${published} frames published; joined at media ${coveredFrom.toFixed(1)} s ` +
        `(live frame j = source frame ${k} + ${step}j, found bit for bit; estimating from the publisher start would be off by ${(pts0 - publishedAt - (k * 1000) / SOURCE_FPS).toFixed(0)} ms, ` +
        `the live pts' lag behind the camera; ingest sent frame 0 at its pts ${sentLag(0) >= 0 ? '+' : ''}${sentLag(0)} ms, the last at ${sentLag(live.length - 1) >= 0 ? '+' : ''}${sentLag(live.length - 1)} ms); ` +
        `${published - unknown.length}/${published} live frames bit-identical to a file frame, ${offGrid} of them off the nominal grid (relay arrival jitter), by at most ${maxDeviation} source frame(s) = ${(maxDeviation * 1000) / SOURCE_FPS} ms of media time, ${repeated} repeated; covered ${coveredFrom.toFixed(1)}–${coveredTo.toFixed(1)} s, ` +
        `${truth.length} GT instances [${describe(truth.map((g) => ({ ...g, confidence: 1 })), manifest.classes)}]; ` +
        `live ${liveDet.length} events [${describe(liveDet, manifest.classes)}] mAP@0.3 ${mAP(liveDet, truth, 0.3).toFixed(3)} @0.5 ${mAP(liveDet, truth, 0.5).toFixed(3)} ` +
        `(${matched(liveDet, truth, 0.3)}/${truth.length} instances matched at tIoU 0.3, ${matched(liveDet, truth, 0.5)} at 0.5); ` +
        `file path on the live clip grid: ${alignedDet.length} events; clipwise eval's run (clips from media 0): ${evalCovered.length} events in the covered stretch [${describe(evalCovered, manifest.classes)}] ` +
        `mAP@0.3 ${mAP(evalCovered, truth, 0.3).toFixed(3)} @0.5 ${mAP(evalCovered, truth, 0.5).toFixed(3)} (${matched(evalCovered, truth, 0.3)} matched at 0.3, ${matched(evalCovered, truth, 0.5)} at 0.5)`,
    );

    // Transport: every frame the camera sent after the join reached the analyzer, exactly.
    if (unknown.length > 0) {
      // Say what the first ones are: a frame of the video elsewhere (shifted: frames lost or
      // added before it) or none at all (corrupted).
      const what = await Promise.all(
        unknown.slice(0, 3).map(async (j) => {
          const at = await identify(live[j] as Frame, source, source.map((_, i) => i));
          return `seq ${j}: ${at === undefined ? 'no frame of the video' : `source frame ${at}`} (nominal ${k + step * j})`;
        }),
      );
      assert.fail(`${unknown.length} frames on the topic are no frame of the video within one analysis frame of their place: ${what.join('; ')}`);
    }
    assert.deepEqual(backwards.slice(0, 10), [], `frames out of order at seq ${backwards.slice(0, 10).join(', ')}`);
    assert.equal(metricValue(m, 'clipwise_frames_in_total'), published, 'the analyzer took every published frame once');
    assert.equal(metricValue(m, 'clipwise_dead_letters_total'), 0);
    assert.equal(metricValue(m, 'clipwise_frames_dropped_total'), 0);
    assert.equal(metricValue(m, 'clipwise_clips_dropped_total'), 0);
    assert.equal(metricValue(m, 'clipwise_windows_evaluated_total'), aligned.windows.length, 'the analyzer evaluated the windows the file path did');

    // Events: exactly the file path's on the same clips, none lost or repeated, times mapped back to media time.
    assert.ok(alignedEvents.length > 0, `the model (${manifest.name} ${manifest.version}) finds no action in a 60-s video with ${video.instances.length} actions: event delivery would go untested`);
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'no duplicate event');
    const byId = new Map(events.map((e) => [e.id, e]));
    for (const want of alignedEvents) {
      const got = byId.get(want.id);
      assert.ok(got, `event ${want.action} clips ${want.startClip}–${want.endClip} (${want.id}) of the file path never reached kcat`);
      assert.deepEqual(
        [got.action, got.classIndex, got.startClip, got.endClip, got.nearGap],
        [want.action, want.classIndex, want.startClip, want.endClip, want.nearGap],
        `event ${want.id}`,
      );
      const near = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol;
      const [gotStart, gotEnd] = liveBounds(got);
      assert.ok(near(gotStart, want.startMs, 1e-6) && near(gotEnd, want.endMs, 1e-6), `event ${want.id}: media bounds ${gotStart}–${gotEnd} ms vs ${want.startMs}–${want.endMs} ms`);
      assert.ok(got.clips.every((c, i) => near(mediaMsOf(c.startMs), want.clips[i]?.startMs ?? NaN, 1e-6)), `event ${want.id}: clip ranges`);
      assert.ok(near(got.confidence, want.confidence, 1e-5), `event ${want.id}: confidence ${got.confidence} vs ${want.confidence}`);
      assert.ok(got.attention.length === want.attention.length && got.attention.every((a, i) => near(a, want.attention[i] ?? NaN, 1e-5)), `event ${want.id}: attention`);
    }
    assert.equal(events.length, alignedEvents.length, `kcat read events the file path does not give: ${events.filter((e) => !alignedEvents.some((w) => w.id === e.id)).map((e) => e.id).join(', ')}`);

    // Ground truth: the live path matches it exactly as well as the file path on the same clips.
    assert.ok(truth.length > 0, 'the covered stretch holds ground truth');
    for (const t of [0.3, 0.5]) {
      assert.equal(mAP(liveDet, truth, t), mAP(alignedDet, truth, t), `mAP@${t}: live vs file path`);
      assert.equal(matched(liveDet, truth, t), matched(alignedDet, truth, t));
    }
    // …and that is a match with the ground truth within the eval's tolerance (see the header).
    assert.ok(
      matched(liveDet, truth, 0.3) >= Math.ceil(truth.length / 2),
      `live events match ${matched(liveDet, truth, 0.3)} of ${truth.length} ground-truth instances at tIoU 0.3 (need half)`,
    );
  } finally {
    local.dispose();
  }
});
