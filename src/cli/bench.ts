/**
 * `clipwise bench`: the pipeline benchmark (src/bench/runBench.ts). Prints a table on stdout
 * and writes the full report as JSON.
 */
import { writeFile } from 'node:fs/promises';
import { runBench, formatBenchTable } from '../bench/runBench.ts';
import { ConfigError } from '../errors.ts';
import type { BackendRequest } from '../model/runtime.ts';
import { numberFlag, parseFlags } from './args.ts';

const HELP = `usage: clipwise bench --json FILE [--cameras 1,2,4,8,16] [--seconds N] [--backend wasm|cpu|auto]
                      [--model DIR] [--source synthetic|scene] [--workers N|auto] [--fps F]
                      [--calls-per-worker K[,K…]]
                      [--warmup S] [--aligned] [--no-degrade] [--no-compare] [--no-decode]

Runs N realtime synthetic cameras through the real pipeline (sources, clips, inference
workers, head, tracker, JSONL sink) for each camera count, --seconds each (default 20) after
a warm-up, and reports throughput, latency (p50/p99), CPU per clip by stage, backbone GFLOP/s
against a matMul of the same backend, the head's share of model time, the largest real-time
camera count, and memory. Without --model: models/default, else a generated untrained model of
the shipped architecture (speed does not depend on weights). --seconds 600 is the 10-minute
memory check. Cameras start spread over one clip span (out of phase, like real ones);
--aligned starts them together (every clip completes at once: the worst case). --no-compare skips timing the backbone on the other backend; --no-degrade
turns off graceful degradation (drop only); --no-decode skips the ffmpeg decode measurement.
--calls-per-worker 1,2 runs every camera count once per value (runtime.callsPerWorker: inference
calls in flight per worker), side by side.`;

const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

/**
 * Run `clipwise bench`.
 *
 * @param argv - flags after `bench`
 * @returns exit code (0 ok; 2 bad usage)
 */
export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      json: { type: 'string' },
      cameras: { type: 'string', default: '1,2,4,8,16' },
      seconds: { type: 'string', default: '20' },
      warmup: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      model: { type: 'string' },
      source: { type: 'string', default: 'synthetic' },
      workers: { type: 'string' },
      'calls-per-worker': { type: 'string' },
      fps: { type: 'string' },
      aligned: { type: 'boolean' },
      'no-degrade': { type: 'boolean' },
      'no-compare': { type: 'boolean' },
      'no-decode': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'bench',
  );
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const bad = (flag: string, message: string): never => {
    throw new ConfigError(`--${flag} ${message}`, [{ path: `--${flag}`, message }]);
  };
  if (values.json === undefined) bad('json', 'is required (where to write the report)');
  const cameras = (values.cameras ?? '').split(',').map((c) => Number(c.trim()));
  if (cameras.length === 0 || cameras.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) bad('cameras', 'must be a comma-separated list of integers in [1, 256]');
  const seconds = numberFlag(values.seconds, 'seconds');
  if (!(seconds > 0)) bad('seconds', 'must be > 0');
  const backend = values.backend as BackendRequest;
  if (!(BACKENDS as readonly string[]).includes(backend)) bad('backend', `must be one of ${BACKENDS.join(', ')}`);
  const source = values.source;
  if (source !== 'synthetic' && source !== 'scene') return bad('source', 'must be synthetic or scene');
  let workers: number | 'auto' | undefined;
  if (values.workers !== undefined) {
    workers = values.workers === 'auto' ? 'auto' : numberFlag(values.workers, 'workers');
    if (workers !== 'auto' && (!Number.isInteger(workers) || workers < 0)) bad('workers', 'must be auto or an integer >= 0');
  }
  let callsPerWorker: number[] | undefined;
  if (values['calls-per-worker'] !== undefined) {
    callsPerWorker = values['calls-per-worker'].split(',').map((c) => Number(c.trim()));
    if (callsPerWorker.some((c) => !Number.isInteger(c) || c < 1 || c > 4)) bad('calls-per-worker', 'must be a comma-separated list of integers in [1, 4]');
  }
  const fps = values.fps === undefined ? undefined : numberFlag(values.fps, 'fps');
  const warmup = values.warmup === undefined ? undefined : numberFlag(values.warmup, 'warmup');

  const report = await runBench({
    cameras,
    seconds,
    backend,
    source,
    ...(values.model !== undefined ? { modelDir: values.model } : {}),
    ...(workers !== undefined ? { workers } : {}),
    ...(callsPerWorker !== undefined ? { callsPerWorker } : {}),
    ...(fps !== undefined ? { fps } : {}),
    ...(warmup !== undefined ? { warmupSeconds: warmup } : {}),
    alignCameras: values.aligned === true,
    degrade: values['no-degrade'] !== true,
    compareBackends: values['no-compare'] !== true,
    measureDecode: values['no-decode'] !== true,
    log: (msg) => process.stderr.write(`[bench] ${msg}\n`),
  });
  const withCommand = { ...report, command: `clipwise bench ${argv.join(' ')}` };
  await writeFile(values.json as string, JSON.stringify(withCommand, null, 2) + '\n');
  process.stdout.write(formatBenchTable(withCommand));
  return 0;
}
