/**
 * The synthetic action benchmark (`clipwise synth`): procedural surveillance videos with
 * articulated actors, distractors and exact temporal ground truth.
 *
 * Entry points: {@link runSynth} (plan + render + encode a set, write annotations.json),
 * {@link parseSynthArgs} (CLI flags), {@link planVideo} (timeline without rendering),
 * {@link createVideoRenderer} / {@link renderVideoFrames} / {@link videoFrames} (frames
 * straight to memory, e.g. for training without ffmpeg).
 */
export { runSynth } from './runSynth.ts';
export type { SynthAnnotations, SynthResult, SynthVideoAnnotation } from './runSynth.ts';
export { parseSynthArgs, resolveSynthOptions, SYNTH_DEFAULTS, SYNTH_QUICK, SYNTH_USAGE } from './options.ts';
export type { Range, ResolvedSynthOptions, SynthOptions } from './options.ts';
export { planVideo } from './plan.ts';
export { createVideoRenderer, renderVideoFrames, videoFrames } from './render.ts';
export type { FrameRange, VideoRenderer } from './render.ts';
export { encodeVideo } from './encode.ts';
export type { EncodeOptions, EncodeResult } from './encode.ts';
export { personStateAt } from './actors.ts';
export type { PersonSpec, PersonState } from './actors.ts';
export { hashSeed, createRng } from './prng.ts';
export { SYNTH_ACTIONS, SYNTH_CLASSES } from './spec.ts';
export type { SynthAction, SynthClass, SynthInstance, VideoSpec } from './spec.ts';
