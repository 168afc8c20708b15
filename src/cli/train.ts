/**
 * `clipwise train --data DIR --out MODEL_DIR`: train backbone and heads (see src/train/trainModel.ts).
 *
 * Exit codes: 0 trained, 2 bad flags or a bad data set (nothing trained), 1 failure.
 */
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { numberFlag, parseFlags } from './args.ts';
import { isSpatialPooling, type SpatialPooling } from '../model/layers/SpatioTemporalAveragePool.ts';

const USAGE = `clipwise train --data DIR --out MODEL_DIR [options]

Trains the clip backbone (stage 1) and all window heads (stage 2) on a data set written by
'clipwise synth' (DIR/annotations.json + videos), calibrates the detection thresholds on the
validation videos, and writes a model folder with manifest.json, MODEL_CARD.md and training.json.

  --data DIR              data set directory (required)
  --out MODEL_DIR         model folder to write (required); checkpoints go to MODEL_DIR/checkpoints
  --resume                continue from MODEL_DIR/checkpoints (same --data, --seed and sizes)
  --epochs N              stage-1 epochs (36)
  --steps-per-epoch N     stage-1 steps per epoch (160)
  --batch N               stage-1 clips per step (4)
  --lr X                  stage-1 peak learning rate (0.002)
  --near-negatives X      share (0–1) of stage-1 background clips drawn from the 3 s before and
                          after each instance: the actor approaching and leaving (0.5; 0 = uniform)
  --workers N             worker threads: N ≥ 2 trains N stage-1 model replicas on shares of each
                          batch (data-parallel, 1.6x the clips per second on 2 cores), computes the
                          clip descriptors on N inference workers and trains N heads side by side;
                          1 = everything on this thread (2)
  --width-multiplier A    backbone channel width multiplier (0.5)
  --gsf-blocks N          last backbone blocks with a Gate-Shift-Fuse module (2; 9 = all)
  --temporal-difference on|off  feed the stem each frame's difference to the previous one as well (on)
  --spatial-pooling P     descriptor pooling: mean (GCF-Net), max (per frame) or motion (mean
                          weighted by each cell's frame difference) (mean)
  --head-steps N          stage-2 steps per head (4000)
  --lambda X              λ of the attention L1 term (0.001)
  --attention-supervision X  μ: weight of the gate's clip-relevance loss (1; 0 = the paper's loss)
  --gate-diagnostic       also train a GCF head with the paper's loss (μ = 0, not shipped) and
                          report how well its gate finds the actions (~3 min on the default set)
  --val-fraction F        share of videos held out for validation (0.2)
  --false-alarm-budget X  false alarms per hour the calibrated thresholds may have on validation (0.5)
  --seed S                split, sampling and initialisation seed (1)
  --quick                 tiny frames and nets, a few steps (tests, smoke runs)
`;

function onOffFlag(v: string, name: string): boolean {
  if (v === 'on' || v === 'off') return v === 'on';
  throw new ConfigError(`--${name} must be on or off, got ${v}`, [{ path: `--${name}`, message: 'not on or off' }]);
}

function spatialPoolingFlag(v: string): SpatialPooling {
  if (isSpatialPooling(v)) return v;
  throw new ConfigError(`--spatial-pooling must be mean, max or motion, got ${v}`, [{ path: '--spatial-pooling', message: 'not mean, max or motion' }]);
}

/**
 * Run `clipwise train`.
 *
 * @example
 * await trainCommand(['--data', '.cache/synth-train', '--out', 'models/default']);
 * @param argv flags after the sub-command.
 * @returns the exit code (flag and data errors throw ConfigError: exit 2).
 */
