/**
 * Benchmark (diagnostic): do two backbones' descriptors together make a better detector than
 * either alone? Trains the GCF head on the cached clip descriptors of finished training runs
 * (`MODEL_DIR/checkpoints/features/{train,val}-i.bin`, written by `clipwise train`), alone or
 * concatenated per clip, with the head options `clipwise train` uses, then runs the
 * validation calibration (the streaming operators' replay, the default false-alarm budget).
 *
 * Why: session 12's motion-weighted pooling (v23) ranked run windows far better than the mean
 * (v21) and everything else worse; this asks whether the two are complementary without
 * training a two-pooling backbone (~1.5 h). Validation only: no selection or test video.
 *
 * The runs must share the data set and split (same `--data` and `--seed`); checked.
 * Run: `npx tsx bench/descriptorMix.ts --data .cache/synth-train-720 --runs .cache/model-v21,.cache/model-v23`
 * (one run alone: `--runs .cache/model-v21`). ~5 min per 256-d head on 2 cores. Prints one
 * markdown row and one JSON line (`{"bench":"descriptorMix",…}`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveBackboneConfig } from '../src/model/backbone.ts';
import { loadManifest, manifestBackboneConfig } from '../src/model/clipModel.ts';
import { createHead, type HeadConfig } from '../src/model/heads.ts';
import { initRuntime } from '../src/model/runtime.ts';
import { calibrateThresholds, type ReplayVideo } from '../src/train/calibrate.ts';
import { loadDataset, type DatasetVideo } from '../src/train/dataset.ts';
import { clipLabels } from '../src/train/labels.ts';
import { DEFAULT_TRAIN_OPTIONS, headTrainingOptions } from '../src/train/trainModel.ts';
import { trainHead } from '../src/train/trainHeads.ts';
import { actionTop1, gatherWindows, indexWindows, predictHead, type FeatureVideo } from '../src/train/windows.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '.cache/synth-train-720' },
    runs: { type: 'string', default: '.cache/model-v21,.cache/model-v23' },
  },
});
const runs = (values.runs ?? '').split(',').filter((r) => r.length > 0);

interface RunState {
  readonly data: string;
  readonly split: { readonly train: readonly number[]; readonly val: readonly number[] };
}

async function readFloats(file: string): Promise<Float32Array> {
  const b = await readFile(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function main(): Promise<void> {
  const o = DEFAULT_TRAIN_OPTIONS;
  await initRuntime({ backend: 'wasm' });
  const dataset = await loadDataset(values.data as string);
  const states = await Promise.all(runs.map(async (r) => JSON.parse(await readFile(join(r, 'checkpoints', 'state.json'), 'utf8')) as RunState));
  const manifests = await Promise.all(runs.map((r) => loadManifest(r)));
  const first = states[0];
  const m0 = manifests[0];
  if (!first || !m0) throw new Error('--runs names no run');
  if (states.some((s) => JSON.stringify(s.split) !== JSON.stringify(first.split))) throw new Error('the runs were split differently (other --data or --seed)');
  const timing = { fps: m0.clip.fps, frames: m0.clip.frames, stride: m0.clip.stride };
  const dims = manifests.map((m) => resolveBackboneConfig(manifestBackboneConfig(m)).dim);
  const dim = dims.reduce((a, b) => a + b, 0);
  const bg = dataset.backgroundIndex;
  const load = (tag: 'train' | 'val', indices: readonly number[]): Promise<FeatureVideo[]> =>
    Promise.all(
      indices.map(async (vi, i) => {
        const parts = await Promise.all(runs.map((r) => readFloats(join(r, 'checkpoints', 'features', `${tag}-${i}.bin`))));
        const count = (parts[0]?.length ?? 0) / (dims[0] ?? 1);
        const features = new Float32Array(count * dim);
        for (let j = 0; j < count; j++) {
          let at = j * dim;
          parts.forEach((p, k) => {
            const d = dims[k] ?? 0;
            if (p.length !== count * d) throw new Error(`${runs[k]}: ${tag}-${i}.bin holds ${p.length / d} clips, not ${count}`);
            features.set(p.subarray(j * d, (j + 1) * d), at);
            at += d;
          });
        }
        const v = dataset.videos[vi] as DatasetVideo;
        return { features, count, dim, labels: clipLabels(v.instances, count, timing, 0, bg) };
      }),
    );
  const train = await load('train', first.split.train);
  const val = await load('val', first.split.val);
  const C = m0.window.clips;
  const headConfig = { ...(m0.heads['gcf'] as unknown as HeadConfig), inputDim: dim };
  const head = createHead('gcf', headConfig);
  try {
    const t0 = performance.now();
    await trainHead({
      ...headTrainingOptions(o, 'gcf', { numClasses: m0.classes.length, backgroundIndex: bg }),
      clips: C, // the runs' window, which the descriptors were cut for
      head,
      videos: train,
      windows: indexWindows(train, C, bg),
    });
    const headSeconds = (performance.now() - t0) / 1000;
    const vw = indexWindows(val, C, bg);
    const pred = await predictHead(head, gatherWindows(val, vw, C), vw.length, C, dim);
    const top1 = actionTop1(pred, vw.map((w) => w.label), bg).top1;
    const replay: ReplayVideo[] = val.map((f, i) => {
      const v = dataset.videos[first.split.val[i] as number] as DatasetVideo;
      return { id: `val-${i}`, features: f.features, count: f.count, dim, durationSeconds: v.durationSeconds, instances: v.instances };
    });
    const manifest = { ...m0, backbone: { ...m0.backbone, dim }, heads: { ...m0.heads, gcf: headConfig } } as typeof m0;
    const { best, grid } = await calibrateThresholds({ manifest, headKind: 'gcf', head, videos: replay });
    const free = grid.reduce((a, p) => (p.mAP50 > a.mAP50 ? p : a));
    const f = (x: number, d = 3): string => x.toFixed(d);
    console.log('| descriptors | dim | validation GCF top-1 % | mAP@0.5 within the budget (θ_class, θ_att, clips; FA/h) | best mAP@0.5 (FA/h) |');
    console.log('|---|---:|---:|---|---|');
    console.log(
      `| ${runs.join(' + ')} | ${dim} | ${f(100 * top1, 1)} | ${f(best.mAP50)} (${best.classThreshold}, ${best.attentionThreshold}, ${best.minEventClips ?? 1}; ${f(best.falseAlarmsPerHour, 2)}) | ` +
        `${f(free.mAP50)} (${f(free.falseAlarmsPerHour, 2)}) |`,
    );
    console.log(JSON.stringify({ bench: 'descriptorMix', runs, dim, headSeconds, valTop1: top1, best, unconstrained: free }));
  } finally {
    head.dispose();
  }
}

void main();
