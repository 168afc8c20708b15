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

async function paths(): Promise<string[]> {
  const data = join(dir, 'set');
  await runSynth({ out: data, videos: 3, seed: 9, quick: true, emptyFraction: 0, minInstances: 1, maxInstances: 1 }, () => undefined);
  return (await loadDataset(data)).videos.map((v) => v.path);
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
    assert.deepEqual(Buffer.compare(Buffer.from(got.frames), Buffer.from(want.frames)), 0, `video ${i}: same pixels`);
  });
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3], 'onDecoded once per video');
});

test('decodeVideos fails with the decoder’s error when one file is missing, and stops the rest', async () => {
  const files = await paths();
  const seen: number[] = [];
  await assert.rejects(
    decodeVideos([join(dir, 'missing.mp4'), ...files, ...files], { fps: 5, size: 32 }, 2, (i) => seen.push(i)),
    (err: unknown) => err instanceof SourceError,
  );
  assert.ok(seen.length < 1 + 2 * files.length, `stopped before decoding everything (${seen.length} decoded)`);
});