export async function trainCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { values } = parseFlags(
    argv,
    {
      data: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      epochs: { type: 'string' },
      'steps-per-epoch': { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      'near-negatives': { type: 'string' },
      workers: { type: 'string' },
      'width-multiplier': { type: 'string' },
      'gsf-blocks': { type: 'string' },
      'temporal-difference': { type: 'string' },
      'spatial-pooling': { type: 'string' },
      'head-steps': { type: 'string' },
      lambda: { type: 'string' },
      'attention-supervision': { type: 'string' },
      'gate-diagnostic': { type: 'boolean' },
      'val-fraction': { type: 'string' },
      'false-alarm-budget': { type: 'string' },
      seed: { type: 'string' },
      quick: { type: 'boolean' },
    },
    'train',
  );
  if (!values.data) throw new ConfigError(`clipwise train: --data DIR is required\n\n${USAGE}`, [{ path: '--data', message: 'required' }]);
  if (!values.out) throw new ConfigError(`clipwise train: --out MODEL_DIR is required\n\n${USAGE}`, [{ path: '--out', message: 'required' }]);
  const { DEFAULT_TRAIN_OPTIONS, QUICK_TRAIN_OPTIONS, trainModel } = await import('../train/trainModel.ts');
  const base = { ...DEFAULT_TRAIN_OPTIONS, ...(values.quick ? QUICK_TRAIN_OPTIONS : {}) };
  const positiveInt = (v: string | undefined, name: string, fallback: number): number => {
    const n = numberFlag(v, name, fallback);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${name} must be a positive integer, got ${v}`, [{ path: `--${name}`, message: 'not a positive integer' }]);
    return n;
  };
  const nonNegative = (v: string | undefined, name: string, fallback: number): number => {
    const n = numberFlag(v, name, fallback);
    if (n < 0) throw new ConfigError(`--${name} must be ≥ 0, got ${v}`, [{ path: `--${name}`, message: 'negative' }]);
    return n;
  };
  const shareFlag = (v: string | undefined, name: string, fallback: number): number => {
    const n = numberFlag(v, name, fallback);
    if (!(n >= 0 && n <= 1)) throw new ConfigError(`--${name} must be between 0 and 1, got ${v}`, [{ path: `--${name}`, message: 'not a share' }]);
    return n;
  };
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted: resume with --resume'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await trainModel({
      ...base,
      data: values.data,
      out: values.out,
      resume: values.resume === true,
      epochs: positiveInt(values.epochs, 'epochs', base.epochs),
      stepsPerEpoch: positiveInt(values['steps-per-epoch'], 'steps-per-epoch', base.stepsPerEpoch),
      batchSize: positiveInt(values.batch, 'batch', base.batchSize),
      learningRate: nonNegative(values.lr, 'lr', base.learningRate),
      nearActionNegatives: shareFlag(values['near-negatives'], 'near-negatives', base.nearActionNegatives),
      workers: positiveInt(values.workers, 'workers', base.workers),
      backbone: {
        ...base.backbone,
        ...(values['width-multiplier'] !== undefined ? { widthMultiplier: numberFlag(values['width-multiplier'], 'width-multiplier') } : {}),
        ...(values['gsf-blocks'] !== undefined ? { gsfBlocks: numberFlag(values['gsf-blocks'], 'gsf-blocks') } : {}),
        ...(values['temporal-difference'] !== undefined ? { temporalDifference: onOffFlag(values['temporal-difference'], 'temporal-difference') } : {}),
        ...(values['spatial-pooling'] !== undefined ? { spatialPooling: spatialPoolingFlag(values['spatial-pooling']) } : {}),
      },
      headSteps: positiveInt(values['head-steps'], 'head-steps', base.headSteps),
      lambda: nonNegative(values.lambda, 'lambda', base.lambda),
      attentionSupervision: nonNegative(values['attention-supervision'], 'attention-supervision', base.attentionSupervision),
      gateDiagnostic: values['gate-diagnostic'] === true,
      valFraction: numberFlag(values['val-fraction'], 'val-fraction', base.valFraction),
      ...(values['false-alarm-budget'] !== undefined ? { falseAlarmBudget: nonNegative(values['false-alarm-budget'], 'false-alarm-budget', 0) } : {}),
      seed: nonNegative(values.seed, 'seed', base.seed),
      command: `clipwise train ${argv.join(' ')}`,
      signal: abort.signal,
      log: (msg) => process.stderr.write(`${msg}\n`),
    });
    return 0;
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    // An interrupt is a person's choice, not a failure to explain with a stack.
    process.stderr.write(`\nclipwise train: interrupted; finished epochs and heads are checkpointed in ${join(values.out, 'checkpoints')}: continue with --resume\n`);
    return 130;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
