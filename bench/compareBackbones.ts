/**
 * Benchmark: the served (compiled) backbones of two model folders, interleaved in one run so both
 * see the same machine load: ms per clip and their ratio.
 *
 * Run: `npx tsx bench/compareBackbones.ts MODEL_A MODEL_B [--batch 8] [--repeats 12]`
 * (e.g. `models/default .cache/model-v3`). Prints one line, then a JSON line.
 */
import { parseArgs } from 'node:util';
import { createEmbedder } from '../src/model/clipModel.ts';
import { initRuntime } from '../src/model/runtime.ts';

const { values, positionals } = parseArgs({
  options: { batch: { type: 'string', default: '8' }, repeats: { type: 'string', default: '12' } },
  allowPositionals: true,
});
const [a, b] = positionals;
if (a === undefined || b === undefined) throw new Error('usage: npx tsx bench/compareBackbones.ts MODEL_A MODEL_B [--batch N] [--repeats N]');
const batch = Number(values.batch);
const repeats = Number(values.repeats);

await initRuntime({ backend: 'wasm' });
const models = [a, b] as const;
const embedders = [await createEmbedder(a), await createEmbedder(b)];
const frames = 8;
const size = 112;
const clips = Array.from({ length: batch }, (_, i) => Uint8Array.from({ length: frames * size * size * 3 }, (_, j) => (j * 31 + i * 7) & 255));
const ms: [number[], number[]] = [[], []];
for (let r = 0; r < repeats; r++) {
  for (let k = 0; k < 2; k++) {
    const t = performance.now();
    await embedders[k]?.embed(clips, { frames, height: size, width: size });
    // The first two rounds warm kernels and allocations up.
    if (r > 1) ms[k]?.push((performance.now() - t) / batch);
  }
}
for (const e of embedders) e.dispose();
const median = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1] ?? NaN;
const [ma, mb] = [median(ms[0]), median(ms[1])];
console.log(`ms per clip (batch ${batch}, median of ${repeats - 2}, interleaved): ${models[0]} ${ma.toFixed(2)}, ${models[1]} ${mb.toFixed(2)}, ratio ${(ma / mb).toFixed(3)}`);
console.log(JSON.stringify({ bench: 'compareBackbones', batch, models, msPerClip: [ma, mb], ratio: ma / mb }));
