/**
 * Reading EG3D/StyleGAN `dataset_tool` zips: PNG images plus `dataset.json`
 * camera labels, with EG3D's optional x-flip augmentation (the dataset doubles;
 * item N + i is image i mirrored, with the mirrored camera label).
 *
 * Opening reads only the zip's central directory, the labels and the first
 * image; images are read and decoded on demand.
 * @module
 */
import { extname } from "node:path";
import { flipCameraLabel } from "./camera_label.ts";
import { DatasetError } from "./dataset_error.ts";
import { LABELS_FILE, parseLabelsJson } from "./dataset_labels.ts";
import { decodePng, type PixelImage } from "./png.ts";
import { ZipError, ZipReader } from "./zip_reader.ts";

/** File extensions EG3D's reader treats as images (PIL's list, the common part). */
const IMAGE_EXTENSIONS = new Set([
  ".png",
  ".jpg",
  ".jpeg",
  ".bmp",
  ".gif",
  ".tif",
  ".tiff",
  ".webp",
]);

/** Whether `name` is an image by extension, as EG3D's reader decides it. */
export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** One dataset item: the image (HWC bytes) and its camera label. */
export interface DatasetItem {
  /** Entry name of the source image in the zip. */
  readonly name: string;
  readonly image: PixelImage;
  readonly label: number[];
  /** Whether this item is the x-flipped copy. */
  readonly xflip: boolean;
}

/** Options for `ImageDataset.open`. */
export interface OpenDatasetOptions {
  /** Double the dataset with mirrored copies (EG3D `--mirror`). */
  xflip?: boolean;
}

/** An open dataset zip. Close it (or `using`) when done. */
export class ImageDataset {
  private constructor(
    readonly path: string,
    private readonly zip: ZipReader,
    /** Image entry names, sorted as EG3D sorts them. */
    readonly imageNames: readonly string[],
    /** Labels aligned with `imageNames`. */
    readonly labels: readonly (readonly number[])[],
    readonly resolution: number,
    readonly channels: number,
    readonly xflip: boolean,
  ) {}

  /**
   * Opens a dataset zip and checks its structure: every image is a PNG, the
   * labels cover exactly the images, every label is 25 finite numbers, and the
   * first image is square with 1 or 3 channels. Throws `DatasetError`.
   */
  static async open(path: string, options: OpenDatasetOptions = {}): Promise<ImageDataset> {
    let zip: ZipReader;
    try {
      zip = await ZipReader.open(path);
    } catch (err) {
      if (err instanceof ZipError) throw new DatasetError(path, undefined, stripPath(err, path));
      if (err instanceof Deno.errors.NotFound) {
        throw new DatasetError(path, undefined, "no such file");
      }
      if (err instanceof Deno.errors.IsADirectory) {
        throw new DatasetError(path, undefined, "a directory, not a dataset zip");
      }
      throw err;
    }
    try {
      const imageNames = zip.names.filter(isImageName).sort();
      if (imageNames.length === 0) throw new DatasetError(path, undefined, "no images in the zip");
      const nonPng = imageNames.find((name) => extname(name).toLowerCase() !== ".png");
      if (nonPng) throw new DatasetError(path, nonPng, "only PNG images are supported");
      if (!zip.has(LABELS_FILE)) {
        throw new DatasetError(path, LABELS_FILE, "missing: camera labels are required");
      }
      const labelMap = parseLabelsJson(
        await readEntry(zip, LABELS_FILE),
        `${path}: ${LABELS_FILE}`,
      );
      const unlabelled = imageNames.filter((name) => !labelMap.has(name));
      if (unlabelled.length > 0) {
        throw new DatasetError(
          path,
          unlabelled[0],
          `has no label in ${LABELS_FILE}` + more(unlabelled),
        );
      }
      const imageSet = new Set(imageNames);
      const orphans = [...labelMap.keys()].filter((name) => !imageSet.has(name));
      if (orphans.length > 0) {
        throw new DatasetError(
          path,
          LABELS_FILE,
          `label for ${orphans[0]}, which is not an image in the zip` + more(orphans),
        );
      }
      const first = await decodeEntry(zip, path, imageNames[0]);
      checkSquareImage(first, path, imageNames[0]);
      const labels = imageNames.map((name) => labelMap.get(name)!);
      return new ImageDataset(
        path,
        zip,
        imageNames,
        labels,
        first.width,
        first.channels,
        options.xflip ?? false,
      );
    } catch (err) {
      zip.close();
      throw err;
    }
  }

