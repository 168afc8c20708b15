#!/usr/bin/env node
// Node 20's test runner takes no globs, so collect test files here and hand them over.
// Usage: node scripts/run-tests.mjs [--e2e] [dir-or-file ...]   (default: test)
// --e2e also runs *.e2e.ts files (end-to-end suites against real services, issue 5), after the
// others and one file at a time: each starts its own Kafka broker, RTSP server and analyzer
// processes, and suites that time fault recovery must not share two cores with each other.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (/\.test\.ts$/.test(path) || (e2e && /\.e2e\.ts$/.test(path))) {
    out.push(path);
  }
  return out;
}

const e2e = process.argv.includes('--e2e');
const roots = process.argv.slice(2).filter((a) => a !== '--e2e');
const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error('no test files found under', roots.join(' '));
  process.exit(1);
}
const run = (list, concurrency) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...list], { stdio: 'inherit' })
    .status ?? 1;
const unit = files.filter((f) => !f.endsWith('.e2e.ts'));
const suites = files.filter((f) => f.endsWith('.e2e.ts'));
let status = unit.length > 0 ? run(unit, process.env.CLIPWISE_TEST_CONCURRENCY ?? '2') : 0;
if (suites.length > 0) {
  const started = Date.now();
  console.log(`\nend-to-end suites, one at a time: ${suites.join(' ')}`);
  status = run(suites, '1') || status;
  console.log(`end-to-end suites: ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
process.exit(status);
