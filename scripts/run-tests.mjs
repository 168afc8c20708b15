#!/usr/bin/env node
// Node 20's test runner takes no globs, so collect test files here and hand them over.
// Usage: node scripts/run-tests.mjs [--e2e] [dir-or-file ...]   (default: test)
// --e2e also runs *.e2e.ts files (end-to-end suites against real services, issue 5).
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
const concurrency = process.env.CLIPWISE_TEST_CONCURRENCY ?? '2';
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(res.status ?? 1);
