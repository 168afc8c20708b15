/**
 * A model manifest for pipeline tests that stub the backbone and head: nothing is loaded from
 * it, the pipeline reads clip and window sizes and class names.
 *
 * @example
 * const manifest = fakeManifest({ clip: { frames: 4, size: 2, fps: 5, stride: 4 } });
 */
import type { ModelManifest } from '../../src/model/clipModel.ts';

/**
 * @param overrides fields to replace (whole objects: `clip` is not merged)
 * @returns an untrained two-class manifest, 4-frame clips of 16 px at 5 fps, windows of 4 clips
 */
export function fakeManifest(overrides: Partial<ModelManifest> = {}): ModelManifest {
  return {
    format: 'clipwise-model',
    formatVersion: 1,
    name: 'fake',
    version: '0',
    classes: ['background', 'x'],
    backgroundIndex: 0,
    clip: { frames: 4, size: 16, fps: 5, stride: 4 },
    window: { clips: 4 },
    backbone: {},
    heads: { gcf: {} },
    defaultHead: 'gcf',
    trained: false,
    ...overrides,
  };
}
