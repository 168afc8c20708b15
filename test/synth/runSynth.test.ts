import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, SynthError } from '../../src/errors.ts';
import { parseSynthArgs, resolveSynthOptions, SYNTH_DEFAULTS } from '../../src/synth/options.ts';
import { planVideo } from '../../src/synth/plan.ts';
import { runSynth } from '../../src/synth/runSynth.ts';
import type { SynthAnnotations } from '../../src/synth/runSynth.ts';
import { SYNTH_CLASSES } from '../../src/synth/spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'clipwise-synth-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function frameCount(path: string): number {
  return Number(
    execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path])
      .toString()
      .trim(),
  );
}

test('runSynth writes the videos and annotations.json; a second run with the seed reproduces it', async () => {
  const out = join(dir, 'a');
  const lines: string[] = [];
  const res = await runSynth({ out, videos: 3, seed: 9, quick: true, minSeconds: 5, maxSeconds: 7, emptyFraction: 0 }, (m) => lines.push(m));
  const ann = JSON.parse(readFileSync(join(out, 'annotations.json'), 'utf8')) as SynthAnnotations;
  assert.deepEqual(ann, res.annotations);
  assert.equal(ann.version, 1);
  assert.equal(ann.seed, 9);
  assert.deepEqual(ann.classes, [...SYNTH_CLASSES]);
  assert.equal(ann.videos.length, 3);
  assert.equal(res.videos, 3);
  for (const v of ann.videos) {
    assert.match(v.path, /^videos\/\d{4}\.mp4$/);
    assert.equal(v.width, 160);
    assert.equal(v.height, 120);
    assert.equal(v.fps, ann.fps);
    assert.ok(v.durationSeconds >= 5 - 1e-9 && v.durationSeconds <= 7 + 1e-9);
    assert.equal(frameCount(join(out, v.path)), v.frameCount);
    // The annotation is the plan: planVideo(seed, options) gives the same instances.
    assert.deepEqual(v.instances, planVideo(v.seed, { quick: true, minSeconds: 5, maxSeconds: 7, emptyFraction: 0 }).instances);
    for (const i of v.instances) {
      assert.deepEqual(Object.keys(i).sort(), ['class', 'classIndex', 'end', 'start']);
      assert.ok(i.start >= 0 && i.end <= v.durationSeconds && i.start < i.end);
    }
  }
  assert.ok(lines.some((l) => /video 3\/3/.test(l) && /ETA/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /per video-minute/.test(l)));
  assert.ok(res.secondsPerVideoMinute > 0);

  const again = await runSynth({ out: join(dir, 'b'), videos: 3, seed: 9, quick: true, minSeconds: 5, maxSeconds: 7, emptyFraction: 0 }, () => undefined);
  assert.deepEqual(again.annotations.videos, ann.videos);
  const other = await runSynth({ out: join(dir, 'c'), videos: 1, seed: 10, quick: true, minSeconds: 5, maxSeconds: 7 }, () => undefined);
  assert.notDeepEqual(other.annotations.videos[0], ann.videos[0]);
});

test('runSynth reports a missing ffmpeg as a SynthError', async () => {
  await assert.rejects(
    runSynth({ out: join(dir, 'nof'), videos: 1, quick: true, ffmpegPath: join(dir, 'nope') }, () => undefined),
    (e: unknown) => e instanceof SynthError && e.reason === 'ffmpeg-missing',
  );
  assert.equal(existsSync(join(dir, 'nof', 'annotations.json')), false);
});

test('parseSynthArgs maps flags, fills defaults, applies --quick under explicit flags', () => {
  const o = parseSynthArgs([
    '--out', 'x', '--videos', '4', '--seed', '12', '--noise', '5.5', '--distractors', '2',
    '--figure-scale', '0.3,0.4', '--speed', '1:1.5', '--shake', '0', '--classes', 'fall, run',
    '--instances', '2,3', '--gap-seconds', '12,30', '--fps', '12',
  ]);
  assert.equal(o.out, 'x');
  assert.equal(o.videos, 4);
  assert.equal(o.seed, 12);
  assert.equal(o.noise, 5.5);
  assert.equal(o.distractors, 2);
  assert.deepEqual(o.figureScale, [0.3, 0.4]);
  assert.deepEqual(o.speed, [1, 1.5]);
  assert.equal(o.shake, 0);
  assert.deepEqual(o.classes, ['fall', 'run']);
  assert.equal(o.minInstances, 2);
  assert.equal(o.maxInstances, 3);
  assert.deepEqual(o.gapSeconds, [12, 30]);
  assert.equal(o.fps, 12);
  assert.equal(o.width, SYNTH_DEFAULTS.width);
  assert.equal(o.minSeconds, 60);
  const q = parseSynthArgs(['--out', 'y', '--quick', '--width', '200']);
  assert.equal(q.quick, true);
  assert.equal(q.width, 200);
  assert.equal(q.height, 120);
  assert.ok(q.maxSeconds < 20);
});

test('bad flags and values are ConfigErrors naming the field', () => {
  const bad: [string[], RegExp][] = [
    [['--videos', '2'], /--out/],
    [['--out', 'x', '--frobnicate'], /frobnicate/],
    [['--out', 'x', '--videos', 'many'], /--videos/],
    [['--out', 'x', '--classes', 'fall,dance'], /dance/],
    [['--out', 'x', '--width', '321'], /width/],
    [['--out', 'x', '--min-seconds', '90', '--max-seconds', '60'], /maxSeconds/],
    [['--out', 'x', '--figure-scale', '0.5,0.2'], /figureScale/],
    [['--out', 'x', '--shake', '2'], /shake/],
  ];
  for (const [argv, re] of bad) {
    assert.throws(() => parseSynthArgs(argv), (e: unknown) => e instanceof ConfigError && re.test(e.message), argv.join(' '));
  }
  assert.throws(() => resolveSynthOptions({ out: 'x', noise: -1 }), ConfigError);
});
