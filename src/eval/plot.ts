/**
 * One PNG per evaluated video: the head's clip attention and action probability over time,
 * against the ground-truth instances and the events the stream emitted.
 *
 * Why SVG rendered by sharp: sharp (already a dependency, for JPEG frames) rasterises SVG with
 * librsvg, so a plot is a string template and one call — no canvas or plotting package.
 *
 * @example
 * await writeVideoPlot('plots/0003.png', { title: '0003.mp4', duration: 92, classes, truth, events, clips, thresholds });
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';

/** What one plot shows. */
export interface VideoPlot {
  readonly title: string;
  /** Video length, seconds. */
  readonly duration: number;
  readonly classes: readonly string[];
  readonly truth: readonly { readonly classIndex: number; readonly start: number; readonly end: number }[];
  readonly events: readonly { readonly classIndex: number; readonly start: number; readonly end: number; readonly confidence: number }[];
  /**
   * Per clip: its time span, the mean attention it received over the windows that held it, and
   * the highest action probability of the window that ended with it.
   */
  readonly clips: readonly { readonly start: number; readonly end: number; readonly attention: number; readonly actionProb: number }[];
  readonly thresholds: { readonly classThreshold: number; readonly attentionThreshold: number };
}

const PALETTE = ['#888888', '#d62728', '#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The plot as an SVG document.
 *
 * @param p what to draw.
 * @returns SVG text (1200 × 300 px).
 */
export function videoPlotSvg(p: VideoPlot): string {
  const W = 1200;
  const H = 300;
  const left = 70;
  const right = 20;
  const plotTop = 40;
  const plotH = 150;
  const x = (t: number): number => left + ((W - left - right) * t) / Math.max(1e-9, p.duration);
  const y = (v: number): number => plotTop + plotH * (1 - Math.max(0, Math.min(1, v)));
  const color = (k: number): string => PALETTE[k % PALETTE.length] as string;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="22" font-family="sans-serif" font-size="15" fill="#222">${esc(p.title)}</text>`,
  ];
  // Ground truth as shaded bands behind the curves.
  for (const g of p.truth) {
    parts.push(
      `<rect x="${x(g.start).toFixed(1)}" y="${plotTop}" width="${Math.max(1, x(g.end) - x(g.start)).toFixed(1)}" height="${plotH}" fill="${color(g.classIndex)}" fill-opacity="0.18"/>`,
      `<text x="${(x(g.start) + 2).toFixed(1)}" y="${plotTop + 12}" font-family="sans-serif" font-size="11" fill="${color(g.classIndex)}">${esc(p.classes[g.classIndex] ?? String(g.classIndex))}</text>`,
    );
  }
  // Axes, grid and thresholds.
  parts.push(`<rect x="${left}" y="${plotTop}" width="${W - left - right}" height="${plotH}" fill="none" stroke="#444"/>`);
  for (const v of [0, 0.5, 1]) {
    parts.push(`<text x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" font-family="sans-serif" font-size="11" text-anchor="end" fill="#444">${v}</text>`);
  }
  parts.push(
    `<line x1="${left}" x2="${W - right}" y1="${y(p.thresholds.attentionThreshold).toFixed(1)}" y2="${y(p.thresholds.attentionThreshold).toFixed(1)}" stroke="#1f77b4" stroke-dasharray="2,3"/>`,
    `<line x1="${left}" x2="${W - right}" y1="${y(p.thresholds.classThreshold).toFixed(1)}" y2="${y(p.thresholds.classThreshold).toFixed(1)}" stroke="#d62728" stroke-dasharray="2,3"/>`,
  );
  const step = p.duration > 300 ? 60 : p.duration > 60 ? 10 : 5;
  for (let t = 0; t <= p.duration; t += step) {
    parts.push(
      `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${plotTop + plotH}" y2="${plotTop + plotH + 4}" stroke="#444"/>`,
      `<text x="${x(t).toFixed(1)}" y="${plotTop + plotH + 16}" font-family="sans-serif" font-size="11" text-anchor="middle" fill="#444">${t}s</text>`,
    );
  }
  // Attention (step curve per clip) and action probability.
  const stepPath = (value: (c: VideoPlot['clips'][number]) => number): string =>
    p.clips.map((c, i) => `${i === 0 ? 'M' : 'L'}${x(c.start).toFixed(1)},${y(value(c)).toFixed(1)} L${x(c.end).toFixed(1)},${y(value(c)).toFixed(1)}`).join(' ');
  if (p.clips.length > 0) {
    parts.push(`<path d="${stepPath((c) => c.actionProb)}" fill="none" stroke="#d62728" stroke-width="1.2" stroke-opacity="0.8"/>`);
    parts.push(`<path d="${stepPath((c) => c.attention)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
  }
  // Events under the plot, one bar each.
  const evTop = plotTop + plotH + 26;
  parts.push(`<text x="${left - 8}" y="${evTop + 11}" font-family="sans-serif" font-size="11" text-anchor="end" fill="#444">events</text>`);
  for (const e of p.events) {
    parts.push(
      `<rect x="${x(e.start).toFixed(1)}" y="${evTop}" width="${Math.max(2, x(e.end) - x(e.start)).toFixed(1)}" height="14" fill="${color(e.classIndex)}"/>`,
      `<text x="${(x(e.start) + 2).toFixed(1)}" y="${evTop + 26}" font-family="sans-serif" font-size="10" fill="${color(e.classIndex)}">${esc(p.classes[e.classIndex] ?? '')} ${e.confidence.toFixed(2)}</text>`,
    );
  }
  const gtTop = evTop + 34;
  parts.push(`<text x="${left - 8}" y="${gtTop + 11}" font-family="sans-serif" font-size="11" text-anchor="end" fill="#444">truth</text>`);
  for (const g of p.truth) {
    parts.push(`<rect x="${x(g.start).toFixed(1)}" y="${gtTop}" width="${Math.max(2, x(g.end) - x(g.start)).toFixed(1)}" height="14" fill="${color(g.classIndex)}" fill-opacity="0.6"/>`);
  }
  parts.push(
    `<text x="${W - right}" y="22" font-family="sans-serif" font-size="12" text-anchor="end"><tspan fill="#1f77b4">— attention (mean over windows)</tspan>  <tspan fill="#d62728">— max action probability</tspan>  <tspan fill="#555">- - thresholds</tspan></text>`,
    '</svg>',
  );
  return parts.join('\n');
}

/**
 * Render a plot to a PNG file.
 *
 * @param path output .png (its folder is created).
 * @param p what to draw.
 */
export async function writeVideoPlot(path: string, p: VideoPlot): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp(Buffer.from(videoPlotSvg(p))).png().toFile(path);
}
