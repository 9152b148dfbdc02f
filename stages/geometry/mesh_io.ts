/**
 * Mesh files people open in MeshLab/Blender: PLY (binary little-endian or
 * ASCII; float32 positions, optional uchar RGB colours, uchar-counted int
 * index lists) and Wavefront OBJ, plus a small reader for both that accepts
 * what these writers produce (and the common variants: other scalar types,
 * extra vertex properties, polygons fanned into triangles), for round trips.
 */
import type { TriangleMesh } from "./marching_cubes.ts";

/** PLY encodings. */
export type PlyFormat = "binary_little_endian" | "ascii";

/** Serialises a mesh as PLY (binary little-endian by default). */
export function writePly(
  mesh: TriangleMesh,
  { format = "binary_little_endian" }: { format?: PlyFormat } = {},
): Uint8Array {
  const vertexCount = mesh.positions.length / 3;
  const faceCount = mesh.faces.length / 3;
  checkMesh(mesh);
  const colors = mesh.colors;
  const header = [
    "ply",
    `format ${format} 1.0`,
    "comment written by mimic3d-ts",
    `element vertex ${vertexCount}`,
    "property float x",
    "property float y",
    "property float z",
    ...(colors ? ["property uchar red", "property uchar green", "property uchar blue"] : []),
    `element face ${faceCount}`,
    "property list uchar int vertex_indices",
    "end_header",
    "",
  ].join("\n");
  const headerBytes = new TextEncoder().encode(header);
  if (format === "ascii") {
    const lines: string[] = [];
    for (let v = 0; v < vertexCount; v++) {
      const p = [0, 1, 2].map((i) => formatFloat(mesh.positions[3 * v + i]));
      if (colors) p.push(...[0, 1, 2].map((i) => String(colors[3 * v + i])));
      lines.push(p.join(" "));
    }
    for (let f = 0; f < faceCount; f++) {
      lines.push(`3 ${mesh.faces[3 * f]} ${mesh.faces[3 * f + 1]} ${mesh.faces[3 * f + 2]}`);
    }
    const body = new TextEncoder().encode(lines.join("\n") + "\n");
    return concatBytes(headerBytes, body);
  }
  const vertexBytes = 12 + (colors ? 3 : 0);
  const body = new Uint8Array(vertexCount * vertexBytes + faceCount * 13);
  const view = new DataView(body.buffer);
  let o = 0;
  for (let v = 0; v < vertexCount; v++) {
    for (let i = 0; i < 3; i++, o += 4) view.setFloat32(o, mesh.positions[3 * v + i], true);
    if (colors) { for (let i = 0; i < 3; i++) body[o++] = colors[3 * v + i]; }
  }
  for (let f = 0; f < faceCount; f++) {
    body[o++] = 3;
    for (let i = 0; i < 3; i++, o += 4) view.setInt32(o, mesh.faces[3 * f + i], true);
  }
  return concatBytes(headerBytes, body);
}

/** Serialises a mesh as Wavefront OBJ text (1-based indices; colours are not part of OBJ). */
export function writeObj(mesh: TriangleMesh): string {
  checkMesh(mesh);
  const lines = ["# written by mimic3d-ts"];
  for (let v = 0; v < mesh.positions.length; v += 3) {
    lines.push(
      `v ${formatFloat(mesh.positions[v])} ${formatFloat(mesh.positions[v + 1])} ${
        formatFloat(mesh.positions[v + 2])
      }`,
    );
  }
  for (let f = 0; f < mesh.faces.length; f += 3) {
    lines.push(`f ${mesh.faces[f] + 1} ${mesh.faces[f + 1] + 1} ${mesh.faces[f + 2] + 1}`);
  }
  return lines.join("\n") + "\n";
}

