/**
 * EG3D's RaySampler: one ray per pixel from a 25-number camera label
 * (16 = cam2world 4×4 row-major, OpenCV axes; 9 = normalised intrinsics 3×3),
 * for a full R×R grid or, as Mimic3D's patch training does, for an R×R crop
 * at (top, left) of a virtual grid of R/patch_scale pixels per side.
 *
 * Pixel (row i, col j) of a `full`-sized grid has u = (j + ½)/full,
 * v = (i + ½)/full; the camera-space point at depth 1 is
 * x = (u − cx + cy·s/fy − s·v/fy)/fx, y = (v − cy)/fy, and the direction is
 * normalize(R·(x, y, 1)) (the original subtracts the camera position from
 * cam2world·(x, y, 1, 1), the same up to rounding). Rays are ordered
 * m = i·R + j.
 */
import {
  add,
  concat,
  type Device,
  div,
  expand,
  matmul,
  mul,
  reshape,
  rsqrt,
  slice,
  sub,
  sum,
  Tensor,
} from "../../kernels/mod.ts";
import type { RandomSource } from "../../kernels/mod.ts";
import { maximum, square } from "../../kernels/mod.ts";

/** Ray origins and unit directions, each [N, R², 3]. */
export interface Rays {
  origins: Tensor;
  directions: Tensor;
}

/** A crop of a virtual full-resolution ray grid (Mimic3D patches). */
export interface PatchCrop {
  /** Virtual full grid size per side = round(R / patch_scale). */
  fullResolution: number;
  /** Per sample [top row, left column] of the crop: a [N, 2] tensor or host numbers. */
  topLeft: Tensor | number[][];
}

/**
 * Draws patch positions as Mimic3D does: `randint(full − R + 1)` for top, then
 * left, per sample, in that order (host numbers: the crop of the 2-D image
 * needs them on the host too).
 */
export function drawPatchTopLeft(
  random: RandomSource,
  batch: number,
  resolution: number,
  fullResolution: number,
): number[][] {
  const v = random.integers(2 * batch, fullResolution - resolution + 1);
  return Array.from({ length: batch }, (_, n) => [v[2 * n], v[2 * n + 1]]);
}

/** The virtual full grid size for a patch scale, as `int(R / patch_scale)`. */
export function patchFullResolution(resolution: number, patchScale: number): number {
  return Math.trunc(resolution / patchScale + 1e-9);
}

/** Pixel-centre coordinates (u, v) of an R×R grid as [1, R², 1] tensors, before any crop offset. */
function pixelCentres(resolution: number, full: number, device: Device): { u: Tensor; v: Tensor } {
  const m = resolution * resolution;
  const u = new Float64Array(m);
  const v = new Float64Array(m);
  for (let i = 0; i < resolution; i++) {
    for (let j = 0; j < resolution; j++) {
      u[i * resolution + j] = (j + 0.5) / full;
      v[i * resolution + j] = (i + 0.5) / full;
    }
  }
  return { u: Tensor.fromData(u, [1, m, 1], device), v: Tensor.fromData(v, [1, m, 1], device) };
}

/**
 * Rays for every pixel of an R×R image seen by cameras `c` [N, 25], or of an
 * R×R patch of a larger virtual grid when `patch` is given.
 */
export function sampleRays(c: Tensor, resolution: number, patch?: PatchCrop): Rays {
  if (c.rank !== 2 || c.shape[1] !== 25) {
    throw new Error(`sampleRays: camera labels must be [N, 25], got [${c.shape}]`);
  }
  const n = c.shape[0];
  const m = resolution * resolution;
  const full = patch?.fullResolution ?? resolution;
  let { u, v } = pixelCentres(resolution, full, c.device);
  if (patch) {
    if (full < resolution) {
      throw new Error(`patch grid ${full} smaller than the patch ${resolution}`);
    }
    const tl = patch.topLeft instanceof Tensor
      ? patch.topLeft
      : Tensor.fromData(patch.topLeft.flat(), [n, 2], c.device);
    // Offsets in normalised units: (left/full, top/full).
    v = add(v, reshape(mul(slice(tl, [null, [0, 1]]), 1 / full), [n, 1, 1]));
    u = add(u, reshape(mul(slice(tl, [null, [1, 2]]), 1 / full), [n, 1, 1]));
  }
  const k = (idx: number) => reshape(slice(c, [null, [16 + idx, 17 + idx]]), [n, 1, 1]);
  const [fx, sk, cx, fy, cy] = [k(0), k(1), k(2), k(4), k(5)];
  // x = (u − cx + cy·s/fy − s·v/fy)/fx, y = (v − cy)/fy, z = 1.
  const x = div(sub(add(sub(u, cx), div(mul(cy, sk), fy)), div(mul(sk, v), fy)), fx);
  const y = div(sub(v, cy), fy);
  const ones = Tensor.fromData(new Float64Array(m).fill(1), [1, m, 1], c.device);
  const cam = concat([expand(x, [n, m, 1]), expand(y, [n, m, 1]), expand(ones, [n, m, 1])], 2);
  const cam2world = reshape(c, [n, 25]);
  const rows = reshape(slice(cam2world, [null, [0, 12]]), [n, 3, 4]);
  const rotation = slice(rows, [null, null, [0, 3]]);
  const position = reshape(slice(rows, [null, null, [3, 4]]), [n, 1, 3]);
  const dirs = matmul(cam, rotation, { transB: true });
  const norm2 = sum(square(dirs), 2, { keepDims: true });
  // F.normalize: x / max(‖x‖, 1e−12).
  const directions = mul(dirs, rsqrt(maximum(norm2, 1e-24)));
  return { origins: expand(position, [n, m, 3]), directions };
}
