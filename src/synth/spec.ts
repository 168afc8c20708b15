/**
 * The plan of one synthetic video as plain JSON: camera, static scene, people, vehicles,
 * lighting, noise, shake and the annotated instances.
 *
 * Why a separate, serialisable plan: planning is cheap and rendering is not, so tools can
 * read the timeline without rendering ({@link planVideo}), a training loop can render any
 * frame of it on demand, and a saved plan re-renders to the same bytes.
 */
import type { PersonSpec } from './actors.ts';
import type { CameraModel } from './camera.ts';
import type { Rgb } from './raster.ts';

/**
 * Action classes of the benchmark, in their fixed order; index 0 is the no-action class.
 * Class indices in annotations always refer to this list, whatever subset is generated.
 */
export const SYNTH_CLASSES = ['background', 'fall', 'run', 'fight', 'wave', 'jump', 'loiter'] as const;

/** One class name of {@link SYNTH_CLASSES}. */
export type SynthClass = (typeof SYNTH_CLASSES)[number];

/** An action class (every class but background). */
export type SynthAction = Exclude<SynthClass, 'background'>;

/** The action classes, in order. */
export const SYNTH_ACTIONS: readonly SynthAction[] = SYNTH_CLASSES.filter(
  (c): c is SynthAction => c !== 'background',
);

/** One annotated action instance: [start, end) in video seconds. */
export interface SynthInstance {
  readonly class: SynthAction;
  readonly classIndex: number;
  readonly start: number;
  readonly end: number;
}

/** A building facade of the skyline. */
export interface BuildingSpec {
  /** Left and right edge (m, world X) and depth (m, world Z) of the facade. */
  readonly x0: number;
  readonly x1: number;
  readonly Z: number;
  readonly height: number;
  readonly color: Rgb;
  readonly window: Rgb;
  readonly lit: Rgb;
  /** Fraction of windows that are lit. */
  readonly litFraction: number;
  readonly floorHeight: number;
  readonly windowSpacing: number;
  readonly seed: number;
}

/** A tree whose crown sways in the wind (a distractor that moves but is no action). */
export interface TreeSpec {
  readonly X: number;
  readonly Z: number;
  readonly height: number;
  readonly crown: Rgb;
  readonly trunk: Rgb;
  readonly phase: number;
  /** Crown blobs relative to the crown centre, in units of the crown radius. */
  readonly blobs: readonly { readonly dx: number; readonly dy: number; readonly r: number; readonly shade: number }[];
}

/** A lamp post (static, but depth-sorted so people pass in front of and behind it). */
export interface PostSpec {
  readonly X: number;
  readonly Z: number;
  readonly height: number;
  readonly color: Rgb;
  /** Which way the lamp arm points: −1 left, +1 right. */
  readonly side: 1 | -1;
}

/** The static scene: ground regions, skyline and fixed objects. */
export interface SceneSpec {
  readonly skyTop: Rgb;
  readonly skyHorizon: Rgb;
  /** Ground depth (m) of the road's near and far curbs. */
  readonly roadNear: number;
  readonly roadFar: number;
  readonly road: Rgb;
  readonly plaza: Rgb;
  readonly farGround: Rgb;
  readonly grass: Rgb;
  /** Lawn where side·X > grassX (side 0: no lawn). */
  readonly grassSide: -1 | 0 | 1;
  readonly grassX: number;
  /** Paving tile size (m). */
  readonly tile: number;
  readonly textureSeed: number;
  readonly buildings: readonly BuildingSpec[];
  readonly trees: readonly TreeSpec[];
  readonly posts: readonly PostSpec[];
}

/** A vehicle crossing the road at constant speed (a distractor). */
export interface VehicleSpec {
  /** Visible interval (video seconds). */
  readonly t0: number;
  readonly t1: number;
  /** World X of the vehicle's centre at t0, and its signed speed along X (m/s). */
  readonly X0: number;
  readonly speed: number;
  readonly Z: number;
  readonly length: number;
  readonly height: number;
  readonly kind: 'car' | 'van';
  readonly color: Rgb;
}

/** Global illumination over time: slow drift, passing clouds, a colour tint. */
export interface LightingSpec {
  readonly base: number;
  /** Per-channel gain multipliers (≈ 1: a slightly warm or cool cast). */
  readonly tint: readonly [number, number, number];
  readonly waves: readonly { readonly amp: number; readonly period: number; readonly phase: number }[];
  readonly clouds: readonly { readonly t: number; readonly width: number; readonly depth: number }[];
}

/** One camera-shake episode (a truck passing, wind on the pole). */
export interface ShakeEpisode {
  readonly t0: number;
  readonly t1: number;
  /** Peak displacement, pixels. */
  readonly amp: number;
  readonly fx: number;
  readonly fy: number;
  readonly phase: number;
}

/** Wind strength over time (drives tree sway). */
export interface WindSpec {
  readonly base: number;
  readonly gusts: readonly { readonly t: number; readonly width: number; readonly strength: number }[];
}

/** Everything needed to render one video deterministically. */
export interface VideoSpec {
  readonly version: 1;
  /** The video's own seed (derives per-frame sensor noise). */
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameCount: number;
  readonly durationSeconds: number;
  readonly instances: readonly SynthInstance[];
  readonly camera: CameraModel;
  readonly scene: SceneSpec;
  readonly people: readonly PersonSpec[];
  readonly vehicles: readonly VehicleSpec[];
  readonly lighting: LightingSpec;
  readonly wind: WindSpec;
  readonly shake: readonly ShakeEpisode[];
  /** Sensor noise standard deviation, 8-bit levels. */
  readonly noise: number;
}
