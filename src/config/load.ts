/**
 * Read, parse and validate a config file, with env overrides for secrets.
 *
 * @example
 * const cfg = await loadConfig('config/default.yaml'); // throws ConfigError naming each bad field
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import { configSchema, type Config } from './schema.ts';

/** Environment variables that override config values (secrets stay out of files). */
export const ENV_OVERRIDES = {
  CLIPWISE_KAFKA_BROKERS: 'kafka.brokers (comma separated)',
  CLIPWISE_KAFKA_SSL: 'kafka.ssl (true/false)',
  CLIPWISE_KAFKA_SASL_MECHANISM: 'kafka.sasl.mechanism',
  CLIPWISE_KAFKA_SASL_USERNAME: 'kafka.sasl.username',
  CLIPWISE_KAFKA_SASL_PASSWORD: 'kafka.sasl.password',
  CLIPWISE_METRICS_PORT: 'metrics.port',
  CLIPWISE_BACKEND: 'runtime.backend',
} as const;

type Json = Record<string, unknown>;

function section(obj: Json, key: string): Json {
  const v = obj[key];
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Json;
  const fresh: Json = {};
  obj[key] = fresh;
  return fresh;
}

/** Apply CLIPWISE_* env overrides onto raw (unvalidated) config data. */
export function applyEnvOverrides(raw: Json, env: NodeJS.ProcessEnv): Json {
  const out = structuredClone(raw);
  if (env.CLIPWISE_KAFKA_BROKERS) section(out, 'kafka').brokers = env.CLIPWISE_KAFKA_BROKERS.split(',').map((s) => s.trim());
  if (env.CLIPWISE_KAFKA_SSL) section(out, 'kafka').ssl = env.CLIPWISE_KAFKA_SSL === 'true';
  if (env.CLIPWISE_KAFKA_SASL_MECHANISM || env.CLIPWISE_KAFKA_SASL_USERNAME || env.CLIPWISE_KAFKA_SASL_PASSWORD) {
    const sasl = section(section(out, 'kafka'), 'sasl');
    if (env.CLIPWISE_KAFKA_SASL_MECHANISM) sasl.mechanism = env.CLIPWISE_KAFKA_SASL_MECHANISM;
    if (env.CLIPWISE_KAFKA_SASL_USERNAME) sasl.username = env.CLIPWISE_KAFKA_SASL_USERNAME;
    if (env.CLIPWISE_KAFKA_SASL_PASSWORD) sasl.password = env.CLIPWISE_KAFKA_SASL_PASSWORD;
  }
  if (env.CLIPWISE_METRICS_PORT) section(out, 'metrics').port = Number(env.CLIPWISE_METRICS_PORT);
  if (env.CLIPWISE_BACKEND) section(out, 'runtime').backend = env.CLIPWISE_BACKEND;
  return out;
}

function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(top level)';
}

/**
 * Validate raw config data.
 *
 * @param raw parsed YAML/JSON.
 * @param where the file name, for messages.
 * @throws ConfigError listing every problem with its field path.
 */
export function parseConfig(raw: unknown, where = 'config', env: NodeJS.ProcessEnv = {}): Config {
  const data = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? applyEnvOverrides(raw as Json, env) : raw;
  const res = configSchema.safeParse(data);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => {
    const base = formatPath(i.path);
    const keys = i.code === 'unrecognized_keys' ? i.keys.map((k) => (base === '(top level)' ? k : `${base}.${k}`)) : [];
    return { path: keys.length ? keys.join(', ') : base, message: i.message };
  });
  const lines = issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n');
  throw new ConfigError(`invalid configuration in ${where}:\n${lines}`, issues);
}

/** Read a YAML config file and validate it (env overrides from `env`). */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, [], { cause: err });
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `  - line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`).join('\n');
    throw new ConfigError(`${path} is not valid YAML:\n${lines}`, doc.errors.map((e) => ({ path: `line ${e.linePos?.[0].line ?? '?'}`, message: e.message })));
  }
  return parseConfig(doc.toJS(), path, env);
}
