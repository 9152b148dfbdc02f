/**
 * The cameras of a render: the views asked for, the frontal camera that
 * conditions the mapping network, and the turntable orbit — all looking at
 * FFHQ's pivot (EG3D's `avg_camera_pivot`), as the original scripts do.
 * @module
 */
import { FFHQ_FOCAL, FFHQ_RADIUS, lookAtCameraLabel } from "../io/camera_label.ts";

/** EG3D's `avg_camera_pivot` for FFHQ: the point the cameras look at. */
export const FFHQ_PIVOT: readonly [number, number, number] = [0, 0, 0.2];

/** Where the cameras sit: distance, lens and the point they look at. */
export interface CameraRig {
  radius: number;
  focal: number;
  pivot: readonly [number, number, number];
}

/** FFHQ's rig (radius 2.7, focal 4.2647, pivot (0, 0, 0.2)). */
export const FFHQ_RIG: CameraRig = { radius: FFHQ_RADIUS, focal: FFHQ_FOCAL, pivot: FFHQ_PIVOT };

/** One view: angles about the pivot in radians (`LookAtCamera` convention: pitch > 0 = above). */
export interface ViewAngles {
  yaw: number;
  pitch: number;
}

/**
 * Default views, as `gen_samples.py` renders them: yaw +0.4, 0, −0.4 rad with
 * the camera slightly above (its `angle_p = −0.2` is an elevation of
 * asin(0.4/π) ≈ 7.3° through `LookAtPoseSampler`'s polar parameterisation).
 */
export const DEFAULT_YAWS_DEG = [22.9, 0, -22.9];
/** See `DEFAULT_YAWS_DEG`. */
export const DEFAULT_PITCHES_DEG = [7.3];

/** Every (yaw, pitch) pair, yaw varying fastest; angles given in degrees. */
export function viewGrid(yawsDeg: readonly number[], pitchesDeg: readonly number[]): ViewAngles[] {
  const rad = Math.PI / 180;
  return pitchesDeg.flatMap((p) => yawsDeg.map((y) => ({ yaw: y * rad, pitch: p * rad })));
}

/** The 25-number label of a view on the rig. */
export function viewLabel(view: ViewAngles, rig: CameraRig): number[] {
  return lookAtCameraLabel({ ...view, radius: rig.radius, focal: rig.focal, target: rig.pivot });
}

/**
 * The camera the mapping network is conditioned on: frontal, at the pivot
 * (`conditioning_cam2world_pose` in `gen_samples.py` / `gen_videos.py`), so
 * the identity does not change with the rendering camera.
 */
export function conditioningLabel(rig: CameraRig): number[] {
  return viewLabel({ yaw: 0, pitch: 0 }, rig);
}

/** Turntable yaw amplitude (radians): a ±0.5 rad sweep. */
export const TURNTABLE_YAW_RANGE = 0.5;

/**
 * Frame `i` of `frames` of the orbit: yaw = 0.5·sin(2πt); pitch wobbles as in
 * `gen_videos.py`, whose polar parameter v = π/2 − 0.05 + 0.25·cos(2πt) is an
 * elevation of asin(1 − 2v/π). One full period, so the GIF loops seamlessly.
 */
export function turntableView(i: number, frames: number): ViewAngles {
  const t = (2 * Math.PI * i) / frames;
  const v = Math.PI / 2 - 0.05 + 0.25 * Math.cos(t);
  return { yaw: TURNTABLE_YAW_RANGE * Math.sin(t), pitch: Math.asin(1 - (2 * v) / Math.PI) };
}
