/**
 * `clipwise model-info [--model DIR] [--json]`: parameters and MFLOPs of the backbone and of
 * every head, for the model's configuration and for GCF-Net's paper configuration
 * (d = 2048, C = 10, K = 600), to set beside gcf-net Table 3 (GCF head: 0.86 M params, 15 MFLOPs).
 * Counted analytically (2 FLOPs per multiply-accumulate), checked against tfjs' countParams in tests.
 */
import { fileURLToPath } from 'node:url';
import { backboneComplexity } from '../model/flops.ts';
import { headComplexity, GCF_TABLE3_CONFIG } from '../model/headComplexity.ts';
import { HEAD_KINDS, type HeadConfig, type HeadKind } from '../model/heads.ts';
import { loadManifest, manifestBackboneConfig, manifestHeadConfig } from '../model/clipModel.ts';
import { resolveBackboneConfig, type BackboneConfig } from '../model/backbone.ts';
import { parseFlags } from './args.ts';

export interface ModelInfo {
  readonly backbone: { readonly params: number; readonly mflopsPerClip: number };
  readonly heads: Readonly<Record<HeadKind, { readonly params: number; readonly mflops: number }>>;
  readonly window: { readonly clips: number };
  /** Head MFLOPs per window as a share of backbone MFLOPs for the window's C clips. */
  readonly gcfShareOfModel: number;
}

/** Complexity of a backbone config plus heads for one head config. */
export function modelInfo(backbone: BackboneConfig, head: HeadConfig): ModelInfo {
  const b = backboneComplexity(backbone);
  const clips = head.clips ?? 10;
  const heads = Object.fromEntries(HEAD_KINDS.map((k) => [k, round(headComplexity(k, head))])) as Record<HeadKind, { params: number; mflops: number }>;
  return {
    backbone: { params: b.params, mflopsPerClip: round3(b.mflopsPerClip) },
    heads,
    window: { clips },
    gcfShareOfModel: round3(heads.gcf.mflops / (heads.gcf.mflops + b.mflopsPerClip * clips)),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
function round(c: { params: number; mflops: number }): { params: number; mflops: number } {
  return { params: c.params, mflops: round3(c.mflops) };
}

const DEFAULT_MODEL = fileURLToPath(new URL('../../models/default', import.meta.url));

export async function modelInfoCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { model: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, 'model-info');
  if (values.help) {
    process.stdout.write('usage: clipwise model-info [--model DIR] [--json]\n');
    return 0;
  }
  let backbone: BackboneConfig = {};
  let head: HeadConfig;
  let source: string;
  try {
    const m = await loadManifest(values.model ?? DEFAULT_MODEL);
    backbone = manifestBackboneConfig(m);
    head = { ...manifestHeadConfig(m, m.defaultHead) };
    source = values.model ?? 'models/default';
  } catch (err) {
    if (values.model) throw err;
    // No shipped model yet: describe the default configuration.
    head = { inputDim: resolveBackboneConfig({}).dim, numClasses: 7 };
    source = 'default configuration';
  }
  const info = modelInfo(backbone, head);
  const paper = { heads: Object.fromEntries(HEAD_KINDS.map((k) => [k, round(headComplexity(k, GCF_TABLE3_CONFIG))])), window: { clips: GCF_TABLE3_CONFIG.clips ?? 10 }, config: GCF_TABLE3_CONFIG };
  if (values.json) {
    process.stdout.write(JSON.stringify({ ...info, source, paperConfig: paper }) + '\n');
    return 0;
  }
  const lines = [
    `model: ${source}`,
    `backbone: ${(info.backbone.params / 1e3).toFixed(1)} K params, ${info.backbone.mflopsPerClip.toFixed(1)} MFLOPs per clip`,
    `window: ${info.window.clips} clips; GCF head share of model FLOPs per window: ${(info.gcfShareOfModel * 100).toFixed(2)} %`,
    '',
    'head            params        MFLOPs/window   paper config (d=2048, C=10, K=600): params  MFLOPs',
    ...HEAD_KINDS.map((k) => {
      const h = info.heads[k];
      const p = paper.heads[k] as { params: number; mflops: number };
      return `${k.padEnd(15)} ${String(h.params).padStart(9)}  ${h.mflops.toFixed(3).padStart(14)}   ${String(p.params).padStart(36)}  ${p.mflops.toFixed(2).padStart(6)}`;
    }),
    '',
    'gcf-net Table 3: GCF-Net (w/o backbone) 0.86 M params, 15 MFLOPs.',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