  /** Images in the zip (without x-flip copies). */
  get imageCount(): number {
    return this.imageNames.length;
  }

  /** Items, counting the x-flip copies when enabled. */
  get length(): number {
    return this.imageCount * (this.xflip ? 2 : 1);
  }

  /** Reads and decodes image `rawIndex`, checking it matches the dataset's shape. */
  async readImage(rawIndex: number): Promise<PixelImage> {
    const name = this.imageNames[rawIndex];
    if (name === undefined) throw new RangeError(`image index ${rawIndex} out of range`);
    const image = await decodeEntry(
      this.zip,
      this.path,
      name,
      maxPngBytes(this.resolution, this.channels),
    );
    checkSquareImage(image, this.path, name);
    if (image.width !== this.resolution) {
      throw new DatasetError(
        this.path,
        name,
        `resolution ${image.width}×${image.height}, but ${this.imageNames[0]} is ` +
          `${this.resolution}×${this.resolution} (mixed resolutions)`,
      );
    }
    if (image.channels !== this.channels) {
      throw new DatasetError(
        this.path,
        name,
        `${image.channels} channels, but ${
          this.imageNames[0]
        } has ${this.channels} (mixed channel counts)`,
      );
    }
    return image;
  }

  /** Item `index` (in [0, length)): image and label, mirrored for the x-flip half. */
  async item(index: number): Promise<DatasetItem> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`item index ${index} out of range [0, ${this.length})`);
    }
    const xflip = index >= this.imageCount;
    const rawIndex = xflip ? index - this.imageCount : index;
    const image = await this.readImage(rawIndex);
    const label = [...this.labels[rawIndex]];
    return {
      name: this.imageNames[rawIndex],
      image: xflip ? flipImageHorizontally(image) : image,
      label: xflip ? flipCameraLabel(label) : label,
      xflip,
    };
  }

  /** Reads any other entry of the zip (e.g. ground truth stored beside the images). */
  readEntry(name: string): Promise<Uint8Array> {
    return this.zip.read(name);
  }

  /** Entry names of the whole zip. */
  get entryNames(): string[] {
    return this.zip.names;
  }

  /** Closes the zip file. */
  close(): void {
    this.zip.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Mirrors an image left–right (EG3D: `image[:, :, ::-1]` on CHW). */
export function flipImageHorizontally(image: PixelImage): PixelImage {
  const { width, height, channels, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * channels;
      const to = (y * width + (width - 1 - x)) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c];
    }
  }
  return { width, height, channels, data: out };
}

function checkSquareImage(image: PixelImage, path: string, name: string): void {
  if (image.width !== image.height) {
    throw new DatasetError(path, name, `image is ${image.width}×${image.height}, not square`);
  }
  if (image.channels !== 1 && image.channels !== 3) {
    throw new DatasetError(
      path,
      name,
      `${image.channels} channels; dataset images must be RGB (3) or grayscale (1)`,
    );
  }
}

async function readEntry(zip: ZipReader, name: string): Promise<string> {
  try {
    return await zip.readText(name);
  } catch (err) {
    if (err instanceof ZipError) {
      throw new DatasetError(zip.path, name, stripPath(err, zip.path, name));
    }
    throw err;
  }
}

/**
 * The most bytes a PNG of the dataset's resolution and channels can take: its raw 16-bit
 * scanlines, doubled for deflate's stored blocks, chunk headers and metadata, plus 1 MiB. A
 * larger entry is refused before it is inflated.
 */
function maxPngBytes(resolution: number, channels: number): number {
  return 2 * resolution * (1 + resolution * channels * 2) + 2 ** 20;
}

async function decodeEntry(
  zip: ZipReader,
  path: string,
  name: string,
  maxBytes?: number,
): Promise<PixelImage> {
  let bytes: Uint8Array;
  try {
    bytes = await zip.read(name, maxBytes);
  } catch (err) {
    if (err instanceof ZipError) throw new DatasetError(path, name, stripPath(err, path, name));
    throw err;
  }
  try {
    return decodePng(bytes, name);
  } catch (err) {
    throw new DatasetError(path, name, (err as Error).message.replace(`${name}: `, ""));
  }
}

/** ZipError messages already name the zip (and entry); DatasetError adds them itself. */
function stripPath(err: Error, path: string, entry?: string): string {
  const prefix = entry === undefined ? `${path}: ` : `${path}: entry ${entry}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

function more(list: readonly unknown[]): string {
  return list.length > 1 ? ` (and ${list.length - 1} more)` : "";
}
