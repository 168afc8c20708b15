import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { runSynth } from '../../src/synth/runSynth.ts';

const dir = mkdtempSync(join(tmpdir(), 'clipwise-eval-'));
const data = join(dir, 'data');
const model = join(dir, 'model');
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), stderr: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

test.before(async () => {
  await runSynth({ out: data, videos: 3, seed: 11, quick: true, emptyFraction: 0 }, () => undefined);
  const r = await cli(['train', '--data', data, '--out', model, '--quick', '--epochs', '1']);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
});

test('clipwise eval writes the JSON shape of the issue, a markdown report and one PNG plot per video', async () => {
  const json = join(dir, 'out', 'eval.json');
  const report = join(dir, 'out', 'eval.md');
  const plots = join(dir, 'out', 'plots');
  const card = join(model, 'MODEL_CARD.md');
  const r = await cli(['eval', '--data', data, '--model', model, '--json', json, '--report', report, '--plots', plots, '--card', card]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const out = JSON.parse(readFileSync(json, 'utf8')) as {
    model: { classes: string[]; head: string };
    windows: { count: number; top1: Record<string, number>; confusion: number[][] };
    detection: {
      videos: number;
      mAP: Record<string, number>;
      falseAlarmsPerHour: number;
      delaySeconds: { p50: number | null; p95: number | null };
      errors: { instances: number; missed: number; byClass: { classIndex: number; instances: number; missed: number }[] };
    };
  };
  assert.equal(typeof out.windows.count, 'number');
  assert.ok(out.windows.count > 0, 'the quick set has windows with actions');
  assert.deepEqual(Object.keys(out.windows.top1).sort(), ['attentionOnly', 'atw', 'central', 'dense', 'fusionOnly', 'gcf']);
  for (const v of Object.values(out.windows.top1)) assert.ok(v >= 0 && v <= 100, `top-1 is a percentage: ${v}`);
  // The confusion matrix is the detection head's top-1 spelled out: its diagonal over its total.
  const K = out.model.classes.length;
  assert.equal(out.windows.confusion.length, K);
  const total = out.windows.confusion.flat().reduce((a, b) => a + b, 0);
  const right = out.windows.confusion.reduce((a, row, y) => a + (row[y] ?? 0), 0);
  assert.equal(total, out.windows.count);
  assert.ok(Math.abs((100 * right) / total - (out.windows.top1[out.model.head] ?? NaN)) < 1e-9);
  const { errors } = out.detection;
  assert.equal(errors.byClass.reduce((a, c) => a + c.instances, 0), errors.instances);
  assert.equal(errors.byClass.reduce((a, c) => a + c.missed, 0), errors.missed);
  assert.equal(out.detection.videos, 3);
  assert.deepEqual(Object.keys(out.detection.mAP).sort(), ['0.3', '0.5', '0.7']);
  for (const v of Object.values(out.detection.mAP)) assert.ok(v >= 0 && v <= 1);
  assert.equal(typeof out.detection.falseAlarmsPerHour, 'number');
  // No matched event in a 1-epoch toy model is possible: a delay is then null (JSON of NaN).
  for (const v of [out.detection.delaySeconds.p50, out.detection.delaySeconds.p95]) assert.ok(v === null || typeof v === 'number');
  const md = readFileSync(report, 'utf8');
  assert.match(md, /\| C-Clip \| D-Clips \| Attention only \| Fusion only \| GCF full \| ATW \|/);
  assert.match(md, /mAP@0\.5/);
  assert.match(md, /\| class \| instances \| missed \| AP@0\.5 \| windows \| window top-1 % \| most taken for \(%\) \|/);
  const pngs = readdirSync(plots).filter((f) => f.endsWith('.png'));
  assert.equal(pngs.length, 3);
  const png = readFileSync(join(plots, pngs[0] as string));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
  // --card appended the report under the training part of the card.
  const text = readFileSync(card, 'utf8');
  assert.match(text, /## Training command[\s\S]*## Evaluation on/);
});

test('clipwise eval --class-threshold/--attention-threshold evaluates another operating point; out-of-range values are exit code 2', async () => {
  const json = join(dir, 'op', 'eval.json');
  const r = await cli(['eval', '--data', data, '--model', model, '--json', json, '--limit', '1', '--class-threshold', '0.97', '--attention-threshold', '0.15']);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const out = JSON.parse(readFileSync(json, 'utf8')) as { model: { classThreshold: number; attentionThreshold: number } };
  assert.equal(out.model.classThreshold, 0.97);
  assert.equal(out.model.attentionThreshold, 0.15);
  const bad = await cli(['eval', '--data', data, '--model', model, '--json', json, '--class-threshold', '1.5']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--class-threshold/);
});

test('clipwise eval: missing annotations.json or model folder is exit code 2', async () => {
  const empty = join(dir, 'empty');
  mkdirSync(empty, { recursive: true });
  const r = await cli(['eval', '--data', empty, '--model', model, '--json', join(dir, 'x.json')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /annotations\.json/);
  const r2 = await cli(['eval', '--data', data, '--model', join(dir, 'nope'), '--json', join(dir, 'x.json')]);
  assert.equal(r2.code, 2);
  assert.equal((await cli(['eval', '--data', data])).code, 2, '--json is required');
});
