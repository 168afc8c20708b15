import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Subscription } from 'rxjs';
import { createFfmpegSource } from '../../../src/topology/sources/ffmpegSource.ts';
import type { ExitInfo, FfmpegSourceOptions, ReconnectInfo, StallInfo } from '../../../src/topology/sources/ffmpegSource.ts';
import { SourceError } from '../../../src/errors.ts';
import type { Frame } from '../../../src/types.ts';
import { pidExists, rtspServerUnavailableReason, startRtspServer, startSilentTcpServer } from '../../support/rtsp.ts';
import type { RtspServerHarness } from '../../support/rtsp.ts';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const skip = existsSync(VTEST) ? rtspServerUnavailableReason() ?? false : 'opencv-doc sample videos are not installed';

/** Generous ceilings so a loaded 2-core CI box never fails a test on time alone. */
const EVENT_CEILING_MS = 30_000;

/** Everything one subscription to a source did, recorded for assertions. */
class Recorder {
  readonly frames: Frame[] = [];
  readonly exits: ExitInfo[] = [];
  readonly stalls: StallInfo[] = [];
  readonly reconnects: ReconnectInfo[] = [];
  readonly spawned: number[] = [];
  error: unknown;
  private subscription: Subscription | undefined;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  options(): Pick<FfmpegSourceOptions, 'onExit' | 'onStall' | 'onReconnect' | 'onSpawn'> {
    return {
      onExit: (e) => this.record(() => this.exits.push(e)),
      onStall: (s) => this.record(() => this.stalls.push(s)),
      onReconnect: (r) => this.record(() => this.reconnects.push(r)),
      onSpawn: (s) => this.record(() => this.spawned.push(s.pid)),
    };
  }

  subscribe(source: ReturnType<typeof createFfmpegSource>): void {
    this.subscription = source.frames$.subscribe({
      next: (f) => this.record(() => this.frames.push(f)),
      error: (e: unknown) => this.record(() => (this.error = e)),
    });
  }

  unsubscribe(): void {
    this.subscription?.unsubscribe();
  }

