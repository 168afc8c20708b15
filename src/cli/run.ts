/**
 * `clipwise run [--config FILE]`: the analysis pipeline. With no config it runs the embedded
 * default (config/default.yaml): a generated demo camera, events on stdout, metrics on :9464.
 */
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.ts';
import { createLogger, type LogLevel } from '../logger.ts';
import { startApp } from '../topology/app.ts';
import { parseFlags } from './args.ts';

/** Path of the embedded default config, independent of the working directory. */
export const DEFAULT_CONFIG = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

const HELP = `usage: clipwise run [--config FILE] [--log-level debug|info|warn|error] [--log-json]

Runs the analysis pipeline described by FILE (default: the embedded config/default.yaml:
a generated demo camera, no Kafka; events as JSON lines on stdout, logs on stderr,
metrics on http://127.0.0.1:9464/metrics). SIGTERM or Ctrl-C drains and exits 0.`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      'log-json': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'run',
  );
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const logger = createLogger({ level: (values['log-level'] as LogLevel | undefined) ?? 'info', json: values['log-json'] ?? false });
  const configPath = values.config ?? DEFAULT_CONFIG;
  const config = await loadConfig(configPath);
  // Relative paths in the default config are relative to the package, not the caller's cwd.
  const resolved = values.config ? config : { ...config, model: { ...config.model, path: fileURLToPath(new URL(`../../${config.model.path}`, import.meta.url)) } };
  const app = await startApp(resolved, { logger });
  const onSignal = (sig: string): void => {
    logger.info(`${sig} received`);
    app.stop();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  const { events } = await app.done;
  logger.info(`done: ${events} event(s)`);
  return 0;
}
