/**
 * `clipwise synth`: render the procedural action benchmark (see src/synth).
 *
 * Why a thin wrapper: flag parsing and rendering live in src/synth (`parseSynthArgs`,
 * `runSynth`), so tests and the training tools call the same code; this file only turns a
 * command line into a run and a run into an exit code (0 ok, 2 bad flags, 1 failure).
 */
import { ConfigError } from '../errors.ts';

/**
 * Run `clipwise synth` with the flags after the sub-command.
 *
 * @example
 * await synthCommand(['--out', '.cache/synth-train', '--videos', '60', '--seed', '1']);
 * @param argv flags, e.g. `--out DIR --videos N --seed S` (`--help` prints the usage).
 * @returns the exit code; bad flags throw a ConfigError (exit 2 in the CLI entry).
 */
export async function synthCommand(argv: string[]): Promise<number> {
  const { parseSynthArgs, runSynth, SYNTH_USAGE } = await import('../synth/index.ts');
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SYNTH_USAGE);
    return 0;
  }
  const options = parseSynthArgs(argv);
  if (options.out === '') throw new ConfigError('clipwise synth: --out DIR is required', [{ path: '--out', message: 'required' }]);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runSynth(options, (msg) => process.stderr.write(`${msg}\n`), abort.signal);
    process.stdout.write(`${result.annotationsPath}\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
