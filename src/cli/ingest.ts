/**
 * `clipwise ingest --config FILE [--size N] [--encoding jpeg|rgb24]`: the ingest role,
 * cameras → Kafka frames topic. SIGTERM stops the cameras, flushes and exits 0.
 */
import { loadConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { startIngest } from '../topology/ingest.ts';
import { numberFlag, parseFlags } from './args.ts';

const HELP = `usage: clipwise ingest --config FILE [--size 112] [--encoding jpeg|rgb24]

Publishes every camera of FILE's sources (rtsp, file, synthetic, scene) to kafka.topics.frames,
key = camera id, one frame per analysis frame (pipeline.fps), scaled to SIZE×SIZE by ffmpeg.`;

export async function ingestCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(
    argv,
    { config: { type: 'string', short: 'c' }, size: { type: 'string' }, encoding: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    'ingest',
  );
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (!values.config) throw new ConfigError('clipwise ingest: --config FILE is required', [{ path: '--config', message: 'required' }]);
  const encoding = values.encoding ?? 'jpeg';
  if (encoding !== 'jpeg' && encoding !== 'rgb24') throw new ConfigError(`--encoding must be jpeg or rgb24, got '${encoding}'`, [{ path: '--encoding', message: 'jpeg or rgb24' }]);
  const logger = createLogger({ level: 'info' });
  const config = await loadConfig(values.config);
  const ingest = await startIngest(config, { logger, size: numberFlag(values.size, 'size', 112), encoding });
  process.once('SIGTERM', () => ingest.stop());
  process.once('SIGINT', () => ingest.stop());
  const { frames } = await ingest.done;
  logger.info(`ingest done: ${frames} frame(s) published`);
  return 0;
}
