/**
 * Benchmark (study): how a live join's clip-grid phase moves the match with the ground truth.
 *
 * Why: a live camera's clips start wherever the analyzer joined it, so the same video is cut on
 * one of `stride × (source fps / analysis fps)` grids; test/e2e/rtspSynth.e2e.ts asserts a
 * ground-truth bar on whatever phase its join gives, and that bar must hold on every phase. This
 * runs the file path (`runAnalysis`: the operators `clipwise run` uses, sequence-aligned clips
 * and full windows as the Kafka analyzer runs them) on each phase of the first video of a set
 * and scores the events with the eval's matching, over the stretch the phase covers. With
 * `--jpeg` every frame first goes through the ingest's JPEG step (encodeFrameMessage at the
 * ingest's quality 85, then decodeFrameMessage: the frames the e2e test's analyzer reads);
 * without it the frames are the file's decode.
 *
 * Run (the e2e test's video):
 *   clipwise synth --out .cache/rtsp7 --videos 1 --seed 7 --min-seconds 60 --max-seconds 60 --fps 10 \
 *     --empty-fraction 0 --instances 3,4 --gap-seconds 6,12 --figure-scale 0.4,0.45 --distractors 0.5 --shake 0
 *   npx tsx bench/clipPhaseStudy.ts --set .cache/rtsp7 [--model models/default] [--source-fps 10] [--jpeg]
 * Prints one row per phase (instances matched at tIoU 0.3 / 0.5, mAP, the events), the minima,
 * then one JSON line (`{"bench":"clipPhaseStudy",…}`).
 */
import { parseArgs } from 'node:util';
import { from, lastValueFrom, toArray } from 'rxjs';
import { evaluationSettings, inferWith, runAnalysis } from '../src/eval/analysisRun.ts';
import { meanAveragePrecision, type DetectedEvent, type GroundTruth } from '../src/eval/detectionMetrics.ts';
import { createEmbedder, createWindowHead, loadManifest } from '../src/model/clipModel.ts';
import { initRuntime } from '../src/model/runtime.ts';
import { decodeFrameMessage, encodeFrameMessage } from '../src/topology/frameCodec.ts';
import { createFfmpegSource } from '../src/topology/sources/ffmpegSource.ts';
import { loadDataset } from '../src/train/dataset.ts';
import { fileSourceOptions } from '../src/train/decode.ts';
import type { Frame } from '../src/types.ts';

const { values } = parseArgs({
  options: {
    set: { type: 'string', default: '.cache/rtsp7' },
    model: { type: 'string', default: 'models/default' },
    'source-fps': { type: 'string', default: '10' },
    jpeg: { type: 'boolean', default: false },
  },
});
await initRuntime({ backend: 'wasm' });
const manifest = await loadManifest(values.model);
const embedder = await createEmbedder(values.model);
const head = await createWindowHead(values.model);
const video = (await loadDataset(values.set)).videos[0];
if (video === undefined) throw new Error(`${values.set} holds no video`);
const sourceFps = Number(values['source-fps']);
const fps = manifest.clip.fps;
const step = sourceFps / fps;
if (!Number.isInteger(step)) throw new Error(`--source-fps ${sourceFps} is not a multiple of the model's ${fps} fps`);
const C = manifest.window.clips;
const names = manifest.classes;
const decoded = await lastValueFrom(createFfmpegSource(fileSourceOptions(video.path, 'source', { fps: sourceFps, size: manifest.clip.size })).frames$.pipe(toArray()));
// The ingest's round trip (its default encoding and quality), once per source frame.
const source: Frame[] = values.jpeg
  ? await Promise.all(decoded.map(async (f) => ({ ...f, ...(await decodeFrameMessage(await encodeFrameMessage(f, 'jpeg'), { width: f.width, height: f.height })), seq: f.seq, ptsMs: f.ptsMs })))
  : decoded;

