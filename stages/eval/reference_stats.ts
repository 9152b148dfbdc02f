/**
 * The `reference-stats` stage: a dataset's FID Inception features and their
 * float64 mean/covariance, computed once per (dataset artifact, weight file)
 * — its key holds the data artifact id and the weights' content hash — and
 * shared by every eval of every model trained on that dataset.
 *
 * As `fid50k_full` defines the reference: every image of the dataset, no
 * x-flip copies. Without a weight file the stage still succeeds and records
 * why there are no statistics, so the DAG's shape does not depend on a user
 * file and eval reports FID/KID as unavailable with that reason.
 *
 * Output: `reference.json` (availability, counts, weights hash) and, when
 * available, `reference.safetensors` with `mu` [2048] F64, `sigma`
 * [2048, 2048] F64 and `features` [N, 2048] F32 (KID needs the features).
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { readSafetensors } from "../../kernels/mod.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { writeFileAtomic } from "../../pipeline/atomic_fs.ts";
import { ImageDataset } from "../io/dataset_reader.ts";
import type { PixelImage } from "../io/png.ts";
import { PREP_OUTS } from "../prep/outs.ts";
import { REFERENCE_OPTIONAL_OUTS, REFERENCE_OUTS } from "./outs.ts";
import { type FeatureMatrix, type FeatureStatistics, featureStatistics } from "./frechet.ts";
import { type FeatureExtractor, inceptionExtractor } from "./fid_kid.ts";
import { loadInceptionWeights } from "./inception.ts";
import { FID_INCEPTION } from "../weights/registry.ts";
import {
  inceptionKeying,
  inceptionWeightsFile,
  inceptionWeightsSchema,
} from "./inception_weights.ts";

/** The one weight file FID numbers are comparable under. */
export const INCEPTION_WEIGHTS_NAME = FID_INCEPTION.fileName;

/** Why FID/KID cannot be computed without weights (shown in metrics and the report). */
export const NO_WEIGHTS_REASON =
  `no FID Inception weights chosen: --set eval.inceptionWeights=auto downloads pytorch-fid's ` +
  `${INCEPTION_WEIGHTS_NAME} on first use (or give the path of a copy)`;

/** Config the stage reads (a subset of the eval section: extra keys are ignored). */
export const referenceStatsSchema = z.object({
  ...inceptionWeightsSchema,
  /** Reference images (0 = the whole dataset, as FID50k_full). */
  referenceImages: z.number().int().nonnegative().default(0),
});

/** Images per Inception call. */
const BATCH = 8;

