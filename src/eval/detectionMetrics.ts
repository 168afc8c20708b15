/**
 * Temporal detection metrics: mAP at tIoU thresholds, false alarms per hour, and delay from an
 * action's end to its event.
 *
 * Why these definitions (the standard ones of temporal action detection, as in THUMOS'14 and
 * ActivityNet): per class, every detected event of every video is ranked by confidence; going
 * down the list each event is matched greedily to the not-yet-matched ground-truth instance of
 * its class in its video with the highest tIoU, if that tIoU reaches the threshold (true
 * positive), else it is a false positive; AP is the area under the precision–recall curve
 * with precision made monotone (all-points interpolation); mAP averages AP over the classes
 * that have ground truth. A false alarm is an event that overlaps no ground-truth instance at
 * all (of any class): the operator of a camera was alerted while nothing happened.
 *
 * @example
 * const gt = [{ video: 'a', classIndex: 1, start: 10, end: 14 }];
 * const det = [{ video: 'a', classIndex: 1, start: 10, end: 14, confidence: 0.9 }];
 * meanAveragePrecision(det, gt, 0.5).mAP; // 1
 */

/** A ground-truth instance. */
export interface GroundTruth {
  readonly video: string;
  readonly classIndex: number;
  /** Seconds. */
  readonly start: number;
  readonly end: number;
}

/** A detected event. */
export interface DetectedEvent {
  readonly video: string;
  readonly classIndex: number;
  readonly start: number;
  readonly end: number;
  readonly confidence: number;
  /** Media time (s) at which the stream emitted the event (for the delay). */
  readonly emittedAt?: number;
}

/** A time interval [start, end), seconds. */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

/**
 * Seconds two intervals share: the one overlap test behind tIoU, false alarms, clip labels and
 * the sampler's near-action clips.
 *
 * @returns |A∩B|; zero or negative when they do not overlap (minus the gap between them).
 */
export function overlapSeconds(a: Interval, b: Interval): number {
  return Math.min(a.end, b.end) - Math.max(a.start, b.start);
}

/**
 * Temporal intersection over union of two intervals.
 *
 * @returns |A∩B| / |A∪B| in [0, 1]; 0 for disjoint or empty intervals.
 */
export function tIoU(a: Interval, b: Interval): number {
  const inter = overlapSeconds(a, b);
  if (inter <= 0) return 0;
  const union = Math.max(a.end, b.end) - Math.min(a.start, b.start);
  return union > 0 ? inter / union : 0;
}

/** Result of matching one class's events to its ground truth. */
export interface ClassAP {
  readonly classIndex: number;
  readonly ap: number;
  readonly groundTruth: number;
  readonly detections: number;
  readonly truePositives: number;
}

/**
 * Average precision of one class at one tIoU threshold.
 *
 * @param events events of this class (any order; ranked here by confidence, ties by start).
 * @param truth ground truth of this class.
 * @param threshold minimum tIoU of a match.
 * @returns AP (0 when there is ground truth but no match; NaN when there is no ground truth),
 *   and for each event (in the input order) the index into `truth` it matched, or −1.
 */
