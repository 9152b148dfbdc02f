/**
 * Generated geometry against ground truth (procedural dataset only, where the
 * true shapes are known exactly):
 * - shapes: the generator's density on an N³ grid over its box (EG3D's
 *   `extract_shapes`: raw σ, level 10, borders forced empty so meshes close)
 *   and each true head's SDF on the same grid, both through marching cubes;
 * - Chamfer distance between point sets sampled uniformly on the surfaces
 *   (area-weighted): CD(A, B) = mean_a min_b ‖a − b‖² + mean_b min_a ‖a − b‖²;
 * - MMD-CD (fidelity: mean over true shapes of the distance to the closest
 *   generated one) and COV-CD (diversity: the share of true shapes that are
 *   the nearest to some generated shape), as Achlioptas et al. 2018 define them;
 * - depth error: a generated sample and a true object correspond only through
 *   that matching, so each generated shape is rendered from the dataset camera
 *   of its nearest true shape and its depth compared with that image's
 *   ground-truth depth, over pixels both call foreground.
 * @module
 */
import { noGrad, scope, slice, type Tensor, tensor } from "../../kernels/mod.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { SeededRng } from "../prep/seeded_rng.ts";
import { marchingCubes, type ScalarGrid, type TriangleMesh } from "../geometry/marching_cubes.ts";
import type { RenderedView } from "./sample_render.ts";

/** EG3D's `extract_shapes` iso-level on raw density. */
export const DENSITY_LEVEL = 10;
/** Value forced onto the grid border so extracted meshes are closed (EG3D's pad value). */
const BORDER_VALUE = -1000;

/** The sample positions of an N³ grid spanning the cube [−side/2, side/2]³. */
export function cubeGrid(
  resolution: number,
  side: number,
): Pick<ScalarGrid, "size" | "origin" | "spacing"> {
  const step = side / (resolution - 1);
  return {
    size: [resolution, resolution, resolution],
    origin: [-side / 2, -side / 2, -side / 2],
    spacing: [step, step, step],
  };
}

/**
 * Raw density σ of one identity (`planes`, each [1, 3, C, H, W], summed as
 * the renderer sums them) on an N³ grid over the generator's box, border samples
 * forced empty. `chunk` points per decoder call bound the memory.
 */
export async function densityGrid(
  g: TriplaneGenerator,
  planes: Tensor[],
  resolution: number,
  { chunk = 1 << 16 }: { chunk?: number } = {},
): Promise<ScalarGrid> {
  const layout = cubeGrid(resolution, g.config.rendering.boxWarp);
  const n = resolution;
  const total = n * n * n;
  const data = new Float32Array(total);
  const [ox, oy, oz] = layout.origin!;
  const step = layout.spacing![0];
  for (let start = 0; start < total; start += chunk) {
    const count = Math.min(chunk, total - start);
    const points = new Float32Array(count * 3);
    for (let k = 0; k < count; k++) {
      const i = start + k;
      points[3 * k] = ox + (i % n) * step;
      points[3 * k + 1] = oy + (Math.floor(i / n) % n) * step;
      points[3 * k + 2] = oz + Math.floor(i / (n * n)) * step;
    }
    const sigma = noGrad(() =>
      scope(() =>
        g.renderer.runModel(planes, g.decoder, tensor(points, [1, count, 3], planes[0].device))
          .sigma
      )
    );
    try {
      data.set(await sigma.read(), start);
    } finally {
      sigma.dispose();
    }
  }
  forceBorder(data, n, BORDER_VALUE);
  return { data, ...layout };
}

/** A signed distance function sampled on the same kind of grid (negative inside). */
export function sdfGrid(
  sdf: (x: number, y: number, z: number) => number,
  resolution: number,
  side: number,
): ScalarGrid {
  const layout = cubeGrid(resolution, side);
  const n = resolution;
  const data = new Float64Array(n * n * n);
  const [ox, oy, oz] = layout.origin!;
  const step = layout.spacing![0];
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        data[(z * n + y) * n + x] = sdf(ox + x * step, oy + y * step, oz + z * step);
      }
    }
  }
  forceBorder(data, n, -BORDER_VALUE); // outside (positive distance) on the border
  return { data, ...layout };
}

/** The generator's surface: marching cubes of its density grid at `level`. */
export function densityMesh(grid: ScalarGrid, level = DENSITY_LEVEL): TriangleMesh {
  return marchingCubes(grid, { level, inside: "above" });
}

/** A true surface: marching cubes of an SDF grid at 0. */
export function sdfMesh(grid: ScalarGrid): TriangleMesh {
  return marchingCubes(grid, { level: 0, inside: "below" });
}

function forceBorder(data: Float32Array | Float64Array, n: number, value: number): void {
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        if (x === 0 || y === 0 || z === 0 || x === n - 1 || y === n - 1 || z === n - 1) {
          data[(z * n + y) * n + x] = value;
        }
      }
    }
  }
}

/**
 * `count` points uniformly distributed over a mesh's area (triangle by
 * area, then uniform barycentric coordinates), deterministic from `seed`.
 * Returns x y z per point; empty for a mesh without area.
 */
