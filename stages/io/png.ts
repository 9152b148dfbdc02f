/**
 * PNG decoding and encoding of 8-bit images through the `fast-png` codec.
 *
 * Images are kept as interleaved HWC bytes (`PixelImage`), the layout PNG
 * stores and EG3D's dataset reader produces before its HWC → CHW transpose.
 * @module
 */
import { convertIndexedToRgb, decode, encode } from "fast-png";
import { writeFileAtomic } from "../../pipeline/atomic_fs.ts";

/** An 8-bit image, rows top to bottom, channels interleaved (HWC). */
export interface PixelImage {
  readonly width: number;
  readonly height: number;
  /** 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). */
  readonly channels: number;
  /** `width * height * channels` bytes. */
  readonly data: Uint8Array;
}

/** Thrown for bytes that are not a complete, valid PNG; the message names the source. */
export class PngError extends Error {
  constructor(source: string, reason: string) {
    super(`${source}: not a valid PNG (${reason})`);
    this.name = "PngError";
  }
}

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
// The last 12 bytes of every complete PNG: IEND chunk (length 0, type, CRC).
const IEND_TRAILER = [0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130];

/**
 * Decodes PNG bytes to an 8-bit `PixelImage` (palette images become RGB/RGBA,
 * 16-bit samples are rounded to 8 bits). `source` names the file in errors.
 */
export function decodePng(bytes: Uint8Array, source: string): PixelImage {
  if (bytes.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new PngError(source, "missing PNG signature");
  }
  // fast-png stops quietly at the end of a truncated stream; a complete file ends with IEND.
  const tail = bytes.subarray(bytes.length - IEND_TRAILER.length);
  if (tail.length !== IEND_TRAILER.length || IEND_TRAILER.some((b, i) => tail[i] !== b)) {
    throw new PngError(source, "truncated: no IEND chunk at the end");
  }
  let png;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch (err) {
    throw new PngError(source, err instanceof Error ? err.message : String(err));
  }
  let data: Uint8Array | Uint16Array | Uint8ClampedArray = png.data;
  let channels = png.channels;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.palette[0].length;
  } else if (png.depth < 8) {
    data = unpackSubByteSamples(png.data, png.width, png.height, png.depth);
  }
  const expected = png.width * png.height * channels;
  if (data.length !== expected) {
    throw new PngError(source, `pixel data has ${data.length} samples, expected ${expected}`);
  }
  return { width: png.width, height: png.height, channels, data: to8Bit(data) };
}

function to8Bit(data: Uint8Array | Uint16Array | Uint8ClampedArray): Uint8Array {
  if (data instanceof Uint16Array) {
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Math.round(data[i] / 257);
    return out;
  }
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** Gray PNGs of 1, 2 or 4 bits pack several pixels per byte (rows byte-aligned); spread to 0…255. */
function unpackSubByteSamples(
  packed: ArrayLike<number>,
  width: number,
  height: number,
  depth: number,
): Uint8Array {
  const out = new Uint8Array(width * height);
  const bytesPerRow = Math.ceil((width * depth) / 8);
  const maxValue = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * bytesPerRow + (bit >> 3)];
      const value = (byte >> (8 - depth - (bit & 7))) & maxValue;
      out[y * width + x] = Math.round((value * 255) / maxValue);
    }
  }
  return out;
}

/** Encodes an 8-bit image as PNG (deterministic bytes for the same pixels). */
export function encodePng(image: PixelImage): Uint8Array {
  checkImageShape(image, "image to encode");
  return encode({
    width: image.width,
    height: image.height,
    channels: image.channels,
    depth: 8,
    data: image.data,
  });
}

/** Reads and decodes a PNG file; errors name the path. */
export async function readPngFile(path: string): Promise<PixelImage> {
  return decodePng(await Deno.readFile(path), path);
}

/** Encodes and writes a PNG file atomically (temp file, then rename). */
export async function writePngFile(path: string, image: PixelImage): Promise<void> {
  await writeFileAtomic(path, encodePng(image));
}

/** Throws unless `data` holds exactly `width * height * channels` bytes of 1–4 channels. */
export function checkImageShape(image: PixelImage, source: string): void {
  if (![1, 2, 3, 4].includes(image.channels)) {
    throw new Error(`${source}: ${image.channels} channels (expected 1 to 4)`);
  }
  const expected = image.width * image.height * image.channels;
  if (image.data.length !== expected) {
    throw new Error(
      `${source}: ${image.data.length} bytes for ${image.width}×${image.height}×` +
        `${image.channels} (expected ${expected})`,
    );
  }
}
