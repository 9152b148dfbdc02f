/**
 * Geometry metrics on shapes with known answers: Chamfer distance of point
 * sets, MMD/COV of a distance matrix, surface sampling and meshing of
 * analytic spheres (CD of concentric spheres r, r + δ ≈ 2δ²), depth comparison.
 */
import {
  chamferDistance,
  compareDepth,
  mmdAndCoverage,
  sampleSurfacePoints,
  sdfGrid,
  sdfMesh,
} from "../../stages/eval/geometry.ts";
import type { RenderedView } from "../../stages/eval/sample_render.ts";
import { assertEquals } from "../helpers/assert.ts";

function assertNear(actual: number, expected: number, tolerance: number, what: string) {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`${what}: ${actual} is not within ${tolerance} of ${expected}`);
  }
}

const sphere = (r: number) => (x: number, y: number, z: number) => Math.hypot(x, y, z) - r;

Deno.test("Chamfer distance: zero for equal sets, 2d² for a shifted point", () => {
  const a = Float64Array.from([0, 0, 0, 1, 0, 0]);
  assertEquals(chamferDistance(a, a), 0);
  assertNear(
    chamferDistance(Float64Array.from([0, 0, 0]), Float64Array.from([0, 0.5, 0])),
    0.5,
    1e-15,
    "cd",
  );
  let threw = false;
  try {
    chamferDistance(a, new Float64Array(0));
  } catch {
    threw = true;
  }
  assertEquals(threw, true);
});

Deno.test("MMD and coverage from a distance matrix", () => {
  // generated × reference: gen 0 is nearest to ref 1, gen 1 to ref 1 too; ref 0 and 2 uncovered.
  const d = [[0.5, 0.1, 0.9], [0.4, 0.2, 0.3]];
  const { mmd, coverage, nearestReference } = mmdAndCoverage(d);
  assertNear(mmd, (0.4 + 0.1 + 0.3) / 3, 1e-15, "mmd");
  assertNear(coverage, 1 / 3, 1e-15, "coverage");
  assertEquals(nearestReference, [1, 1]);
});

Deno.test("sphere meshes: surface points lie on the sphere; CD(r, r + δ) ≈ 2δ²", () => {
  const inner = sdfMesh(sdfGrid(sphere(0.3), 48, 1));
  const outer = sdfMesh(sdfGrid(sphere(0.35), 48, 1));
  const a = sampleSurfacePoints(inner, 800, 1);
  const b = sampleSurfacePoints(outer, 800, 2);
  assertEquals(a.length, 2400);
  for (let i = 0; i < 800; i++) {
    assertNear(Math.hypot(a[3 * i], a[3 * i + 1], a[3 * i + 2]), 0.3, 0.01, "radius");
  }
  // Uniform over the area: the mean point is near the centre.
  const mean = [0, 1, 2].map((k) =>
    a.filter((_, i) => i % 3 === k).reduce((s, v) => s + v, 0) / 800
  );
  for (const m of mean) assertNear(m, 0, 0.03, "mean");
  assertEquals(Array.from(sampleSurfacePoints(inner, 800, 1)), Array.from(a)); // deterministic
  const cd = chamferDistance(a, b);
  assertNear(cd, 2 * 0.05 ** 2, 0.0015, "CD of concentric spheres");
  assertEquals(
    sampleSurfacePoints({ positions: new Float32Array(0), faces: new Uint32Array(0) }, 5, 0).length,
    0,
  );
});

Deno.test("depth comparison: foreground overlap, mean |Δt|, mask IoU, resolution mismatch", () => {
  // Rendered 2×2, truth 4×4 (each rendered pixel covers 2×2 true pixels).
  const view: RenderedView = {
    resolution: 2,
    image: new Float32Array(12),
    depthResolution: 2,
    depth: Float32Array.from([2.5, 2.6, 9, 2.7]),
    opacity: Float32Array.from([1, 1, 0, 0.9]),
    label: [],
  };
  const truth = new Float32Array(16).fill(Infinity);
  for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) truth[y * 4 + x] = 2.4; // top-left block
  truth[0 * 4 + 2] = 2.6; // one pixel of the top-right block
  const r = compareDepth(view, truth, 4);
  assertEquals(r.pixels, 5);
  assertNear(r.meanAbsError, (4 * 0.1 + 0) / 5, 1e-6, "mean |Δt|");
  assertNear(r.maskIoU, 5 / 12, 1e-12, "IoU"); // union: 3 rendered blocks (12 px); intersection 5
});