/** Parses OBJ text: `v` lines and `f` lines (`i`, `i/t`, `i/t/n`, negative = relative); polygons are fanned. */
export function readObj(text: string): TriangleMesh {
  const positions: number[] = [];
  const faces: number[] = [];
  text.split(/\r?\n/).forEach((line, lineNo) => {
    const parts = line.trim().split(/\s+/);
    if (parts[0] === "v") {
      const xyz = parts.slice(1, 4).map(Number);
      if (xyz.length !== 3 || xyz.some((c) => !Number.isFinite(c))) {
        throw new Error(`OBJ line ${lineNo + 1}: bad vertex '${line}'`);
      }
      positions.push(...xyz);
    } else if (parts[0] === "f") {
      const count = positions.length / 3;
      const idx = parts.slice(1).map((p) => {
        const i = parseInt(p.split("/")[0], 10);
        const v = i < 0 ? count + i : i - 1;
        if (!Number.isInteger(v) || v < 0 || v >= count) {
          throw new Error(`OBJ line ${lineNo + 1}: vertex index '${p}' out of range`);
        }
        return v;
      });
      for (let k = 1; k + 1 < idx.length; k++) faces.push(idx[0], idx[k], idx[k + 1]);
    }
  });
  return { positions: Float32Array.from(positions), faces: Uint32Array.from(faces) };
}

interface PlyProperty {
  name: string;
  type: string;
  /** Count type of a list property. */
  listCount?: string;
}

interface PlyElement {
  name: string;
  count: number;
  properties: PlyProperty[];
}

const PLY_TYPES: Record<string, { bytes: number; read: (v: DataView, o: number) => number }> = {};
for (
  const [names, bytes, read] of [
    [["char", "int8"], 1, (v: DataView, o: number) => v.getInt8(o)],
    [["uchar", "uint8"], 1, (v: DataView, o: number) => v.getUint8(o)],
    [["short", "int16"], 2, (v: DataView, o: number) => v.getInt16(o, true)],
    [["ushort", "uint16"], 2, (v: DataView, o: number) => v.getUint16(o, true)],
    [["int", "int32"], 4, (v: DataView, o: number) => v.getInt32(o, true)],
    [["uint", "uint32"], 4, (v: DataView, o: number) => v.getUint32(o, true)],
    [["float", "float32"], 4, (v: DataView, o: number) => v.getFloat32(o, true)],
    [["double", "float64"], 8, (v: DataView, o: number) => v.getFloat64(o, true)],
  ] as const
) {
  for (const n of names) PLY_TYPES[n] = { bytes, read };
}

