/**
 * `clipwise run [--config FILE]`: the analysis pipeline. With no config it runs the embedded
 * default (config/default.yaml): a generated demo camera, events on stdout, metrics on :9464.
 */
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.ts';
import { createLogger, type LogLevel } from '../logger.ts';
import { startApp } from '../topology/app.ts';
import { parseFlags } from './args.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';

/**
 * The shipped model lives in models/default; a checkout without it (before the trained model
 * lands) still runs the demo on an untrained model generated once under .cache/, loudly.
 */
async function withModelFallback(config: Config, logger: Logger): Promise<Config> {
  if (existsSync(join(config.model.path, 'manifest.json'))) return config;
  const shipped = fileURLToPath(new URL('../../models/default', import.meta.url));
  if (config.model.path !== shipped) return config; // a user's path: let loading say what is wrong
  const dir = fileURLToPath(new URL('../../.cache/untrained-model', import.meta.url));
  if (!existsSync(join(dir, 'manifest.json'))) {
    const { initRuntime } = await import('../model/runtime.ts');
    const { createClipwiseModel, saveClipwiseModel } = await import('../model/clipModel.ts');
    const { SYNTH_CLASSES } = await import('../synth/spec.ts');
    await initRuntime({ backend: 'auto' });
    const model = createClipwiseModel({ classes: SYNTH_CLASSES, seed: 1, heads: ['gcf'] });
    await saveClipwiseModel(model, dir);
    model.dispose();
  }
  logger.warn(`no trained model in ${shipped}: running an UNTRAINED model from ${dir} (events are not meaningful)`);
  return { ...config, model: { ...config.model, path: dir } };
}

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
  const app = await startApp(await withModelFallback(resolved, logger), { logger });
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
