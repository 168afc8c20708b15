/**
 * Benchmark (diagnostic): how tall each class's actor appears at the analysis size.
 *
 * Why: in 1.7.0 run is missed at every operating point (selection: 22 of 22 instances, while
 * the GCF head still ranks run first on 69% of run windows), and its events fire on the actor's
 * walk-in 2–4 s before the run. A runner has to stay in view for the whole instance, so its
 * path may cross the plaza to its far edge (src/synth/plan.ts draftRun) where the figure is
 * small; every other action stays on the action rows. This reads the plan (no rendering) and
 * reports the actor's apparent standing height, feet to crown, projected by the video's camera
 * and scaled to the model's 112-row frame, at 11 instants over each instance.
 *
 * Run: `npx tsx bench/actorSize.ts [--seed 3] [--videos 60] [--rows 112]` (the selection set's
 * seed and size by default). Prints a markdown table, then one JSON line
 * (`{"bench":"actorSize",…}`).
 */
import { parseArgs } from 'node:util';
import { personStateAt } from '../src/synth/actors.ts';
import { project } from '../src/synth/camera.ts';
import { resolveSynthOptions } from '../src/synth/options.ts';
import { planVideo } from '../src/synth/plan.ts';
import { hashSeed } from '../src/synth/prng.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '3' },
    videos: { type: 'string', default: '60' },
    rows: { type: 'string', default: '112' },
  },
});
const seed = Number(values.seed);
const videos = Number(values.videos);
const rows = Number(values.rows);
const STATURE_M = 1.72;
const SAMPLES = 11;

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.floor(q * (sorted.length - 1))] ?? NaN;

function main(): void {
  const o = resolveSynthOptions({ out: 'unused', seed, videos });
  const byClass = new Map<string, { heights: number[]; minima: number[] }>();
  for (let i = 0; i < videos; i++) {
    const spec = planVideo(hashSeed(seed, i), o);
    for (const p of spec.people) {
      const inst = p.role === 'actor' && p.instance !== undefined ? spec.instances[p.instance] : undefined;
      if (!inst) continue;
      const heights: number[] = [];
      for (let k = 0; k < SAMPLES; k++) {
        const s = personStateAt(p, inst.start + ((inst.end - inst.start) * k) / (SAMPLES - 1));
        if (!s) continue;
        const feet = project(spec.camera, s.X, 0, s.Z);
        const crown = project(spec.camera, s.X, STATURE_M * p.scale, s.Z);
        heights.push(((feet.y - crown.y) * rows) / spec.height);
      }
      if (heights.length === 0) continue;
      const row = byClass.get(inst.class) ?? { heights: [], minima: [] };
      row.heights.push(...heights);
      row.minima.push(Math.min(...heights));
      byClass.set(inst.class, row);
    }
  }
  const out = [...byClass.entries()].map(([name, r]) => {
    const h = [...r.heights].sort((a, b) => a - b);
    const m = [...r.minima].sort((a, b) => a - b);
    // Fighters are two actors per instance: the count is of actors, not instances.
    return { class: name, actors: r.minima.length, p10: quantile(h, 0.1), p50: quantile(h, 0.5), p90: quantile(h, 0.9), minP50: quantile(m, 0.5) };
  });
  const f = (x: number): string => x.toFixed(1);
  console.log(`Actor height in pixels at ${rows} rows (seed ${seed}, ${videos} videos; ${SAMPLES} instants per instance)\n`);
  console.log('| class | actors | p10 | p50 | p90 | smallest over the instance, p50 |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of out) console.log(`| ${r.class} | ${r.actors} | ${f(r.p10)} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.minP50)} |`);
  console.log(JSON.stringify({ bench: 'actorSize', seed, videos, rows, classes: out }));
}

main();
