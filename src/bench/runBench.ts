/**
 * The pipeline benchmark behind `clipwise bench`: N realtime-paced synthetic cameras through
 * the real topology (startApp: sources → analyse → inference worker pool → head → tracker →
 * JSONL sink), for each camera count in turn, measuring throughput, latency, where the time
 * goes, how far the model gets from the backend's matMul ceiling, memory, and how the
 * pipeline degrades past the real-time limit.
 *
 * Definitions (also in bench/RESULTS.md):
 * - window latency: from the wall-clock arrival of the last frame of a window's newest clip to
 *   the head result of that window; event latency: same clock, to the event leaving analysis;
 * - stage ms per clip: process CPU split by stage: decode = frame generation (measured on its
 *   own in the same run, times frames generated), preprocess and backbone = the worker threads'
 *   whole CPU (running totals, so messages count too) split by the workers' wall times, head /
 *   tracker / sinks / clips (cutting, frame copies) / windows / rate = exclusive main-thread
 *   wall time; overhead = total process CPU − all of those (RxJS plumbing, batching, GC, timers);
 * - head share: the head alone (ms per window, one window per call) over that plus the
 *   backbone's worker CPU per clip (one new clip per window step);
 * - real time: no clip dropped, no camera's rate lowered, ≥ 95% of cut clips inferred in the
 *   window, and window latency p99 ≤ two clip spans.
 *
 * @example
 * const report = await runBench({ cameras: [1, 4, 16], seconds: 20, backend: 'wasm' });
 * process.stdout.write(formatBenchTable(report));
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseConfig } from '../config/load.ts';
import { createLogger, type Logger } from '../logger.ts';
import type { BackboneConfig } from '../model/backbone.ts';
import { resolveBackboneConfig } from '../model/backbone.ts';
import { loadManifest, manifestBackboneConfig } from '../model/clipModel.ts';
import { backboneComplexity } from '../model/flops.ts';
import { initRuntime, type BackendName, type BackendRequest } from '../model/runtime.ts';
import { startApp, type App } from '../topology/app.ts';
import { hdTestVideo, measureBackbone, measureFfmpegDecode, measureFrameSource, measureHead, measureMatMul, type BackboneMeasure } from './micro.ts';
import { GENERATED_MODEL_DIR, resolveBenchModel } from './model.ts';
import { createStageProfiler, quantile, threadCpuMs } from './stageProfiler.ts';

/** Options of {@link runBench}. */
export interface BenchOptions {
  /** Camera counts, one run each, in this order. */
  readonly cameras: readonly number[];
  /** Measured seconds per run (after the warm-up). */
  readonly seconds: number;
  /** Seconds before measuring (workers compile kernels, windows fill). Default max(3, 2 clip spans). */
  readonly warmupSeconds?: number;
  readonly backend: BackendRequest;
  /** Model folder; default models/default, else a generated untrained model of the shipped architecture. */
  readonly modelDir?: string;
  /** Tests: generate a small model here with this backbone instead. */
  readonly generate?: { readonly dir: string; readonly backbone: BackboneConfig; readonly clips?: number };
  /** Camera content: moving shapes (default) or the action benchmark's scenes (costlier to render, with actions). */
  readonly source?: 'synthetic' | 'scene';
  readonly workers?: number | 'auto';
  /**
   * `runtime.callsPerWorker` values to compare: each camera count runs once per value, in this
   * order, side by side. Default: the config default only. The report's headline (real-time
   * cameras, reference run) is the first value's.
   */
  readonly callsPerWorker?: readonly number[];
  /** Analysis rate (fps). Default: the config default (5). */
  readonly fps?: number;
  /** Start every camera at the same instant (worst case: all clips complete together). Default: spread over one clip span. */
  readonly alignCameras?: boolean;
  /** Graceful degradation (lower rates before dropping). Default on. */
  readonly degrade?: boolean;
  /** Also time the backbone on the other backends (wasm and cpu) side by side. Default true. */
  readonly compareBackends?: boolean;
  /** Also measure ffmpeg's decode cost per frame on the opencv test video. Default true. */
  readonly measureDecode?: boolean;
  /** Progress lines. */
  readonly log?: (msg: string) => void;
}

/** Two quantiles of a latency distribution (ms), null without samples. */
export interface Latency {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly count: number;
}

