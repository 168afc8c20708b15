/**
 * `clipwise` as a child process, the way users run it: the CLI entry point, a YAML config
 * file, signals, exit codes, `/metrics` and `/readyz` scraped over HTTP.
 *
 * Why a child and not `startApp` in the test process: crash tests need a SIGKILL that takes
 * the whole analyzer (its Kafka member, its sockets, its timers) down at once, and the
 * process boundary is what a deployment has. Every child started here is killed when the
 * test process exits, so a failed assertion never leaves an analyzer behind.
 *
 * @example
 * const run = await startClipwise(['run'], { config: yamlText });
 * const port = await run.metricsPort();
 * await waitFor(async () => metricValue(await run.metrics(), 'clipwise_frames_in_total') >= 1800);
 * assert.equal(await run.stop(), 0);
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const running = new Set<ChildProcess>();
let hooksInstalled = false;

/** Options of {@link startClipwise}. */
export interface StartClipwiseOptions {
  /** YAML text written to a temp file and passed as `--config FILE`. */
  readonly config?: string;
  /** Extra environment (merged over this process's). */
  readonly env?: Readonly<Record<string, string>>;
  /** Keep at most this many characters of stderr. Default 20000. */
  readonly stderrLimit?: number;
}

/** A running clipwise command. */
export interface ClipwiseProcess {
  readonly pid: number;
  /** Resolves with the exit code (null when killed by a signal) and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout so far (the stdout sink's JSON lines). */
  stdout(): string;
  /** The last lines of stderr (logs), for failure messages. */
  stderr(): string;
  /** True until the process has exited. */
  alive(): boolean;
  /** The metrics port it logged (`metrics on http://…`); waits for the log line. */
  metricsPort(timeoutMs?: number): Promise<number>;
  /** The `/metrics` text. */
  metrics(): Promise<string>;
  /** `/readyz`: HTTP status and body. */
  readyz(): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }>;
  /** Sends a signal (no-op once exited). */
  kill(signal: NodeJS.Signals): void;
  /**
   * SIGTERM, wait (SIGKILL after `graceMs`), resolve with the exit code, or with the signal's
   * name when a signal ended it (so `assert.equal(await stop(), 0)` says which one).
   */
  stop(graceMs?: number): Promise<number | NodeJS.Signals | null>;
}

/**
 * Starts `node bin/clipwise.mjs <args>` in the repository root.
 *
 * @param args - command and flags, e.g. `['run', '--log-level', 'info']`
 * @param options - config text, environment
 * @returns the process handle; the test process kills it on exit if the test did not
 */
export function startClipwise(args: readonly string[], options: StartClipwiseOptions = {}): ClipwiseProcess {
  installExitHooks();
  const argv = [join(ROOT, 'bin/clipwise.mjs'), ...args];
  let dir: string | undefined;
  if (options.config !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'cw-child-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, options.config);
    argv.push('--config', file);
  }
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  running.add(child);
  const limit = options.stderrLimit ?? 20_000;
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  // CLIPWISE_E2E_VERBOSE=1 echoes the children's logs, for debugging a suite.
  const echo = process.env.CLIPWISE_E2E_VERBOSE === '1' ? (c: string) => process.stderr.write(c.replace(/^(?=.)/gm, `[${args[0] ?? 'clipwise'} ${child.pid}] `)) : undefined;
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    err = (err + c).slice(-limit);
    echo?.(c);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (dir) rmSync(dir, { recursive: true, force: true });
      res({ code, signal });
    });
  });
  let port: number | undefined;
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const handle: ClipwiseProcess = {
    pid: child.pid ?? -1,
    exited,
    stdout: () => out,
    stderr: () => err,
    alive,
    async metricsPort(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        port ??= Number(/metrics on http:\/\/[^:]+:(\d+)\/metrics/.exec(err)?.[1] ?? NaN) || undefined;
        if (port !== undefined) return port;
        if (!alive()) throw new Error(`clipwise ${args.join(' ')} exited before serving metrics:\n${err}`);
        if (Date.now() > deadline) throw new Error(`clipwise ${args.join(' ')}: no metrics port logged in ${timeoutMs} ms:\n${err}`);
        await sleep(100);
      }
    },
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${await handle.metricsPort()}/metrics`);
      return res.text();
    },
    async readyz() {
      const res = await fetch(`http://127.0.0.1:${await handle.metricsPort()}/readyz`);
      return { status: res.status, body: (await res.json()) as { ready: boolean; reasons: string[] } };
    },
    kill(signal) {
      if (alive()) child.kill(signal);
    },
    async stop(graceMs = 60_000) {
      if (alive()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      const { code, signal } = await exited;
      return code ?? signal;
    },
  };
  return handle;
}

/**
 * Sums the samples of one metric in Prometheus text format whose labels include `labels`
 * (histogram series `_bucket`/`_sum`/`_count` are other names: ask for them by name).
 *
 * @example
 * metricValue(text, 'clipwise_frames_in_total', { camera: 'gate' }); // 600
 * @param text - a `/metrics` body
 * @param name - metric name
 * @param labels - label values the sample must carry
 * @returns the sum (0 when no sample matches)
 */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1] ?? '', x[2] ?? '']));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

/**
 * Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`.
 *
 * @param what - named in the timeout error
 * @param check - the condition; may throw to abort early
 * @param timeoutMs - limit
 * @param intervalMs - pause between checks
 * @returns the first truthy value
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * SIGKILLs every clipwise child still running and waits for them: for `after` hooks, so a
 * failed test leaves no analyzer behind (their pipes would keep the test process alive).
 */
export async function killAllClipwise(): Promise<void> {
  const gone = [...running].map((child) => new Promise<void>((res) => (child.exitCode !== null || child.signalCode !== null ? res() : child.once('exit', () => res()))));
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(gone);
}

/** Pauses for `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
