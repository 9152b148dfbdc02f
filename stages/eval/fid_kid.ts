/**
 * FID and KID of a generator against a dataset's reference features, as
 * EG3D's metrics compute them: generated images from random latents at
 * random *dataset* cameras (the camera conditions the mapping and places the
 * renderer), quantised to 8 bits, through the FID Inception network; the
 * Fréchet distance of the two Gaussians in float64 and the KID of the raw features.
 *
 * The feature extractor is a parameter: the stage passes the Inception
 * network built from the user's weight file; tests pass small stand-ins.
 * Metric numbers carry their protocol (counts, branch) with them, and the
 * paper's name `fid50k_full` is used only for 50 000 generated images
 * against every dataset image.
 * @module
 */
import { noGrad, scope, Tensor } from "../../kernels/mod.ts";
import type { PixelImage } from "../io/png.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { SeededRng } from "../prep/seeded_rng.ts";
import {
  type FeatureMatrix,
  type FeatureStatistics,
  featureStatistics,
  frechetDistance,
  kernelInceptionDistance,
} from "./frechet.ts";
import type { FidInceptionV3 } from "./inception.ts";
import { type Branch, SampleBatch, viewToPixels } from "./sample_render.ts";

/** Images → one feature row per image. */
export type FeatureExtractor = (images: readonly PixelImage[]) => Promise<FeatureMatrix>;

/** The FID protocol the paper reports: 50k generated images against the full dataset. */
export const PAPER_FID_GENERATED = 50_000;

/** Runs 8-bit images (1 or 3 channels) through the FID Inception network: [N, 2048] pool3 features. */
export function inceptionExtractor(net: FidInceptionV3): FeatureExtractor {
  return async (images) => {
    const n = images.length;
    const { width, height } = images[0];
    const plane = width * height;
    const input = new Float32Array(n * 3 * plane);
    images.forEach((image, k) => {
      if (image.width !== width || image.height !== height) {
        throw new Error(
          `FID: image ${k} is ${image.width}×${image.height}, not ${width}×${height}`,
        );
      }
      for (let c = 0; c < 3; c++) {
        const source = image.channels === 1 ? 0 : c; // grey images: the same channel thrice
        for (let i = 0; i < plane; i++) {
          input[(k * 3 + c) * plane + i] = image.data[i * image.channels + source] / 255;
        }
      }
    });
    const features = noGrad(() =>
      scope(() => net.forward(Tensor.fromData(input, [n, 3, height, width])))
    );
    try {
      return { data: await features.read(), rows: n, cols: features.shape[1] };
    } finally {
      features.dispose();
    }
  };
}

/** Latents and dataset cameras of the generated set, drawn from one seeded stream. */
export interface GenerationInputs {
  /** count × zDim standard normals. */
  z: Float64Array;
  /** One dataset label per sample (conditioning and rendering camera). */
  cameras: number[][];
}

/**
 * Draws `count` (camera, z) pairs: per sample a uniformly random dataset label,
 * then zDim normals. Sample i depends only on (seed, i), so a run with more
 * samples extends a smaller one.
 */
export function drawGenerationInputs(
  labels: readonly (readonly number[])[],
  count: number,
  zDim: number,
  seed: number,
): GenerationInputs {
  if (labels.length === 0) throw new Error("no dataset cameras to draw from");
  const z = new Float64Array(count * zDim);
  const cameras: number[][] = [];
  for (let i = 0; i < count; i++) {
    const rng = SeededRng.forItem(seed, i);
    cameras.push([...labels[rng.int(labels.length)]]);
    for (let j = 0; j < zDim; j++) z[i * zDim + j] = rng.normal();
  }
  return { z, cameras };
}

/** Options of `generatedFeatures`. */
export interface GeneratedFeatureOptions {
  branch: Branch;
  /** Samples per generator call. */
  batch: number;
  truncationPsi: number;
  renderSeed: number;
  /** Called with the number of images done. */
  onProgress?: (done: number) => void;
}

/** Generates the images of `inputs` through `branch` and extracts their features (one pass, streamed). */
export async function generatedFeatures(
  g: TriplaneGenerator,
  extract: FeatureExtractor,
  inputs: GenerationInputs,
  options: GeneratedFeatureOptions,
): Promise<FeatureMatrix> {
  const count = inputs.cameras.length;
  const zDim = g.config.zDim;
  let rows: Float32Array | null = null;
  let cols = 0;
  for (let start = 0; start < count; start += options.batch) {
    const end = Math.min(count, start + options.batch);
    const cameras = inputs.cameras.slice(start, end);
    const batch = SampleBatch.create(g, inputs.z.subarray(start * zDim, end * zDim), cameras, {
      truncationPsi: options.truncationPsi,
      renderSeed: options.renderSeed + start,
    });
    try {
      const views = await batch.render(cameras, options.branch);
      const features = await extract(views.map(viewToPixels));
      cols = features.cols;
      rows ??= new Float32Array(count * cols);
      rows.set(Float32Array.from(features.data), start * cols);
    } finally {
      batch.dispose();
    }
    options.onProgress?.(end);
  }
  return { data: rows ?? new Float32Array(0), rows: count, cols };
}

/** A metric entry of `metrics.json`: a value with what it was measured on, or why it is missing. */
export type MetricEntry =
  | ({ value: number } & Record<string, unknown>)
  | { unavailable: string };

/** Whether a metric entry says why it is missing (rather than holding a value). */
export function isUnavailable(entry: MetricEntry): entry is { unavailable: string } {
  return typeof (entry as { unavailable?: unknown }).unavailable === "string";
}

/** FID and KID of one branch, with their protocol. */
export interface FidKidResult {
  fid: MetricEntry;
  kid: MetricEntry;
}

/** FID (Fréchet distance of the statistics) and KID of generated vs reference features. */
export function fidAndKid(
  generated: FeatureMatrix,
  reference: { statistics: FeatureStatistics; features: FeatureMatrix },
  protocol: Record<string, unknown>,
  kidSeed: number,
): FidKidResult {
  const details = { generated: generated.rows, real: reference.features.rows, ...protocol };
  const fid: MetricEntry = generated.rows >= 2
    ? { value: frechetDistance(featureStatistics(generated), reference.statistics), ...details }
    : { unavailable: `FID needs at least 2 generated images, got ${generated.rows}` };
  const m = Math.min(generated.rows, reference.features.rows, 1000);
  const kid: MetricEntry = m >= 2
    ? {
      value: kernelInceptionDistance(generated, reference.features, {
        numSubsets: 100,
        maxSubsetSize: 1000,
        seed: kidSeed,
      }),
      ...details,
      subsets: 100,
      subsetSize: m,
    }
    : { unavailable: `KID needs at least 2 images per set, got ${m}` };
  return { fid, kid };
}

/**
 * The paper's `fid50k_full` from a measured FID entry: the same number when
 * the protocol matches (50 000 generated, every dataset image as reference),
 * otherwise unavailable with the protocol that was run.
 */
export function paperProtocolFid(fid: MetricEntry, datasetImages: number): MetricEntry {
  if (isUnavailable(fid)) return fid;
  const generated = fid.generated as number;
  const real = fid.real as number;
  if (generated === PAPER_FID_GENERATED && real === datasetImages) return fid;
  return {
    unavailable: `FID50k_full needs ${PAPER_FID_GENERATED} generated images against all ` +
      `${datasetImages} dataset images; this run measured ${generated} against ${real} ` +
      `(see "fid_${fid.branch}")`,
  };
}