/** One camera count's measurements. */
export interface BenchRun {
  readonly cameras: number;
  /** Inference calls in flight per worker (`runtime.callsPerWorker`) in this run. */
  readonly callsPerWorker: number;
  readonly seconds: number;
  /** Seconds before measuring: the minimum warm-up, longer while the governor was still changing rates. */
  readonly warmupSeconds: number;
  readonly clipsPerSec: number;
  /** Frames fed to the backbone per second (clips × T). */
  readonly framesPerSec: number;
  /** Window latency (see module doc). */
  readonly latencyMs: Latency;
  readonly eventLatencyMs: Latency;
  readonly events: number;
  /** ms per inferred clip, by stage (see module doc); `total` = process CPU per clip. */
  readonly stageMs: Readonly<Record<string, number>>;
  /**
   * ms of CPU per inferred clip by thread: main, the inference workers (whole threads: calls
   * and messages), the rest (V8 GC and compiler threads, libuv).
   */
  readonly threadMs: { readonly main: number; readonly workersInCalls: number; readonly other: number };
  readonly overheadShare: number;
  /** Head ms per window (alone, see `headMsPerWindow`) over that + the backbone's worker CPU per clip in this run. */
  readonly headShare: number;
  /** Backbone GFLOP/s per busy worker core in the pipeline (CPU time). */
  readonly backboneGflops: number;
  /** Process CPU over wall time × cores. */
  readonly cpuUtilisation: number;
  readonly clipsCut: number;
  readonly clipsInferred: number;
  readonly clipsDropped: number;
  /** Lowest analysis rate any camera had while measuring, and the mean over cameras at the end. */
  readonly effectiveFps: { readonly nominal: number; readonly min: number; readonly meanAtEnd: number };
  readonly realtime: boolean;
  readonly rssMB: { readonly start: number; readonly end: number; readonly max: number };
  /** Live tensors, main thread + workers, after warm-up and at the end. */
  readonly tensors: { readonly start: number; readonly end: number };
  /** RSS every ~10 s (MB), for the long memory check. */
  readonly rssSeriesMB: readonly number[];
}

/** What `clipwise bench --json` writes. */
export interface BenchReport {
  readonly bench: 'pipeline';
  readonly backend: string;
  readonly workers: number;
  readonly cores: number;
  readonly model: { readonly dir: string; readonly generated: boolean; readonly trained: boolean; readonly backbone: BackboneConfig; readonly mflopsPerClip: number };
  readonly clip: { readonly frames: number; readonly stride: number; readonly fps: number; readonly spanMs: number; readonly size: number };
  readonly source: 'synthetic' | 'scene';
  readonly runs: readonly BenchRun[];
  /** Backbone GFLOP/s in the pipeline (reference run) and alone on one thread; matMul of the same backend, same run. */
  readonly backboneGflops: number;
  readonly backboneGflopsIsolated: number;
  readonly matmulGflops: number;
  readonly headShare: number;
  /** The head alone on the main thread's backend: ms per window, one window per call (best of 20). */
  readonly headMsPerWindow: number;
  readonly overheadShare: number;
  /** Largest camera count that stayed real time (0: none did), with the first `callsPerWorker` value. */
  readonly realtimeCameras: number;
  /** The same per `callsPerWorker` value compared (one entry when not comparing). */
  readonly realtimeCamerasByCalls: readonly { readonly callsPerWorker: number; readonly realtimeCameras: number }[];
  /** Cameras the machine's cores could serve at the reference run's CPU cost per clip (an upper bound; ignores latency). */
  readonly cpuBoundCameras: number;
  /** The run the top-level shares come from: the real-time run with the most cameras, else the first. */
  readonly referenceCameras: number;
  readonly rssMB: { readonly start: number; readonly end: number };
  readonly tensors: { readonly start: number; readonly end: number };
  /**
   * CPU ms per analysis frame: generating a synthetic frame (main thread), and ffmpeg decoding
   * (one thread, child process) the opencv test video (768×576, 10 fps) and a 1080p25 H.264
   * stream, null where unavailable. Decode runs outside the analysis process but on the same cores.
   */
  readonly frameCostMs: { readonly generate: number; readonly ffmpegDecode: number | null; readonly ffmpegDecodeHd: number | null };
  /** The backbone alone per backend, side by side; `ratio` = slower / faster ms per clip. */
  readonly backends: readonly BackboneMeasure[];
  readonly backendRatio: number | null;
  readonly command: string;
  readonly date: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

async function metricSum(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await metric.get()).values.reduce((s, v) => s + v.value, 0);
}

