/** PLY (binary, ASCII) and OBJ writers read back by our reader to the same mesh. */
import { readObj, readPly, writeObj, writePly } from "../../stages/geometry/mesh_io.ts";
import type { TriangleMesh } from "../../stages/geometry/marching_cubes.ts";

const mesh: TriangleMesh = {
  positions: Float32Array.from([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0.1234567, -2.5e-7, 3e5]),
  faces: Uint32Array.from([0, 2, 1, 0, 1, 3, 1, 2, 3, 0, 3, 2, 4, 0, 1]),
  colors: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 1, 2, 3]),
};

function assertSameMesh(got: TriangleMesh, want: TriangleMesh, withColors: boolean, what: string) {
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
    a.length === b.length && Array.from(a).every((v, i) => v === b[i]);
  if (!same(got.positions, want.positions)) {
    throw new Error(`${what}: positions differ: ${got.positions}`);
  }
  if (!same(got.faces, want.faces)) throw new Error(`${what}: faces differ: ${got.faces}`);
  if (withColors && !same(got.colors ?? [], want.colors ?? [])) {
    throw new Error(`${what}: colours differ`);
  }
}

Deno.test("PLY binary little-endian round trip (positions bit-exact, colours, faces)", () => {
  const bytes = writePly(mesh);
  const head = new TextDecoder().decode(bytes.subarray(0, 40));
  if (!head.startsWith("ply\nformat binary_little_endian 1.0")) throw new Error(`header: ${head}`);
  assertSameMesh(readPly(bytes), mesh, true, "binary PLY");
});

Deno.test("PLY ASCII round trip (shortest float32-exact text)", () => {
  assertSameMesh(readPly(writePly(mesh, { format: "ascii" })), mesh, true, "ASCII PLY");
  const { colors: _, ...plain } = mesh;
  const back = readPly(writePly(plain, { format: "ascii" }));
  if (back.colors) throw new Error("colours appeared from nowhere");
  assertSameMesh(back, plain, false, "ASCII PLY without colours");
});

Deno.test("OBJ round trip; reader fans polygons and accepts v/t/n and negative indices", () => {
  assertSameMesh(readObj(writeObj(mesh)), mesh, false, "OBJ");
  const quad = readObj("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1/1/1 2/2/2 3/3/3 -1\n");
  if (quad.faces.join() !== "0,1,2,0,2,3") throw new Error(`quad fanned to ${quad.faces}`);
});

Deno.test("mesh writers reject out-of-range faces; readers reject non-PLY input", () => {
  const bad = { positions: new Float32Array(3), faces: Uint32Array.from([0, 0, 1]) };
  for (const write of [() => writePly(bad), () => writeObj(bad)]) {
    let threw = false;
    try {
      write();
    } catch {
      threw = true;
    }
    if (!threw) throw new Error("accepted a face index beyond the vertices");
  }
  let threw = false;
  try {
    readPly(new TextEncoder().encode("solid stl\n"));
  } catch (e) {
    threw = /not a PLY file/.test((e as Error).message);
  }
  if (!threw) throw new Error("readPly accepted an STL");
});
