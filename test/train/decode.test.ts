import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceError } from '../../src/errors.ts';
import { runSynth } from '../../src/synth/runSynth.ts';
import { loadDataset } from '../../src/train/dataset.ts';
import { decodeVideo, decodeVideos } from '../../src/train/decode.ts';

const dir = mkdtempSync(join(tmpdir(), 'clipwise-decode-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let made: Promise<string[]> | undefined;
/** Three small synth videos, rendered once for both tests. */
function paths(): Promise<string[]> {
  made ??= (async () => {
    const data = join(dir, 'set');
    await runSynth({ out: data, videos: 3, seed: 9, quick: true, emptyFraction: 0, minInstances: 1, maxInstances: 1 }, () => undefined);
    return (await loadDataset(data)).videos.map((v) => v.path);
  })();
  return made;
}

test('decodeVideos gives, in input order, exactly what decodeVideo gives one file at a time, with progress per video', async () => {
  const files = await paths();
  const o = { fps: 5, size: 32 };
  const one = [];
  for (const p of files) one.push(await decodeVideo(p, o));
  const seen: number[] = [];
  const many = await decodeVideos([...files, files[0] as string], o, 2, (i) => seen.push(i));
  assert.equal(many.length, 4);
  [...one, one[0]].forEach((want, i) => {
    const got = many[i];
    assert.ok(got && want && got.count === want.count && got.count > 0, `video ${i}: ${got?.count} frames vs ${want?.count}`);
    assert.ok(Buffer.from(got.frames).equals(Buffer.from(want.frames)), `video ${i}: same pixels`);
  });
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3], 'onDecoded once per video');
});

test('decodeVideos fails with the decoder’s error when one file is missing, and stops the rest', async () => {
  const files = await paths();
  // The missing file first, then 18 good ones: the other lane must stop long before them all
  // (ffmpeg fails on a missing file far faster than it decodes 18 videos).
  const good = Array.from({ length: 6 }, () => files).flat();
  const seen: number[] = [];
  await assert.rejects(
    decodeVideos([join(dir, 'missing.mp4'), ...good], { fps: 5, size: 32 }, 2, (i) => seen.push(i)),
    (err: unknown) => err instanceof SourceError,
  );
  assert.ok(seen.length < good.length, `stopped before decoding everything (${seen.length} of ${good.length} decoded)`);
});
