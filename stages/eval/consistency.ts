/**
 * Multi-view consistency by reprojection: render one identity from two
 * nearby cameras A and B; lift every foreground pixel of A to 3-D with A's
 * rendered depth, project it into B, and — where B sees the same point (B's
 * depth there agrees with the point's distance, so occluded points are
 * skipped) — compare the colours. A strictly 3-D-consistent branch (direct
 * volume rendering) scores near 0 up to sampling noise; super-resolution's
 * view-dependent inventions raise the 2-D branch's error. The 2-D branch's
 * depth comes from its neural rendering resolution, read at the image
 * pixel's normalised position.
 * @module
 */
import type { RenderedView } from "./sample_render.ts";

/** Options of `reprojectionError`. */
export interface ReprojectionOptions {
  /** Rays with opacity below this are background (default 0.5). */
  minOpacity?: number;
  /** |depth in B − distance from B| above this (world units) = occluded (default 0.03: 3 % of the box). */
  occlusionTolerance?: number;
}

/** The outcome of one A → B reprojection. */
export interface ReprojectionResult {
  /** Mean |colour_A − colour_B| over valid pixels and RGB, in [0, 1] units. */
  meanAbsError: number;
  /** Pixels of A that were compared. */
  pixels: number;
  /** Compared pixels / foreground pixels of A. */
  validFraction: number;
}

/** Bilinear read of a row-major r×r map at normalised position (u, v) ∈ [0, 1]². */
function sampleMap(map: Float32Array, r: number, u: number, v: number, channel = 0): number {
  const x = Math.min(r - 1, Math.max(0, u * r - 0.5));
  const y = Math.min(r - 1, Math.max(0, v * r - 0.5));
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const x1 = Math.min(r - 1, x0 + 1), y1 = Math.min(r - 1, y0 + 1);
  const fx = x - x0, fy = y - y0;
  const o = channel * r * r;
  const at = (xx: number, yy: number) => map[o + yy * r + xx];
  return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x1, y0)) +
    fy * ((1 - fx) * at(x0, y1) + fx * at(x1, y1));
}

/** A camera from its label: position, rotation (columns = camera axes in world) and intrinsics. */
function cameraOf(label: readonly number[]) {
  const rotation = [
    [label[0], label[1], label[2]],
    [label[4], label[5], label[6]],
    [label[8], label[9], label[10]],
  ];
  return {
    origin: [label[3], label[7], label[11]],
    rotation,
    fx: label[16],
    skew: label[17],
    cx: label[18],
    fy: label[20],
    cy: label[21],
  };
}

/** World point seen at normalised (u, v) of camera A at ray parameter t (rays as `sampleRays`). */
function unproject(c: ReturnType<typeof cameraOf>, u: number, v: number, t: number): number[] {
  const x = (u - c.cx + (c.cy * c.skew) / c.fy - (c.skew * v) / c.fy) / c.fx;
  const y = (v - c.cy) / c.fy;
  const d = [0, 1, 2].map((i) => c.rotation[i][0] * x + c.rotation[i][1] * y + c.rotation[i][2]);
  const norm = Math.hypot(d[0], d[1], d[2]);
  return [0, 1, 2].map((i) => c.origin[i] + (t * d[i]) / norm);
}

/** Normalised (u, v) of a world point in camera B, its distance, or null behind the camera. */
function project(c: ReturnType<typeof cameraOf>, p: number[]) {
  const rel = [p[0] - c.origin[0], p[1] - c.origin[1], p[2] - c.origin[2]];
  // Camera coordinates: Rᵀ·(p − o).
  const [x, y, z] = [0, 1, 2].map((j) =>
    c.rotation[0][j] * rel[0] + c.rotation[1][j] * rel[1] + c.rotation[2][j] * rel[2]
  );
  if (!(z > 1e-6)) return null;
  return {
    u: c.fx * (x / z) + c.skew * (y / z) + c.cx,
    v: c.fy * (y / z) + c.cy,
    distance: Math.hypot(rel[0], rel[1], rel[2]),
  };
}

/** Reprojection error of view A into view B (same identity and branch, nearby cameras). */
export function reprojectionError(
  a: RenderedView,
  b: RenderedView,
  { minOpacity = 0.5, occlusionTolerance = 0.03 }: ReprojectionOptions = {},
): ReprojectionResult {
  const ca = cameraOf(a.label), cb = cameraOf(b.label);
  const r = a.resolution;
  let foreground = 0, pixels = 0, sum = 0;
  for (let y = 0; y < r; y++) {
    for (let x = 0; x < r; x++) {
      const u = (x + 0.5) / r, v = (y + 0.5) / r;
      if (sampleMap(a.opacity, a.depthResolution, u, v) < minOpacity) continue;
      foreground++;
      const t = sampleMap(a.depth, a.depthResolution, u, v);
      const seen = project(cb, unproject(ca, u, v, t));
      if (!seen || seen.u < 0 || seen.u > 1 || seen.v < 0 || seen.v > 1) continue;
      if (sampleMap(b.opacity, b.depthResolution, seen.u, seen.v) < minOpacity) continue;
      const tb = sampleMap(b.depth, b.depthResolution, seen.u, seen.v);
      if (Math.abs(tb - seen.distance) > occlusionTolerance) continue;
      for (let c = 0; c < 3; c++) {
        const ia = a.image[c * r * r + y * r + x];
        const ib = sampleMap(b.image, b.resolution, seen.u, seen.v, c);
        sum += Math.abs(ia - ib) / 2; // [−1, 1] → [0, 1] units
      }
      pixels++;
    }
  }
  return {
    meanAbsError: pixels > 0 ? sum / (3 * pixels) : NaN,
    pixels,
    validFraction: foreground > 0 ? pixels / foreground : 0,
  };
}
