/**
 * `dataset make`: a folder of PNG images plus a labels JSON → a dataset zip.
 * Every image is converted to RGB, centre-cropped to a square and resized to
 * one power-of-two resolution. All or nothing: any bad image or label aborts
 * and leaves no output.
 * @module
 */
import { existsSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { DatasetError } from "./dataset_error.ts";
import { LABELS_FILE, parseLabelsJson } from "./dataset_labels.ts";
import { isImageName } from "./dataset_reader.ts";
import { DatasetWriter, isPowerOfTwo } from "./dataset_writer.ts";
import { centerCropSquare, resizeImage, toRgb } from "./image_resize.ts";
import { readPngFile } from "./png.ts";

/** Options for `makeDataset`. */
export interface MakeDatasetOptions {
  /** Labels JSON (dataset_tool layout); default `labels.json`, else `dataset.json`, in the folder. */
  labelsPath?: string;
  /** Output resolution (a power of two); default the largest power of two ≤ the smallest image side. */
  resolution?: number;
  /** Called after each image. */
  onProgress?: (done: number, total: number) => void;
}

/** What `makeDataset` wrote. */
export interface MakeDatasetReport {
  readonly path: string;
  readonly imageCount: number;
  readonly resolution: number;
}

/** Builds a dataset zip at `outZip` from the PNG images under `folder` and their labels. */
export async function makeDataset(
  folder: string,
  outZip: string,
  options: MakeDatasetOptions = {},
): Promise<MakeDatasetReport> {
  const labelsPath = options.labelsPath ?? findLabelsFile(folder);
  const labels = parseLabelsJson(await readText(labelsPath), labelsPath);
  const files = listImages(folder).filter((f) => join(folder, f) !== labelsPath);
  if (files.length === 0) throw new DatasetError(folder, undefined, "no images found");
  const nonPng = files.find((f) => extname(f).toLowerCase() !== ".png");
  if (nonPng) throw new DatasetError(folder, nonPng, "only PNG input is supported");
  const unlabelled = files.filter((f) => !labels.has(f));
  if (unlabelled.length > 0) {
    throw new DatasetError(labelsPath, unlabelled[0], "image has no label");
  }
  const fileSet = new Set(files);
  const orphan = [...labels.keys()].find((name) => !fileSet.has(name));
  if (orphan !== undefined) {
    throw new DatasetError(labelsPath, orphan, "labelled, but no such image in the folder");
  }

  const resolution = options.resolution ?? await defaultResolution(folder, files);
  if (!isPowerOfTwo(resolution)) {
    throw new DatasetError(outZip, undefined, `resolution ${resolution} is not a power of two`);
  }
  const writer = await DatasetWriter.create(outZip);
  try {
    for (const [i, file] of files.entries()) {
      const image = await readPngFile(join(folder, file)).catch((err) => {
        throw new DatasetError(join(folder, file), undefined, stripSource(err, join(folder, file)));
      });
      const square = resizeImage(centerCropSquare(toRgb(image)), resolution, resolution);
      await writer.addImage(pngName(file), square, labels.get(file)!);
      options.onProgress?.(i + 1, files.length);
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return { path: outZip, imageCount: files.length, resolution };
}

function findLabelsFile(folder: string): string {
  for (const name of ["labels.json", LABELS_FILE]) {
    if (existsSync(join(folder, name))) return join(folder, name);
  }
  throw new DatasetError(
    folder,
    undefined,
    "no labels.json or dataset.json (pass the labels file)",
  );
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new DatasetError(
      path,
      undefined,
      err instanceof Deno.errors.NotFound ? "no such file" : String(err),
    );
  }
}

/** Image files under `folder`, as sorted relative paths with "/" separators. */
function listImages(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else if (entry.isFile && isImageName(entry.name)) {
        out.push(relative(folder, path).split(sep).join("/"));
      }
    }
  };
  try {
    walk(folder);
  } catch (err) {
    throw new DatasetError(
      folder,
      undefined,
      err instanceof Deno.errors.NotFound ? "no such folder" : String(err),
    );
  }
  return out.sort();
}

/** Largest power of two not above the smallest side, from the PNG headers (IHDR). */
async function defaultResolution(folder: string, files: readonly string[]): Promise<number> {
  let smallest = Infinity;
  for (const file of files) {
    using handle = await Deno.open(join(folder, file));
    const header = new Uint8Array(24);
    const n = await handle.read(header);
    if (n !== 24) {
      throw new DatasetError(join(folder, file), undefined, "not a valid PNG (too short)");
    }
    const view = new DataView(header.buffer);
    smallest = Math.min(smallest, view.getUint32(16), view.getUint32(20));
  }
  if (!(smallest >= 1)) throw new DatasetError(folder, undefined, "images have no pixels");
  return 2 ** Math.floor(Math.log2(smallest));
}

function pngName(file: string): string {
  return file.slice(0, file.length - extname(file).length) + ".png";
}

function stripSource(err: unknown, source: string): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith(`${source}: `) ? message.slice(source.length + 2) : message;
}
