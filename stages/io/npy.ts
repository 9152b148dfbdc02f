/**
 * NumPy `.npy` (format 1.0) for dense arrays stored beside datasets (depth
 * maps, masks), so they open with `numpy.load` as well as here.
 * @module
 */

/** A dense C-order array. */
export interface NpyArray {
  readonly shape: readonly number[];
  readonly data: Float32Array | Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Encodes a float32 or uint8 array as `.npy` bytes (little-endian, C order). */
export function encodeNpy(array: NpyArray): Uint8Array {
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (count !== array.data.length) {
    throw new Error(
      `encodeNpy: shape ${array.shape} needs ${count} values, got ${array.data.length}`,
    );
  }
  const descr = array.data instanceof Float32Array ? "<f4" : "|u1";
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Header padded with spaces and ended by "\n" so the data starts 64-byte aligned.
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const headerBytes = new TextEncoder().encode(header);
  const dataBytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(MAGIC.length + 4 + headerBytes.length + dataBytes.length);
  out.set(MAGIC, 0);
  out[6] = 1; // format version 1.0
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, headerBytes.length, true);
  out.set(headerBytes, 10);
  out.set(dataBytes, 10 + headerBytes.length);
  return out;
}

/** Decodes `.npy` bytes written by `encodeNpy` (float32 or uint8, C order). */
export function decodeNpy(bytes: Uint8Array, source = "npy"): NpyArray {
  if (MAGIC.some((b, i) => bytes[i] !== b) || bytes[6] !== 1) {
    throw new Error(`${source}: not a version-1 .npy file`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (/'fortran_order':\s*True/.test(header)) {
    throw new Error(`${source}: Fortran order not supported`);
  }
  if (shapeText === undefined) throw new Error(`${source}: no shape in .npy header`);
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.slice(10 + headerLength);
  if (descr === "<f4" && body.byteLength === count * 4) {
    return { shape, data: new Float32Array(body.buffer, 0, count) };
  }
  if ((descr === "|u1" || descr === "<u1") && body.byteLength === count) {
    return { shape, data: body };
  }
  throw new Error(`${source}: unsupported dtype ${descr} or wrong data size`);
}