async function effectiveRates(app: App): Promise<number[]> {
  return (await app.metrics.effectiveFps.get()).values.map((v) => v.value);
}

interface Snapshot {
  readonly t: number;
  readonly cpu: NodeJS.CpuUsage;
  /** CPU ms of the main thread (schedstat). */
  readonly mainCpu: number;
  readonly pool: ReturnType<App['inference']['profile']>;
  readonly framesIn: number;
  readonly clipsCut: number;
  readonly dropped: number;
  readonly rss: number;
  readonly tensors: number;
}

async function snapshot(app: App): Promise<Snapshot> {
  const pool = app.inference.profile();
  return {
    t: performance.now(),
    cpu: process.cpuUsage(),
    mainCpu: threadCpuMs(),
    pool,
    framesIn: await metricSum(app.metrics.framesIn),
    clipsCut: app.stats.clips.emitted,
    dropped: await metricSum(app.metrics.clipsDropped),
    rss: process.memoryUsage().rss,
    tensors: tf.memory().numTensors + pool.tensors,
  };
}

/**
 * Run the benchmark.
 *
 * @param opts - camera counts, duration, backend, model, source, switches
 * @returns the report (also what `--json` writes)
 */
export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const log = opts.log ?? (() => undefined);
  const quiet: Logger = createLogger({ level: 'warn' });
  const source = opts.source ?? 'synthetic';
  const model = opts.generate
    ? await resolveBenchModel({ generatedDir: opts.generate.dir, backbone: opts.generate.backbone, ...(opts.generate.clips ? { clips: opts.generate.clips } : {}) })
    : await resolveBenchModel(opts.modelDir !== undefined ? { dir: opts.modelDir } : {});
  const manifest = await loadManifest(model.dir);
  const backboneCfg = resolveBackboneConfig(manifestBackboneConfig(manifest));
  const mflopsPerClip = backboneComplexity(backboneCfg).mflopsPerClip;
  const base = parseConfig({
    runtime: { backend: opts.backend, ...(opts.workers !== undefined ? { workers: opts.workers } : {}) },
    model: { path: model.dir },
    ...(opts.fps !== undefined ? { pipeline: { fps: opts.fps } } : {}),
    sources: [{ type: 'synthetic', cameraId: 'probe' }],
  });
  const fps = base.pipeline.fps;
  const T = manifest.clip.frames;
  const stride = base.pipeline.clip.stride ?? manifest.clip.stride;
  const spanMs = (T * 1000) / fps;
  const size = manifest.clip.size;
  const warmupMs = 1000 * (opts.warmupSeconds ?? Math.max(3, (2 * spanMs) / 1000));
  log(`model ${model.dir}${model.generated ? ' (generated, untrained)' : ''}: ${mflopsPerClip.toFixed(0)} MFLOP/clip, T=${T}, ${size}px, ${fps} fps`);

  // Side measurements first, on an idle machine: the matMul ceiling and the backbone alone per backend.
  const runtime = await initRuntime({ backend: opts.backend });
  const order: BackendName[] = opts.compareBackends === false ? [runtime.backend] : [...new Set<BackendName>([runtime.backend, 'wasm', 'cpu'])];
  const backends: BackboneMeasure[] = [];
  for (const b of order) {
    try {
      backends.push(await measureBackbone(model.dir, b, { batch: b === 'cpu' ? 2 : 8, repeats: b === 'cpu' ? 1 : 3 }));
      const m = backends[backends.length - 1] as BackboneMeasure;
      log(`backbone alone on ${b}: ${m.msPerClip.toFixed(1)} ms/clip, ${m.gflops.toFixed(2)} GFLOP/s; matMul ${m.matmulGflops.toFixed(1)} GFLOP/s`);
    } catch (err) {
      log(`backbone on ${b}: not measured (${(err as Error).message})`);
    }
  }
  await initRuntime({ backend: runtime.backend });
  const own = backends.find((b) => b.backend === runtime.backend);
  const matmul = own?.matmulGflops ?? (await measureMatMul()).gflops;
  const headMsPerWindow = await measureHead(model.dir);
  log(`head alone on ${runtime.backend}: ${headMsPerWindow.toFixed(3)} ms per window`);
  const decode = async (input?: string | null): Promise<number | null> =>
    opts.measureDecode === false || input === null ? null : ((await measureFfmpegDecode(size, fps, input))?.msPerFrame ?? null);
  const frameCost = {
    generate: await measureFrameSource(source, size, fps),
    ffmpegDecode: await decode(undefined),
    ffmpegDecodeHd: opts.measureDecode === false ? null : await decode(await hdTestVideo(join(GENERATED_MODEL_DIR, '..', 'bench-1080p25.mp4'))),
  };
  log(
    `frame cost (CPU per analysis frame): generate ${frameCost.generate.toFixed(3)} ms, ffmpeg decode ${frameCost.ffmpegDecode?.toFixed(3) ?? 'n/a'} ms (vtest.avi 768×576@10), ` +
      `${frameCost.ffmpegDecodeHd?.toFixed(3) ?? 'n/a'} ms (1080p25 H.264)`,
  );

  const runs: BenchRun[] = [];
  let workers = 0;
  const calls = opts.callsPerWorker !== undefined && opts.callsPerWorker.length > 0 ? [...opts.callsPerWorker] : [base.runtime.callsPerWorker];
  const dir = await mkdtemp(join(tmpdir(), 'clipwise-bench-'));
  try {
    // Each camera count once per compared value, back to back: the pairs see the same machine state.
    for (const [n, callsPerWorker] of opts.cameras.flatMap((c) => calls.map((k) => [c, k] as const))) {
      const config = parseConfig({
        runtime: { backend: runtime.backend, callsPerWorker, ...(opts.workers !== undefined ? { workers: opts.workers } : {}) },
        model: { path: model.dir },
        pipeline: { fps },
        sources: Array.from({ length: n }, (_, i) =>
          source === 'scene'
            ? { type: 'scene', cameraId: `cam-${i + 1}`, seed: i + 1, realtime: true, seconds: Math.ceil(warmupMs / 1000 + opts.seconds + 30) }
            : { type: 'synthetic', cameraId: `cam-${i + 1}`, seed: i + 1, realtime: true },
        ),
        sinks: [{ type: 'jsonl', path: join(dir, `events-${n}.jsonl`) }],
        metrics: { enabled: false },
      });
      // Head calls on the wall clock like the other main-thread stages: a call is shorter than a
      // scheduler tick, and a thread CPU clock read across it reads low.
      const profiler = createStageProfiler(undefined, () => performance.now());
      // Cameras start spread over one clip span, so their clips do not all complete at once.
      const app = await startApp(config, {
        logger: quiet,
        profile: profiler,
        sourceStartSpreadMs: opts.alignCameras === true ? 0 : spanMs,
        ...(opts.degrade === false ? { degrade: false as const } : {}),
      });
      workers = app.inference.workers;
      let minFps = fps;
      let maxRss = 0;
      const series: number[] = [];
      let ticks = 0;
      const sampler = setInterval(() => {
        const rss = process.memoryUsage().rss;
        maxRss = Math.max(maxRss, rss);
        if (ticks++ % 10 === 0) series.push(mb(rss));
        void effectiveRates(app).then((r) => (minFps = Math.min(minFps, ...r)));
      }, 1000);
      let a: Snapshot;
      let z: Snapshot;
      let totals: ReturnType<typeof profiler.read>;
      let ratesAtEnd: number[];
      let warmedAt = performance.now();
      try {
        const startedAt = warmedAt;
        await sleep(warmupMs);
        // Past the real-time limit the governor lowers rates during the first seconds: measure
        // the steady state, once rates have held for a while (at most 90 s more).
        const initial = await effectiveRates(app);
        let last = initial.join();
        // At full rate everywhere: measure now. Else wait until rates have held longer than the
        // governor's quiet period before it gives rate back (10 s).
        let lastChange = initial.every((r) => r >= fps - 1e-9) ? Number.NEGATIVE_INFINITY : performance.now();
        while (performance.now() - lastChange < Math.max(12_000, 2 * spanMs) && performance.now() - startedAt < warmupMs + 90_000) {
          await sleep(1000);
          const now = (await effectiveRates(app)).join();
          if (now !== last) [last, lastChange] = [now, performance.now()];
        }
        warmedAt = performance.now() - startedAt;
        minFps = fps;
        a = await snapshot(app);
        profiler.reset();
        await sleep(opts.seconds * 1000);
        z = await snapshot(app);
        totals = profiler.read();
        ratesAtEnd = await effectiveRates(app);
        minFps = Math.min(minFps, ...ratesAtEnd);
      } finally {
        clearInterval(sampler);
        app.stop();
      }
      const { events } = await app.done;
      const run = summarise({ n, callsPerWorker, a, z, totals, fps, T, spanMs, mflopsPerClip, frameGenMs: frameCost.generate, headMsPerWindow, minFps, ratesAtEnd, maxRss, series, events, warmupMs: warmedAt });
      runs.push(run);
      log(
        `${n} camera(s)${calls.length > 1 ? `, ${callsPerWorker} call(s) per worker` : ''}: ${run.clipsPerSec.toFixed(2)} clips/s, window latency p50 ${fmt(run.latencyMs.p50)} p99 ${fmt(run.latencyMs.p99)} ms, ` +
          `dropped ${run.clipsDropped}, min rate ${run.effectiveFps.min.toFixed(2)} fps, CPU ${(100 * run.cpuUtilisation).toFixed(0)}%, ${run.realtime ? 'real time' : 'NOT real time'}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const realtimeWith = (k: number): number => runs.filter((r) => r.realtime && r.callsPerWorker === k).reduce((m, r) => Math.max(m, r.cameras), 0);
  const headline = runs.filter((r) => r.callsPerWorker === calls[0]);
  const realtimeCameras = realtimeWith(calls[0] as number);
  const ref = headline.find((r) => r.realtime && r.cameras === realtimeCameras) ?? (runs[0] as BenchRun);
  const fastest = backends.length > 1 ? Math.min(...backends.map((b) => b.msPerClip)) : undefined;
  return {
    bench: 'pipeline',
    backend: runtime.backend,
    workers,
    cores: cpus().length,
    model: { dir: model.dir, generated: model.generated, trained: manifest.trained, backbone: backboneCfg, mflopsPerClip: round(mflopsPerClip, 1) },
    clip: { frames: T, stride, fps, spanMs, size },
    source,
    runs,
    backboneGflops: ref.backboneGflops,
    backboneGflopsIsolated: round(own?.gflops ?? 0),
    matmulGflops: round(matmul, 2),
    headShare: ref.headShare,
    headMsPerWindow: round(headMsPerWindow, 4),
    overheadShare: ref.overheadShare,
    realtimeCameras,
    realtimeCamerasByCalls: calls.map((k) => ({ callsPerWorker: k, realtimeCameras: realtimeWith(k) })),
    cpuBoundCameras: Math.floor((cpus().length * 1000) / Math.max(1e-9, (ref.stageMs['total'] ?? 0) * (fps / stride))),
    referenceCameras: ref.cameras,
    rssMB: { start: runs[0]?.rssMB.start ?? 0, end: runs[runs.length - 1]?.rssMB.end ?? 0 },
    tensors: { start: runs[0]?.tensors.start ?? 0, end: runs[runs.length - 1]?.tensors.end ?? 0 },
    frameCostMs: {
      generate: round(frameCost.generate, 4),
      ffmpegDecode: frameCost.ffmpegDecode === null ? null : round(frameCost.ffmpegDecode, 4),
      ffmpegDecodeHd: frameCost.ffmpegDecodeHd === null ? null : round(frameCost.ffmpegDecodeHd, 4),
    },
    backends,
    backendRatio: fastest === undefined ? null : round(Math.max(...backends.map((b) => b.msPerClip)) / fastest, 2),
    command: '',
    date: new Date().toISOString(),
  };
}

const fmt = (x: number | null): string => (x === null ? '–' : x.toFixed(0));

function latency(samples: readonly number[]): Latency {
  const q = (p: number): number | null => {
    const v = quantile(samples, p);
    return v === null ? null : round(v, 1);
  };
  return { p50: q(0.5), p99: q(0.99), count: samples.length };
}

function summarise(x: {
  n: number;
  callsPerWorker: number;
  a: Snapshot;
  z: Snapshot;
  totals: ReturnType<ReturnType<typeof createStageProfiler>['read']>;
  fps: number;
  T: number;
  spanMs: number;
  mflopsPerClip: number;
  frameGenMs: number;
  headMsPerWindow: number;
  minFps: number;
  ratesAtEnd: readonly number[];
  maxRss: number;
  series: readonly number[];
  events: number;
  warmupMs: number;
}): BenchRun {
  const { a, z, totals } = x;
  const seconds = (z.t - a.t) / 1000;
  const clips = z.pool.clips - a.pool.clips;
  const per = (ms: number): number => (clips > 0 ? round(ms / clips) : 0);
  const cpuMs = (z.cpu.user - a.cpu.user + z.cpu.system - a.cpu.system) / 1000;
  const preWall = z.pool.preprocessMs - a.pool.preprocessMs;
  const bbWall = z.pool.backboneMs - a.pool.backboneMs;
  // Whole worker threads from their running CPU totals (per-call differences read low, see
  // WorkerTiming.threadCpuMs); the per-call sum only where totals are missing.
  const threadTotals = z.pool.workerThreadCpuMs - a.pool.workerThreadCpuMs;
  const workerCpu = threadTotals > 0 ? threadTotals : z.pool.workerCpuMs - a.pool.workerCpuMs;
  // Worker CPU is measured per call; split it between preprocessing and backbone by wall time.
  const workerMs = workerCpu > 0 ? workerCpu : preWall + bbWall;
  const preprocess = preWall + bbWall > 0 ? (workerMs * preWall) / (preWall + bbWall) : 0;
  const backbone = workerMs - preprocess;
  const s = totals.stagesMs;
  const stages: Record<string, number> = {
    decode: x.frameGenMs * (z.framesIn - a.framesIn),
    rate: s['rate'] ?? 0,
    clips: s['clips'] ?? 0,
    preprocess,
    backbone,
    windows: s['windows'] ?? 0,
    head: totals.head.ms,
    tracker: s['tracker'] ?? 0,
    sinks: s['sinks'] ?? 0,
  };
  const accounted = Object.values(stages).reduce((acc, v) => acc + v, 0);
  const overhead = Math.max(0, cpuMs - accounted);
  const stageMs = Object.fromEntries([...Object.entries(stages).map(([k, v]) => [k, per(v)]), ['overhead', per(overhead)], ['total', per(cpuMs)]]);
  // Where the CPU ran: the main thread, the workers inside calls, and everything else (workers
  // between calls, V8 GC and compiler threads, libuv).
  const mainCpu = z.mainCpu - a.mainCpu;
  const threadMs = { main: per(mainCpu), workersInCalls: per(workerCpu), other: per(Math.max(0, cpuMs - mainCpu - workerCpu)) };
  const latencyMs = latency(totals.windowLatencyMs);
  const cut = z.clipsCut - a.clipsCut;
  const dropped = z.dropped - a.dropped;
  const realtime =
    dropped === 0 &&
    x.minFps >= x.fps - 1e-9 &&
    cut > 0 &&
    clips >= 0.95 * cut &&
    latencyMs.p99 !== null &&
    latencyMs.p99 <= 2 * x.spanMs;
  return {
    cameras: x.n,
    callsPerWorker: x.callsPerWorker,
    seconds: round(seconds, 1),
    warmupSeconds: round(x.warmupMs / 1000, 1),
    clipsPerSec: round(clips / seconds),
    framesPerSec: round((clips * x.T) / seconds, 2),
    latencyMs,
    eventLatencyMs: latency(totals.eventLatencyMs),
    events: x.events,
    stageMs,
    threadMs,
    overheadShare: cpuMs > 0 ? round(overhead / cpuMs) : 0,
    headShare: backbone > 0 && clips > 0 ? round(x.headMsPerWindow / (x.headMsPerWindow + backbone / clips), 4) : 0,
    backboneGflops: backbone > 0 ? round((x.mflopsPerClip * clips) / backbone) : 0,
    cpuUtilisation: round(cpuMs / (seconds * 1000 * cpus().length)),
    clipsCut: cut,
    clipsInferred: clips,
    clipsDropped: dropped,
    effectiveFps: {
      nominal: x.fps,
      min: round(x.minFps),
      meanAtEnd: round(x.ratesAtEnd.reduce((acc, r) => acc + r, 0) / Math.max(1, x.ratesAtEnd.length)),
    },
    realtime,
    rssMB: { start: mb(a.rss), end: mb(z.rss), max: mb(Math.max(x.maxRss, z.rss)) },
    tensors: { start: a.tensors, end: z.tensors },
    rssSeriesMB: x.series,
  };
}

/**
 * The report as a text table (one row per camera count) with the headline numbers under it.
 *
 * @param r - a report from {@link runBench}
 * @returns printable text, ending with a newline
 */
export function formatBenchTable(r: BenchReport): string {
  const head = ['cams', 'clips/s', 'frames/s', 'win p50', 'win p99', 'evt p50', 'evt p99', 'min fps', 'fps end', 'dropped', 'CPU%', 'ms/clip', 'backbone', 'head', 'ovh%', 'RT'];
  const compared = new Set(r.runs.map((x) => x.callsPerWorker)).size > 1;
  const cams = (x: BenchRun): string => (compared ? `${x.cameras} (${x.callsPerWorker}/w)` : String(x.cameras));
  const rows = r.runs.map((x) => [
    cams(x),
    x.clipsPerSec.toFixed(2),
    x.framesPerSec.toFixed(1),
    fmt(x.latencyMs.p50),
    fmt(x.latencyMs.p99),
    fmt(x.eventLatencyMs.p50),
    fmt(x.eventLatencyMs.p99),
    x.effectiveFps.min.toFixed(2),
    x.effectiveFps.meanAtEnd.toFixed(2),
    String(x.clipsDropped),
    (100 * x.cpuUtilisation).toFixed(0),
    (x.stageMs['total'] ?? 0).toFixed(1),
    (x.stageMs['backbone'] ?? 0).toFixed(1),
    (x.stageMs['head'] ?? 0).toFixed(2),
    (100 * x.overheadShare).toFixed(1),
    x.realtime ? 'yes' : 'no',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' | ')} |`;
  const stages = Object.keys(r.runs[0]?.stageMs ?? {});
  const stageRows = r.runs.map(
    (x) => `| ${cams(x)} | ${stages.map((k) => (x.stageMs[k] ?? 0).toFixed(2)).join(' | ')} | ${[x.threadMs.main, x.threadMs.workersInCalls, x.threadMs.other].map((v) => v.toFixed(2)).join(' | ')} |`,
  );
  return [
    `clipwise bench: backend ${r.backend}, ${r.workers} worker(s) on ${r.cores} cores, model ${r.model.generated ? 'generated (untrained)' : r.model.dir} ` +
      `(${r.model.mflopsPerClip} MFLOP/clip), clips of ${r.clip.frames} frames at ${r.clip.fps} fps (${r.clip.spanMs} ms), ${r.source} cameras`,
    '',
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    '',
    'ms of CPU per inferred clip, by stage, and by thread (main / workers inside calls / the rest):',
    '',
    `| cams | ${stages.join(' | ')} | main | workers | other |`,
    `|${['cams', ...stages, 'm', 'w', 'o'].map(() => '---').join('|')}|`,
    ...stageRows,
    '',
    `real-time cameras: ${r.realtimeCameras} (measured${compared ? `; by calls per worker: ${r.realtimeCamerasByCalls.map((c) => `${c.callsPerWorker}/w ${c.realtimeCameras}`).join(', ')}` : ''}); CPU-bound estimate ${r.cpuBoundCameras} (cores × 1000 / (CPU ms per clip × clips per camera per second), reference run); reference run: ${r.referenceCameras} camera(s)`,
    `backbone: ${r.backboneGflops} GFLOP/s per worker core in the pipeline, ${r.backboneGflopsIsolated} alone; matMul ${r.matmulGflops} GFLOP/s (${r.backend}, same run)`,
    `head share of model time: ${(100 * r.headShare).toFixed(2)}%; overhead share of a clip's CPU: ${(100 * r.overheadShare).toFixed(1)}%`,
    `backends (backbone alone, one thread): ${r.backends.map((b) => `${b.backend} ${b.msPerClip.toFixed(1)} ms/clip (${b.gflops.toFixed(2)} GFLOP/s, matMul ${b.matmulGflops.toFixed(1)})`).join('; ')}` +
      (r.backendRatio !== null ? `; ratio ${r.backendRatio}×` : ''),
    `CPU per analysis frame: generate ${r.frameCostMs.generate} ms; ffmpeg decode ${r.frameCostMs.ffmpegDecode ?? 'n/a'} ms (768×576@10), ${r.frameCostMs.ffmpegDecodeHd ?? 'n/a'} ms (1080p25 H.264)`,
    `RSS ${r.rssMB.start} → ${r.rssMB.end} MB; tensors ${r.tensors.start} → ${r.tensors.end}`,
    '',
  ].join('\n');
}
