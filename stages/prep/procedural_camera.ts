/**
 * Cameras for the procedural dataset, distributed like FFHQ's: radius 2.7
 * looking at the origin, focal 4.2647, principal point at the centre, yaw and
 * pitch roughly normal (FFHQ's pose histogram is a peak at frontal with tails
 * to about ±45° yaw and a narrower pitch spread).
 * @module
 */
import {
  FFHQ_FOCAL,
  FFHQ_RADIUS,
  type LookAtCamera,
  lookAtCameraLabel,
} from "../io/camera_label.ts";
import type { SeededRng } from "./seeded_rng.ts";

/** Pose spread of the sampled cameras (radians). */
export const CAMERA_SPREAD = {
  yawStd: 0.3,
  yawLimit: 0.8,
  pitchStd: 0.15,
  pitchLimit: 0.4,
} as const;

/** Draws an FFHQ-like camera (yaw, pitch) and returns it with its 25-number label. */
export function sampleFfhqLikeCamera(rng: SeededRng): { camera: LookAtCamera; label: number[] } {
  const clamp = (x: number, limit: number) => Math.max(-limit, Math.min(limit, x));
  const camera: LookAtCamera = {
    yaw: clamp(CAMERA_SPREAD.yawStd * rng.normal(), CAMERA_SPREAD.yawLimit),
    pitch: clamp(CAMERA_SPREAD.pitchStd * rng.normal(), CAMERA_SPREAD.pitchLimit),
    radius: FFHQ_RADIUS,
    focal: FFHQ_FOCAL,
  };
  return { camera, label: lookAtCameraLabel(camera).map(Math.fround) };
}
