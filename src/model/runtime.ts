/**
 * Tensor runtime: picks and initialises the tfjs backend.
 *
 * Why: the native backends (`@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`) download
 * libtensorflow at install time, so they are optional and may be missing; wasm ships inside
 * its npm package and always works; `cpu` is the last resort. `auto` walks that order.
 *
 * @example
 * const rt = await initRuntime({ backend: 'auto', logger: console });
 * rt.backend; // 'wasm' on a machine without libtensorflow
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BackendUnavailableError } from '../errors.ts';

/** Backends clipwise knows, in `auto` preference order. */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];
export type BackendRequest = BackendName | 'auto';

/** The npm package that provides each backend. */
export const BACKEND_PACKAGES: Readonly<Record<BackendName, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

export interface RuntimeLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface RuntimeOptions {
  readonly backend?: BackendRequest;
  readonly logger?: RuntimeLogger;
  /** Import hook, replaceable in tests to simulate missing packages. */
  readonly importPackage?: (name: string) => Promise<unknown>;
}

export interface Runtime {
  /** The backend actually running. */
  readonly backend: BackendName;
  /** Which backends were tried and why the earlier ones were skipped. */
  readonly attempts: readonly { readonly backend: BackendName; readonly error?: string }[];
}

// tfjs-node registers its backend as 'tensorflow' for both the CPU and GPU packages.
const TFJS_NAME: Readonly<Record<BackendName, string>> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const silent: RuntimeLogger = { info: () => undefined, warn: () => undefined };

async function tryBackend(
  name: BackendName,
  importPackage: (name: string) => Promise<unknown>,
): Promise<void> {
  if (name !== 'cpu') await importPackage(BACKEND_PACKAGES[name]);
  const ok = await tf.setBackend(TFJS_NAME[name]);
  if (!ok) throw new Error(`tf.setBackend('${TFJS_NAME[name]}') returned false`);
  await tf.ready();
}

/**
 * Select and initialise the tensor backend.
 *
 * @param options.backend `auto` (default) or one backend; an explicit backend that cannot load
 *   throws `BackendUnavailableError` naming the package to install.
 * @returns the backend that runs and the attempts made.
 */
export async function initRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const request = options.backend ?? 'auto';
  const logger = options.logger ?? silent;
  const importPackage = options.importPackage ?? ((name: string) => import(name));
  const candidates: readonly BackendName[] = request === 'auto' ? BACKEND_ORDER : [request];
  const attempts: { backend: BackendName; error?: string }[] = [];
  for (const name of candidates) {
    try {
      await tryBackend(name, importPackage);
      attempts.push({ backend: name });
      if (request === 'auto') {
        const skipped = attempts
          .filter((a) => a.error !== undefined)
          .map((a) => `${a.backend} (${a.error})`)
          .join('; ');
        logger.info(`tensor backend: ${name}` + (skipped ? ` — skipped ${skipped}` : ''));
      }
      return { backend: name, attempts };
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
      attempts.push({ backend: name, error: reason });
      if (request !== 'auto') {
        throw new BackendUnavailableError(
          name,
          BACKEND_PACKAGES[name],
          `tensor backend '${name}' is not available: ${reason}. ` +
            `Install it with \`npm install ${BACKEND_PACKAGES[name]}\` ` +
            `(its install step must be able to download libtensorflow for the native backends), ` +
            `or set runtime.backend to 'auto'.`,
          { cause: err },
        );
      }
    }
  }
  // cpu is pure JS and always registered, so this is unreachable unless tfjs itself is broken.
  throw new BackendUnavailableError('cpu', BACKEND_PACKAGES.cpu, 'no tensor backend could be initialised');
}

/** The backend tfjs is running now, in clipwise's names. */
export function currentBackend(): BackendName | undefined {
  const name = tf.getBackend();
  if (name === 'tensorflow') return 'tensorflow';
  if (name === 'wasm' || name === 'cpu') return name;
  return undefined;
}
