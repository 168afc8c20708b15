import { ConfigError } from '../errors.ts';

/**
 * Throws a {@link ConfigError} naming `path` unless `value` is an integer in [min, max].
 *
 * Why: operators are built once at start-up from config; a bad size must fail there with the
 * field's name, not later as a silent empty stream or an unbounded buffer.
 *
 * @example
 * checkInteger('slidingClips.frames', opts.frames, 1);
 * @param path - field name for the message, e.g. `batchClips.maxBatch`
 * @param value - the value to check
 * @param min - smallest allowed value
 * @param max - largest allowed value (default: no limit)
 * @returns the value, typed as a number
 */
export function checkInteger(path: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    const message = `must be an integer ${range}, got ${String(value)}`;
    throw new ConfigError(`${path} ${message}`, [{ path, message }]);
  }
  return value;
}

/**
 * Throws a {@link ConfigError} naming `path` unless `value` is a finite number in [min, max].
 *
 * @param path - field name for the message
 * @param value - the value to check
 * @param min - smallest allowed value
 * @param max - largest allowed value (default: +Infinity excluded, any finite number)
 * @returns the value, typed as a number
 */
export function checkNumber(path: string, value: unknown, min: number, max = Number.MAX_VALUE): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const message = `must be a finite number in [${min}, ${max}], got ${String(value)}`;
    throw new ConfigError(`${path} ${message}`, [{ path, message }]);
  }
  return value;
}