interface Row {
  readonly phase: number;
  readonly instances: number;
  readonly matched30: number;
  readonly matched50: number;
  readonly mAP30: number;
  readonly mAP50: number;
  readonly events: string;
}
const rows: Row[] = [];
try {
  for (let k = 0; k < step * manifest.clip.stride; k++) {
    // Live frame j is source frame k + step·j, with the source's media time as pts.
    const frames: Frame[] = [];
    for (let j = 0; k + step * j < source.length; j++) {
      frames.push({ ...(source[k + step * j] as Frame), cameraId: 'v', seq: j, ptsMs: ((k + step * j) * 1000) / sourceFps });
    }
    const run = await runAnalysis({
      frames$: from(frames),
      manifest,
      headKind: head.kind,
      infer: inferWith(embedder),
      runHead: (w) => head.run(w),
      settings: { ...evaluationSettings(manifest), align: 'sequence', minClips: C, batchClips: 1, batchWindows: 1 },
      backend: 'wasm',
    });
    const coveredFrom = k / sourceFps;
    const coveredTo = (k + step * (frames.length - 1)) / sourceFps + 1 / fps;
    const truth: GroundTruth[] = video.instances
      .filter((g) => g.start >= coveredFrom && g.end <= coveredTo)
      .map((g) => ({ video: 'v', classIndex: g.classIndex, start: g.start, end: g.end }));
    const events: DetectedEvent[] = run.events.map(({ event: e }) => ({ video: 'v', classIndex: e.classIndex, start: e.startMs / 1000, end: e.endMs / 1000, confidence: e.confidence }));
    const at = (t: number): { mAP: number; matched: number } => {
      const m = meanAveragePrecision(events, truth, t);
      return { mAP: m.mAP, matched: m.perClass.reduce((s, c) => s + c.truePositives, 0) };
    };
    const [m30, m50] = [at(0.3), at(0.5)];
    rows.push({
      phase: k,
      instances: truth.length,
      matched30: m30.matched,
      matched50: m50.matched,
      mAP30: m30.mAP,
      mAP50: m50.mAP,
      events: events.map((e) => `${names[e.classIndex] ?? e.classIndex} ${e.start.toFixed(1)}–${e.end.toFixed(1)}`).join(', '),
    });
  }
} finally {
  embedder.dispose();
  head.dispose();
}

const truthText = video.instances.map((g) => `${g.class} ${g.start.toFixed(1)}–${g.end.toFixed(1)}`).join(', ');
console.log(`${manifest.name} ${manifest.version} on ${video.path} (${sourceFps} fps source, ${fps} fps analysis${values.jpeg ? ', JPEG q85 round trip' : ''}); ground truth: ${truthText}\n`);
console.log('| phase (source frames) | instances | matched @0.3 | matched @0.5 | mAP@0.3 | mAP@0.5 | events |');
console.log('|---:|---:|---:|---:|---:|---:|---|');
for (const r of rows) console.log(`| ${r.phase} | ${r.instances} | ${r.matched30} | ${r.matched50} | ${r.mAP30.toFixed(3)} | ${r.mAP50.toFixed(3)} | ${r.events} |`);
const min = (f: (r: Row) => number): number => Math.min(...rows.map(f));
const summary = {
  minMatchedShare30: min((r) => r.matched30 / Math.max(1, r.instances)),
  minMatchedShare50: min((r) => r.matched50 / Math.max(1, r.instances)),
  minMAP30: min((r) => r.mAP30),
  minMAP50: min((r) => r.mAP50),
};
console.log(
  `\nworst phase: ${(100 * summary.minMatchedShare30).toFixed(0)}% of instances matched at tIoU 0.3, ${(100 * summary.minMatchedShare50).toFixed(0)}% at 0.5; ` +
    `mAP@0.3 ≥ ${summary.minMAP30.toFixed(3)}, mAP@0.5 ≥ ${summary.minMAP50.toFixed(3)}`,
);
console.log(JSON.stringify({ bench: 'clipPhaseStudy', model: `${manifest.name} ${manifest.version}`, video: video.path, sourceFps, jpeg: values.jpeg, rows, ...summary }));
