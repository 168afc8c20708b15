/**
 * The streaming operators of the topology, in data-path order:
 * frames → adaptFrameRate → slidingClips → batchClips → inferBatches → rollingWindows → fuseWindows →
 * detectActions → trackEvents → sinks (writeJsonLines). Operators never import from topology.
 */
export { adaptFrameRate, type AdaptFrameRateOptions } from './adaptFrameRate.ts';
export { createRateGovernor, type RateGovernor, type RateGovernorOptions } from './rateGovernor.ts';
export { slidingClips, type SlidingClipsOptions, type FrameDropReason } from './slidingClips.ts';
export { batchClips, type BatchClipsOptions } from './batchClips.ts';
export { runBatched, type RunBatchedOptions, type BatchDropReason, type BatchErrorPolicy } from './runBatched.ts';
export { inferBatches, type InferBatchesOptions } from './inferBatches.ts';
export { rollingWindows, type RollingWindowsOptions } from './rollingWindows.ts';
export { fuseWindows, type FuseWindowsOptions, type HeadOutput } from './fuseWindows.ts';
export { detectActions, attentionRun, type DetectActionsOptions } from './detectActions.ts';
export { trackEvents, eventId, type TrackEventsOptions } from './trackEvents.ts';
export { writeJsonLines, type WriteJsonLinesOptions } from './writeJsonLines.ts';
export { createOperatorStats, recordLevels, type OperatorStats } from './operatorStats.ts';
export { checkInteger, checkNumber } from './checkOptions.ts';
export { whenForgotten, type ForgetCameras } from './forgetCameras.ts';