export function sampleSurfacePoints(mesh: TriangleMesh, count: number, seed: number): Float64Array {
  const p = mesh.positions;
  const f = mesh.faces;
  const triangles = f.length / 3;
  const cumulative = new Float64Array(triangles);
  let total = 0;
  for (let t = 0; t < triangles; t++) {
    const [a, b, c] = [f[3 * t], f[3 * t + 1], f[3 * t + 2]];
    const e1 = [p[3 * b] - p[3 * a], p[3 * b + 1] - p[3 * a + 1], p[3 * b + 2] - p[3 * a + 2]];
    const e2 = [p[3 * c] - p[3 * a], p[3 * c + 1] - p[3 * a + 1], p[3 * c + 2] - p[3 * a + 2]];
    const cx = e1[1] * e2[2] - e1[2] * e2[1];
    const cy = e1[2] * e2[0] - e1[0] * e2[2];
    const cz = e1[0] * e2[1] - e1[1] * e2[0];
    total += Math.hypot(cx, cy, cz) / 2;
    cumulative[t] = total;
  }
  if (!(total > 0)) return new Float64Array(0);
  const rng = new SeededRng(seed);
  const out = new Float64Array(count * 3);
  for (let i = 0; i < count; i++) {
    const target = rng.uniform() * total;
    let lo = 0, hi = triangles - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    // √u trick: uniform over the triangle.
    const s = Math.sqrt(rng.uniform());
    const r = rng.uniform();
    const wa = 1 - s, wb = s * (1 - r), wc = s * r;
    const [a, b, c] = [f[3 * lo], f[3 * lo + 1], f[3 * lo + 2]];
    for (let k = 0; k < 3; k++) {
      out[3 * i + k] = wa * p[3 * a + k] + wb * p[3 * b + k] + wc * p[3 * c + k];
    }
  }
  return out;
}

/** Mean over `from` of the squared distance to the nearest point of `to` (brute force, float64). */
function meanNearestSquared(from: Float64Array, to: Float64Array): number {
  const n = from.length / 3, m = to.length / 3;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = from[3 * i], y = from[3 * i + 1], z = from[3 * i + 2];
    let best = Infinity;
    for (let j = 0; j < m; j++) {
      const dx = x - to[3 * j], dy = y - to[3 * j + 1], dz = z - to[3 * j + 2];
      const d = dx * dx + dy * dy + dz * dz;
      if (d < best) best = d;
    }
    sum += best;
  }
  return sum / n;
}

/** Symmetric Chamfer distance (sum of the two mean squared nearest-neighbour distances). */
export function chamferDistance(a: Float64Array, b: Float64Array): number {
  if (a.length === 0 || b.length === 0) throw new Error("Chamfer distance of an empty point set");
  return meanNearestSquared(a, b) + meanNearestSquared(b, a);
}

/** MMD and coverage from a [generated][reference] distance matrix. */
export function mmdAndCoverage(distances: readonly (readonly number[])[]): {
  mmd: number;
  coverage: number;
  /** Per generated shape, the index of its nearest reference shape. */
  nearestReference: number[];
} {
  const generated = distances.length;
  const references = distances[0]?.length ?? 0;
  if (generated === 0 || references === 0) throw new Error("MMD/COV need both shape sets");
  let mmd = 0;
  for (let r = 0; r < references; r++) {
    let best = Infinity;
    for (let g = 0; g < generated; g++) best = Math.min(best, distances[g][r]);
    mmd += best;
  }
  const nearestReference = distances.map((row) => row.indexOf(Math.min(...row)));
  return {
    mmd: mmd / references,
    coverage: new Set(nearestReference).size / references,
    nearestReference,
  };
}

/** Depth of a rendered view against a ground-truth depth map (+∞ = background). */
export interface DepthComparison {
  /** Mean |t_generated − t_true| over pixels both call foreground (world units). */
  meanAbsError: number;
  /** Pixels compared. */
  pixels: number;
  /** IoU of the foreground masks (generated: opacity ≥ 0.5; true: finite depth). */
  maskIoU: number;
}

/**
 * Compares a view's depth with a true depth map of the same camera. The maps
 * may differ in size: each true pixel reads the rendered map at the same
 * normalised image position (nearest sample).
 */
export function compareDepth(
  view: RenderedView,
  truth: Float32Array,
  truthResolution: number,
): DepthComparison {
  const r = view.depthResolution;
  let sum = 0, pixels = 0, union = 0, intersection = 0;
  for (let y = 0; y < truthResolution; y++) {
    for (let x = 0; x < truthResolution; x++) {
      const sx = Math.min(r - 1, Math.floor(((x + 0.5) / truthResolution) * r));
      const sy = Math.min(r - 1, Math.floor(((y + 0.5) / truthResolution) * r));
      const k = sy * r + sx;
      const generated = view.opacity[k] >= 0.5;
      const t = truth[y * truthResolution + x];
      const real = Number.isFinite(t);
      if (generated || real) union++;
      if (generated && real) {
        intersection++;
        sum += Math.abs(view.depth[k] - t);
        pixels++;
      }
    }
  }
  return {
    meanAbsError: pixels > 0 ? sum / pixels : NaN,
    pixels,
    maskIoU: union > 0 ? intersection / union : 1,
  };
}

/** One identity's planes out of a batch's ([N, 3, C, H, W] → [1, 3, C, H, W]). */
export function planesOfSample(planes: readonly Tensor[], index: number): Tensor[] {
  return noGrad(() => planes.map((p) => slice(p, [[index, index + 1]])));
}
