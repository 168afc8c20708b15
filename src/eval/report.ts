/**
 * The markdown report of `clipwise eval` (`--report FILE.md`), also the section `--card`
 * appends to a model card: the Table 2 row, detection scores, the goals, and the command.
 *
 * @example
 * await writeFile('eval.md', evalReportMarkdown(result, 'clipwise eval --data … --json …'));
 */
import { HEAD_KINDS } from '../model/heads.ts';
import type { DetectionErrors } from './detectionMetrics.ts';
import type { EvalResult } from './evaluate.ts';

const TITLES = {
  central: 'C-Clip',
  dense: 'D-Clips',
  attentionOnly: 'Attention only',
  fusionOnly: 'Fusion only',
  gcf: 'GCF full',
  atw: 'ATW',
} as const;

const f = (x: number | undefined, d = 3): string => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));

/**
 * Render a result as markdown.
 *
 * @param r the evaluation result.
 * @param command the command line that produced it (for reproduction).
 * @returns markdown text, starting with a level-2 heading.
 */
export function evalReportMarkdown(r: EvalResult, command: string): string {
  const kinds = HEAD_KINDS.filter((k) => r.windows.top1[k] !== undefined);
  const att = Object.entries(r.windows.attention);
  return [
    `## Evaluation on \`${r.data.dir}\``,
    '',
    `${r.data.videos} untrimmed videos (${(r.data.hours * 60).toFixed(0)} min, ${r.data.instances} action instances), ` +
      `model \`${r.model.path}\` (${r.model.name} ${r.model.version}${r.model.trained ? '' : ', UNTRAINED'}). Reproduce:`,
    '',
    '```sh',
    command,
    '```',
    '',
    `### Window classification (GCF-Net Table 2 columns)`,
    '',
    `Top-1 % over the action classes (background excluded from the argmax) on the ${r.windows.count} windows of ` +
      `C consecutive clips that hold an action (of ${r.windows.total} windows):`,
    '',
    `| ${kinds.map((k) => TITLES[k]).join(' | ')} |`,
    `|${kinds.map(() => '---:').join('|')}|`,
    `| ${kinds.map((k) => f(r.windows.top1[k], 2)).join(' | ')} |`,
    '',
    ...(att.length > 0
      ? [
          `Attention of the gated heads on those windows (θ_att = ${r.model.attentionThreshold}):`,
          '',
          '| head | mean att on action clips | mean att on other clips | ranking AUC | run tIoU (att ≥ θ) | run tIoU (att / max ≥ θ) |',
          '|---|---:|---:|---:|---:|---:|',
          ...att.map(([k, a]) => `| ${k} | ${f(a.meanOnAction)} | ${f(a.meanOffAction)} | ${f(a.auc)} | ${f(a.meanRunTIoU)} | ${f(a.meanRelativeRunTIoU)} |`),
          '',
        ]
      : []),
    `### Temporal detection through the streaming topology`,
    '',
    `Head \`${r.model.head}\`, θ_class = ${r.model.classThreshold}, θ_att = ${r.model.attentionThreshold}, ` +
      `events of at least ${r.model.minEventClips} clip(s); ` +
      `${r.detection.events} events; clips dropped ${r.detection.droppedClips}, windows dropped ${r.detection.droppedWindows}.`,
    '',
    '| mAP@0.3 | mAP@0.5 | mAP@0.7 | false alarms / h | delay p50 (s) | delay p95 (s) |',
    '|---:|---:|---:|---:|---:|---:|',
    `| ${f(r.detection.mAP['0.3'])} | ${f(r.detection.mAP['0.5'])} | ${f(r.detection.mAP['0.7'])} | ${f(r.detection.falseAlarmsPerHour, 2)} ` +
      `(${r.detection.falseAlarms} in ${f(r.detection.actionFreeHours, 2)} h) | ${f(r.detection.delaySeconds.p50, 1)} | ${f(r.detection.delaySeconds.p95, 1)} |`,
    '',
    `AP@0.5 per class: ${Object.entries(r.detection.perClassAP50)
      .map(([k, v]) => `${k} ${f(v)}`)
      .join(', ')}. Delay: media time from an action's end to the emission of the event matched to it ` +
      `(tIoU ≥ ${r.detection.delaySeconds.matchTIoU}, ${r.detection.delaySeconds.count} matches). A false alarm is an event overlapping no action at all.`,
    '',
    ...errorLines(r),
    ...perClassLines(r),
    '### Goals',
    '',
    '| goal | met | value |',
    '|---|---|---|',
    ...r.goals.map((g) => `| ${g.goal} | ${g.met ? 'yes' : '**no**'} | ${g.value} |`),
    '',
  ].join('\n');
}

