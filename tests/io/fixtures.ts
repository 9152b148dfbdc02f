/** Helpers for the io tests: temp dirs, synthetic images and labels, hand-made zips. */
import { lookAtCameraLabel } from "../../stages/io/camera_label.ts";
import type { PixelImage } from "../../stages/io/png.ts";
import { ZipWriter } from "../../stages/io/zip_writer.ts";

/** Runs `fn` with a fresh temp dir, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-io-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A deterministic image whose pixels depend on (x, y, channel, salt). */
export function testImage(width: number, height: number, channels: number, salt = 0): PixelImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + salt * 101 + (i >> 5)) & 255;
  return { width, height, channels, data };
}

/** A realistic FFHQ-like camera label for item `i`. */
export function testLabel(i: number): number[] {
  return lookAtCameraLabel({ yaw: 0.1 * ((i % 7) - 3), pitch: 0.05 * ((i % 5) - 2) });
}

/** Writes a zip with exactly these entries (for crafting bad datasets). */
export async function writeRawZip(
  path: string,
  entries: Record<string, Uint8Array | string>,
): Promise<void> {
  const zip = await ZipWriter.create(path);
  for (const [name, data] of Object.entries(entries)) {
    await zip.add(name, typeof data === "string" ? new TextEncoder().encode(data) : data);
  }
  await zip.finish();
}

/** Lists a directory's entry names (sorted). */
export function listDir(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}
