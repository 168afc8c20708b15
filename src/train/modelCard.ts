/**
 * MODEL_CARD.md of a trained model folder: what the model detects, what it was trained on and
 * how, how long that took here, what validation said, and how to reproduce and evaluate it.
 *
 * Why generated: every number in the card comes from the run that produced the weights (no
 * hand-copied figures drifting from the files next to it). `clipwise eval --card` appends the
 * test-set evaluation below the training part.
 *
 * @example
 * await writeModelCard('models/default/MODEL_CARD.md', { manifest, options, summary, classes });
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import type { ModelManifest } from '../model/clipModel.ts';
import { HEAD_KINDS } from '../model/heads.ts';
import { DEFAULT_FALSE_ALARM_BUDGET } from './calibrate.ts';
import { NEAR_ACTION_SECONDS } from './clipSampler.ts';
import { formatDuration } from './progress.ts';
import type { TrainOptions, TrainSummary } from './trainModel.ts';

/** Marker line after which `clipwise eval --card` writes its section. */
export const EVAL_MARKER = '<!-- clipwise eval: evaluation section below -->';

/** Table 2 column names of the heads. */
export const HEAD_TITLES = {
  central: 'C-Clip',
  dense: 'D-Clips',
  attentionOnly: 'Attention only',
  fusionOnly: 'Fusion only',
  gcf: 'GCF full',
  atw: 'ATW',
} as const;