/** The DETAD breakdown of the events (absent in results written before it existed). */
function errorLines(r: EvalResult): string[] {
  const e = r.detection.errors as EvalResult['detection']['errors'] | undefined;
  if (!e) return [];
  const c = e.counts;
  return [
    `Where detection loses (tIoU α = ${e.threshold}; DETAD's error kinds, each event counted once): ` +
      `${c.truePositive} true positives, ${c.duplicate} duplicates, ${c.localization} localization errors (right class, 0.1 ≤ tIoU < α), ` +
      `${c.wrongLabel} wrong labels (tIoU ≥ α with another class), ${c.confusion} confusions (wrong class, 0.1 ≤ tIoU < α), ` +
      `${c.background} on background (tIoU < 0.1 with every instance); ${e.missed} of ${e.instances} instances missed (no event of their class ` +
      `overlaps them by 0.1). Events of the right class that overlap their instance: median length ${f(e.lengthRatioP50, 2)}× the instance's, ` +
      `start ${f(e.startOffsetP50, 1)} s and end ${f(e.endOffsetP50, 1)} s from the instance's (median).`,
    '',
    ...(e.byClips && e.byClips.length > 0
      ? [
          `Events by length (clips: events, true positives at α, false alarms): ` +
            e.byClips.map((b) => `${b.clips}: ${b.events}, ${b.truePositive}, ${b.falseAlarms}`).join('; ') +
            '.',
          '',
        ]
      : []),
  ];
}

/**
 * Per class: recall lost (missed instances), AP@0.5, and the detection head's window top-1
 * with the class it is most often taken for: says whether a weak class is a backbone or head
 * confusion (low window top-1) or a detection-stage loss (good windows, missed instances).
 * Absent in results written before these fields existed.
 */
function perClassLines(r: EvalResult): string[] {
  const names = r.model.classes as readonly string[] | undefined;
  const byClass = r.detection.errors.byClass as DetectionErrors['byClass'] | undefined;
  const m = r.windows.confusion as EvalResult['windows']['confusion'] | undefined;
  if (!names || !byClass || !m) return [];
  const rows = byClass.map(({ classIndex: k, instances, missed }) => {
    const row = m[k] ?? [];
    const n = row.reduce((a, b) => a + b, 0);
    let other = -1;
    row.forEach((c, j) => {
      if (j !== k && c > 0 && (other < 0 || c > (row[other] ?? 0))) other = j;
    });
    const name = names[k] ?? String(k);
    const confused = other >= 0 ? `${names[other] ?? other} ${f((100 * (row[other] ?? 0)) / n, 1)}` : '—';
    return `| ${name} | ${instances} | ${missed} | ${f(r.detection.perClassAP50[name])} | ${n} | ${n > 0 ? f((100 * (row[k] ?? 0)) / n, 1) : 'n/a'} | ${confused} |`;
  });
  return [
    `Per class (instances missed as above; window top-1 % of the \`${r.model.head}\` head on the windows of that class, and the class it takes them for most):`,
    '',
    '| class | instances | missed | AP@0.5 | windows | window top-1 % | most taken for (%) |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
  ];
}
