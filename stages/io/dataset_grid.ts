/**
 * A preview sheet of a dataset: its first images tiled into one PNG.
 * @module
 */
import { ImageDataset } from "./dataset_reader.ts";
import { makeImageGrid } from "./image_grid.ts";
import { toRgb } from "./image_resize.ts";
import { type PixelImage, writePngFile } from "./png.ts";

/** Options for `datasetGrid`. */
export interface DatasetGridOptions {
  /** Images to show (the first ones); default 64. */
  count?: number;
  /** Images per row; default ⌈√count⌉. */
  columns?: number;
  /** Pixels between images; default 2. */
  padding?: number;
}

/** Builds the preview grid image of a dataset zip. */
export async function datasetGridImage(
  path: string,
  options: DatasetGridOptions = {},
): Promise<PixelImage> {
  using dataset = await ImageDataset.open(path);
  const count = Math.min(options.count ?? 64, dataset.imageCount);
  const images: PixelImage[] = [];
  for (let i = 0; i < count; i++) images.push(toRgb(await dataset.readImage(i)));
  return makeImageGrid(images, { columns: options.columns, padding: options.padding ?? 2 });
}

/** Writes the preview grid of a dataset zip to `outPng` (atomically). */
export async function datasetGrid(
  path: string,
  outPng: string,
  options: DatasetGridOptions = {},
): Promise<void> {
  await writePngFile(outPng, await datasetGridImage(path, options));
}
