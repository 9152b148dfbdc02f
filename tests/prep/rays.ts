/** EG3D's RaySampler in float64, for checking the GPU renderer's ground truth. */

/** Origin and unit direction of the ray through pixel (row, col) of a `resolution`² image. */
export function pixelRay(label: readonly number[], resolution: number, row: number, col: number) {
  const [fx, skew, cx, , fy, cy] = label.slice(16, 22);
  const u = (col + 0.5) / resolution;
  const v = (row + 0.5) / resolution;
  const x = (u - cx + (cy * skew) / fy - (skew * v) / fy) / fx;
  const y = (v - cy) / fy;
  const d = [0, 1, 2].map((r) => label[r * 4] * x + label[r * 4 + 1] * y + label[r * 4 + 2]);
  const n = Math.hypot(d[0], d[1], d[2]);
  return { origin: [label[3], label[7], label[11]], dir: d.map((v) => v / n) };
}

/** First hit of a sphere-traced SDF along a ray within t ∈ [2, 3.5], or +∞. */
export function traceSdf(
  sdf: (x: number, y: number, z: number) => number,
  origin: number[],
  dir: number[],
): number {
  let t = 2;
  for (let i = 0; i < 400 && t < 3.5; i++) {
    const d = sdf(origin[0] + t * dir[0], origin[1] + t * dir[1], origin[2] + t * dir[2]);
    if (d < 1e-5) return t;
    t += 0.9 * d;
  }
  return Infinity;
}
