/**
 * The 25-number camera label of EG3D datasets: a 4×4 camera-to-world matrix
 * (OpenCV camera frame: +x right, +y down, +z forward; row-major, so the camera
 * position is c[3], c[7], c[11]) followed by the 3×3 intrinsics normalised by
 * the image size, [[f, 0, cx], [0, f, cy], [0, 0, 1]] row-major.
 *
 * World frame (FFHQ convention): the head faces +z, +y is up; cameras sit on a
 * sphere around the origin and look at it.
 * @module
 */

/** Numbers in one camera label. */
export const CAMERA_LABEL_LENGTH = 25;
/** FFHQ's normalised focal length (≈ 18.84° field of view). */
export const FFHQ_FOCAL = 4.2647;
/** FFHQ's camera distance from the origin. */
export const FFHQ_RADIUS = 2.7;

/** Where a camera looks from: angles about the target, and its lens. */
export interface LookAtCamera {
  /** Rotation about the world y axis in radians; 0 = frontal, > 0 moves the camera to +x. */
  yaw: number;
  /** Elevation in radians; > 0 puts the camera above the target, looking down. */
  pitch: number;
  radius?: number;
  focal?: number;
  /** Point looked at; the origin by default. */
  target?: readonly [number, number, number];
}

/**
 * Builds the label of a camera on a sphere looking at `target`, with EG3D's
 * `create_cam2world_matrix` construction (world up = +y, so the camera's own
 * +y axis points down in the image, as OpenCV wants).
 */
export function lookAtCameraLabel(camera: LookAtCamera): number[] {
  const { yaw, pitch, radius = FFHQ_RADIUS, focal = FFHQ_FOCAL, target = [0, 0, 0] } = camera;
  const origin = [
    target[0] + radius * Math.sin(yaw) * Math.cos(pitch),
    target[1] + radius * Math.sin(pitch),
    target[2] + radius * Math.cos(yaw) * Math.cos(pitch),
  ];
  const forward = normalize(sub(target, origin));
  const right = normalize(scale(cross([0, 1, 0], forward), -1));
  const down = normalize(cross(forward, right));
  return [
    right[0],
    down[0],
    forward[0],
    origin[0],
    right[1],
    down[1],
    forward[1],
    origin[1],
    right[2],
    down[2],
    forward[2],
    origin[2],
    0,
    0,
    0,
    1,
    focal,
    0,
    0.5,
    0,
    focal,
    0.5,
    0,
    0,
    1,
  ].map((v) => v + 0); // deno-fmt-ignore -- (+ 0 turns −0 into 0, so labels survive JSON unchanged)
}

/**
 * The label of the mirror image (x-flip), as EG3D's `flip_yaw`: the scene is
 * reflected through the world plane x = 0 (world matrix F = diag(−1, 1, 1, 1)) and
 * the camera's own x axis is reversed too, so the picture flips left–right and
 * the rotation keeps determinant +1. For a pose P: flipped = F · P · F, i.e. the
 * entries (0,1), (0,2), (0,3), (1,0), (2,0) change sign and the rest stay.
 *
 * Intrinsics: EG3D keeps them (its cx = 0.5); here cx → 1 − cx and the skew
 * changes sign, which is the same thing for a centred principal point and
 * still right for an off-centre one.
 */
export function flipCameraLabel(label: readonly number[]): number[] {
  checkLabelLength(label);
  const flipped = [...label];
  // 0 − v, not −v: no −0 entries, which JSON would not keep.
  for (const index of [1, 2, 3, 4, 8]) flipped[index] = 0 - label[index];
  flipped[16 + 1] = 0 - label[16 + 1];
  flipped[16 + 2] = 1 - label[16 + 2];
  return flipped;
}

/** The camera position (translation column of cam2world). */
export function cameraPosition(label: readonly number[]): [number, number, number] {
  checkLabelLength(label);
  return [label[3], label[7], label[11]];
}

/** Yaw and pitch (radians, `LookAtCamera` convention) of the camera position about the origin. */
export function cameraYawPitch(label: readonly number[]): { yaw: number; pitch: number } {
  const [x, y, z] = cameraPosition(label);
  const radius = Math.hypot(x, y, z);
  return { yaw: Math.atan2(x, z), pitch: radius > 0 ? Math.asin(y / radius) : 0 };
}

function checkLabelLength(label: readonly number[]): void {
  if (label.length !== CAMERA_LABEL_LENGTH) {
    throw new Error(`camera label has ${label.length} numbers, expected ${CAMERA_LABEL_LENGTH}`);
  }
}

type Vec3 = readonly number[];
const sub = (a: Vec3, b: Vec3) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const scale = (a: Vec3, s: number) => [a[0] * s, a[1] * s, a[2] * s];
const cross = (a: Vec3, b: Vec3) => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const normalize = (a: Vec3) => scale(a, 1 / Math.hypot(a[0], a[1], a[2]));
