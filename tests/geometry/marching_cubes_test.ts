/**
 * Marching cubes on analytic SDFs. Tolerances from the grid spacing h: a
 * triangle edge lies inside one cell, so its length is e ≤ √3·h, and a flat
 * triangle sits at most one chord sagitta δ = e²/(8R) ≤ 3h²/(8R) inside a
 * surface of curvature radius R (vertices themselves are interpolated on
 * edges, O(h²/R) off as well). A uniform inward offset δ changes area by
 * 2δ/R and volume by 3δ/R relative, so we allow (3/4)(h/R)² on areas and
 * (9/8)(h/R)² on volumes, R the smallest curvature radius (the torus' minor
 * radius). Measured: 0.31 and 0.59 (h/R)² for the sphere.
 */
import {
  marchingCubes,
  meshArea,
  meshVolume,
  type TriangleMesh,
} from "../../stages/geometry/marching_cubes.ts";
import { EDGE_MASKS, TRIANGLES } from "../../stages/geometry/marching_cubes_tables.ts";

function sampleSdf(n: number, half: number, sdf: (x: number, y: number, z: number) => number) {
  const h = (2 * half) / (n - 1);
  const data = new Float64Array(n * n * n);
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        data[(z * n + y) * n + x] = sdf(-half + x * h, -half + y * h, -half + z * h);
      }
    }
  }
  return {
    grid: {
      data,
      size: [n, n, n] as [number, number, number],
      origin: [-half, -half, -half] as [number, number, number],
      spacing: [h, h, h] as [number, number, number],
    },
    h,
  };
}

/** Every undirected edge is used by exactly two faces, once in each direction; returns V − E + F. */
function checkClosedAndOriented(mesh: TriangleMesh): number {
  const directed = new Set<string>();
  for (let f = 0; f < mesh.faces.length; f += 3) {
    for (let k = 0; k < 3; k++) {
      const key = `${mesh.faces[f + k]},${mesh.faces[f + ((k + 1) % 3)]}`;
      if (directed.has(key)) {
        throw new Error(`directed edge ${key} used twice: inconsistent orientation`);
      }
      directed.add(key);
    }
  }
  for (const key of directed) {
    const [a, b] = key.split(",");
    if (!directed.has(`${b},${a}`)) {
      throw new Error(`edge ${key} has one face only: surface not closed`);
    }
  }
  return mesh.positions.length / 3 - directed.size / 2 + mesh.faces.length / 3;
}

function assertRelative(got: number, want: number, tol: number, what: string) {
  const rel = Math.abs(got / want - 1);
  if (!(rel <= tol)) {
    throw new Error(
      `${what}: ${got} vs ${want} (relative error ${rel.toExponential(2)} > ${
        tol.toExponential(2)
      })`,
    );
  }
}

Deno.test("marching cubes tables: 256 cases, complementary cases cut the same edges", () => {
  if (TRIANGLES.length !== 256 || TRIANGLES.some((t) => t.length % 3 || t.length > 15)) {
    throw new Error("malformed triangle table");
  }
  for (let i = 0; i < 256; i++) {
    if (EDGE_MASKS[i] !== EDGE_MASKS[255 - i]) {
      throw new Error(`cases ${i} and ${255 - i} cut different edges`);
    }
  }
  if (EDGE_MASKS[1] !== 0x109 || EDGE_MASKS[0x7f] !== 0x8c0) {
    throw new Error("edge masks differ from Bourke's table");
  }
});

Deno.test("sphere SDF: closed genus-0 mesh, area and volume within the sagitta bound", () => {
  const r = 0.7;
  for (const n of [33, 49]) {
    const { grid, h } = sampleSdf(n, 1, (x, y, z) => Math.hypot(x, y, z) - r);
    const mesh = marchingCubes(grid, { inside: "below" });
    const euler = checkClosedAndOriented(mesh);
    if (euler !== 2) throw new Error(`sphere Euler characteristic ${euler}, expected 2`);
    const q = (h / r) ** 2;
    assertRelative(meshArea(mesh), 4 * Math.PI * r * r, 0.75 * q, `sphere area at n=${n}`);
    assertRelative(
      meshVolume(mesh),
      (4 / 3) * Math.PI * r ** 3,
      1.125 * q,
      `sphere volume at n=${n}`,
    );
  }
});

Deno.test("torus SDF: closed genus-1 mesh, area and volume within the sagitta bound", () => {
  const [major, minor] = [0.6, 0.25];
  const { grid, h } = sampleSdf(
    49,
    1,
    (x, y, z) => Math.hypot(Math.hypot(x, y) - major, z) - minor,
  );
  const mesh = marchingCubes(grid, { inside: "below" });
  const euler = checkClosedAndOriented(mesh);
  if (euler !== 0) throw new Error(`torus Euler characteristic ${euler}, expected 0`);
  const q = (h / minor) ** 2;
  assertRelative(meshArea(mesh), 4 * Math.PI ** 2 * major * minor, 0.75 * q, "torus area");
  assertRelative(
    meshVolume(mesh),
    2 * Math.PI ** 2 * major * minor ** 2,
    1.125 * q,
    "torus volume",
  );
});

Deno.test("density grids (solid above the level) give the SDF's mesh; output is deterministic", () => {
  const { grid } = sampleSdf(21, 1, (x, y, z) => Math.hypot(x, y, z) - 0.6);
  const density = { ...grid, data: Float64Array.from(grid.data, (v) => 10 - 20 * v) };
  const a = marchingCubes(grid, { inside: "below" });
  const b = marchingCubes(density, { level: 10 });
  const c = marchingCubes(density, { level: 10 });
  if (a.faces.join() !== b.faces.join() || b.positions.join() !== c.positions.join()) {
    throw new Error("meshes differ");
  }
  for (let i = 0; i < a.positions.length; i++) {
    if (Math.abs(a.positions[i] - b.positions[i]) > 1e-6) throw new Error(`vertex ${i} differs`);
  }
  if (marchingCubes({ data: new Float64Array(8).fill(1), size: [2, 2, 2] }).faces.length !== 0) {
    throw new Error("a uniform grid has no surface");
  }
});
