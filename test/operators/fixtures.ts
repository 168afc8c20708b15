/**
 * Synthetic records for operator tests: frames whose pixels encode their sequence number, so a
 * test can check which frame landed in which clip slot without trusting the operator.
 */
import type { ClipFeature, ClipMeta, Frame, Window } from '../../src/types.ts';

/** Options of {@link makeFrame}. */
export interface FrameSpec {
  readonly ptsMs?: number;
  readonly width?: number;
  readonly height?: number;
  /** Every byte of the frame; default seq mod 256. */
  readonly value?: number;
  readonly gapBefore?: boolean;
}

/**
 * A frame of `cameraId` at `seq`, pts 1000 + 40·seq by default, every byte = value.
 *
 * @param cameraId - camera
 * @param seq - sequence number
 * @param spec - overrides
 * @returns the frame
 */
export function makeFrame(cameraId: string, seq: number, spec: FrameSpec = {}): Frame {
  const width = spec.width ?? 2;
  const height = spec.height ?? 2;
  const data = new Uint8Array(width * height * 3).fill(spec.value ?? seq % 256);
  return {
    cameraId,
    seq,
    ptsMs: spec.ptsMs ?? 1000 + 40 * seq,
    width,
    height,
    data,
    ...(spec.gapBefore === true ? { gapBefore: true } : {}),
  };
}

/**
 * Clip metadata for a clip of `frames` frames starting at startSeq (pts 1000 + 40·seq).
 *
 * @param cameraId - camera
 * @param startSeq - first frame
 * @param segment - segment number
 * @param frames - T
 * @returns the metadata
 */
export function makeMeta(cameraId: string, startSeq: number, segment = 0, frames = 4): ClipMeta {
  return {
    cameraId,
    startSeq,
    endSeq: startSeq + frames - 1,
    startMs: 1000 + 40 * startSeq,
    endMs: 1000 + 40 * (startSeq + frames),
    segment,
  };
}

/**
 * A clip feature whose descriptor is [startSeq, startSeq + 0.5] (dim 2) unless given.
 *
 * @param cameraId - camera
 * @param startSeq - clip identity
 * @param segment - segment number
 * @param feature - descriptor
 * @returns the feature
 */
export function makeFeature(cameraId: string, startSeq: number, segment = 0, feature?: Float32Array): ClipFeature {
  return { ...makeMeta(cameraId, startSeq, segment), feature: feature ?? Float32Array.of(startSeq, startSeq + 0.5) };
}

/**
 * A real (unpadded) window of C clips starting at firstSeq, stride 4 frames per clip.
 *
 * @param cameraId - camera
 * @param firstSeq - startSeq of the first clip
 * @param C - clips
 * @param segment - segment number
 * @returns the window
 */
export function makeWindow(cameraId: string, firstSeq: number, C: number, segment = 0): Window {
  const clips = Array.from({ length: C }, (_, i) => makeMeta(cameraId, firstSeq + 4 * i, segment));
  return { cameraId, clips, padded: clips.map(() => false), features: new Float32Array(C * 2), dim: 2, segment };
}

/**
 * Deterministic pseudo-random numbers in [0, 1) (mulberry32), so shuffles repeat.
 *
 * @param seed - any integer
 * @returns the generator
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Interleaves per-camera lists at random while keeping each list's own order.
 *
 * @param lists - one list per camera
 * @param random - generator from {@link seededRandom}
 * @returns all items, merged
 */
export function interleave<X>(lists: readonly (readonly X[])[], random: () => number): X[] {
  const idx = lists.map(() => 0);
  const out: X[] = [];
  for (;;) {
    const open = lists.map((_l, i) => i).filter((i) => (idx[i] as number) < (lists[i] as readonly X[]).length);
    if (open.length === 0) return out;
    const pick = open[Math.floor(random() * open.length)] as number;
    out.push((lists[pick] as readonly X[])[idx[pick] as number] as X);
    idx[pick] = (idx[pick] as number) + 1;
  }
}
