/**
 * The viewer's camera, in plain JavaScript so that the browser page and Deno
 * load this very file (Deno's tests check it against `camera_label.ts` and
 * `rays.ts`): an EG3D camera label for a camera orbiting a target, and one ray
 * per pixel of an R×R image, as EG3D's RaySampler makes them.
 * @module
 */

/** FFHQ's normalised focal length and camera distance (EG3D's defaults). */
export const DEFAULT_FOCAL = 4.2647;
export const DEFAULT_RADIUS = 2.7;

/**
 * @typedef {object} OrbitView
 * @property {number} yaw radians about world +y; 0 = frontal, > 0 moves the camera to +x
 * @property {number} pitch radians; > 0 puts the camera above the target
 * @property {number} [radius]
 * @property {number} [focal] normalised focal length (zoom)
 */

/**
 * The 25-number label (cam2world 4×4 row-major, OpenCV axes, then normalised
 * intrinsics) of a camera on a sphere about the origin looking at it — the
 * construction of `lookAtCameraLabel` (EG3D's `create_cam2world_matrix`).
 * @param {OrbitView} view
 * @returns {number[]}
 */
export function orbitCameraLabel(view) {
  const radius = view.radius ?? DEFAULT_RADIUS;
  const focal = view.focal ?? DEFAULT_FOCAL;
  const origin = [
    radius * Math.sin(view.yaw) * Math.cos(view.pitch),
    radius * Math.sin(view.pitch),
    radius * Math.cos(view.yaw) * Math.cos(view.pitch),
  ];
  const forward = normalize(origin.map((v) => -v));
  const right = normalize(cross([0, 1, 0], forward).map((v) => -v));
  const down = normalize(cross(forward, right));
  return [
    ...[0, 1, 2].flatMap((r) => [right[r], down[r], forward[r], origin[r]]),
    ...[0, 0, 0, 1],
    ...[focal, 0, 0.5, 0, focal, 0.5, 0, 0, 1],
  ].map((v) => v + 0);
}

/**
 * Rays of every pixel of an R×R image seen by camera `label`, row by row:
 * [R², 6] = origin xyz, unit direction xyz (the fused renderer's ray layout).
 * Pixel (i, j) has u = (j + ½)/R, v = (i + ½)/R; its camera-space direction is
 * ((u − cx + cy·s/fy − s·v/fy)/fx, (v − cy)/fy, 1), rotated to the world.
 * @param {number[]} label
 * @param {number} resolution
 * @returns {Float32Array}
 */
export function cameraRays(label, resolution) {
  const [fx, sk, cx, , fy, cy] = label.slice(16, 22);
  const out = new Float32Array(resolution * resolution * 6);
  let o = 0;
  for (let i = 0; i < resolution; i++) {
    const v = (i + 0.5) / resolution;
    const y = (v - cy) / fy;
    for (let j = 0; j < resolution; j++) {
      const u = (j + 0.5) / resolution;
      const x = (u - cx + (cy * sk) / fy - (sk * v) / fy) / fx;
      const dx = label[0] * x + label[1] * y + label[2];
      const dy = label[4] * x + label[5] * y + label[6];
      const dz = label[8] * x + label[9] * y + label[10];
      const scale = 1 / Math.max(Math.hypot(dx, dy, dz), 1e-12);
      out[o++] = label[3];
      out[o++] = label[7];
      out[o++] = label[11];
      out[o++] = dx * scale;
      out[o++] = dy * scale;
      out[o++] = dz * scale;
    }
  }
  return out;
}

/** @param {number[]} a @param {number[]} b */
function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** @param {number[]} a */
function normalize(a) {
  const n = Math.hypot(a[0], a[1], a[2]);
  return a.map((v) => v / n);
}
