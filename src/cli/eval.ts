/**
 * `clipwise eval --data DIR [--model MODEL_DIR] --json FILE [--report FILE.md] [--plots DIR]`:
 * window classification of every head and temporal detection through the streaming topology
 * (see src/eval/evaluate.ts).
 *
 * Exit codes: 0 evaluated (goals met or not: the numbers are the output), 2 bad flags, data or
 * model folder, 1 failure.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { HeadKind } from '../model/heads.ts';
import { parseFlags } from './args.ts';

const USAGE = `clipwise eval --data DIR [--model MODEL_DIR] --json FILE [options]

  --data DIR         labelled video set (DIR/annotations.json, as written by 'clipwise synth')
  --model MODEL_DIR  model folder (models/default)
  --json FILE        write the numbers as JSON (required)
  --report FILE.md   write a markdown report
  --plots DIR        write one PNG per video: attention over time against the ground truth
  --card FILE.md     append the report to a model card (below its evaluation marker)
  --head KIND        head for detection (the model's default head)
  --limit N          evaluate the first N videos only
  --class-threshold X      θ_class for detection (the manifest's calibrated value)
  --attention-threshold X  θ_att for detection (the manifest's calibrated value)
  --min-event-clips N      fewest clips a reported event spans (the manifest's calibrated value, else 1)
`;

const HEADS: readonly HeadKind[] = ['gcf', 'fusionOnly', 'attentionOnly', 'atw', 'dense', 'central'];

/**
 * Run `clipwise eval`.
 *
 * @example
 * await evalCommand(['--data', '.cache/synth-test', '--json', 'eval.json', '--report', 'eval.md']);
 * @param argv flags after the sub-command.
 * @returns the exit code.
 */
export async function evalCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { values } = parseFlags(
    argv,
    {
      data: { type: 'string' },
      model: { type: 'string' },
      json: { type: 'string' },
      report: { type: 'string' },
      plots: { type: 'string' },
      card: { type: 'string' },
      head: { type: 'string' },
      limit: { type: 'string' },
      'class-threshold': { type: 'string' },
      'attention-threshold': { type: 'string' },
      'min-event-clips': { type: 'string' },
    },
    'eval',
  );
  const bad = (flag: string, message: string): never => {
    throw new ConfigError(`clipwise eval: ${flag} ${message}\n\n${USAGE}`, [{ path: flag, message }]);
  };
  if (!values.data) bad('--data', 'is required');
  if (!values.json) bad('--json', 'is required');
  const head = values.head as HeadKind | undefined;
  if (head !== undefined && !HEADS.includes(head)) bad('--head', `must be one of ${HEADS.join(', ')}`);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) bad('--limit', 'must be a positive integer');
  const threshold = (flag: '--class-threshold' | '--attention-threshold', v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const x = Number(v);
    return Number.isFinite(x) && x >= 0 && x <= 1 ? x : bad(flag, `must be a number in [0, 1], got ${v}`);
  };
  const classThreshold = threshold('--class-threshold', values['class-threshold']);
  const attentionThreshold = threshold('--attention-threshold', values['attention-threshold']);
  const minEventClips = values['min-event-clips'] === undefined ? undefined : Number(values['min-event-clips']);
  if (minEventClips !== undefined && !(Number.isInteger(minEventClips) && minEventClips > 0)) bad('--min-event-clips', 'must be a positive integer');
  const modelDir = values.model ?? 'models/default';
  // A missing model folder is a usage error (exit 2), not a crash halfway through.
  const { loadManifest } = await import('../model/clipModel.ts');
  try {
    await loadManifest(modelDir);
  } catch (err) {
    throw new ConfigError(`clipwise eval: --model ${modelDir}: ${(err as Error).message}`, [{ path: '--model', message: 'not a model folder' }], { cause: err });
  }
  const { evaluateModel } = await import('../eval/evaluate.ts');
  const { evalReportMarkdown } = await import('../eval/report.ts');
  const result = await evaluateModel({
    data: values.data as string,
    model: modelDir,
    ...(head ? { head } : {}),
    ...(values.plots ? { plots: values.plots } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(classThreshold !== undefined ? { classThreshold } : {}),
    ...(attentionThreshold !== undefined ? { attentionThreshold } : {}),
    ...(minEventClips !== undefined ? { minEventClips } : {}),
    log: (msg) => process.stderr.write(`${msg}\n`),
  });
  const json = values.json as string;
  await mkdir(dirname(json), { recursive: true });
  await writeFile(json, JSON.stringify(result, null, 2) + '\n');
  const markdown = evalReportMarkdown(result, `clipwise eval ${argv.join(' ')}`);
  if (values.report) {
    await mkdir(dirname(values.report), { recursive: true });
    await writeFile(values.report, `# clipwise evaluation\n\n${markdown}`);
  }
  if (values.card) {
    const { EVAL_MARKER } = await import('../train/modelCard.ts');
    let card = '';
    try {
      card = await readFile(values.card, 'utf8');
    } catch {
      card = `${EVAL_MARKER}\n`;
    }
    const at = card.indexOf(EVAL_MARKER);
    const head = at >= 0 ? card.slice(0, at + EVAL_MARKER.length) : `${card.trimEnd()}\n\n${EVAL_MARKER}`;
    await writeFile(values.card, `${head}\n\n${markdown}`);
  }
  const t = result.windows.top1;
  process.stderr.write(
    `eval: top-1 % C-Clip ${t.central?.toFixed(2)}, D-Clips ${t.dense?.toFixed(2)}, attention-only ${t.attentionOnly?.toFixed(2)}, ` +
      `fusion-only ${t.fusionOnly?.toFixed(2)}, GCF ${t.gcf?.toFixed(2)}, ATW ${t.atw?.toFixed(2)} (${result.windows.count} windows); ` +
      `mAP@0.3/0.5/0.7 ${result.detection.mAP['0.3'].toFixed(3)}/${result.detection.mAP['0.5'].toFixed(3)}/${result.detection.mAP['0.7'].toFixed(3)}, ` +
      `${result.detection.falseAlarmsPerHour.toFixed(2)} false alarms/h, delay p50 ${result.detection.delaySeconds.p50.toFixed(1)} s → ${json}\n`,
  );
  return 0;
}
