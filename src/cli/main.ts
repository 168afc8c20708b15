/**
 * `clipwise` command line: one entry point, one sub-command per job.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config (nothing started).
 */
import { ClipwiseError, ConfigError } from '../errors.ts';

export interface Command {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}

// Lazy imports keep `clipwise --help` fast and keep tfjs out of commands that do not need it.
const COMMANDS: Readonly<Record<string, Command>> = {
  run: {
    summary: 'run the analysis pipeline (default: config/default.yaml, no Kafka needed)',
    run: async (argv) => (await import('./run.ts')).runCommand(argv),
  },
  ingest: {
    summary: 'ingest role: RTSP cameras -> Kafka frames topic, partitioned by camera',
    run: async (argv) => (await import('./ingest.ts')).ingestCommand(argv),
  },
  synth: {
    summary: 'render the procedural action benchmark: --out DIR --videos N --seed S',
    run: async (argv) => (await import('./synth.ts')).synthCommand(argv),
  },
  train: {
    summary: 'train backbone and heads: --data DIR --out MODEL_DIR',
    run: async (argv) => (await import('./train.ts')).trainCommand(argv),
  },
  eval: {
    summary: 'evaluate heads and detection: --data DIR [--model DIR] --json FILE',
    run: async (argv) => (await import('./eval.ts')).evalCommand(argv),
  },
  bench: {
    summary: 'benchmark the pipeline: --json FILE [--cameras 1,2,4] [--seconds N]',
    run: async (argv) => (await import('./bench.ts')).benchCommand(argv),
  },
  'model-info': {
    summary: 'parameters and MFLOPs of the backbone and heads (--json)',
    run: async (argv) => (await import('./modelInfo.ts')).modelInfoCommand(argv),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: clipwise <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n'clipwise <command> --help' for a command's options.`;
}

/** Run the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`clipwise: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** Print an error for a person (no stack for expected failures) and pick the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`clipwise: ${err.message}\n`);
    return 2;
  }
  if (err instanceof ClipwiseError) {
    const cause = err.cause instanceof Error ? `\n  caused by: ${err.cause.message}` : '';
    process.stderr.write(`clipwise: ${err.name}: ${err.message}${cause}\n`);
    return 1;
  }
  process.stderr.write(`clipwise: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}
