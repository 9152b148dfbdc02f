/**
 * Writing dataset zips in the `dataset_tool` format: PNG entries (stored, as
 * dataset_tool does, since PNG is already compressed) and `dataset.json`.
 * Images stream to disk as they are added; the zip appears at its path only
 * when `finish` succeeds.
 * @module
 */
import { DatasetError } from "./dataset_error.ts";
import { checkLabel, formatLabelsJson, LABELS_FILE } from "./dataset_labels.ts";
import { isImageName } from "./dataset_reader.ts";
import { checkImageShape, encodePng, type PixelImage } from "./png.ts";
import { ZipWriter } from "./zip_writer.ts";

/** An image to store under `name` with its camera label. */
export interface LabelledImage {
  readonly name: string;
  readonly image: PixelImage;
  readonly label: readonly number[];
}

/** Builds a dataset zip image by image. */
export class DatasetWriter {
  readonly #labels: [string, number[]][] = [];
  #shape: { resolution: number; channels: number; firstName: string } | null = null;

  private constructor(readonly path: string, private readonly zip: ZipWriter) {}

  /** Starts a dataset zip that appears at `path` when `finish` succeeds. */
  static async create(path: string): Promise<DatasetWriter> {
    return new DatasetWriter(path, await ZipWriter.create(path));
  }

  /** Images added so far. */
  get count(): number {
    return this.#labels.length;
  }

  /**
   * Adds one image (must be square, power-of-two sized, RGB or gray, the same
   * shape as the first) and its 25-number camera label, as `name` (a .png name).
   */
  async addImage(name: string, image: PixelImage, label: readonly number[]): Promise<void> {
    if (!name.toLowerCase().endsWith(".png")) {
      throw new DatasetError(this.path, name, "image entries must be .png");
    }
    checkImageShape(image, `${this.path}: ${name}`);
    if (image.width !== image.height) {
      throw new DatasetError(
        this.path,
        name,
        `image is ${image.width}×${image.height}, not square`,
      );
    }
    if (!isPowerOfTwo(image.width)) {
      throw new DatasetError(this.path, name, `resolution ${image.width} is not a power of two`);
    }
    if (image.channels !== 1 && image.channels !== 3) {
      throw new DatasetError(this.path, name, `${image.channels} channels (expected 1 or 3)`);
    }
    if (this.#shape === null) {
      this.#shape = { resolution: image.width, channels: image.channels, firstName: name };
    } else if (image.width !== this.#shape.resolution || image.channels !== this.#shape.channels) {
      const s = this.#shape;
      throw new DatasetError(
        this.path,
        name,
        `${image.width}²×${image.channels} differs from ${s.firstName} (${s.resolution}²×${s.channels})`,
      );
    }
    const checked = checkLabel([...label], this.path, name);
    await this.zip.add(name, encodePng(image), "store");
    this.#labels.push([name, checked]);
  }

  /** Adds a non-image file (ground truth, metadata); its name must not look like an image. */
  async addFile(name: string, data: Uint8Array): Promise<void> {
    if (isImageName(name)) {
      throw new DatasetError(
        this.path,
        name,
        "extra files must not have image extensions " +
          "(EG3D would read them as training images)",
      );
    }
    if (name === LABELS_FILE) throw new DatasetError(this.path, name, "written by finish()");
    await this.zip.add(name, data, "deflate");
  }

  /** Writes `dataset.json` and moves the finished zip into place. */
  async finish(): Promise<void> {
    if (this.#labels.length === 0) {
      await this.zip.abort();
      throw new DatasetError(this.path, undefined, "no images were added");
    }
    await this.zip.add(LABELS_FILE, new TextEncoder().encode(formatLabelsJson(this.#labels)));
    await this.zip.finish();
  }

  /** Discards everything written; nothing appears at `path`. */
  abort(): Promise<void> {
    return this.zip.abort();
  }
}

/** Whether `n` is a positive integer power of two. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * Writes a dataset zip from items, all or nothing: any bad item aborts and
 * leaves nothing at `path`.
 */
export async function writeDataset(
  path: string,
  items: Iterable<LabelledImage> | AsyncIterable<LabelledImage>,
): Promise<void> {
  const writer = await DatasetWriter.create(path);
  try {
    for await (const item of items) await writer.addImage(item.name, item.image, item.label);
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
