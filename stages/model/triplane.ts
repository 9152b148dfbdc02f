/**
 * Tri-plane feature sampling (EG3D's `sample_from_planes`): each 3-D point,
 * scaled by 2/box_warp, is projected onto three axis-aligned planes and the
 * planes' features are sampled bilinearly (zero padding, align_corners=False).
 *
 * The two code bases disagree on the projections (checkpoints are not
 * interchangeable): EG3D's inverse axis matrices give (x,y), (x,z), (z,x) —
 * the y–z plane is never used (eg3d#30) — while Mimic3D's
 * `project_onto_planes` uses (x,y), (y,z), (z,x). Mimic3D's 3-D branch samples
 * a list of tri-planes (coarse 256², detail 512²) and sums their features.
 */
import { gridSample, matmul, mul, permute, reshape, type Tensor } from "../../kernels/mod.ts";
import { add, Tensor as TensorClass } from "../../kernels/mod.ts";

/** Which projection convention: "eg3d" (xy, xz, zx) or "mimic3d" (xy, yz, zx). */
export type PlaneAxes = "eg3d" | "mimic3d";

/** For each plane, the coordinate axes giving its (grid x → width, grid y → height). */
export const PLANE_COORDINATES: Record<PlaneAxes, [number, number][]> = {
  eg3d: [[0, 1], [0, 2], [2, 0]],
  mimic3d: [[0, 1], [1, 2], [2, 0]],
};

/** Options of tri-plane sampling. */
export interface TriplaneOptions {
  planeAxes: PlaneAxes;
  /** Side of the cube the tri-plane spans (points are scaled by 2/boxWarp). */
  boxWarp: number;
}

/**
 * 2-D plane coordinates of points `coordinates` [N, M, 3] → [N, 3, M, 2],
 * already scaled to grid_sample's [−1, 1]. A 0/1 selection matmul: exact.
 */
export function projectOntoPlanes(coordinates: Tensor, options: TriplaneOptions): Tensor {
  const [n, m] = coordinates.shape;
  const select = new Float64Array(3 * 6);
  PLANE_COORDINATES[options.planeAxes].forEach(([a, b], p) => {
    select[a * 6 + 2 * p] = 1;
    select[b * 6 + 2 * p + 1] = 1;
  });
  const selection = TensorClass.fromData(select, [3, 6], coordinates.device);
  const projected = matmul(mul(coordinates, 2 / options.boxWarp), selection);
  return permute(reshape(projected, [n, m, 3, 2]), [0, 2, 1, 3]);
}

/** Features of one tri-plane `planes` [N, 3, C, H, W] at `coordinates` [N, M, 3] → [N, 3, M, C]. */
export function sampleTriplane(
  planes: Tensor,
  coordinates: Tensor,
  options: TriplaneOptions,
): Tensor {
  const [n, p, c, h, w] = planes.shape;
  if (planes.rank !== 5 || p !== 3) {
    throw new Error(`tri-planes must be [N, 3, C, H, W], got [${planes.shape}]`);
  }
  if (coordinates.rank !== 3 || coordinates.shape[0] !== n || coordinates.shape[2] !== 3) {
    throw new Error(`coordinates must be [${n}, M, 3], got [${coordinates.shape}]`);
  }
  const m = coordinates.shape[1];
  const grid = reshape(projectOntoPlanes(coordinates, options), [n * 3, 1, m, 2]);
  const sampled = gridSample(reshape(planes, [n * 3, c, h, w]), grid);
  return permute(reshape(sampled, [n, 3, c, m]), [0, 1, 3, 2]);
}

/**
 * Features of several tri-planes (e.g. Mimic3D's coarse + detail, any
 * resolutions, same channel count) at the same points, summed → [N, 3, M, C].
 */
export function sampleTriplanes(
  planes: Tensor[],
  coordinates: Tensor,
  options: TriplaneOptions,
): Tensor {
  if (planes.length === 0) throw new Error("sampleTriplanes: no tri-planes given");
  let out = sampleTriplane(planes[0], coordinates, options);
  for (const extra of planes.slice(1)) out = add(out, sampleTriplane(extra, coordinates, options));
  return out;
}

/** EG3D's `generate_planes()` axis matrices (its projection uses their inverses). */
export const EG3D_PLANE_AXES: number[][][] = [
  [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
  [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
  [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
];
