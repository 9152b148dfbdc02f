/**
 * Minibatches of real images for training: the dataset zip (x-flipped copies
 * included when asked), shuffled anew every epoch by a permutation derived
 * from (seed, epoch), so batch k is a pure function of (seed, k) and a resumed
 * run sees the same images without saving loader state. Images go to the GPU
 * as float NCHW in [−1, 1] (x/127.5 − 1), labels as [N, 25].
 *
 * Small datasets are decoded once and kept in memory; larger ones are decoded
 * on demand. A process loads only its part of each global batch (all of it
 * for one process; the order is the same for every split).
 * @module
 */
import { Tensor } from "../../kernels/mod.ts";
import { ImageDataset } from "../io/dataset_reader.ts";
import { flipCameraLabel } from "../io/camera_label.ts";
import type { PixelImage } from "../io/png.ts";
import { SeededRng } from "../prep/seeded_rng.ts";
import { type BatchPart, wholeBatch } from "./batch_part.ts";

/** Decoded images kept in memory up to this many bytes. */
const CACHE_BYTES = 1 << 30;

/** A batch on the device. */
export interface RealBatch {
  /** [N, 3, R, R] in [−1, 1]. */
  images: Tensor;
  /** [N, 25] camera labels. */
  labels: Tensor;
}

/** The training set as a stream of seeded, shuffled batches. */
export class TrainingData {
  private readonly cache = new Map<number, PixelImage>();
  private readonly cacheAll: boolean;
  private permutationEpoch = -1;
  private permutation: Uint32Array = new Uint32Array(0);

  private constructor(
    private readonly dataset: ImageDataset,
    readonly seed: number,
    readonly batch: number,
    readonly part: BatchPart,
  ) {
    const bytes = dataset.imageCount * dataset.resolution ** 2 * 3;
    this.cacheAll = bytes <= CACHE_BYTES;
  }

  /**
   * Opens `dataset.zip` (mirrored copies added with `xflip`); `batch` is the global batch,
   * `part` this process's part of it (default: all of it).
   */
  static async open(
    path: string,
    options: { seed: number; batch: number; xflip: boolean; part?: BatchPart },
  ): Promise<TrainingData> {
    const dataset = await ImageDataset.open(path, { xflip: options.xflip });
    if (dataset.channels !== 3) {
      dataset.close();
      throw new Error(
        `${path}: training needs RGB images, this dataset has ${dataset.channels} channel(s)`,
      );
    }
    return new TrainingData(
      dataset,
      options.seed,
      options.batch,
      options.part ?? wholeBatch(options.batch),
    );
  }

  /** Image side. */
  get resolution(): number {
    return this.dataset.resolution;
  }

  /** Items (x-flipped copies counted). */
  get length(): number {
    return this.dataset.length;
  }

  /** Camera label of item `index` (mirrored for the x-flip half), without decoding its image. */
  label(index: number): number[] {
    const n = this.dataset.imageCount;
    const raw = this.dataset.labels[index % n];
    return index >= n ? flipCameraLabel(raw) : [...raw];
  }

  /** Dataset items of training batch `step`: positions step·N … step·N+N−1 of the epoch stream. */
  batchItems(step: number): number[] {
    const items: number[] = [];
    for (let k = 0; k < this.batch; k++) {
      const position = step * this.batch + k;
      const epoch = Math.floor(position / this.length);
      items.push(this.epochPermutation(epoch)[position % this.length]);
    }
    return items;
  }

  /** This process's part of training batch `step` uploaded to the GPU. */
  async batchAt(step: number): Promise<RealBatch> {
    const items = this.part.items(this.batchItems(step));
    const r = this.resolution;
    const plane = r * r;
    const pixels = new Float32Array(items.length * 3 * plane);
    const labels: number[] = [];
    for (let k = 0; k < items.length; k++) {
      const image = await this.image(items[k]);
      const base = k * 3 * plane;
      for (let i = 0; i < plane; i++) {
        for (let c = 0; c < 3; c++) {
          pixels[base + c * plane + i] = image.data[3 * i + c] / 127.5 - 1;
        }
      }
      labels.push(...this.label(items[k]));
    }
    // The batch is decoded while other work runs: it may be created while a training phase's
    // memory scope is open (its continuation lands in a phase's await). `keep` exempts it from
    // that scope; the training loop disposes it after its step.
    return {
      images: Tensor.fromData(pixels, [items.length, 3, r, r]).keep(),
      labels: Tensor.fromData(labels, [items.length, 25]).keep(),
    };
  }

  /** Closes the zip. */
  close(): void {
    this.dataset.close();
  }

  private async image(index: number): Promise<PixelImage> {
    const cached = this.cache.get(index);
    if (cached) return cached;
    const { image } = await this.dataset.item(index);
    if (this.cacheAll) this.cache.set(index, image);
    return image;
  }

  /** Fisher–Yates permutation of the items for `epoch`, from (seed, epoch). */
  private epochPermutation(epoch: number): Uint32Array {
    if (epoch === this.permutationEpoch) return this.permutation;
    const rng = SeededRng.forItem(this.seed, epoch);
    const p = Uint32Array.from({ length: this.length }, (_, i) => i);
    for (let i = p.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    this.permutationEpoch = epoch;
    this.permutation = p;
    return p;
  }
}
