import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { METRIC } from '../../src/metrics/metrics.ts';

test('k8s manifests parse and the configs they carry validate against the config schema', async () => {
  const dir = 'deploy/k8s';
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 4);
  for (const f of files) {
    for (const doc of parseAllDocuments(await readFile(join(dir, f), 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${f}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const obj = doc.toJS() as { kind?: string; data?: Record<string, string> };
      assert.ok(obj.kind, `${f} has a kind`);
      if (obj.kind === 'ConfigMap') {
        for (const [name, text] of Object.entries(obj.data ?? {})) {
          const cfg = parseAllDocuments(text)[0]?.toJS();
          parseConfig(cfg, `${f}:${name}`, {});
        }
      }
    }
  }
});

test('every Grafana panel queries a metric clipwise exports', async () => {
  const dash = JSON.parse(await readFile('deploy/grafana/clipwise-dashboard.json', 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const known = new Set<string>(Object.values(METRIC));
  for (const p of dash.panels) {
    for (const t of p.targets) {
      const names = t.expr.match(/clipwise_[a-z_]+/g) ?? [];
      assert.ok(names.length > 0, p.title);
      for (const n of names) {
        const base = n.replace(/_(bucket|sum|count)$/, '');
        assert.ok(known.has(base) || base.startsWith('clipwise_process_'), `${p.title}: unknown metric ${n}`);
      }
    }
  }
});
