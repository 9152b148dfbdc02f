/**
 * Full validation of a dataset zip: structure and labels (as `ImageDataset.open`
 * checks them), then every image decoded and compared with the first.
 * @module
 */
import { DatasetError } from "./dataset_error.ts";
import { ImageDataset } from "./dataset_reader.ts";
import { isPowerOfTwo } from "./dataset_writer.ts";

/** What a successful check found. */
export interface DatasetCheckReport {
  readonly path: string;
  readonly imageCount: number;
  readonly resolution: number;
  readonly channels: number;
}

/**
 * Validates every image and label of a dataset zip; throws `DatasetError` (one
 * line naming the zip and the entry) at the first problem.
 * `onProgress(done, total)` is called after each image.
 */
export async function checkDataset(
  path: string,
  onProgress?: (done: number, total: number) => void,
): Promise<DatasetCheckReport> {
  using dataset = await ImageDataset.open(path);
  if (!isPowerOfTwo(dataset.resolution)) {
    throw new DatasetError(
      path,
      dataset.imageNames[0],
      `resolution ${dataset.resolution} is not a power of two (EG3D needs 2^k)`,
    );
  }
  for (let i = 0; i < dataset.imageCount; i++) {
    await dataset.readImage(i);
    onProgress?.(i + 1, dataset.imageCount);
  }
  return {
    path,
    imageCount: dataset.imageCount,
    resolution: dataset.resolution,
    channels: dataset.channels,
  };
}