/** Reads up to `maxImages` images (0 = all) of a dataset zip and extracts their features. */
export async function datasetFeatures(
  datasetPath: string,
  extract: FeatureExtractor,
  { maxImages = 0, batch = BATCH, onProgress }: {
    maxImages?: number;
    batch?: number;
    onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<FeatureMatrix> {
  using dataset = await ImageDataset.open(datasetPath);
  const total = maxImages > 0 ? Math.min(maxImages, dataset.imageCount) : dataset.imageCount;
  let data: Float32Array | null = null;
  let cols = 0;
  for (let start = 0; start < total; start += batch) {
    const images: PixelImage[] = [];
    for (let i = start; i < Math.min(total, start + batch); i++) {
      images.push(await dataset.readImage(i));
    }
    const features = await extract(images);
    cols = features.cols;
    data ??= new Float32Array(total * cols);
    data.set(Float32Array.from(features.data), start * cols);
    onProgress?.(start + images.length, total);
  }
  return { data: data ?? new Float32Array(0), rows: total, cols };
}

/** What a reference artifact holds. */
export type ReferenceStatistics =
  | {
    available: true;
    statistics: FeatureStatistics;
    features: FeatureMatrix;
    /** sha256 of the weight file the features came from. */
    weightsSha256: string;
    /** Images in the dataset (the reference may use fewer). */
    datasetImages: number;
  }
  | { available: false; reason: string; datasetImages: number };

/** Writes a reference artifact into `outDir`. */
export async function writeReference(
  outDir: string,
  reference: ReferenceStatistics,
): Promise<void> {
  if (reference.available) {
    const { statistics, features } = reference;
    await writeFileAtomic(
      join(outDir, REFERENCE_OUTS.tensors),
      encodeTensors({
        mu: { dtype: "F64", shape: [statistics.dim], data: statistics.mu },
        sigma: { dtype: "F64", shape: [statistics.dim, statistics.dim], data: statistics.sigma },
        features: {
          dtype: "F32",
          shape: [features.rows, features.cols],
          data: Float32Array.from(features.data),
        },
      }),
    );
  }
  const summary = reference.available
    ? {
      available: true,
      count: reference.features.rows,
      dim: reference.statistics.dim,
      datasetImages: reference.datasetImages,
      inceptionWeightsSha256: reference.weightsSha256,
    }
    : { available: false, reason: reference.reason, datasetImages: reference.datasetImages };
  await writeFileAtomic(
    join(outDir, REFERENCE_OUTS.summary),
    JSON.stringify(summary, null, 2) + "\n",
  );
}

/** Reads a reference artifact written by `writeReference`. */
export async function readReference(dir: string): Promise<ReferenceStatistics> {
  const summary = JSON.parse(await Deno.readTextFile(join(dir, REFERENCE_OUTS.summary)));
  if (!summary.available) {
    return { available: false, reason: summary.reason, datasetImages: summary.datasetImages };
  }
  const file = await readSafetensors(join(dir, REFERENCE_OUTS.tensors));
  const get = (name: string) => {
    const t = file.tensors.get(name);
    if (!t) throw new Error(`${dir}: ${REFERENCE_OUTS.tensors} has no "${name}"`);
    return t;
  };
  const features = get("features");
  const dim = get("mu").shape[0];
  return {
    available: true,
    statistics: {
      mu: Float64Array.from(get("mu").data),
      sigma: Float64Array.from(get("sigma").data),
      dim,
      count: summary.count,
    },
    features: { data: features.data, rows: features.shape[0], cols: features.shape[1] },
    weightsSha256: summary.inceptionWeightsSha256,
    datasetImages: summary.datasetImages,
  };
}

/** The reference-statistics stage: inputs `{ data: <prep artifact> }`. */
export const referenceStats = defineStage({
  name: "reference-stats",
  // The code version is this module's import closure (pipeline/import_closure.ts).
  sources: [import.meta.url],
  config: referenceStatsSchema,
  inputs: ["data"],
  outs: REFERENCE_OUTS,
  optionalOuts: REFERENCE_OPTIONAL_OUTS,
  seeded: false,
  ...inceptionKeying,
  async run(ctx) {
    const datasetPath = join(ctx.inputs.data, PREP_OUTS.dataset);
    const datasetImages = await countImages(datasetPath);
    if (!ctx.config.inceptionWeights) {
      ctx.log("reference statistics unavailable", { reason: NO_WEIGHTS_REASON });
      await writeReference(ctx.outDir, {
        available: false,
        reason: NO_WEIGHTS_REASON,
        datasetImages,
      });
      return;
    }
    const weightsFile = await inceptionWeightsFile(ctx.config, ctx);
    const weightsSha256 = await ctx.hashFile(weightsFile);
    const net = await loadInceptionWeights(weightsFile);
    const total = ctx.config.referenceImages > 0
      ? Math.min(ctx.config.referenceImages, datasetImages)
      : datasetImages;
    const bar = ctx.progress(total, "img");
    const features = await datasetFeatures(datasetPath, inceptionExtractor(net), {
      maxImages: ctx.config.referenceImages,
      onProgress: (done) => bar.update(done),
    });
    bar.stop();
    await writeReference(ctx.outDir, {
      available: true,
      statistics: featureStatistics(features),
      features,
      weightsSha256,
      datasetImages,
    });
  },
});

async function countImages(datasetPath: string): Promise<number> {
  using dataset = await ImageDataset.open(datasetPath);
  return dataset.imageCount;
}

interface RawTensor {
  dtype: "F32" | "F64";
  shape: number[];
  data: Float32Array | Float64Array;
}

/** safetensors bytes with F64 support (the kernels' writer stores F32/I64 only). */
function encodeTensors(tensors: Record<string, RawTensor>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8); // data 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    // Little-endian hosts only (every WebGPU platform we target).
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}
