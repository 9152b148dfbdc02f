/**
 * The embedded default dataset ("procedural"): single-view images of random
 * procedural heads, deterministic from a seed, written as an EG3D dataset zip
 * plus a ground-truth zip (depth, mask, object parameters) so geometry metrics
 * can be exact.
 *
 * Item i depends only on (seed, i): a small set is a prefix of a larger one.
 * @module
 */
import { join } from "node:path";
import type { LookAtCamera } from "../io/camera_label.ts";
import { DatasetWriter } from "../io/dataset_writer.ts";
import { decodeNpy, encodeNpy } from "../io/npy.ts";
import { encodePng } from "../io/png.ts";
import { ZipReader } from "../io/zip_reader.ts";
import { ZipWriter } from "../io/zip_writer.ts";
import { PREP_OUTS } from "./outs.ts";
import { type HeadParams, sampleHeadParams } from "./head_params.ts";
import { sampleFfhqLikeCamera } from "./procedural_camera.ts";
import { renderProcedural } from "./render_procedural.ts";
import { SeededRng } from "./seeded_rng.ts";

/** What to generate. */
export interface ProceduralSpec {
  /** Number of images. */
  count: number;
  /** Square resolution, a power of two (32…512 in practice; tests use less). */
  resolution: number;
  seed: number;
  /** Colour rays per pixel side (antialiasing); default 2. */
  supersample?: number;
}

/** One item before rendering: its object, camera and label. */
export interface ProceduralItem {
  readonly name: string;
  readonly params: HeadParams;
  readonly camera: LookAtCamera;
  readonly label: number[];
}

/** Entry names inside the ground-truth zip. */
export const GROUND_TRUTH_ENTRIES = {
  objects: "objects.json",
  depth: (imageName: string) => `depth/${stem(imageName)}.npy`,
  mask: (imageName: string) => `mask/${stem(imageName)}.png`,
} as const;

// Images rendered per GPU call: bounds memory at large resolutions.
const RENDER_CHUNK = 256;

/** The image name of item `index`, as dataset_tool names them. */
export function proceduralImageName(index: number): string {
  return `img${String(index).padStart(8, "0")}.png`;
}

/** Item `index` of the dataset seeded with `seed` (camera drawn first, then the head). */
export function proceduralItem(seed: number, index: number): ProceduralItem {
  const rng = SeededRng.forItem(seed, index);
  const { camera, label } = sampleFfhqLikeCamera(rng);
  const params = sampleHeadParams(rng);
  return { name: proceduralImageName(index), params, camera, label };
}

/** Paths written by `generateProceduralDataset`. */
export interface ProceduralOutput {
  readonly datasetPath: string;
  readonly groundTruthPath: string;
}

/**
 * Renders the dataset into `outDir`: `dataset.zip` (EG3D format: PNGs +
 * dataset.json) and `ground_truth.zip`: `depth/<img>.npy` (float32 R×R, ray
 * parameter t along unit ray directions as EG3D's renderer reports depth, +∞
 * on background), `mask/<img>.png` (0/255, = depth < ∞) and `objects.json`
 * (per image: camera, label and the head parameters; `headSdf` evaluates the
 * exact geometry from them).
 */
export async function generateProceduralDataset(
  spec: ProceduralSpec,
  outDir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<ProceduralOutput> {
  const datasetPath = join(outDir, PREP_OUTS.dataset);
  const groundTruthPath = join(outDir, PREP_OUTS.groundTruth);
  const dataset = await DatasetWriter.create(datasetPath);
  const truth = await ZipWriter.create(groundTruthPath);
  try {
    const objects = [];
    for (let start = 0; start < spec.count; start += RENDER_CHUNK) {
      const end = Math.min(spec.count, start + RENDER_CHUNK);
      const items = Array.from(
        { length: end - start },
        (_, k) => proceduralItem(spec.seed, start + k),
      );
      const views = await renderProcedural(
        items.map((item) => item.params),
        items.map((item) => item.label),
        spec.resolution,
        { supersample: spec.supersample },
      );
      for (const [k, item] of items.entries()) {
        const view = views[k];
        const r = spec.resolution;
        await dataset.addImage(item.name, view.image, item.label);
        await truth.add(
          GROUND_TRUTH_ENTRIES.depth(item.name),
          encodeNpy({ shape: [r, r], data: view.depth }),
        );
        const mask = view.mask.map((m) => m * 255);
        await truth.add(
          GROUND_TRUTH_ENTRIES.mask(item.name),
          encodePng({ width: r, height: r, channels: 1, data: mask }),
          "store",
        );
        objects.push({
          image: item.name,
          camera: item.camera,
          label: item.label,
          params: item.params,
        });
      }
      onProgress?.(end, spec.count);
    }
    const description = {
      generator: "mimic3d-ts procedural heads",
      spec,
      depth:
        "ray parameter t along unit-length ray directions from the camera origin (EG3D depth); +inf = background",
      mask: "255 where depth is finite",
      world: "head faces +z, +y up; object inside [-0.5, 0.5]^3; SDF = headSdf(params, x, y, z)",
      objects,
    };
    await truth.add(
      GROUND_TRUTH_ENTRIES.objects,
      new TextEncoder().encode(JSON.stringify(description)),
    );
    await dataset.finish();
    await truth.finish();
  } catch (err) {
    await dataset.abort();
    await truth.abort();
    await Deno.remove(datasetPath).catch(() => {});
    throw err;
  }
  return { datasetPath, groundTruthPath };
}

/** Ground truth of one image read back from `ground_truth.zip`. */
export interface GroundTruthView {
  readonly depth: Float32Array;
  readonly params: HeadParams;
  readonly label: number[];
}

/** Reads the depth map and object parameters of `imageName` from a ground-truth zip. */
export async function readGroundTruth(
  groundTruthPath: string,
  imageName: string,
): Promise<GroundTruthView> {
  using zip = await ZipReader.open(groundTruthPath);
  const objects = JSON.parse(await zip.readText(GROUND_TRUTH_ENTRIES.objects)).objects as {
    image: string;
    label: number[];
    params: HeadParams;
  }[];
  const object = objects.find((o) => o.image === imageName);
  if (!object) throw new Error(`${groundTruthPath}: no ground truth for ${imageName}`);
  const depthEntry = GROUND_TRUTH_ENTRIES.depth(imageName);
  const depth = decodeNpy(await zip.read(depthEntry), `${groundTruthPath}: ${depthEntry}`).data;
  if (!(depth instanceof Float32Array)) {
    throw new Error(`${groundTruthPath}: ${depthEntry} is not float32`);
  }
  return { depth, params: object.params, label: object.label };
}

function stem(name: string): string {
  return name.replace(/\.png$/i, "");
}
