/**
 * Image grids: N same-sized images tiled row by row into one image, for
 * previews and sample sheets.
 * @module
 */
import type { PixelImage } from "./png.ts";

/** Layout options for `makeImageGrid`. */
export interface ImageGridOptions {
  /** Images per row; default ⌈√N⌉. */
  columns?: number;
  /** Pixels between cells and around the border; default 0. */
  padding?: number;
  /** Fill of padding and empty cells, one value per channel (or one for all); default 255. */
  background?: number | readonly number[];
}

/**
 * Tiles images (all the same width, height and channels) into a grid, left to
 * right then top to bottom.
 */
export function makeImageGrid(
  images: readonly PixelImage[],
  options: ImageGridOptions = {},
): PixelImage {
  if (images.length === 0) throw new Error("makeImageGrid: no images");
  const { width, height, channels } = images[0];
  images.forEach((image, i) => {
    if (image.width !== width || image.height !== height || image.channels !== channels) {
      throw new Error(
        `makeImageGrid: image ${i} is ${image.width}×${image.height}×${image.channels}, ` +
          `image 0 is ${width}×${height}×${channels}`,
      );
    }
  });
  const columns = options.columns ?? Math.ceil(Math.sqrt(images.length));
  const rows = Math.ceil(images.length / columns);
  const padding = options.padding ?? 0;
  const background = options.background ?? 255;
  const fill = typeof background === "number"
    ? new Array<number>(channels).fill(background)
    : background;
  if (fill.length !== channels) {
    throw new Error(`makeImageGrid: background needs ${channels} values`);
  }

  const gridWidth = columns * width + (columns + 1) * padding;
  const gridHeight = rows * height + (rows + 1) * padding;
  const data = new Uint8Array(gridWidth * gridHeight * channels);
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < channels; c++) data[i + c] = fill[c];
  }
  const rowBytes = width * channels;
  images.forEach((image, i) => {
    const left = padding + (i % columns) * (width + padding);
    const top = padding + Math.floor(i / columns) * (height + padding);
    for (let y = 0; y < height; y++) {
      const from = y * rowBytes;
      data.set(
        image.data.subarray(from, from + rowBytes),
        ((top + y) * gridWidth + left) * channels,
      );
    }
  });
  return { width: gridWidth, height: gridHeight, channels, data };
}
