/**
 * Marching cubes: a scalar grid (density, or a signed distance) → an indexed
 * triangle mesh of its level set, with the standard case table
 * (`marching_cubes_tables.ts`). Used to export generator geometry (EG3D's
 * `extract_shapes`: density sampled on an N³ grid, level 10).
 *
 * Each grid edge the surface crosses gets exactly one vertex, interpolated
 * linearly from the edge's two samples in a fixed direction (low → high
 * coordinate), so neighbouring cells share vertices bit-for-bit and the mesh
 * is watertight wherever the surface stays inside the grid. Cells are visited
 * in a fixed order, so the output is deterministic. Triangles are wound
 * counter-clockwise seen from outside (normals point out of the solid).
 */
import { CORNERS, EDGE_MASKS, EDGES, TRIANGLES } from "./marching_cubes_tables.ts";

/** A scalar field sampled on a regular grid: value(x, y, z) = data[(z·ny + y)·nx + x]. */
export interface ScalarGrid {
  data: ArrayLike<number>;
  /** Samples along x, y, z (each ≥ 2). */
  size: [number, number, number];
  /** World position of sample (0, 0, 0) (default the origin). */
  origin?: [number, number, number];
  /** World distance between neighbouring samples per axis (default 1). */
  spacing?: [number, number, number];
}

/** An indexed triangle mesh. */
export interface TriangleMesh {
  /** Vertex positions, x y z per vertex. */
  positions: Float32Array;
  /** Vertex indices, three per triangle, counter-clockwise seen from outside. */
  faces: Uint32Array;
  /** Optional per-vertex colours, r g b per vertex (0–255). */
  colors?: Uint8Array;
}

/** Options of `marchingCubes`. */
export interface MarchingCubesOptions {
  /** The iso-level (default 0). */
  level?: number;
  /**
   * Which side is solid: "above" (default; densities, occupancy) or "below"
   * (signed distances, negative inside).
   */
  inside?: "above" | "below";
}

/** Grid edge axis of each cell edge (0 = x, 1 = y, 2 = z). */
const EDGE_AXIS = EDGES.map(([a, b]) => CORNERS[b].findIndex((c, i) => c !== CORNERS[a][i]));

/** Extracts the level set of `grid` as a triangle mesh. */
export function marchingCubes(grid: ScalarGrid, options: MarchingCubesOptions = {}): TriangleMesh {
  const [nx, ny, nz] = grid.size;
  if (![nx, ny, nz].every((n) => Number.isInteger(n) && n >= 2)) {
    throw new Error(`marchingCubes: grid size must be integers ≥ 2, got [${grid.size}]`);
  }
  if (grid.data.length !== nx * ny * nz) {
    throw new Error(`marchingCubes: ${grid.data.length} samples for a ${nx}×${ny}×${nz} grid`);
  }
  const level = options.level ?? 0;
  const solidAbove = (options.inside ?? "above") === "above";
  const [ox, oy, oz] = grid.origin ?? [0, 0, 0];
  const [sx, sy, sz] = grid.spacing ?? [1, 1, 1];
  const data = grid.data;
  const index = (x: number, y: number, z: number) => (z * ny + y) * nx + x;
  const outside = (v: number) => (solidAbove ? v < level : v > level);

  const positions: number[] = [];
  const faces: number[] = [];
  const vertexOfEdge = new Map<number, number>();
  /** The vertex on the grid edge from sample (x, y, z) along `axis`, created on first use. */
  const edgeVertex = (x: number, y: number, z: number, axis: number): number => {
    const key = index(x, y, z) * 3 + axis;
    const known = vertexOfEdge.get(key);
    if (known !== undefined) return known;
    const a = data[index(x, y, z)];
    const b =
      data[index(x + (axis === 0 ? 1 : 0), y + (axis === 1 ? 1 : 0), z + (axis === 2 ? 1 : 0))];
    const t = a === b ? 0.5 : (level - a) / (b - a);
    const p = [x, y, z];
    p[axis] += t;
    const v = positions.length / 3;
    positions.push(ox + p[0] * sx, oy + p[1] * sy, oz + p[2] * sz);
    vertexOfEdge.set(key, v);
    return v;
  };

  const cellEdgeVertex = new Array<number>(12);
  for (let z = 0; z < nz - 1; z++) {
    for (let y = 0; y < ny - 1; y++) {
      for (let x = 0; x < nx - 1; x++) {
        let cubeCase = 0;
        for (let k = 0; k < 8; k++) {
          const [cx, cy, cz] = CORNERS[k];
          if (outside(data[index(x + cx, y + cy, z + cz)])) cubeCase |= 1 << k;
        }
        const mask = EDGE_MASKS[cubeCase];
        if (mask === 0) continue;
        for (let e = 0; e < 12; e++) {
          if (!(mask & (1 << e))) continue;
          const [cx, cy, cz] = CORNERS[EDGES[e][0]];
          cellEdgeVertex[e] = edgeVertex(x + cx, y + cy, z + cz, EDGE_AXIS[e]);
        }
        const tri = TRIANGLES[cubeCase];
        for (let i = 0; i < tri.length; i += 3) {
          // With bits set for outside corners, the table's order is counter-clockwise
          // seen from outside in this corner numbering (checked by the volume sign test).
          faces.push(
            cellEdgeVertex[tri[i]],
            cellEdgeVertex[tri[i + 1]],
            cellEdgeVertex[tri[i + 2]],
          );
        }
      }
    }
  }
  return { positions: Float32Array.from(positions), faces: Uint32Array.from(faces) };
}

/** Total area of a mesh's triangles. */
export function meshArea(mesh: TriangleMesh): number {
  let area = 0;
  forEachTriangle(mesh, (a, b, c) => {
    const u = sub3(b, a);
    const v = sub3(c, a);
    area += 0.5 *
      Math.hypot(u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]);
  });
  return area;
}

/** Signed enclosed volume (divergence theorem; positive for a closed mesh with outward normals). */
export function meshVolume(mesh: TriangleMesh): number {
  let volume = 0;
  forEachTriangle(mesh, (a, b, c) => {
    volume += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
      a[2] * (b[0] * c[1] - b[1] * c[0])) / 6;
  });
  return volume;
}

type Vec3 = [number, number, number];

function sub3(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

function forEachTriangle(mesh: TriangleMesh, fn: (a: Vec3, b: Vec3, c: Vec3) => void): void {
  const p = mesh.positions;
  const at = (v: number): Vec3 => [p[3 * v], p[3 * v + 1], p[3 * v + 2]];
  for (let f = 0; f < mesh.faces.length; f += 3) {
    fn(at(mesh.faces[f]), at(mesh.faces[f + 1]), at(mesh.faces[f + 2]));
  }
}