export function averagePrecision(
  events: readonly DetectedEvent[],
  truth: readonly GroundTruth[],
  threshold: number,
): { ap: number; matches: number[]; truePositives: number } {
  const order = events.map((_, i) => i).sort((a, b) => {
    const ea = events[a] as DetectedEvent;
    const eb = events[b] as DetectedEvent;
    return eb.confidence - ea.confidence || ea.start - eb.start || a - b;
  });
  const used = new Array<boolean>(truth.length).fill(false);
  const matches = new Array<number>(events.length).fill(-1);
  const tp: number[] = [];
  for (const i of order) {
    const e = events[i] as DetectedEvent;
    let best = -1;
    let bestIoU = threshold;
    truth.forEach((g, j) => {
      if (used[j] || g.video !== e.video || g.classIndex !== e.classIndex) return;
      const iou = tIoU(e, g);
      if (iou >= bestIoU && (best < 0 || iou > bestIoU)) {
        best = j;
        bestIoU = iou;
      }
    });
    if (best >= 0) {
      used[best] = true;
      matches[i] = best;
    }
    tp.push(best >= 0 ? 1 : 0);
  }
  const truePositives = tp.reduce((a, b) => a + b, 0);
  if (truth.length === 0) return { ap: NaN, matches, truePositives };
  // Precision/recall after each ranked event, then the monotone precision envelope.
  const precision: number[] = [];
  const recall: number[] = [];
  let cum = 0;
  tp.forEach((t, r) => {
    cum += t;
    precision.push(cum / (r + 1));
    recall.push(cum / truth.length);
  });
  for (let r = precision.length - 2; r >= 0; r--) precision[r] = Math.max(precision[r] as number, precision[r + 1] as number);
  let ap = 0;
  let prevRecall = 0;
  recall.forEach((rc, r) => {
    if (rc > prevRecall) {
      ap += (rc - prevRecall) * (precision[r] as number);
      prevRecall = rc;
    }
  });
  return { ap, matches, truePositives };
}

/**
 * mAP over the classes that have ground truth.
 *
 * @param events all events (all classes, all videos).
 * @param truth all ground truth.
 * @param threshold tIoU threshold.
 * @returns mAP (NaN when there is no ground truth at all) and the per-class APs.
 */
export function meanAveragePrecision(
  events: readonly DetectedEvent[],
  truth: readonly GroundTruth[],
  threshold: number,
): { mAP: number; perClass: ClassAP[] } {
  const classes = [...new Set(truth.map((g) => g.classIndex))].sort((a, b) => a - b);
  const perClass = classes.map((k) => {
    const ev = events.filter((e) => e.classIndex === k);
    const gt = truth.filter((g) => g.classIndex === k);
    const r = averagePrecision(ev, gt, threshold);
    return { classIndex: k, ap: r.ap, groundTruth: gt.length, detections: ev.length, truePositives: r.truePositives };
  });
  const mAP = perClass.length > 0 ? perClass.reduce((s, c) => s + c.ap, 0) / perClass.length : NaN;
  return { mAP, perClass };
}

