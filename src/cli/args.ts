/**
 * Small wrapper over node:util parseArgs so every sub-command reports bad flags the same way
 * (a ConfigError → exit 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parse flags strictly; unknown flags and missing values are ConfigErrors naming the flag. */
export function parseFlags<O extends Options>(argv: string[], options: O, command: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new ConfigError(`clipwise ${command}: ${(err as Error).message}`, [{ path: command, message: (err as Error).message }], { cause: err });
  }
}

/** A required numeric flag value. */
export function numberFlag(value: string | undefined, name: string, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new ConfigError(`--${name} is required`, [{ path: `--${name}`, message: 'required' }]);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isFinite(n)) throw new ConfigError(`--${name} must be a number, got '${value}'`, [{ path: `--${name}`, message: 'not a number' }]);
  return n;
}