/** Parses a PLY file (ASCII or binary little-endian): x/y/z, optional red/green/blue, face index lists. */
export function readPly(bytes: Uint8Array): TriangleMesh {
  const { elements, format, bodyStart } = parsePlyHeader(bytes);
  if (format !== "ascii" && format !== "binary_little_endian") {
    throw new Error(`PLY: format '${format}' is not supported (ascii or binary_little_endian)`);
  }
  // The body's next number of a property type: ASCII tokens in order, or binary values.
  let next: (type: string) => number;
  if (format === "ascii") {
    const tokens = new TextDecoder().decode(bytes.subarray(bodyStart)).trim().split(/\s+/).map(
      Number,
    );
    let t = 0;
    next = () => tokens[t++];
  } else {
    const view = new DataView(
      bytes.buffer,
      bytes.byteOffset + bodyStart,
      bytes.byteLength - bodyStart,
    );
    let o = 0;
    next = (type: string) => {
      const t = PLY_TYPES[type];
      if (!t) throw new Error(`PLY: unknown property type '${type}'`);
      if (o + t.bytes > view.byteLength) throw new Error("PLY: file ends inside the data");
      const v = t.read(view, o);
      o += t.bytes;
      return v;
    };
  }
  // Every element's rows as numbers (lists flattened after their count).
  const rows = new Map<string, number[][]>();
  for (const el of elements) {
    const list: number[][] = [];
    for (let r = 0; r < el.count; r++) {
      const row: number[] = [];
      for (const p of el.properties) {
        if (p.listCount) {
          const n = next(p.listCount);
          row.push(n);
          for (let k = 0; k < n; k++) row.push(next(p.type));
        } else row.push(next(p.type));
      }
      list.push(row);
    }
    rows.set(el.name, list);
  }
  const vertexEl = elements.find((e) => e.name === "vertex");
  if (!vertexEl) throw new Error("PLY: no 'vertex' element");
  const col = (name: string) => vertexEl.properties.findIndex((p) => p.name === name);
  const [ix, iy, iz] = ["x", "y", "z"].map(col);
  if (ix < 0 || iy < 0 || iz < 0) throw new Error("PLY: vertices lack x, y or z");
  const vertices = rows.get("vertex")!;
  const positions = new Float32Array(vertices.length * 3);
  vertices.forEach((r, v) => positions.set([r[ix], r[iy], r[iz]], 3 * v));
  const rgb = ["red", "green", "blue"].map(col);
  const colors = rgb.every((i) => i >= 0) ? new Uint8Array(vertices.length * 3) : undefined;
  if (colors) vertices.forEach((r, v) => colors.set(rgb.map((i) => r[i]), 3 * v));
  const faces: number[] = [];
  for (const r of rows.get("face") ?? []) {
    // The index list is the face element's first property (as these writers and most tools emit).
    const n = r[0];
    for (let k = 1; k + 1 < n; k++) faces.push(r[1], r[1 + k], r[2 + k]);
  }
  if (faces.some((i) => i < 0 || i >= vertices.length)) {
    throw new Error("PLY: face index out of range");
  }
  return { positions, faces: Uint32Array.from(faces), ...(colors ? { colors } : {}) };
}

function parsePlyHeader(
  bytes: Uint8Array,
): { elements: PlyElement[]; format: string; bodyStart: number } {
  const marker = new TextEncoder().encode("end_header");
  let end = -1;
  for (let i = 0; i + marker.length <= Math.min(bytes.length, 1 << 16); i++) {
    if (marker.every((b, k) => bytes[i + k] === b)) {
      end = i;
      break;
    }
  }
  if (end < 0 || new TextDecoder().decode(bytes.subarray(0, 4)) !== "ply\n") {
    throw new Error("PLY: not a PLY file (no 'ply' magic or 'end_header')");
  }
  let bodyStart = end + marker.length;
  if (bytes[bodyStart] === 13) bodyStart++;
  if (bytes[bodyStart] === 10) bodyStart++;
  const elements: PlyElement[] = [];
  let format = "";
  for (const line of new TextDecoder().decode(bytes.subarray(0, end)).split(/\r?\n/)) {
    const p = line.trim().split(/\s+/);
    if (p[0] === "format") format = p[1];
    else if (p[0] === "element") elements.push({ name: p[1], count: Number(p[2]), properties: [] });
    else if (p[0] === "property") {
      const el = elements[elements.length - 1];
      if (!el) throw new Error("PLY: property before any element");
      el.properties.push(
        p[1] === "list" ? { name: p[4], type: p[3], listCount: p[2] } : { name: p[2], type: p[1] },
      );
    }
  }
  return { elements, format, bodyStart };
}

function checkMesh(mesh: TriangleMesh): void {
  const n = mesh.positions.length / 3;
  if (!Number.isInteger(n) || mesh.faces.length % 3) {
    throw new Error("mesh: positions/faces not in triples");
  }
  if (mesh.colors && mesh.colors.length !== mesh.positions.length) {
    throw new Error("mesh: one colour per vertex needed");
  }
  for (const i of mesh.faces) if (i >= n) throw new Error(`mesh: face index ${i} ≥ ${n} vertices`);
}

/** Shortest text that reads back as the same float32. */
function formatFloat(v: number): string {
  for (let digits = 6; digits < 10; digits++) {
    const s = v.toPrecision(digits);
    if (Math.fround(Number(s)) === Math.fround(v)) return String(Number(s));
  }
  return String(v);
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
