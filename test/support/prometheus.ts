/**
 * A real Prometheus server (Debian's `prometheus` package, installed by scripts/setup.sh) on
 * loopback, scraping the targets a test names, queried over its HTTP API with PromQL.
 *
 * Why the real server: what an operator sees is what Prometheus parsed from `/metrics`
 * (names, labels, types, the exposition format), not what prom-client meant to write.
 *
 * Each server gets a free port, a temp directory (config, TSDB) and a 1 s scrape interval;
 * `stop()` ends it and removes the directory, and it is killed if the test process exits.
 *
 * @example
 * const prom = await startPrometheus({ targets: [`127.0.0.1:${port}`] });
 * await prom.waitForValue('sum(clipwise_frames_in_total)', (v) => v === 200, 30_000);
 * await prom.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const running = new Set<ChildProcess>();
let hooksInstalled = false;

/** Options of {@link startPrometheus}. */
export interface StartPrometheusOptions {
  /** `host:port` of each `/metrics` endpoint to scrape (job `clipwise`). */
  readonly targets: readonly string[];
  /** Scrape interval, s. Default 1. */
  readonly scrapeIntervalS?: number;
  /** Prometheus binary. Default `prometheus` on PATH (CLIPWISE_PROMETHEUS overrides). */
  readonly binary?: string;
}

/** A running Prometheus. */
export interface PrometheusHarness {
  /** Base URL of its HTTP API, e.g. `http://127.0.0.1:19090`. */
  readonly url: string;
  /** Instant query: the sum of the result's sample values, or undefined for an empty result. */
  query(promql: string): Promise<number | undefined>;
  /** Polls `query` until `accept(value)` holds; returns the value. */
  waitForValue(promql: string, accept: (v: number) => boolean, timeoutMs: number): Promise<number>;
  /** Health of the scrape targets as Prometheus reports them (`up`, `down`, `unknown`). */
  targetHealth(): Promise<string[]>;
  /** The last lines of its log. */
  logTail(): string;
  stop(): Promise<void>;
}

/** Why this machine cannot run the harness (for `test(..., { skip })`), or undefined. */
export function prometheusUnavailableReason(binary = process.env.CLIPWISE_PROMETHEUS ?? 'prometheus'): string | undefined {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `${binary}: ${probe.error.message} (apt-get install prometheus)`;
  return probe.status === 0 ? undefined : `${binary} --version failed`;
}

/**
 * Starts Prometheus and waits until its API answers.
 *
 * @param options - scrape targets and interval
 * @returns the harness; always `stop()` it
 */
export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusHarness> {
  installExitHooks();
  const binary = options.binary ?? process.env.CLIPWISE_PROMETHEUS ?? 'prometheus';
  const dir = mkdtempSync(join(tmpdir(), 'cw-prometheus-'));
  const interval = options.scrapeIntervalS ?? 1;
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${interval}s`,
      `  scrape_timeout: ${interval}s`,
      'scrape_configs:',
      '  - job_name: clipwise',
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    ].join('\n') + '\n',
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      // No web console assets needed (Debian splits them into another package).
      '--web.console.templates=/nonexistent',
      '--web.console.libraries=/nonexistent',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-8000)));
  const exited = new Promise<void>((res) => child.once('exit', () => {
    running.delete(child);
    res();
  }));

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const harness: PrometheusHarness = {
    url,
    async query(promql) {
      const data = await api<{ result: { value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      if (data.result.length === 0) return undefined;
      return data.result.reduce((s, r) => s + Number(r.value[1]), 0);
    },
    async waitForValue(promql, accept, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last: number | undefined;
      for (;;) {
        last = await harness.query(promql).catch(() => undefined);
        if (last !== undefined && accept(last)) return last;
        if (Date.now() > deadline) throw new Error(`prometheus: ${promql} = ${last} after ${timeoutMs} ms\n${log}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async targetHealth() {
      const data = await api<{ activeTargets: { health: string }[] }>('/api/v1/targets');
      return data.activeTargets.map((t) => t.health);
    },
    logTail: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited at start (${child.exitCode}):\n${log}`);
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) return harness;
    if (Date.now() > deadline) {
      await harness.stop();
      throw new Error(`prometheus not ready in 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