const pct = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(1)}`);
const num = (x: number | undefined, d = 3): string => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));

/**
 * Write the card.
 *
 * @param path where to write.
 * @param info manifest, options, summary and class names of the run.
 */
export async function writeModelCard(
  path: string,
  info: { manifest: ModelManifest; options: TrainOptions; summary: TrainSummary; classes: readonly string[]; dataCommand?: string },
): Promise<void> {
  const { manifest: m, options: o, summary: s } = info;
  const cpu = cpus();
  // Absent from the options of runs before session 10 (cards regenerated from training.json).
  const nearShare = o.nearActionNegatives ?? 0;
  const lines: string[] = [
    `# Model card: ${m.name} ${m.version}`,
    '',
    `Live action detection with temporal bounds: a clip backbone (MobileNetV2-style 2D CNN with Gate-Shift-Fuse` +
      `${m.backbone['temporalDifference'] === true ? ', its stem fed each frame and its difference to the previous frame' : ''}, ` +
      `${m.clip.frames} frames of ${m.clip.size}×${m.clip.size} at ${m.clip.fps} fps per clip, descriptor d = ${String(m.backbone['dim'])}) ` +
      `and window heads over C = ${m.window.clips} clips (${((m.window.clips * m.clip.frames) / m.clip.fps).toFixed(0)} s). Default head: \`${m.defaultHead}\`.`,
    '',
    '## Classes',
    '',
    info.classes.map((c, i) => `${i}. \`${c}\`${i === m.backgroundIndex ? ' (background, never reported)' : ''}`).join('\n'),
    '',
    '## Training data',
    '',
    `\`${o.data}\`: ${s.videos.train + s.videos.val} procedurally rendered untrimmed surveillance videos (\`clipwise synth\`), ` +
      `split by video: ${s.videos.train} for training (${(s.videos.trainSeconds / 60).toFixed(0)} min), ${s.videos.val} for validation ` +
      `(${(s.videos.valSeconds / 60).toFixed(0)} min). Clip labels from the annotations (a clip takes an action's class when the action covers ≥ 50% of it).`,
    '',
    `Training clips per class (every start frame): ${s.clipsPerClass.map((n, k) => `${info.classes[k]} ${n}`).join(', ')}.`,
    '',
    ...(info.dataCommand ? ['The set is not committed; it is regenerated (deterministic for its seed, default nuisance settings) by:', '', '```sh', info.dataCommand, '```', ''] : []),
    '## Training command',
    '',
    '```sh',
    o.command ?? `clipwise train --data ${o.data} --out ${o.out}`,
    '```',
    '',
    '## Training procedure and time',
    '',
    `Measured on this machine (${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, tfjs backend \`${s.backend}\` with clipwise's wasm training kernels), shared with other jobs:`,
    '',
    '| stage | what | time |',
    '|---|---|---|',
    `| decode | ffmpeg, ${m.clip.fps} fps, ${m.clip.size}×${m.clip.size} (the file source's own path) | ${formatDuration(s.decodeSeconds)} |`,
    `| 1 | backbone + temporary clip classifier: ${o.epochs} epochs × ${o.stepsPerEpoch} steps × ${o.batchSize} clips, Adam ${o.learningRate} (warm-up + cosine), class-balanced sampling${nearShare > 0 ? ` (${Math.round(nearShare * 100)}% of background clips from the ${NEAR_ACTION_SECONDS} s around instances)` : ''}, flip + brightness${o.workers > 1 ? `, data-parallel over ${o.workers} worker threads` : ''} | ${formatDuration(s.stage1.seconds)} |`,
    `| features | ${s.features.clips} clip descriptors with the served (compiled, BatchNorm-folded) backbone | ${formatDuration(s.features.seconds)} |`,
    `| 2 | six heads on ${s.stage2.trainWindows} windows: ${o.headSteps} steps × ${o.headBatchSize} windows each, Adam ${o.headLearningRate}, λ = ${o.lambda}, attention supervision μ = ${o.attentionSupervision}${o.workers > 1 ? `, side by side on ${o.workers} worker threads (${formatDuration(s.stage2.heads.reduce((t, h) => t + h.seconds, 0))} of head time)` : ''} | ${formatDuration(s.stage2.seconds)} |`,
    ...(s.stage2.unsupervisedGate
      ? [`| diagnostic | GCF head with the paper's loss (μ = 0), not shipped (\`--gate-diagnostic\`) | ${formatDuration(s.stage2.unsupervisedGate.seconds)} |`]
      : []),
    `| calibration | θ_class × θ_att grid replayed through the streaming operators on validation | ${formatDuration(s.calibration.seconds)} |`,
    `| **total** | | **${formatDuration(s.totalSeconds)}** |`,
    '',
    'Stage 1 per epoch (validation: stride-aligned clips of the validation videos, at most ' + `${o.valClipsPerClass} per class):`,
    '',
    '| epoch | train loss | train acc % | val acc % | val balanced acc % | time |',
    '|---|---|---|---|---|---|',
    ...s.stage1.epochs.map(
      (e) => `| ${e.epoch} | ${num(e.trainLoss)} | ${pct(e.trainAcc)} | ${pct(e.val?.acc)} | ${pct(e.val?.balancedAcc)} | ${formatDuration(e.seconds)} |`,
    ),
    '',
    '## Validation (windows of the validation videos)',
    '',
    `Top-1 % on ${s.stage2.valActionWindows} windows that hold an action (background excluded from the argmax):`,
    '',
    `| ${HEAD_KINDS.map((k) => HEAD_TITLES[k]).join(' | ')} |`,
    `|${HEAD_KINDS.map(() => '---').join('|')}|`,
    `| ${HEAD_KINDS.map((k) => pct(s.stage2.valTop1[k])).join(' | ')} |`,
    '',
    'Attention of the gated heads on validation windows that hold an action:',
    '',
    '| head | mean att, action clips | mean att, other clips | ranking AUC | run tIoU (att ≥ 0.5) | run tIoU (att / window max ≥ 0.5) |',
    '|---|---|---|---|---|---|',
    ...Object.entries(s.stage2.attention).map(
      ([k, a]) =>
        `| ${k}${o.attentionSupervision > 0 ? ` (μ = ${o.attentionSupervision})` : ''} | ${num(a.meanOnAction)} | ${num(a.meanOffAction)} | ${num(a.auc)} | ${num(a.meanRunTIoU)} | ${num(a.meanRelativeRunTIoU)} |`,
    ),
    ...(s.stage2.unsupervisedGate
      ? [
          `| gcf, paper loss (μ = 0), diagnostic, not shipped | ${num(s.stage2.unsupervisedGate.attention.meanOnAction)} | ${num(s.stage2.unsupervisedGate.attention.meanOffAction)} | ${num(s.stage2.unsupervisedGate.attention.auc)} | ${num(s.stage2.unsupervisedGate.attention.meanRunTIoU)} | ${num(s.stage2.unsupervisedGate.attention.meanRelativeRunTIoU)} |`,
          '',
          `The diagnostic head is the shipped GCF head's twin trained with the paper's loss only (CE + λ‖att‖₁); its validation top-1 is ` +
            `${pct(s.stage2.unsupervisedGate.valTop1)}% against ${pct(s.stage2.valTop1.gcf)}% for the shipped one. ` +
            'Why the paper loss does not localise here: the gate sees one number per clip, g_i = mean(b_i) (eq. 2), and b_i is already a ' +
            'softmax mix of all clips (eq. 1), so g is nearly flat across a window; and with R = B + S the gate only rescales a clip between ' +
            '1× and 2×, so the cross-entropy gains little from selecting clips while λ‖att‖₁ pulls every gate down alike (ranking AUC ≈ 0.5 ' +
            'means the gate orders action and background clips at random). The fix used: the training annotations say which clips of a window ' +
            'hold its action, so the loss adds μ·BCE(att_i, clip i holds the window\'s action) — the gate becomes a calibrated per-clip ' +
            'relevance, and θ_att = 0.5 keeps its meaning (§4.6). Architecture and inference are unchanged; the other heads do not use it.',
        ]
      : o.attentionSupervision > 0
        ? ['', "The paper-loss twin of the GCF head (how well the gate localises without μ) was not trained in this run: `clipwise train --gate-diagnostic` adds it."]
        : []),
    '',
    `Recommended detection thresholds (manifest \`detection\`), chosen on validation through the streaming operators ` +
      `(the best mAP@0.5 within ${info.options.falseAlarmBudget ?? DEFAULT_FALSE_ALARM_BUDGET} false alarms per hour; the whole grid is in training.json): ` +
      `θ_class = ${s.calibration.best.classThreshold}, θ_att = ${s.calibration.best.attentionThreshold}, ` +
      `events of at least ${s.calibration.best.minEventClips ?? 1} clip(s) ` +
      `(validation mAP@0.3/0.5/0.7 = ${num(s.calibration.best.mAP30)} / ${num(s.calibration.best.mAP50)} / ${num(s.calibration.best.mAP70)}, ` +
      `${num(s.calibration.best.falseAlarmsPerHour, 2)} false alarms per hour).`,
    '',
    EVAL_MARKER,
    '',
  ];
  await writeFile(path, lines.join('\n'));
}