  /** Resolves when `check` holds; rejects after the ceiling with what was seen. */
  until(what: string, check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; frames=${this.frames.length} stalls=${this.stalls.length} reconnects=${this.reconnects.length} exits=${JSON.stringify(this.exits.map((e) => [e.reason, e.exitCode, e.signal, e.stderrTail.slice(-2)]))}`));
      }, EVENT_CEILING_MS);
      this.waiters.push({ check, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  private record(action: () => void): void {
    action();
    this.waiters = this.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
  }
}

function liveSource(url: string, recorder: Recorder, overrides: Partial<FfmpegSourceOptions> = {}): ReturnType<typeof createFfmpegSource> {
  return createFfmpegSource({
    cameraId: 'rtsp-cam',
    url,
    fps: 5,
    width: 112,
    height: 112,
    stallTimeoutMs: 2000,
    // Connect + probe + first key frame: seconds on a busy machine.
    startTimeoutMs: 15_000,
    killGraceMs: 1000,
    backoff: { initialMs: 100, maxMs: 500, jitter: 0 },
    ...recorder.options(),
    ...overrides,
  });
}

let rtsp: RtspServerHarness | undefined;
before(async () => {
  if (skip === false) rtsp = await startRtspServer();
});
after(async () => {
  await rtsp?.stop();
});

function server(): RtspServerHarness {
  assert.ok(rtsp !== undefined);
  return rtsp;
}

test('frames arrive from an RTSP camera; unsubscribing kills and reaps ffmpeg', { skip }, async () => {
  const publisher = await server().publish(VTEST, '/basic');
  const rec = new Recorder();
  const cam = liveSource(server().url('/basic'), rec);
  try {
    rec.subscribe(cam);
    await rec.until('5 frames', () => rec.frames.length >= 5);
    rec.frames.slice(0, 5).forEach((frame, i) => {
      assert.equal(frame.seq, i);
      assert.equal(frame.data.length, 112 * 112 * 3);
      assert.ok(new Set(frame.data).size > 50, 'a real picture');
      assert.ok(!frame.gapBefore);
      // At most 1/fps apart: less while ffmpeg catches up after its start-up delay (pts follow
      // the arrivals back then, never ahead of them).
      const step = i > 0 ? frame.ptsMs - (rec.frames[i - 1] as Frame).ptsMs : 200;
      assert.ok(step > 0 && step <= 200, `pts step ${step} ms (1/fps = 200)`);
      assert.ok(frame.ptsMs <= Date.now(), 'not stamped in the future');
    });
    assert.ok(Math.abs((rec.frames[0] as Frame).ptsMs - Date.now()) < 60_000, 'live pts are epoch milliseconds');
    const pid = cam.stats().pid;
    assert.ok(pid !== undefined && pidExists(pid));
    rec.unsubscribe();
    await rec.until('decoder exit', () => rec.exits.length === 1);
    assert.equal(rec.exits[0]?.reason, 'unsubscribe');
    assert.equal(pidExists(pid), false, `ffmpeg ${pid} must be reaped`);
    assert.equal(cam.stats().pid, undefined);
    assert.equal(rec.error, undefined);
  } finally {
    rec.unsubscribe();
    await publisher.stop();
  }
});

test('a camera that goes silent is detected as a stall, killed, reaped, reconnected, and the gap is marked', { skip }, async () => {
  let publisher = await server().publish(VTEST, '/stall');
  const rec = new Recorder();
  const cam = liveSource(server().url('/stall'), rec);
  try {
    rec.subscribe(cam);
    await rec.until('3 frames', () => rec.frames.length >= 3);
    const firstPid = rec.spawned[0];
    assert.ok(firstPid !== undefined);
    // The TCP session stays open but no media flows: only the watchdog can notice.
    await publisher.stop();
    await rec.until('a stall and its exit', () => rec.stalls.length >= 1 && rec.exits.length >= 1);
    const stall = rec.stalls[0] as StallInfo;
    assert.equal(stall.pid, firstPid);
    assert.equal(stall.beforeFirstFrame, false);
    assert.ok(stall.silentMs >= 1990, `silent for ${stall.silentMs} ms`);
    const exit = rec.exits[0] as ExitInfo;
    assert.equal(exit.reason, 'stall');
    assert.equal(exit.pid, firstPid);
    assert.equal(pidExists(firstPid), false, 'the stalled ffmpeg is reaped, not left as a zombie');
    await rec.until('a reconnect', () => rec.reconnects.length >= 1);
    assert.equal(rec.reconnects[0]?.reason, 'stall');
    const before = rec.frames.length;

    publisher = await server().publish(VTEST, '/stall');
    await rec.until('frames after the stall', () => rec.frames.length > before);
    const resumed = rec.frames[before] as Frame;
    const last = rec.frames[before - 1] as Frame;
    assert.equal(resumed.gapBefore, true, 'the first frame after a reconnect carries gapBefore');
    assert.equal(resumed.seq, last.seq + 1, 'sequence numbers keep counting across reconnects');
    assert.ok(resumed.ptsMs > last.ptsMs);
    assert.ok(rec.frames.slice(0, before).every((f) => !f.gapBefore));
    const stats = cam.stats();
    assert.ok(stats.stalls >= 1 && stats.reconnects >= 1, JSON.stringify(stats));
    assert.ok(rec.spawned.length >= 2);
    for (const pid of rec.spawned.slice(0, -1)) assert.equal(pidExists(pid), false, `old ffmpeg ${pid} reaped`);
    assert.equal(rec.error, undefined);
  } finally {
    rec.unsubscribe();
    await publisher.stop();
  }
});

test('the server going down for seconds: reconnects with backoff until it is back, gap marked', { skip }, async () => {
  const publisher = await server().publish(VTEST, '/restart');
  const rec = new Recorder();
  const cam = liveSource(server().url('/restart'), rec);
  try {
    rec.subscribe(cam);
    await rec.until('3 frames', () => rec.frames.length >= 3);
    const downAt = rec.frames.length;
    await server().restart(3000);
    await rec.until('frames after the restart', () => rec.frames.slice(downAt).some((f) => f.gapBefore === true));
    const resumedIndex = rec.frames.findIndex((f, i) => i >= downAt && f.gapBefore === true);
    const resumed = rec.frames[resumedIndex] as Frame;
    assert.equal(resumed.seq, (rec.frames[resumedIndex - 1] as Frame).seq + 1);
    assert.ok(rec.reconnects.length >= 2, `refused connections while down are retried: ${rec.reconnects.length}`);
    const delays = rec.reconnects.map((r) => r.delayMs);
    assert.ok(delays.every((d) => d >= 100 && d <= 500), `delays follow the backoff settings: ${delays.join(',')}`);
    assert.ok(delays.some((d) => d > 100), `delays grow while the server stays down: ${delays.join(',')}`);
    assert.equal(cam.stats().reconnects, rec.reconnects.length);
    for (const exit of rec.exits) assert.equal(pidExists(exit.pid), false);
    assert.equal(rec.error, undefined);
  } finally {
    rec.unsubscribe();
    await publisher.stop();
  }
});

test('a server that accepts TCP but never answers is caught by the watchdog', { skip }, async () => {
  const silent = await startSilentTcpServer();
  const rec = new Recorder();
  // ffmpeg's own socket timeout is set far away so that only the watchdog can act.
  const cam = liveSource(silent.url('/hung'), rec, { startTimeoutMs: 1500, stallTimeoutMs: 1500, ioTimeoutMs: 60_000, maxReconnects: 0 });
  try {
    rec.subscribe(cam);
    await rec.until('an error after the stall', () => rec.error !== undefined);
    assert.equal(silent.connections(), 1);
    assert.equal(rec.stalls.length, 1);
    assert.equal(rec.stalls[0]?.beforeFirstFrame, true);
    assert.equal(rec.exits[0]?.reason, 'stall');
    assert.equal(pidExists(rec.exits[0]?.pid ?? -1), false);
    assert.ok(rec.error instanceof SourceError);
    assert.equal(rec.error.retriable, true, 'a camera that may come back is retriable');
    assert.equal(rec.error.cameraId, 'rtsp-cam');
    assert.equal(rec.frames.length, 0);
  } finally {
    rec.unsubscribe();
    await silent.stop();
  }
});

test('ffmpeg honours the probed socket timeout option by itself (watchdog out of the way)', { skip }, async () => {
  const silent = await startSilentTcpServer();
  const rec = new Recorder();
  const cam = liveSource(silent.url('/hung'), rec, { startTimeoutMs: 60_000, stallTimeoutMs: 60_000, ioTimeoutMs: 1000, maxReconnects: 0 });
  try {
    rec.subscribe(cam);
    await rec.until('ffmpeg to give up', () => rec.error !== undefined);
    assert.equal(rec.stalls.length, 0, 'the watchdog did not fire');
    assert.equal(rec.exits[0]?.reason, 'exit');
    assert.notEqual(rec.exits[0]?.exitCode, 0);
    assert.equal(rec.exits[0]?.signal, null, 'ffmpeg exited on its own');
  } finally {
    rec.unsubscribe();
    await silent.stop();
  }
});
