/**
 * Learning-rate schedule and an Adam optimizer whose rate can follow it.
 *
 * Why: tfjs's `AdamOptimizer` fixes its rate at construction (the field is protected), and a
 * short from-scratch run on a CPU needs a warm-up (BatchNorm statistics are wild for the first
 * steps) and a decay to settle. Linear warm-up then cosine decay to `floor`·base is the usual
 * choice with one less knob than step decay.
 *
 * @example
 * const opt = new ScheduledAdam(2e-3);
 * opt.setLearningRate(learningRateAt(step, { total: 3000, base: 2e-3 }));
 */
import * as tf from '@tensorflow/tfjs-core';

/** Adam whose learning rate can change between steps. */
export class ScheduledAdam extends tf.AdamOptimizer {
  /**
   * @param learningRate initial rate.
   */
  constructor(learningRate: number) {
    super(learningRate, 0.9, 0.999, 1e-7);
  }

  /** Set the rate used from the next step on. */
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }

  /** The rate in use. */
  get rate(): number {
    return this.learningRate;
  }
}

/** Shape of the schedule. */
export interface ScheduleOptions {
  /** Total steps of the run. */
  readonly total: number;
  /** Peak rate. */
  readonly base: number;
  /** Linear warm-up steps (default min(100, total/10)). */
  readonly warmup?: number;
  /** Final rate as a fraction of base (default 0.02). */
  readonly floor?: number;
}

/**
 * Rate at a step: linear warm-up from base/10, then cosine from base down to floor·base.
 *
 * @param step 0-based step.
 * @param o schedule.
 * @returns the learning rate.
 */
export function learningRateAt(step: number, o: ScheduleOptions): number {
  const warmup = o.warmup ?? Math.min(100, Math.floor(o.total / 10));
  const floor = o.floor ?? 0.02;
  if (step < warmup) return o.base * (0.1 + (0.9 * (step + 1)) / warmup);
  const span = Math.max(1, o.total - warmup);
  const p = Math.min(1, (step - warmup) / span);
  return o.base * (floor + ((1 - floor) * (1 + Math.cos(Math.PI * p))) / 2);
}