/** Duration of the union of intervals clipped to [0, duration]. */
export function unionSeconds(intervals: readonly { start: number; end: number }[], duration: number): number {
  const sorted = intervals
    .map((i) => ({ start: Math.max(0, i.start), end: Math.min(duration, i.end) }))
    .filter((i) => i.end > i.start)
    .sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = -1;
  let curEnd = -1;
  for (const i of sorted) {
    if (i.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = i.start;
      curEnd = i.end;
    } else {
      curEnd = Math.max(curEnd, i.end);
    }
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/** False alarms over the action-free stretches of a set of videos. */
export interface FalseAlarms {
  /** Events overlapping no ground-truth instance of any class. */
  readonly count: number;
  /** The same events counted by their class index (classes without one are absent). */
  readonly byClass: ReadonlyMap<number, number>;
  /** Hours of video without any action (duration minus the union of instances). */
  readonly hours: number;
  readonly perHour: number;
}

/** An event overlapping no instance of its video at all, of any class: a false alarm. */
function isFalseAlarm(e: DetectedEvent, truth: readonly GroundTruth[]): boolean {
  return !truth.some((g) => g.video === e.video && overlapSeconds(e, g) > 0);
}

/**
 * Count false alarms: events that overlap no ground-truth instance (any class) of their video.
 *
 * @param events all events. @param truth all ground truth.
 * @param durations seconds of each video, by video id.
 * @returns count (also by class), action-free hours, and their ratio.
 */
export function falseAlarms(
  events: readonly DetectedEvent[],
  truth: readonly GroundTruth[],
  durations: ReadonlyMap<string, number>,
): FalseAlarms {
  const alarms = events.filter((e) => isFalseAlarm(e, truth));
  const byClass = new Map<number, number>();
  for (const e of alarms) byClass.set(e.classIndex, (byClass.get(e.classIndex) ?? 0) + 1);
  const count = alarms.length;
  let seconds = 0;
  for (const [video, duration] of durations) {
    seconds += duration - unionSeconds(truth.filter((g) => g.video === video), duration);
  }
  const hours = seconds / 3600;
  return { count, byClass, hours, perHour: hours > 0 ? count / hours : NaN };
}

/**
 * Delay from each matched instance's end to the emission of the event that matched it.
 *
 * @param events events with `emittedAt` (media seconds).
 * @param truth ground truth.
 * @param threshold tIoU for the match (greedy, per class, by confidence, as in AP).
 * @returns one delay (s) per matched instance whose event has `emittedAt`.
 */
export function detectionDelays(events: readonly DetectedEvent[], truth: readonly GroundTruth[], threshold: number): number[] {
  const out: number[] = [];
  const classes = [...new Set(truth.map((g) => g.classIndex))];
  for (const k of classes) {
    const ev = events.filter((e) => e.classIndex === k);
    const gt = truth.filter((g) => g.classIndex === k);
    const { matches } = averagePrecision(ev, gt, threshold);
    matches.forEach((j, i) => {
      const e = ev[i] as DetectedEvent;
      if (j >= 0 && e.emittedAt !== undefined) out.push(e.emittedAt - (gt[j] as GroundTruth).end);
    });
  }
  return out;
}

/**
 * Percentile with linear interpolation between order statistics.
 *
 * @param values numbers (any order). @param p in [0, 100].
 * @returns the percentile, or NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (p / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

/** DETAD's kinds of detection error (plus true positives), see {@link detectionErrors}. */
export const DETECTION_OUTCOMES = ['truePositive', 'duplicate', 'localization', 'wrongLabel', 'confusion', 'background'] as const;
/** One event's outcome. */
export type DetectionOutcome = (typeof DETECTION_OUTCOMES)[number];

/** Where detection loses: every event's outcome, missed instances, and how long events are. */
export interface DetectionErrors {
  /** tIoU α of a correct detection. */
  readonly threshold: number;
  /** Events per outcome. */
  readonly counts: Readonly<Record<DetectionOutcome, number>>;
  /** Ground-truth instances that no event of their class overlaps with tIoU ≥ 0.1. */
  readonly missed: number;
  readonly instances: number;
  /** Instances and missed instances per class (ascending class index): which classes recall loses on. */
  readonly byClass: readonly { readonly classIndex: number; readonly instances: number; readonly missed: number }[];
  /**
   * Median over events of the right class that overlap an instance (tIoU ≥ 0.1) of event length
   * ÷ that instance's length: above 1, events run long; below, short.
   */
  readonly lengthRatioP50: number;
  /** Median (s) of event start − instance start and event end − instance end over those pairs. */
  readonly startOffsetP50: number;
  readonly endOffsetP50: number;
  /**
   * Events by how many clips they span (only when the clip timing is given), with how many are
   * true positives at α and how many false alarms (overlapping no instance at all, as in
   * {@link falseAlarms}): says whether short events are worth reporting (trackEvents' minClips).
   */
  readonly byClips?: readonly { readonly clips: number; readonly events: number; readonly truePositive: number; readonly falseAlarms: number }[];
}

/** Clip timing of the events, for {@link DetectionErrors.byClips}: a clip lasts `seconds`, clips start every `strideSeconds`. */
export interface EventClipTiming {
  readonly seconds: number;
  readonly strideSeconds: number;
}

/**
 * Classify every event the way DETAD does (Alwassel et al., "Diagnosing Error in Temporal
 * Action Detectors", ECCV 2018), so a low mAP says why: per class, events are ranked by
 * confidence and matched as in AP at tIoU α; an unmatched event is a `duplicate` when it
 * reaches α with an instance of its class that an earlier event took, a `localization` error
 * when its best tIoU with its class is in [0.1, α), a `wrongLabel` when it reaches α only with
 * another class's instance, a `confusion` when its best tIoU with another class is in [0.1, α),
 * and `background` otherwise (it overlaps no instance by 0.1). Instances no event of their
 * class touches by 0.1 are `missed`.
 *
 * @param events detected events. @param truth ground truth. @param threshold α (default 0.5).
 * @returns counts per outcome, missed instances, and event length and offset statistics.
 * @example
 * detectionErrors([{ video: 'a', classIndex: 1, start: 0, end: 20, confidence: 1 }],
 *   [{ video: 'a', classIndex: 1, start: 8, end: 12 }]).counts.localization; // 1 (tIoU 0.2)
 */
export function detectionErrors(
  events: readonly DetectedEvent[],
  truth: readonly GroundTruth[],
  threshold = 0.5,
  clip?: EventClipTiming,
): DetectionErrors {
  const truePositives = new Set<DetectedEvent>();
  const counts = Object.fromEntries(DETECTION_OUTCOMES.map((k) => [k, 0])) as Record<DetectionOutcome, number>;
  const best = (e: DetectedEvent, same: boolean): { iou: number; g: GroundTruth | undefined } => {
    let out: { iou: number; g: GroundTruth | undefined } = { iou: 0, g: undefined };
    for (const g of truth) {
      if (g.video !== e.video || (g.classIndex === e.classIndex) !== same) continue;
      const iou = tIoU(e, g);
      if (iou > out.iou) out = { iou, g };
    }
    return out;
  };
  const classes = [...new Set([...events.map((e) => e.classIndex), ...truth.map((g) => g.classIndex)])];
  const ratios: number[] = [];
  const startOffsets: number[] = [];
  const endOffsets: number[] = [];
  for (const k of classes) {
    const ev = events.filter((e) => e.classIndex === k);
    const gt = truth.filter((g) => g.classIndex === k);
    const { matches } = averagePrecision(ev, gt, threshold);
    ev.forEach((e, i) => {
      const same = best(e, true);
      if (same.g && same.iou >= 0.1) {
        ratios.push((e.end - e.start) / Math.max(1e-9, same.g.end - same.g.start));
        startOffsets.push(e.start - same.g.start);
        endOffsets.push(e.end - same.g.end);
      }
      if ((matches[i] as number) >= 0) {
        counts.truePositive++;
        truePositives.add(e);
      } else if (same.iou >= threshold) counts.duplicate++;
      else if (same.iou >= 0.1) counts.localization++;
      else {
        const other = best(e, false).iou;
        if (other >= threshold) counts.wrongLabel++;
        else if (other >= 0.1) counts.confusion++;
        else counts.background++;
      }
    });
  }
  const missedTruth = truth.filter((g) => !events.some((e) => e.video === g.video && e.classIndex === g.classIndex && tIoU(e, g) >= 0.1));
  const byClass = [...new Set(truth.map((g) => g.classIndex))]
    .sort((a, b) => a - b)
    .map((k) => ({ classIndex: k, instances: truth.filter((g) => g.classIndex === k).length, missed: missedTruth.filter((g) => g.classIndex === k).length }));
  let byClips: { clips: number; events: number; truePositive: number; falseAlarms: number }[] | undefined;
  if (clip) {
    const rows = new Map<number, { clips: number; events: number; truePositive: number; falseAlarms: number }>();
    for (const e of events) {
      const clips = Math.max(1, Math.round((e.end - e.start - clip.seconds) / clip.strideSeconds) + 1);
      const row = rows.get(clips) ?? { clips, events: 0, truePositive: 0, falseAlarms: 0 };
      row.events++;
      if (truePositives.has(e)) row.truePositive++;
      if (isFalseAlarm(e, truth)) row.falseAlarms++;
      rows.set(clips, row);
    }
    byClips = [...rows.values()].sort((a, b) => a.clips - b.clips);
  }
  return {
    threshold,
    counts,
    missed: missedTruth.length,
    instances: truth.length,
    byClass,
    lengthRatioP50: percentile(ratios, 50),
    startOffsetP50: percentile(startOffsets, 50),
    endOffsetP50: percentile(endOffsets, 50),
    ...(byClips ? { byClips } : {}),
  };
}
